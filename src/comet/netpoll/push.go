// Push: the master's control packets (publish, broadcast, drain) and answering the subscribers they are for.

package netpoll

import (
	"bytes"
	"strconv"

	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/pushstore"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/lib/httpwire"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"
)

// messageResp returns the answer carrying m for a request with the given flags; the four variants of the most
// recent message are cached, so a broadcast builds its answer once, not once per subscriber.
func (s *worker) messageResp(m *pushstore.Message, flags uint8) []byte {
	if s.msgOf != m.Seq {
		kind := "pub"
		if m.Broadcast {
			kind = "broadcast"
		}
		hdr := [][2]string{{"X-Seq", strconv.FormatUint(m.Seq, 10)}, {"X-Pub-Time", strconv.FormatInt(m.PubNanos, 10)}, {"X-Kind", kind}}
		for v := 0; v < 4; v++ {
			s.msg[v] = httpwire.AppendResponse(s.msg[v][:0], 200, hdr, m.Body, v&1 != 0, v&2 != 0)
		}
		s.msgOf = m.Seq
	}
	return s.msg[b2i(flags&fKeep != 0)|b2i(flags&fHeadOnly != 0)<<1]
}

// subAnswer counts a delivery to subscriber fd and returns the answer carrying m; when messages after the
// subscriber's since were dropped (gap), the answer names the oldest seq still held and the drop is counted.
// The gap variant is spliced into a reused buffer: no allocation per answer.
func (s *worker) subAnswer(fd int, m *pushstore.Message, gap pushstore.Gap) []byte {
	s.slot.Add(stats.PushDelivered, 1)
	resp := s.messageResp(m, s.conns[fd].flags)
	if gap.Oldest == 0 {
		return resp
	}
	s.slot.Add(stats.PushGaps, 1)
	s.slot.Add(stats.PushMissed, int64(gap.Missed))
	line := bytes.IndexByte(resp, '\n') + 1 // after the status line
	b := append(s.gbuf[:0], resp[:line]...)
	b = append(b, httpwire.OldestSeqHeader+": "...)
	b = strconv.AppendUint(b, gap.Oldest, 10)
	b = append(b, "\r\n"...)
	s.gbuf = append(b, resp[line:]...)
	return s.gbuf
}

func (s *worker) onControl(ev netpoll.EpollEvent) {
	if ev&netloop.Closed != 0 || s.cfd < 0 {
		return
	}
	for {
		n, err := netloop.Read(s.cfd, s.cbuf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			if err != nil {
				s.logLimited("control", err)
			}
			s.loop.Del(s.cfd)
			s.cfd = -1
			s.startDrain("control closed")
			return
		}
		ack, err := control.Handle(s.cbuf[:n], s.wbuf, s.pushFn, s.drainFn)
		s.wbuf = ack
		if err != nil {
			s.logLimited("control", err)
		}
		if len(ack) > 0 {
			if _, err := netloop.Write(s.cfd, ack); err != nil {
				s.logLimited("ack", err)
			}
		}
	}
}

func (s *worker) drainRequested() { s.startDrain("drain requested") }

// push stores a message and answers the held subscribers it is for; it returns how many it answered.
func (s *worker) push(cm *control.Message) uint64 {
	m := pushstore.FromControl(cm)
	s.store.Add(m)
	// A held poll found nothing after its since, and the first message for it since then answers it: so the
	// message for every held subscriber this one is for is m itself, with no gap; no store lookup per delivery.
	if !m.Broadcast {
		if fd, ok := s.byID[m.ID]; ok && s.conns[fd].state == stHeld && s.conns[fd].flags&fSub != 0 {
			s.answerHeld(fd, s.subAnswer(fd, &m, pushstore.Gap{}))
			return 1
		}
		return 0
	}
	var answered uint64
	for fd := range s.conns {
		if c := s.conns[fd]; c.state == stHeld && c.flags&fSub != 0 {
			answered++
			s.answerHeld(fd, s.subAnswer(fd, &m, pushstore.Gap{}))
		}
	}
	return answered
}
