package flood

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// holdServer is the in-test long-poll server: every GET is held for hold, then answered 200 "ok\n";
// /sub?id=&since= is held for pushDelay and answered with X-Seq = since+1 and an X-Pub-Time pubAge in the past;
// with skip > 0 a re-poll (since > 0) is answered with X-Seq = since+1+skip and X-Oldest-Seq naming it, as comet
// answers a subscriber whose since is older than its ring.
type holdServer struct {
	addr      string
	hold      time.Duration
	pushDelay time.Duration
	pubAge    time.Duration
	skip      uint64

	mu       sync.Mutex
	remotes  map[string]bool   // every accepted connection's remote address
	maxSince map[string]uint64 // highest since seen per subscriber id
	gets     int
}

func startHoldServer(t *testing.T, hold, pushDelay, pubAge time.Duration) *holdServer {
	return startSkipServer(t, hold, pushDelay, pubAge, 0)
}

// startSkipServer is startHoldServer whose re-polls skip seqs (see holdServer).
func startSkipServer(t *testing.T, hold, pushDelay, pubAge time.Duration, skip uint64) *holdServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &holdServer{addr: ln.Addr().String(), hold: hold, pushDelay: pushDelay, pubAge: pubAge, skip: skip,
		remotes: map[string]bool{}, maxSince: map[string]uint64{}}
	srv := &http.Server{
		Handler: http.HandlerFunc(s.serve),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.mu.Lock()
				s.remotes[c.RemoteAddr().String()] = true
				s.mu.Unlock()
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *holdServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	if r.URL.Path != "/sub" {
		time.Sleep(s.hold)
		w.Header().Set("Content-Length", "3")
		w.Write([]byte("ok\n"))
		return
	}
	id := r.URL.Query().Get("id")
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	if id == "" || err != nil {
		http.Error(w, "bad id or since", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.maxSince[id] = max(s.maxSince[id], since)
	s.mu.Unlock()
	time.Sleep(s.pushDelay)
	seq := since + 1
	if since > 0 && s.skip > 0 {
		seq += s.skip
		w.Header().Set("X-Oldest-Seq", strconv.FormatUint(seq, 10))
	}
	w.Header().Set("X-Seq", strconv.FormatUint(seq, 10))
	w.Header().Set("X-Pub-Time", strconv.FormatInt(time.Now().Add(-s.pubAge).UnixNano(), 10))
	w.Header().Set("X-Kind", "pub")
	w.Header().Set("Content-Length", "1")
	w.Write([]byte("m"))
}

func (s *holdServer) snapshot() (remotes []string, maxSince map[string]uint64, gets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.remotes {
		remotes = append(remotes, r)
	}
	maxSince = map[string]uint64{}
	for k, v := range s.maxSince {
		maxSince[k] = v
	}
	return remotes, maxSince, s.gets
}
