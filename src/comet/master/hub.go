package master

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/admin"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/supervise"
	"github.com/sirupsen/logrus"
)

// sendTimeout bounds one control write: a worker whose socket stays full that long is stuck, and is treated as
// not answering rather than stalling every publish behind it.
const sendTimeout = 2 * time.Second

// Hub fans published messages out to the workers over their control sockets and sums their acknowledgements.
// It keeps the last few messages and replays them to a restarted worker before it serves, so a subscriber that
// re-polls on the new worker with its last since=<seq> loses nothing.
type Hub struct {
	log        *logrus.Logger
	keep       int
	ackTimeout time.Duration

	// pubMu serialises flushes, so each worker sees seqs in increasing order, and a restarted worker's replay is
	// queued either wholly before or wholly after a given flush.
	pubMu sync.Mutex

	mu         sync.Mutex // guards the fields below
	last       uint64     // the last seq issued
	outbox     []queued   // messages given a seq and not yet written, in seq order
	recent     [][]byte   // encoded packets written, oldest first, at most keep
	conns      map[*supervise.Conn]struct{}
	pending    map[uint64]*pendingPush
	published  uint64
	broadcasts uint64
}

type pendingPush struct {
	waiting  map[*supervise.Conn]bool
	answered uint64
	done     chan struct{}
}

// queued is a message waiting in the outbox: its packet, and its acknowledgements when tracked.
type queued struct {
	pkt   []byte
	p     *pendingPush
	track bool
}

// NewHub makes a hub; seqs start at the current unix time in nanoseconds, so a restarted master still issues seqs
// above any a subscriber has seen.
func NewHub(keep int, ackTimeout time.Duration, log *logrus.Logger) *Hub {
	h := newHub(keep, ackTimeout, log)
	h.last = uint64(max(time.Now().UnixNano()-1, 0))
	return h
}

func newHub(keep int, ackTimeout time.Duration, log *logrus.Logger) *Hub {
	return &Hub{
		log: log, keep: keep, ackTimeout: ackTimeout,
		conns: map[*supervise.Conn]struct{}{}, pending: map[uint64]*pendingPush{},
	}
}

// Attach registers a worker's control connection (before its process starts) and queues the replay.
func (h *Hub) Attach(c *supervise.Conn) {
	h.pubMu.Lock()
	h.mu.Lock()
	replay := append([][]byte(nil), h.recent...)
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	c.Lock() // later publishes wait for the replay
	h.pubMu.Unlock()
	go func() {
		defer c.Unlock()
		for _, p := range replay {
			// The socket buffer normally holds the whole replay; if not, the write waits for the new worker to read.
			if err := c.WriteLocked(p, 10*time.Second); err != nil {
				h.log.WithError(err).WithField("worker", c.Index).Warn("replay to restarted worker failed")
				return
			}
		}
	}()
	go h.readAcks(c)
}

// Detach forgets a worker whose process is gone; publishes waiting on it stop waiting.
func (h *Hub) Detach(c *supervise.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	for _, p := range h.pending {
		h.stopWaiting(p, c)
	}
}

func (h *Hub) stopWaiting(p *pendingPush, c *supervise.Conn) {
	if p.waiting[c] {
		delete(p.waiting, c)
		if len(p.waiting) == 0 {
			close(p.done)
		}
	}
}

func (h *Hub) readAcks(c *supervise.Conn) {
	buf := make([]byte, control.MaxPacket)
	for {
		n, err := c.File.Read(buf)
		if err != nil || n == 0 { // EOF: the worker exited; Detach follows once it is reaped
			return
		}
		h.mu.Lock()
		err = control.ForEach(buf[:n], func(pkt []byte) error { // a batch of publishes comes back as a batch of acks
			m, err := control.Decode(pkt)
			if err != nil || m.Kind != control.Ack {
				return fmt.Errorf("unexpected control packet from worker %d", c.Index)
			}
			if p := h.pending[m.Seq]; p != nil && p.waiting[c] {
				p.answered += m.Answered
				h.stopWaiting(p, c)
			}
			return nil
		})
		h.mu.Unlock()
		if err != nil {
			h.log.WithError(err).Warn("control packet from worker ignored")
		}
	}
}

// Publish sends a message to subscriber id (or to everyone when broadcast) on every live worker with the next
// seq and waits until each has acknowledged, the ack timeout passes (Partial) or ctx ends.
func (h *Hub) Publish(ctx context.Context, id string, broadcast bool, body []byte) (admin.PushResult, error) {
	if !broadcast && id == "" {
		return admin.PushResult{}, errors.New("publish needs a subscriber id")
	}
	seq, p, err := h.send(0, id, broadcast, time.Now().UnixNano(), body, true)
	if err != nil {
		return admin.PushResult{}, err
	}
	return h.await(ctx, seq, p), nil
}

// send gives a message the seq candidate (or, when that is not above the last seq issued, the last + 1: seqs
// only increase) and returns once it is written to every live worker. With track it returns the pending
// acknowledgements for await.
//
// Messages are written in batches (group commit): a send that finds a flush under way queues its message, and the
// next flush writes everything queued by then as one packet per worker. A burst of publishes — to one id each,
// which every worker must store for a later re-poll — then wakes each worker once, not once per message.
func (h *Hub) send(candidate uint64, id string, broadcast bool, pubNanos int64, body []byte, track bool) (uint64, *pendingPush, error) {
	h.mu.Lock()
	seq := max(candidate, h.last+1)
	msg := control.Message{Kind: control.Publish, Seq: seq, PubNanos: pubNanos, ID: []byte(id), Body: body}
	if broadcast {
		msg.Kind, msg.ID = control.Broadcast, nil
	}
	pkt, err := control.Append(nil, msg)
	if err != nil {
		h.mu.Unlock()
		return 0, nil, err
	}
	h.last = seq
	if broadcast {
		h.broadcasts++
	} else {
		h.published++
	}
	p := &pendingPush{waiting: map[*supervise.Conn]bool{}, done: make(chan struct{})}
	if track {
		h.pending[seq] = p
	}
	h.outbox = append(h.outbox, queued{pkt: pkt, p: p, track: track})
	h.mu.Unlock()
	h.flush()
	return seq, p, nil
}

// flush writes every queued message to every live worker: one packet per worker when one message waits, batches
// of as many as fit in a control packet otherwise. Each message waits for the acks of the workers written to.
func (h *Hub) flush() {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	h.mu.Lock()
	batch := h.outbox
	h.outbox = nil
	targets := make([]*supervise.Conn, 0, len(h.conns))
	for c := range h.conns {
		targets = append(targets, c)
	}
	for _, q := range batch {
		h.recent = append(h.recent, q.pkt)
		if q.track {
			for _, c := range targets {
				q.p.waiting[c] = true
			}
		}
		if len(q.p.waiting) == 0 {
			close(q.p.done)
		}
	}
	if len(h.recent) > h.keep {
		h.recent = h.recent[len(h.recent)-h.keep:]
	}
	h.mu.Unlock()
	if len(batch) == 0 {
		return // an earlier flush wrote this sender's message
	}
	for _, pkt := range packBatch(batch) {
		for _, c := range targets {
			if err := c.WritePacket(pkt.data, sendTimeout); err != nil {
				h.log.WithError(err).WithField("worker", c.Index).Warn("control write failed")
				h.mu.Lock()
				for _, q := range pkt.items {
					h.stopWaiting(q.p, c)
				}
				h.mu.Unlock()
			}
		}
	}
}

// packet is one control packet of a flush and the queued messages it carries.
type packet struct {
	data  []byte
	items []queued
}

// packBatch packs queued messages into as few control packets as fit, in order; a message alone in its packet
// (the only one queued, or one too big to share) goes as itself.
func packBatch(batch []queued) []packet {
	var out []packet
	for start := 0; start < len(batch); {
		end := start
		var data []byte
		for end < len(batch) {
			next, ok := control.AppendToBatch(data, batch[end].pkt)
			if !ok {
				break
			}
			data, end = next, end+1
		}
		if end-start <= 1 {
			end = start + 1
			data = batch[start].pkt
		}
		out = append(out, packet{data: data, items: batch[start:end]})
		start = end
	}
	return out
}

// await waits for the acknowledgements of the message sent with seq.
func (h *Hub) await(ctx context.Context, seq uint64, p *pendingPush) admin.PushResult {
	timer := time.NewTimer(h.ackTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.pending, seq)
	res := admin.PushResult{Seq: seq, Answered: p.answered, Partial: len(p.waiting) > 0}
	if res.Partial {
		h.log.WithFields(logrus.Fields{"seq": seq, "missing_workers": len(p.waiting)}).Warn("publish not acknowledged by every worker in time")
	}
	return res
}

// Counts reports how many publishes and broadcasts were sent.
func (h *Hub) Counts() (published, broadcasts uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.published, h.broadcasts
}
