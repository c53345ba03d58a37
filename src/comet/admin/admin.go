// Package admin is the master's admin HTTP listener: /stats (JSON), /metrics (Prometheus text), POST /pub and POST
// /broadcast, behind an optional bearer token. It uses net/http because it is not the hot path: it reads the
// workers' shared counters page and /proc, and never talks to a worker except through the Publish callback.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/comet/supervise"
	"github.com/comet-lab/comet-lab/src/lib/procmem"
	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// MaxIDLen bounds a subscriber id: it must fit a subscriber's request head (8 KiB) with room to spare.
const MaxIDLen = 1024

// PushResult is the answer to a publish or broadcast.
type PushResult struct {
	Seq      uint64 `json:"seq"`
	Answered uint64 `json:"answered"`
	Partial  bool   `json:"partial,omitempty"` // some worker did not acknowledge in time
	// Scope, with -broker only: "cluster" (through the broker, every node delivers it) or "local" (the broker was
	// unreachable: this node's subscribers only; answered 202 with BrokerError saying why).
	Scope       string `json:"scope,omitempty"`
	BrokerError string `json:"broker_error,omitempty"`
}

// ScopeHeader repeats PushResult.Scope in the answer's headers.
const ScopeHeader = "X-Comet-Scope"

// Options wires the admin listener to the master.
type Options struct {
	Token      string // required as "Authorization: Bearer <Token>" on every endpoint when not empty
	MaxMessage int    // largest publish/broadcast body (413 beyond)
	Engine     string
	Table      *stats.Table
	Workers    func() []supervise.WorkerInfo
	// Publish delivers a message to subscriber id, or to every subscriber when broadcast is set.
	Publish func(ctx context.Context, id string, broadcast bool, body []byte) (PushResult, error)
	// PushCounts reports how many publishes and broadcasts the master has sent.
	PushCounts func() (published, broadcasts uint64)
	// Broker reports the broker connection (nil: comet runs without -broker).
	Broker func() *schema.BrokerStats
	// Rollup reads a process's PSS and RSS; nil = procmem.Rollup. Results are cached for a second per pid, so a
	// fast scraper cannot make the kernel walk the workers' page tables continuously.
	Rollup func(pid int) (pss, rss uint64, err error)
	Now    func() time.Time // nil = time.Now
}

// Admin serves the endpoints.
type Admin struct {
	opt       Options
	tokenHash [sha256.Size]byte
	masterPID int

	memMu sync.Mutex
	mem   map[int]memSample
}

type memSample struct {
	at       time.Time
	pss, rss uint64
}

// New builds the handler set.
func New(opt Options) *Admin {
	if opt.Rollup == nil {
		opt.Rollup = procmem.Rollup
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PushCounts == nil {
		opt.PushCounts = func() (uint64, uint64) { return 0, 0 }
	}
	return &Admin{opt: opt, tokenHash: sha256.Sum256([]byte(opt.Token)), masterPID: os.Getpid(), mem: map[int]memSample{}}
}

// CheckExposure refuses an admin address reachable from other machines unless a token protects it.
func CheckExposure(addr, token string) error {
	if addr == "" || token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-admin %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-admin %q is not a loopback address: set -admin-token or $COMET_ADMIN_TOKEN, or bind -admin to 127.0.0.1", addr)
}

// Handler returns the authenticated endpoint mux.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", a.getOnly(a.serveStats))
	mux.HandleFunc("/metrics", a.getOnly(a.serveMetrics))
	mux.HandleFunc("/pub", a.servePush(false))
	mux.HandleFunc("/broadcast", a.servePush(true))
	return a.auth(mux)
}

// Server wraps Handler with timeouts that keep a slow or hostile client from pinning master memory. The write
// timeout leaves room for a publish waiting on its acknowledgements.
func (a *Admin) Server() *http.Server {
	return &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      90 * time.Second, // a broadcast to a million subscribers waits up to AckTimeout for its count
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
}

func (a *Admin) auth(next http.Handler) http.Handler {
	if a.opt.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Compare hashes: equal lengths, so the comparison time says nothing about the token's length either.
		h := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(h[:], a.tokenHash[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="comet"`)
			httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *Admin) getOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, r.Method+" not allowed, use GET")
			return
		}
		h(w, r)
	}
}

func (a *Admin) servePush(broadcast bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			httpError(w, http.StatusMethodNotAllowed, r.Method+" not allowed, use POST")
			return
		}
		var id string
		if !broadcast {
			// The raw (not percent-decoded) value: workers match the raw ?id= of /sub requests byte for byte.
			id = rawQueryValue(r.URL.RawQuery, "id")
			switch {
			case id == "":
				httpError(w, http.StatusBadRequest, "missing ?id=")
				return
			case len(id) > MaxIDLen:
				httpError(w, http.StatusBadRequest, fmt.Sprintf("id longer than %d bytes", MaxIDLen))
				return
			}
		}
		if r.ContentLength > int64(a.opt.MaxMessage) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("message larger than -max-message %d", a.opt.MaxMessage))
			return
		}
		// Chunked bodies have no Content-Length: the read limit catches them.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(a.opt.MaxMessage)))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("message larger than -max-message %d", a.opt.MaxMessage))
				return
			}
			httpError(w, http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		if a.opt.Publish == nil {
			httpError(w, http.StatusServiceUnavailable, "push is not available")
			return
		}
		res, err := a.opt.Publish(r.Context(), id, broadcast, body)
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if res.Scope != "" {
			w.Header().Set(ScopeHeader, res.Scope)
		}
		if res.Scope == "local" {
			// Accepted, not done: it reached this node's subscribers only (RFC 9110 15.3.3: processing not completed).
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
		}
		writeJSON(w, res)
	}
}

func rawQueryValue(rawQuery, key string) string {
	for pair := range strings.SplitSeq(rawQuery, "&") {
		name, value, _ := strings.Cut(pair, "=")
		if name == key {
			return value
		}
	}
	return ""
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// rollup returns a process's memory, reading /proc at most once a second per pid.
func (a *Admin) rollup(pid int) (pss, rss uint64) {
	if pid <= 0 {
		return 0, 0
	}
	now := a.opt.Now()
	a.memMu.Lock()
	defer a.memMu.Unlock()
	if s, ok := a.mem[pid]; ok && now.Sub(s.at) < time.Second {
		return s.pss, s.rss
	}
	pss, rss, err := a.opt.Rollup(pid)
	if err != nil { // the process just exited: report nothing rather than fail the whole page
		pss, rss = 0, 0
	}
	if len(a.mem) > 4096 { // pids of dead workers accumulate over restarts
		clear(a.mem)
	}
	a.mem[pid] = memSample{at: now, pss: pss, rss: rss}
	return pss, rss
}
