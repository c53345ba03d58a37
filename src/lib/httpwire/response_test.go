package httpwire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestAppendResponse(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		hdr       [][2]string
		body      string
		keepAlive bool
		headOnly  bool
		want      string
	}{
		{"200 keep-alive", 200, nil, "ok\n", true, false, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"},
		{"431 close", 431, nil, "", false, false, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{"push headers", 200, [][2]string{{"X-Seq", "9"}, {"X-Kind", "pub"}}, "m", true, false,
			"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Seq: 9\r\nX-Kind: pub\r\n\r\nm"},
		{"HEAD omits body", 200, nil, "ok\n", true, true, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"},
		{"header injection neutralised", 200, [][2]string{{"X-A", "a\r\nSet-Cookie: x"}}, "", true, false,
			"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: a  Set-Cookie: x\r\n\r\n"},
		{"unknown status", 299, nil, "", true, false, "HTTP/1.1 299 Unknown\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prev")
			got := AppendResponse(prefix, tc.status, tc.hdr, []byte(tc.body), tc.keepAlive, tc.headOnly)
			if string(got) != "prev"+tc.want {
				t.Errorf("got %q\nwant %q", got, "prev"+tc.want)
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	for _, code := range []int{200, 400, 401, 404, 405, 408, 413, 431, 500, 503} {
		if StatusText(code) == "Unknown" || StatusText(code) == "" {
			t.Errorf("no text for %d", code)
		}
	}
	if StatusText(999) != "Unknown" {
		t.Errorf("999: %q", StatusText(999))
	}
}

// What the server writes, the client parses back.
func TestAppendParseRoundTrip(t *testing.T) {
	hdr := [][2]string{{"X-Seq", "18446744073709551615"}, {"X-Pub-Time", "1700000000123456789"}, {"X-Kind", "broadcast"}}
	for _, keep := range []bool{true, false} {
		wire := AppendResponse(nil, 200, hdr, []byte("hello"), keep, false)
		wire = append(wire, "HTTP/1.1 200"...) // start of the next response
		resp, total, err := ParseResponse(wire)
		if err != nil {
			t.Fatal(err)
		}
		want := Response{Status: 200, ContentLength: 5, Close: !keep, Seq: 1<<64 - 1, PubNanos: 1700000000123456789}
		if resp != want || total != len(wire)-len("HTTP/1.1 200") {
			t.Errorf("keep=%v: got %+v total %d, want %+v", keep, resp, total, want)
		}
	}
}

func TestParseResponse(t *testing.T) {
	const ok, incomplete, bad = 0, -1, 1
	tests := []struct {
		name  string
		in    string
		want  int
		resp  Response
		total int
	}{
		{"simple", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", ok, Response{Status: 200, ContentLength: 3}, 41},
		{"no reason", "HTTP/1.1 204\r\nContent-Length: 0\r\n\r\n", ok, Response{Status: 204}, 35},
		{"empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", ok, Response{Status: 200}, 36},
		{"close without body", "HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\n", ok, Response{Status: 503, Close: true}, 40},
		{"1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", ok, Response{Status: 200, Close: true}, 38},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", ok, Response{Status: 200}, 62},
		{"negative pub time", "HTTP/1.1 200 OK\r\nX-Pub-Time: -5\r\nx-seq: 0\r\nContent-Length: 0\r\n\r\n", ok, Response{Status: 200, PubNanos: -5}, 64},
		{"oldest seq after a drop", "HTTP/1.1 200 OK\r\nX-Oldest-Seq: 17\r\nX-Seq: 17\r\nContent-Length: 0\r\n\r\n", ok, Response{Status: 200, Seq: 17, OldestSeq: 17}, 67},
		// nchan 1.3.6's answers, as captured from nginx 1.22 (docs/flood.md): a message, and a long poll's timeout.
		{"nchan message", "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 3\r\nLast-Modified: Fri, 04 Dec 2026 08:40:02 GMT\r\nConnection: keep-alive\r\nEtag: 1\r\nVary: If-None-Match, If-Modified-Since\r\n\r\ntwo",
			ok, Response{Status: 200, ContentLength: 3, MsgTime: 1796373602, MsgTag: 1, HasMsgTag: true}, 182},
		{"nchan timeout", "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: keep-alive\r\nVary: If-None-Match, If-Modified-Since\r\n\r\n",
			ok, Response{Status: 408}, 115},
		{"quoted etag", "HTTP/1.1 200 OK\r\nETag: \"7\"\r\nContent-Length: 0\r\n\r\n", ok, Response{Status: 200, MsgTag: 7, HasMsgTag: true}, 49},

		{"partial head", "HTTP/1.1 200 OK\r\nContent-Le", incomplete, Response{}, 0},
		{"partial body", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok", incomplete, Response{}, 0},

		{"missing length", "HTTP/1.1 200 OK\r\n\r\n", bad, Response{}, 0},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", bad, Response{}, 0},
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx", bad, Response{}, 0},
		{"HTTP/2", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"short status", "HTTP/1.1 20\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"status letters", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"status 4 digits", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"bad seq", "HTTP/1.1 200 OK\r\nX-Seq: 1x\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"seq overflow", "HTTP/1.1 200 OK\r\nX-Seq: 18446744073709551616\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"bad oldest seq", "HTTP/1.1 200 OK\r\nX-Oldest-Seq: -1\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"bad pub time", "HTTP/1.1 200 OK\r\nX-Pub-Time: 9223372036854775808\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"bad last-modified", "HTTP/1.1 200 OK\r\nLast-Modified: yesterday\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"weak etag", "HTTP/1.1 200 OK\r\nETag: W/\"1\"\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"NUL in reason", "HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n", bad, Response{}, 0},
		{"huge body", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n", bad, Response{}, 0},
		{"head too large", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", bad, Response{}, 0},
		{"garbage", "\x00\x01\x02", bad, Response{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, total, err := ParseResponse([]byte(tc.in))
			switch {
			case tc.want == ok && err != nil, tc.want == incomplete && !errors.Is(err, ErrIncomplete):
				t.Fatalf("err %v, want %d", err, tc.want)
			case tc.want == bad:
				var e *Error
				if !errors.As(err, &e) || e.Status != 0 || e.Reason == "" {
					t.Fatalf("err %v, want *Error with Status 0", err)
				}
				return
			case tc.want != ok:
				return
			}
			if resp != tc.resp || total != tc.total || total != len(tc.in) {
				t.Errorf("got %+v total %d, want %+v total %d (len %d)", resp, total, tc.resp, tc.total, len(tc.in))
			}
		})
	}
}

func TestZeroAllocs(t *testing.T) {
	req := []byte("GET /sub?id=abc&since=12 HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\nUser-Agent: flood\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Seq: 12\r\nX-Pub-Time: 1700000000000000000\r\n\r\nhello")
	bad := []byte("GET / HTTP/1.1\r\nX: \x00\r\n\r\n")
	absolute := []byte("GET http://h:1/sub?id=1 HTTP/1.2\r\nHost: h:1\r\nContent-Length: 0, 0\r\nExpect: 100-continue\r\n\r\n")
	chunked := []byte("GET / HTTP/1.1\r\nHost: [::1]\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
	longTarget := append([]byte("GET /"), bytes.Repeat([]byte("a"), DefaultMaxHead)...)
	dst := make([]byte, 0, 512)
	hdr := [][2]string{{"X-Seq", "12"}, {"X-Kind", "pub"}}
	body := []byte("hello")
	cases := map[string]func(){
		"ParseRequest":     func() { ParseRequest(req) },
		"ParseRequest/bad": func() { ParseRequest(bad) },
		"ParseRequest/abs": func() { ParseRequest(absolute) },
		"ParseRequest/TE":  func() { ParseRequest(chunked) },
		"ParseRequest/414": func() { ParseRequest(longTarget) },
		"ParseRequestWith": func() { ParseRequestWith(req, Limits{Methods: []string{"GET", "POST"}}) },
		"ParseResponse":    func() { ParseResponse(resp) },
		"AppendResponse":   func() { dst = AppendResponse(dst[:0], 200, hdr, body, false, false) },
		"Query":            func() { Query(req[4:24], "since") },
	}
	for name, f := range cases {
		if a := testing.AllocsPerRun(200, f); a != 0 {
			t.Errorf("%s: %.1f allocs per run", name, a)
		}
	}
}

func BenchmarkParseRequest(b *testing.B) {
	req := []byte("GET /sub?id=abc&since=12 HTTP/1.1\r\nHost: 10.0.0.1:11181\r\nUser-Agent: flood/1\r\nAccept: */*\r\n\r\n")
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestIncomplete(b *testing.B) {
	req := []byte("GET /sub?id=abc&since=12 HTTP/1.1\r\nHost: 10.0.0.1:11181\r\nUser-Agent: flood/1\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseRequest(req); err != ErrIncomplete {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	resp := AppendResponse(nil, 200, [][2]string{{"X-Seq", "42"}, {"X-Pub-Time", "1700000000000000000"}, {"X-Kind", "pub"}}, []byte("ok\n"), true, false)
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	dst := make([]byte, 0, 256)
	body := []byte("ok\n")
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendResponse(dst[:0], 200, nil, body, true, false)
	}
}

func BenchmarkQuery(b *testing.B) {
	target := []byte("/sub?id=client-123456&since=987654")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Query(target, "since"); !ok {
			b.Fatal("since missing")
		}
	}
}
