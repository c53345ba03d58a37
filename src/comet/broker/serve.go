package broker

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// statusEvery is how often the comet-broker process reports its counters to the master.
const statusEvery = 250 * time.Millisecond

// Serve is the comet-broker process: it opens the broker with open, hands the stream's messages to the master
// over link, publishes the master's requests and reports its counters, until the master closes link (EOF).
func Serve(link *os.File, open func(Deliver) (Broker, error), log *logrus.Logger) error {
	var wmu sync.Mutex
	var writeErr error
	send := func(p packet) {
		buf, err := appendPacket(nil, p)
		if err != nil {
			log.WithError(err).Error("broker link: packet not sent")
			return
		}
		wmu.Lock()
		defer wmu.Unlock()
		if writeErr == nil {
			_, writeErr = link.Write(buf)
		}
	}
	b, err := open(func(m Message) { send(packet{Kind: kindMessage, Num: m.Seq, Msg: m}) })
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		t := time.NewTicker(statusEvery)
		defer t.Stop()
		for {
			st := b.Counters()
			st.Goroutines = uint64(runtime.NumGoroutine())
			send(packet{Kind: kindStatus, Status: st})
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	buf := make([]byte, maxPacket)
	for {
		n, err := link.Read(buf)
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return nil // the master closed the link: it is exiting
		}
		if err != nil {
			return err
		}
		p, err := decodePacket(buf[:n])
		if err != nil || p.Kind != kindRequest {
			log.WithError(err).Warn("broker link: unexpected packet from the master")
			continue
		}
		m := p.Msg
		m.Body = append([]byte(nil), m.Body...) // buf is reused by the next read
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			res := packet{Kind: kindResult, Num: p.Num}
			seq, err := b.Publish(ctx, m)
			if err != nil {
				res.Unavail, res.Err = errors.Is(err, ErrUnavailable), err.Error()
			}
			res.Seq = seq
			send(res)
		}()
	}
}
