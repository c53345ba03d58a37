package natsbroker

import (
	"context"
	"strconv"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/broker"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"
)

// streamSetupTimeout bounds creating or looking up the stream once connected.
const streamSetupTimeout = 5 * time.Second

// run reads the stream until Close: one ordered consumer at a time, started after the last message this node
// handed on; when it fails (broker gone, stream lost) it is built again after a backoff.
func (n *NATS) run(ctx context.Context) {
	defer close(n.done)
	var created time.Time
	failures := 0
	for ctx.Err() == nil {
		delivered, err := n.consume(ctx, &created)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			failures = 0
		}
		failures++
		if failures == 1 || failures%100 == 0 { // lifecycle only: not once per retry while the broker is down
			n.cfg.Log.WithError(err).WithField("failures", failures).Warn("broker stream reader stopped; retrying")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(broker.Backoff(failures)):
		}
	}
}

// consume sets up the stream and hands its messages on until the reader fails; delivered says whether it got any.
func (n *NATS) consume(ctx context.Context, created *time.Time) (delivered bool, err error) {
	if !n.nc.IsConnected() {
		return false, broker.ErrUnavailable
	}
	sctx, cancel := context.WithTimeout(ctx, streamSetupTimeout)
	stream, err := n.js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name:       n.cfg.Stream,
		Subjects:   []string{n.subject},
		Storage:    jetstream.FileStorage, // a restarted broker keeps the stream, so its seqs carry on
		Retention:  jetstream.LimitsPolicy,
		MaxMsgs:    n.cfg.MaxMsgs,
		Discard:    jetstream.DiscardOld,
		Duplicates: 2 * time.Minute,
	})
	cancel()
	if err != nil {
		return false, err
	}
	info := stream.CachedInfo()
	start := n.startSeq(info, created)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start, MaxResetAttempts: 5,
	})
	if err != nil {
		return false, err
	}
	it, err := cons.Messages()
	if err != nil {
		return false, err
	}
	defer it.Stop()
	stopOnCancel := context.AfterFunc(ctx, it.Stop)
	defer stopOnCancel()
	for {
		msg, err := it.Next()
		if err != nil {
			return delivered, err
		}
		if n.handle(msg) {
			delivered = true
		}
	}
}

// startSeq picks where the reader starts. A node that has read nothing yet starts Keep messages before the end,
// so a subscriber moving to it resumes with its since; otherwise it carries on after the last message it handed
// on. A stream that was lost and made again (another creation time) is read from its start.
func (n *NATS) startSeq(info *jetstream.StreamInfo, created *time.Time) uint64 {
	st := info.State
	if !created.IsZero() && !info.Created.Equal(*created) {
		n.cfg.Log.WithFields(logrus.Fields{"last_seq": n.last, "stream_last_seq": st.LastSeq}).
			Warn("broker stream was made again; reading it from its start (seqs on this node stay increasing)")
		n.last = 0
		*created = info.Created
		return max(st.FirstSeq, 1)
	}
	*created = info.Created
	if n.last == 0 && n.cfg.After > 0 { // a restarted comet-broker: carry on after what the master has
		n.last = n.cfg.After
	}
	if n.last > 0 {
		return n.last + 1 // messages the stream discarded meanwhile show up as a gap in handle: counted Dropped
	}
	start := max(st.FirstSeq, 1)
	if st.LastSeq >= uint64(n.cfg.Keep) {
		start = max(start, st.LastSeq-uint64(n.cfg.Keep)+1)
	}
	n.last = start - 1
	return start
}

// handle hands one stream message on, once: a reader reset may send again what was already handed on.
func (n *NATS) handle(msg jetstream.Msg) bool {
	meta, err := msg.Metadata()
	if err != nil {
		n.dropped.Add(1)
		return false
	}
	seq := meta.Sequence.Stream
	if seq <= n.last {
		return false
	}
	if seq > n.last+1 {
		n.dropped.Add(seq - n.last - 1)
	}
	n.last = seq
	h := msg.Headers()
	m := broker.Message{Seq: seq, Body: msg.Data(), MsgID: h.Get("Nats-Msg-Id")}
	m.PubNanos, _ = strconv.ParseInt(h.Get(hdrPubTime), 10, 64)
	if h.Get(hdrKind) == "broadcast" {
		m.Broadcast = true
	} else if m.ID = h.Get(hdrID); m.ID == "" {
		n.dropped.Add(1) // not a comet message: nobody to deliver it to
		return false
	}
	n.in.Add(1)
	n.deliver(m)
	return true
}
