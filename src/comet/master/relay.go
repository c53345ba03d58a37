package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/admin"
	"github.com/comet-lab/comet-lab/src/comet/broker"
	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/lib/schema"
	"github.com/sirupsen/logrus"
)

// SeqStride spaces the stream's sequence out into X-Seq: a message with stream seq n is X-Seq n × SeqStride on
// every node. The numbers in between belong to publishes that reached one node only while the broker was
// unreachable (X-Seq = last stream seq × SeqStride + 1, + 2, …): they sort after what that node had and before
// whatever the stream brings next, so a subscriber never sees a seq twice or out of order.
const SeqStride = 1_000_000

// Scopes a publish answer names when comet runs with -broker.
const (
	ScopeCluster = "cluster" // through the broker: every node delivers it
	ScopeLocal   = "local"   // the broker was unreachable: this node's subscribers only
)

// deliverWait bounds how long a publish the stream acknowledged waits to come back through this node's reader.
const deliverWait = 10 * time.Second

// localMemory is how many MsgIDs of publishes delivered on this node only are remembered: should the stream have
// stored one after all (its acknowledgement lost), it is not delivered here a second time.
const localMemory = 4096

// relay puts publishes through the broker and hands what the stream brings to the hub: the node that published a
// message delivers it when it comes back from the stream, like every other node, so nobody delivers it twice.
type relay struct {
	hub       *Hub
	b         broker.Broker
	node      string // this node's MsgID prefix
	next      atomic.Uint64
	localOnly atomic.Uint64
	log       *logrus.Logger

	// mu makes "the stream brought message X" and "X failed to publish, deliver it here" exclusive.
	mu         sync.Mutex
	waiters    map[string]chan sent // MsgID -> the publish waiting for it
	local      map[string]struct{}  // MsgIDs delivered here only
	localOrder []string             // local's keys, oldest first
}

// sent is a message the hub handed to the workers.
type sent struct {
	seq uint64
	p   *pendingPush
}

func newRelay(hub *Hub, log *logrus.Logger) *relay {
	var id [6]byte
	rand.Read(id[:])
	return &relay{hub: hub, log: log, node: hex.EncodeToString(id[:]) + "-", waiters: map[string]chan sent{}, local: map[string]struct{}{}}
}

// Publish is admin's publish with -broker.
func (r *relay) Publish(ctx context.Context, id string, broadcast bool, body []byte) (admin.PushResult, error) {
	if !broadcast && id == "" {
		return admin.PushResult{}, errors.New("publish needs a subscriber id")
	}
	m := broker.Message{PubNanos: time.Now().UnixNano(), Broadcast: broadcast, ID: id, Body: body,
		MsgID: r.node + strconv.FormatUint(r.next.Add(1), 10)}
	ch := make(chan sent, 1)
	r.mu.Lock()
	r.waiters[m.MsgID] = ch
	r.mu.Unlock()
	streamSeq, err := r.b.Publish(ctx, m)
	if err != nil {
		return r.publishLocal(ctx, m, ch, err)
	}
	timer := time.NewTimer(deliverWait)
	defer timer.Stop()
	select {
	case s := <-ch:
		res := r.hub.await(ctx, s.seq, s.p)
		res.Scope = ScopeCluster
		return res, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	r.mu.Lock()
	delete(r.waiters, m.MsgID)
	r.mu.Unlock()
	// Stored in the stream, not back through this node's reader yet: every node delivers it when its reader gets it.
	return admin.PushResult{Seq: streamSeq * SeqStride, Partial: true, Scope: ScopeCluster}, nil
}

// publishLocal delivers m on this node only, unless the stream brought it back meanwhile.
func (r *relay) publishLocal(ctx context.Context, m broker.Message, ch chan sent, cause error) (admin.PushResult, error) {
	r.mu.Lock()
	delete(r.waiters, m.MsgID)
	select {
	case s := <-ch: // the stream had stored it after all
		r.mu.Unlock()
		res := r.hub.await(ctx, s.seq, s.p)
		res.Scope = ScopeCluster
		return res, nil
	default:
	}
	r.local[m.MsgID] = struct{}{}
	r.localOrder = append(r.localOrder, m.MsgID)
	if len(r.localOrder) > localMemory {
		delete(r.local, r.localOrder[0])
		r.localOrder = r.localOrder[1:]
	}
	r.mu.Unlock()
	seq, p, err := r.hub.send(0, m.ID, m.Broadcast, m.PubNanos, m.Body, true)
	if err != nil {
		return admin.PushResult{}, err
	}
	r.localOnly.Add(1)
	res := r.hub.await(ctx, seq, p)
	res.Scope, res.BrokerError = ScopeLocal, cause.Error()
	return res, nil
}

// deliver is the broker's Deliver: one stream message, in stream order, to this node's workers.
func (r *relay) deliver(m broker.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.local[m.MsgID]; ok {
		delete(r.local, m.MsgID) // already delivered here when its publish failed
		return
	}
	ch := r.waiters[m.MsgID]
	delete(r.waiters, m.MsgID)
	seq, p, err := r.hub.send(m.Seq*SeqStride, m.ID, m.Broadcast, m.PubNanos, m.Body, ch != nil)
	if err != nil {
		r.log.WithError(err).Warn("stream message not deliverable")
		return
	}
	if ch != nil {
		ch <- sent{seq, p}
	}
}

// Stats is the broker section of /stats.
func (r *relay) Stats() *schema.BrokerStats {
	c := r.b.Counters()
	return &schema.BrokerStats{Connected: c.Connected, Reconnects: c.Reconnects, In: c.In, Out: c.Out,
		LocalOnly: r.localOnly.Load(), Dropped: c.Dropped, PID: c.PID, Goroutines: c.Goroutines}
}

// checkBroker names the -broker flag that cannot work.
func checkBroker(f cometcfg.BrokerFlags) error {
	if f.URLs == "" {
		return nil
	}
	if _, err := broker.ParseURLs(f.URLs); err != nil {
		return fmt.Errorf("-broker: %w", err)
	}
	if f.Creds != "" {
		if _, err := os.Stat(f.Creds); err != nil {
			return fmt.Errorf("-broker-creds: %w", err)
		}
	}
	return nil
}

// pushPath is how publishes reach the workers: the hub alone, or with -broker the relay through comet-broker.
type pushPath struct {
	hub     *Hub
	publish func(ctx context.Context, id string, broadcast bool, body []byte) (admin.PushResult, error)
	broker  func() *schema.BrokerStats // nil without -broker
	close   func()
}

// startPush makes the hub, and with -broker the relay and the comet-broker process.
func startPush(cfg cometcfg.Config, log *logrus.Logger) (pushPath, error) {
	if cfg.Broker.URLs == "" {
		hub := NewHub(cfg.Keep, AckTimeout, log)
		return pushPath{hub: hub, publish: hub.Publish, close: func() {}}, nil
	}
	hub := newHub(cfg.Keep, AckTimeout, log) // seqs come from the stream: X-Seq = stream seq × SeqStride
	r := newRelay(hub, log)
	path := cfg.Broker.Bin
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return pushPath{}, err
		}
		path = filepath.Join(filepath.Dir(exe), "comet-broker")
	}
	f := cfg.Broker
	b, err := broker.Spawn(broker.SidecarConfig{
		Path: path, Args: []string{"-log-format", cfg.LogFormat, "-log-level", cfg.LogLevel}, Log: log,
		Env: []string{broker.EnvURLs + "=" + f.URLs, broker.EnvCreds + "=" + f.Creds, broker.EnvUser + "=" + f.User,
			broker.EnvPassword + "=" + f.Password, broker.EnvToken + "=" + f.Token, broker.EnvStream + "=" + f.Stream,
			broker.EnvKeep + "=" + strconv.Itoa(cfg.Keep)},
	}, r.deliver)
	if err != nil {
		return pushPath{}, fmt.Errorf("-broker: %w", err)
	}
	r.b = b
	return pushPath{hub: hub, publish: r.Publish, broker: r.Stats, close: b.Close}, nil
}
