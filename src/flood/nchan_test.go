package flood

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/httpwire"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
)

func TestLabMessage(t *testing.T) {
	tests := []struct {
		body    string
		seq     uint64
		pub     int64
		wantOK  bool
		comment string
	}{
		{"seq=1 pub=1796373602000000000", 1, 1796373602000000000, true, "what the lab publishes"},
		{"seq=42 pub=5\n", 42, 5, true, "trailing newline"},
		{"seq=0 pub=5", 0, 0, false, "seq 0 means none"},
		{"seq=1 pub=-5", 0, 0, false, "no publish time before 1970"},
		{"seq=1", 0, 0, false, "no publish time"},
		{"lab broadcast 1 of 2", 0, 0, false, "comet's broadcast body"},
		{"seq=x pub=5", 0, 0, false, "not a number"},
		{"", 0, 0, false, "empty"},
	}
	for _, tc := range tests {
		seq, pub, ok := labMessage([]byte(tc.body))
		if seq != tc.seq || pub != tc.pub || ok != tc.wantOK {
			t.Errorf("%s: labMessage(%q) = %d, %d, %v; want %d, %d, %v", tc.comment, tc.body, seq, pub, ok, tc.seq, tc.pub, tc.wantOK)
		}
	}
	if seq, pub, ok := labMessage(AppendLabMessage(nil, 7, 123)); seq != 7 || pub != 123 || !ok {
		t.Errorf("round trip: %d %d %v", seq, pub, ok)
	}
}

func TestNchanConditions(t *testing.T) {
	tests := []struct {
		unix int64
		tag  uint64
		want string
	}{
		{1796373602, 0, "If-Modified-Since: Fri, 04 Dec 2026 08:40:02 GMT\r\nIf-None-Match: 0\r\n"},
		{1796373608, 1, "If-Modified-Since: Fri, 04 Dec 2026 08:40:08 GMT\r\nIf-None-Match: 1\r\n"},
		{1, maxMsgTag, "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\nIf-None-Match: 65535\r\n"},
	}
	for _, tc := range tests {
		if got := string(appendNchanConditions(nil, msgID(tc.unix, tc.tag))); got != tc.want {
			t.Errorf("msgID(%d, %d): got %q, want %q", tc.unix, tc.tag, got, tc.want)
		}
	}
}

// nchanServer is nginx with the nchan module on loopback, configured like the lab's (ansible/roles/nchan):
// long polls on subPort held for timeout (whole seconds: nchan takes no finer value), the publisher on pubPort.
type nchanServer struct {
	subAddr, pubURL, statusURL string
}

// startNchan starts nginx from a temporary prefix and stops it (by its pid) when the test ends. Without nginx
// or the module the test is skipped, unless COMETLAB_REQUIRE_NGINX=1 (make test-go) makes that a failure.
func startNchan(t *testing.T, timeout time.Duration) nchanServer {
	t.Helper()
	nginx, module := "/usr/sbin/nginx", "/usr/lib/nginx/modules/ngx_nchan_module.so"
	for _, f := range []string{nginx, module} {
		if _, err := os.Stat(f); err != nil {
			msg := fmt.Sprintf("%s missing: install Debian's nginx and libnginx-mod-nchan (scripts/deps.sh)", f)
			if os.Getenv("COMETLAB_REQUIRE_NGINX") == "1" {
				t.Fatal(msg + " (COMETLAB_REQUIRE_NGINX=1)")
			}
			t.Skip(msg)
		}
	}
	dir := t.TempDir()
	subPort, err := netloop.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pubPort, err := netloop.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`load_module %[1]s;
worker_processes 1;
pid %[2]s/nginx.pid;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  server {
    listen 127.0.0.1:%[3]d;
    location / { nchan_subscriber longpoll; nchan_channel_id all; nchan_subscriber_timeout %[5]ds; }
  }
  server {
    listen 127.0.0.1:%[4]d;
    location = /pub { nchan_publisher; nchan_channel_id all; }
    location = /status { nchan_stub_status; }
  }
}
`, module, dir, subPort, pubPort, int(timeout.Seconds()))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // SIGINT: nginx's fast shutdown, workers included
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	srv := nchanServer{subAddr: fmt.Sprintf("127.0.0.1:%d", subPort), pubURL: fmt.Sprintf("http://127.0.0.1:%d/pub", pubPort),
		statusURL: fmt.Sprintf("http://127.0.0.1:%d/status", pubPort)}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", pubPort))
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen within 10 s: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return srv
}

// waitSubscribers waits until nchan counts n subscribers (nchan_stub_status).
func (s nchanServer) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	want := fmt.Sprintf("\nsubscribers: %d\n", n)
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.statusURL)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = string(b); strings.Contains(last, want) {
			return
		}
	}
	t.Fatalf("nchan never counted %d subscribers:\n%s", n, last)
}

// publish posts the lab's message body for seq, as ansible/roles/run/files/broadcast.py does for nchan.
func (s nchanServer) publish(t *testing.T, seq uint64) {
	t.Helper()
	body := string(AppendLabMessage(nil, seq, time.Now().UnixNano()))
	resp, err := http.Post(s.pubURL, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish seq %d: %s", seq, resp.Status)
	}
}

// TestEndToEndNchan: flood against real nginx + nchan. Every subscriber gets each broadcast exactly once (a
// re-poll without If-Modified-Since/If-None-Match would get the oldest message again and count it twice),
// nchan's 408 at the subscriber timeout counts as the hold's answer, not as an error.
func TestEndToEndNchan(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary against nginx")
	}
	const conns = 40
	srv := startNchan(t, 2*time.Second)
	floodBinary(t) // built before the flood starts its clock
	type result struct {
		code   int
		stderr string
		lines  []map[string]any
	}
	done := make(chan result, 1)
	go func() {
		code, stderr, lines := runFlood(t, 60*time.Second, "-proto", "nchan", "-push", "-target", srv.subAddr,
			"-conns", fmt.Sprint(conns), "-procs", "2", "-rate", "0", "-duration", "7s", "-ports", "33000-33999")
		done <- result{code, stderr, lines}
	}()
	// The first broadcast finds every subscriber held, the second (after a subscriber timeout) finds them
	// re-polling with the first message's id. One nginx worker: nchan 1.3.6 with several workers loses a message
	// published during a worker's timeout storm (docs/lab.md), which would make this test depend on timing.
	srv.waitSubscribers(t, conns)
	srv.publish(t, 1)
	time.Sleep(3 * time.Second)
	srv.publish(t, 2)
	r := <-done
	final := finalOf(t, r.lines)
	if r.code != 0 {
		t.Fatalf("exit %d, message %q, stderr:\n%s", r.code, final["message"], r.stderr)
	}
	if got := final["push_received"].(float64); got != 2*conns {
		t.Errorf("push_received %v, want %d (2 broadcasts x %d subscribers, each once)", got, 2*conns, conns)
	}
	perSeq, _ := final["push_per_seq"].(map[string]any)
	for _, seq := range []string{"1", "2"} {
		if perSeq[seq] != float64(conns) {
			t.Errorf("push_per_seq[%s] = %v, want %d; all: %v", seq, perSeq[seq], conns, perSeq)
		}
	}
	for _, field := range []string{"non_200", "protocol_errors", "closed_by_server"} {
		if final[field] != float64(0) {
			t.Errorf("%s = %v, want 0", field, final[field])
		}
	}
	// 7 s with 2 s timeouts: every subscriber saw 408s besides its two messages.
	if got := final["responses"].(float64); got < 4*conns {
		t.Errorf("responses %v, want >= %d (hold-cycle 408s plus the messages)", got, 4*conns)
	}
	if h, _ := final["push_hist_ms"].(map[string]any); len(h) == 0 {
		t.Errorf("no delivery latencies: %v", final)
	}
}

// The header a subscriber sends is the date form httpwire parses back.
func TestNchanDateRoundTrip(t *testing.T) {
	wire := "HTTP/1.1 200 OK\r\nLast-Modified: " + string(httpwire.AppendHTTPDate(nil, 1796373602)) + "\r\nEtag: 3\r\nContent-Length: 0\r\n\r\n"
	resp, _, err := httpwire.ParseResponse([]byte(wire))
	if err != nil || resp.MsgTime != 1796373602 || resp.MsgTag != 3 {
		t.Fatalf("%+v %v", resp, err)
	}
}
