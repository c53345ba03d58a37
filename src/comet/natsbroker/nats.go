package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"
)

// Config is how the master reaches NATS.
type Config struct {
	URLs      string // comma-separated nats://host:port; may carry user:password@ or token@ (never logged)
	CredsFile string // NATS .creds file (JWT + nkey seed)
	User      string
	Password  string
	Token     string
	Stream    string // JetStream stream name; its subject is "<lower-case name>.push"
	// Keep is how many of the stream's last messages a node that starts empty reads first, so a subscriber that
	// moves to it resumes with since=<seq> (its workers keep as many: -keep).
	Keep int
	// After is the last stream seq the master already has (a restarted comet-broker carries on after it); 0 = none.
	After uint64
	// MaxMsgs bounds the stream; older messages are discarded (a node that was away longer counts them Dropped).
	MaxMsgs int64
	Log     *logrus.Logger
}

// Message headers on the stream; the body is the message itself.
const (
	hdrKind    = "Comet-Kind" // pub | broadcast
	hdrID      = "Comet-Id"
	hdrPubTime = "Comet-Pub-Time"
)

// NATS is the JetStream implementation of Broker.
type NATS struct {
	cfg     Config
	subject string
	nc      *nats.Conn
	js      jetstream.JetStream
	deliver broker.Deliver

	in, out, dropped atomic.Uint64
	last             uint64 // last stream seq handed to deliver; only the consume goroutine touches it

	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// Connect starts the connection and the stream reader and returns at once: a broker that is down at start-up is
// retried with backoff like one lost later, and Publish fails fast meanwhile.
func Connect(cfg Config, deliver broker.Deliver) (*NATS, error) {
	urls, err := broker.ParseURLs(cfg.URLs)
	if err != nil {
		return nil, err
	}
	if cfg.Stream == "" {
		cfg.Stream = "COMET"
	}
	if cfg.MaxMsgs <= 0 {
		cfg.MaxMsgs = 1 << 20
	}
	log := cfg.Log
	if log == nil {
		log = logrus.New()
	}
	redacted := broker.Redact(cfg.URLs)
	opts := []nats.Option{
		nats.Name("comet"),
		nats.MaxReconnects(-1),
		nats.DontRandomize(), // the first URL is this node's own broker in a cluster: use it while it is up
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(broker.Backoff),
		nats.ReconnectBufSize(-1), // no buffering while down: a publish then fails and is delivered on this node only
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(*nats.Conn) { log.WithField("broker", redacted).Info("broker connected") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.WithField("broker", redacted).WithError(err).Warn("broker connection lost; publishes reach this node only until it is back")
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.WithField("broker", redacted).Info("broker reconnected") }),
	}
	switch {
	case cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		// nats errors may quote the server URL: name it redacted only.
		return nil, fmt.Errorf("broker %s: %s", redacted, strings.ReplaceAll(err.Error(), cfg.URLs, redacted))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("broker %s: jetstream: %w", redacted, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &NATS{
		cfg: cfg, subject: strings.ToLower(cfg.Stream) + ".push", nc: nc, js: js, deliver: deliver,
		stop: cancel, done: make(chan struct{}),
	}
	n.cfg.Log = log
	go n.run(ctx)
	return n, nil
}

// Publish stores m in the stream. The MsgID makes a retried publish harmless: the stream keeps one copy.
func (n *NATS) Publish(ctx context.Context, m broker.Message) (uint64, error) {
	if !n.nc.IsConnected() {
		return 0, broker.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, broker.PublishTimeout)
	defer cancel()
	msg := nats.NewMsg(n.subject)
	msg.Data = m.Body
	kind := "pub"
	if m.Broadcast {
		kind = "broadcast"
	} else {
		msg.Header.Set(hdrID, m.ID)
	}
	msg.Header.Set(hdrKind, kind)
	msg.Header.Set(hdrPubTime, strconv.FormatInt(m.PubNanos, 10))
	ack, err := n.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.MsgID))
	if err != nil {
		if !n.nc.IsConnected() || errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrConnectionClosed) {
			return 0, fmt.Errorf("%w: %v", broker.ErrUnavailable, err)
		}
		return 0, err
	}
	n.out.Add(1)
	return ack.Sequence, nil
}

// Counters reports the connection's state and traffic.
func (n *NATS) Counters() broker.Counters {
	return broker.Counters{
		Connected:  n.nc.IsConnected(),
		Reconnects: n.nc.Stats().Reconnects,
		In:         n.in.Load(),
		Out:        n.out.Load(),
		Dropped:    n.dropped.Load(),
	}
}

// Close stops the reader and closes the connection; it waits for the reader to return.
func (n *NATS) Close() {
	n.once.Do(func() {
		n.stop()
		<-n.done
		n.nc.Close()
	})
}
