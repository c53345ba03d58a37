// Package broker connects comet's master to a message broker, so that several comet servers share their
// publishes: every message goes into one stream, and every node reads that stream in order and hands each message
// to its own workers. The master uses the Broker interface, implemented by Sidecar: the connection itself
// (src/comet/natsbroker, NATS JetStream) runs in its own process, comet-broker, which Serve runs. This package
// does not import the NATS client: comet, whose workers are re-executions of the same binary, never links it.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Message is one publish or broadcast as it travels through the broker.
type Message struct {
	Seq       uint64 // the stream's sequence (set on delivery; ignored on Publish)
	PubNanos  int64  // when the publishing node took it (unix nanos): X-Pub-Time is the same on every node
	Broadcast bool
	ID        string // subscriber id; empty for a broadcast
	Body      []byte
	MsgID     string // unique per publish: the broker drops a repeated one, the publishing node recognises its own
}

// Counters is what a broker connection reports in /stats and /metrics.
type Counters struct {
	Connected  bool
	Reconnects uint64 // successful reconnections after a loss of the connection
	In         uint64 // messages received from the stream and handed on
	Out        uint64 // messages the stream acknowledged
	Dropped    uint64 // stream messages this node never received (discarded by the stream's limits before it read them)
	Goroutines uint64 // of the process holding the connection
	PID        int    // that process (0 while none runs)
}

// Broker is what the master needs from a broker.
type Broker interface {
	// Publish stores m in the stream and returns its stream sequence once the broker acknowledged it. It fails
	// fast (ErrUnavailable) while the connection is down.
	Publish(ctx context.Context, m Message) (uint64, error)
	Counters() Counters
	Close()
}

// PublishTimeout bounds one publish: the admin then reports it reached this node only.
const PublishTimeout = 2 * time.Second

// Reconnect backoff: doubling from minBackoff to maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Backoff is the wait before reconnection attempt n (1, 2, …): doubling from 100 ms, at most 5 s.
func Backoff(attempt int) time.Duration {
	d := minBackoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// ErrUnavailable is Publish's error while the broker cannot be reached.
var ErrUnavailable = errors.New("broker unreachable")

// Deliver receives the stream's messages, oldest first, each once, from one goroutine. It must not block for long:
// the next message waits for it.
type Deliver func(Message)

// ParseURLs checks a comma-separated list of nats://host:port (or tls://host:port) servers, credentials allowed in
// the URL, and returns them.
func ParseURLs(list string) ([]string, error) {
	var urls []string
	for raw := range strings.SplitSeq(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if !strings.Contains(raw, "://") {
			raw = "nats://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is not a URL", Redact(raw))
		}
		if u.Scheme != "nats" && u.Scheme != "tls" {
			return nil, fmt.Errorf("%q: scheme %q, want nats:// or tls://", Redact(raw), u.Scheme)
		}
		if u.Hostname() == "" || u.Port() == "" {
			return nil, fmt.Errorf("%q: want host:port", Redact(raw))
		}
		urls = append(urls, raw)
	}
	if len(urls) == 0 {
		return nil, errors.New("no server in the list")
	}
	return urls, nil
}

// Redact replaces the credentials of every URL in a comma-separated list by "***", for logs and errors: a token
// or password in -broker must never reach a log.
func Redact(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(p), "://")
		if !ok {
			scheme, rest = "", strings.TrimSpace(p)
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = "***@" + rest[at+1:]
		}
		if ok {
			rest = scheme + "://" + rest
		}
		parts[i] = rest
	}
	return strings.Join(parts, ",")
}
