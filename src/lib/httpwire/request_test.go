package httpwire

import (
	"errors"
	"strings"
	"testing"
)

// outcome encodes a parse result: 0 success, -1 ErrIncomplete, else *Error.Status.
func outcome(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if errors.Is(err, ErrIncomplete) {
		return -1
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
	if e.Reason == "" {
		t.Errorf("error %d without reason", e.Status)
	}
	return e.Status
}

func manyHeaders(n int) string {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
	for i := range n - 1 {
		b.WriteString("X-H")
		b.WriteByte(byte('a' + i%26))
		b.WriteString(": v\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func TestParseRequest(t *testing.T) {
	const ok, incomplete = 0, -1
	big := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name       string
		in         string
		want       int // ok, incomplete or HTTP status
		method     Method
		target     string
		minor      int
		keepAlive  bool
		contentLen int64
	}{
		{"simple GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"HEAD with query", "HEAD /sub?id=1&since=2 HTTP/1.1\r\nHost: x\r\n\r\n", ok, MethodHEAD, "/sub?id=1&since=2", 1, true, -1},
		{"no host needed in 1.0", "GET /x HTTP/1.0\r\n\r\n", ok, MethodGET, "/x", 0, false, -1},
		{"1.1 close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ok, MethodGET, "/", 1, false, -1},
		{"1.1 close in list, any case", "GET / HTTP/1.1\r\nHost: x\r\nconnection: Upgrade , CLOSE\r\n\r\n", ok, MethodGET, "/", 1, false, -1},
		{"1.0 default close", "GET / HTTP/1.0\r\n\r\n", ok, MethodGET, "/", 0, false, -1},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok, MethodGET, "/", 0, true, -1},
		{"1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", ok, MethodGET, "/", 0, false, -1},
		{"zero content-length on GET", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", ok, MethodGET, "/", 1, true, 0},
		{"same duplicate content-length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", ok, MethodGET, "/", 1, true, 0},
		{"value OWS and tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A:\t v \t\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"obs-text in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"100 headers", manyHeaders(100), ok, MethodGET, "/", 1, true, -1},

		{"empty", "", incomplete, 0, "", 0, false, 0},
		{"partial line", "GET / HT", incomplete, 0, "", 0, false, 0},
		{"partial CR", "GET / HTTP/1.1\r", incomplete, 0, "", 0, false, 0},
		{"no blank line", "GET / HTTP/1.1\r\nHost: x\r\n", incomplete, 0, "", 0, false, 0},

		{"oversized 64 KiB target", "GET /" + big(64<<10) + " HTTP/1.1\r\n\r\n", 414, 0, "", 0, false, 0},
		{"8 KiB without terminator", "GET / HTTP/1.1\r\nX: " + big(8<<10), 431, 0, "", 0, false, 0},
		{"one giant header", "GET / HTTP/1.1\r\nX-Big: " + big(9000) + "\r\n\r\n", 431, 0, "", 0, false, 0},
		{"101 headers", manyHeaders(101), 431, 0, "", 0, false, 0},
		{"10000 small headers", manyHeaders(10000), 431, 0, "", 0, false, 0},

		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, 0, "", 0, false, 0},
		{"garbage with newline", "hello world\r\n\r\n", 400, 0, "", 0, false, 0},
		{"NUL in target", "GET /\x00 HTTP/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"NUL in header", "GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400, 0, "", 0, false, 0},
		{"NUL partial", "GET / HTTP/1.1\r\nX: \x00", 400, 0, "", 0, false, 0},
		{"control byte in value", "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400, 0, "", 0, false, 0},
		{"DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400, 0, "", 0, false, 0},
		{"bare CR in value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, 0, "", 0, false, 0},
		{"bare LF request line", "GET / HTTP/1.1\n\r\n", 400, 0, "", 0, false, 0},
		{"bare LF header", "GET / HTTP/1.1\r\nHost: x\n\r\n", 400, 0, "", 0, false, 0},
		{"bare LF end", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400, 0, "", 0, false, 0},
		{"bad method token", "G(T / HTTP/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"empty method", " / HTTP/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"POST not allowed", "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405, 0, "", 0, false, 0},
		{"lower-case get", "get / HTTP/1.1\r\n\r\n", 501, 0, "", 0, false, 0},
		{"501 before headers arrive", "DELETE / HTTP/1.1\r\n", 501, 0, "", 0, false, 0},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505, 0, "", 0, false, 0},
		{"HTTP/1.2 is 1.1", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"lower-case version", "GET / http/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"HTTP/0.9 style", "GET /\r\n\r\n", 400, 0, "", 0, false, 0},
		{"double space", "GET  / HTTP/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"trailing space", "GET / HTTP/1.1 \r\n\r\n", 400, 0, "", 0, false, 0},
		{"absolute-form target", "GET http://x/sub?id=1 HTTP/1.1\r\nHost: x\r\n\r\n", ok, MethodGET, "/sub?id=1", 1, true, -1},
		{"asterisk target", "GET * HTTP/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"empty header name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400, 0, "", 0, false, 0},
		{"obs-fold space", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, 0, "", 0, false, 0},
		{"obs-fold tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400, 0, "", 0, false, 0},
		{"CL and TE", "GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, "", 0, false, 0},
		{"TE on GET", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 413, 0, "", 0, false, 0},
		{"differing CL", "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"non-numeric CL", "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, 0, "", 0, false, 0},
		{"negative CL", "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"CL list of one value", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", 413, 0, "", 0, false, 0},
		{"huge CL", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, 0, "", 0, false, 0},
		{"body on GET", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413, 0, "", 0, false, 0},
		{"body on HEAD", "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 413, 0, "", 0, false, 0},
		{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"absolute-form, empty path", "GET HTTP://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"CL list of zeros", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 00\r\n\r\n", ok, MethodGET, "/", 1, true, 0},
		{"Host IPv6 and port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", ok, MethodGET, "/", 1, true, -1},
		{"pct-encoded target", "GET /a%2Fb?x=%41 HTTP/1.1\r\nHost: x\r\n\r\n", ok, MethodGET, "/a%2Fb?x=%41", 1, true, -1},
		{"1.0 ignores Expect", "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", ok, MethodGET, "/", 0, false, -1},
		{"1.1 100-continue without body", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n", ok, MethodGET, "/", 1, true, -1},

		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, 0, "", 0, false, 0},
		{"two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, 0, "", 0, false, 0},
		{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, 0, "", 0, false, 0},
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, 0, "", 0, false, 0},
		{"Host bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"absolute-form empty host", "GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"https without TLS", "GET https://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 421, 0, "", 0, false, 0},
		{"absolute-form other scheme", "GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"bad pct-encoding", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"OPTIONS * not implemented", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 501, 0, "", 0, false, 0},
		{"CONNECT not implemented", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 501, 0, "", 0, false, 0},
		{"CONNECT without port", "CONNECT x HTTP/1.1\r\nHost: x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"HTTP/0.9 version", "GET / HTTP/0.9\r\n\r\n", 505, 0, "", 0, false, 0},
		{"HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", 400, 0, "", 0, false, 0},
		{"8 KiB method", big(9000), 501, 0, "", 0, false, 0},
		{"8 KiB of empty lines", strings.Repeat("\r\n", 5000), 431, 0, "", 0, false, 0},
		{"TE gzip only", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, 0, "", 0, false, 0},
		{"TE chunked then gzip", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, 0, "", 0, false, 0},
		{"TE chunked twice", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, "", 0, false, 0},
		{"TE chunked with parameter", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"TE empty", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n", 400, 0, "", 0, false, 0},
		{"TE unknown coding", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, 0, "", 0, false, 0},
		{"TE in HTTP/1.0", "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, "", 0, false, 0},
		{"CL differing list", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400, 0, "", 0, false, 0},
		{"CL empty", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400, 0, "", 0, false, 0},
		{"CL plus sign", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400, 0, "", 0, false, 0},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, 0, "", 0, false, 0},
		{"100-continue with body on GET", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 413, 0, "", 0, false, 0},
		{"whitespace before first field", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400, 0, "", 0, false, 0},
		{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400, 0, "", 0, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, headLen, err := ParseRequest([]byte(tc.in))
			if got := outcome(t, err); got != tc.want {
				t.Fatalf("outcome %d (%v), want %d", got, err, tc.want)
			}
			if tc.want != 0 {
				if headLen != 0 {
					t.Errorf("headLen %d on failure", headLen)
				}
				return
			}
			if headLen != len(tc.in) {
				t.Errorf("headLen %d, want %d", headLen, len(tc.in))
			}
			if req.Method != tc.method || string(req.Target) != tc.target || req.Minor != tc.minor ||
				req.KeepAlive != tc.keepAlive || req.ContentLength != tc.contentLen {
				t.Errorf("got %+v (target %q), want method %v target %q minor %d keepAlive %v CL %d",
					req, req.Target, tc.method, tc.target, tc.minor, tc.keepAlive, tc.contentLen)
			}
		})
	}
}

// Every strict prefix of a valid request is incomplete, never an error.
func TestParseRequestPrefixesIncomplete(t *testing.T) {
	for _, full := range []string{
		"HEAD /sub?id=7 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nX-Tab:\tv\r\n\r\n",
		"\r\n\r\nGET http://h:1/sub?id=7 HTTP/1.2\r\nHost: [::1]:1\r\nContent-Length: 0, 0\r\nExpect: 100-continue\r\n\r\n",
	} {
		if _, _, err := ParseRequest([]byte(full)); err != nil {
			t.Fatalf("%q: %v", full, err)
		}
		for i := range len(full) {
			if _, _, err := ParseRequest([]byte(full[:i])); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("prefix %q: %v, want ErrIncomplete", full[:i], err)
			}
		}
	}
}

func TestHeadLimitBoundary(t *testing.T) {
	head := func(total int) string {
		base := "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n"
		return strings.Replace(base, "X: ", "X: "+strings.Repeat("v", total-len(base)), 1)
	}
	if _, n, err := ParseRequest([]byte(head(DefaultMaxHead))); err != nil || n != DefaultMaxHead {
		t.Errorf("head of exactly %d bytes: n=%d err=%v", DefaultMaxHead, n, err)
	}
	if _, _, err := ParseRequest([]byte(head(DefaultMaxHead + 1))); outcome(t, err) != 431 {
		t.Errorf("head of %d bytes: %v, want 431", DefaultMaxHead+1, err)
	}
}

func TestPipelined(t *testing.T) {
	buf := []byte("GET /a HTTP/1.1\r\nHost: h\r\n\r\n\r\nHEAD /b?id=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /c HT")
	var targets []string
	var keep []bool
	for {
		req, n, err := ParseRequest(buf)
		if errors.Is(err, ErrIncomplete) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, string(req.Target))
		keep = append(keep, req.KeepAlive)
		buf = buf[n:]
	}
	if strings.Join(targets, ",") != "/a,/b?id=2" || !keep[0] || keep[1] {
		t.Errorf("targets %v keepAlive %v", targets, keep)
	}
	if string(buf) != "GET /c HT" {
		t.Errorf("left %q", buf)
	}
}

func TestParseRequestWith(t *testing.T) {
	admin := Limits{AllowBody: true, MaxBody: 16, Methods: []string{"GET", "POST", "PURGE"}}
	tests := []struct {
		name   string
		lim    Limits
		in     string
		want   int
		method Method
		cl     int64
	}{
		{"POST with body", admin, "POST /pub?id=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 0, MethodPOST, 5},
		{"POST at max body", admin, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n", 0, MethodPOST, 16},
		{"POST without body", admin, "POST / HTTP/1.1\r\nHost: h\r\n\r\n", 0, MethodPOST, -1},
		{"other listed method", admin, "PURGE / HTTP/1.1\r\nHost: h\r\n\r\n", 0, MethodOther, -1},
		{"GET allowed", admin, "GET /stats HTTP/1.1\r\nHost: h\r\n\r\n", 0, MethodGET, -1},
		{"HEAD not listed", admin, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", 405, 0, 0},
		{"body too big", admin, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", 413, 0, 0},
		{"body on GET still rejected", admin, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n", 413, 0, 0},
		{"chunked: length required", admin, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 411, 0, 0},
		{"chunked on GET", admin, "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 413, 0, 0},
		{"not implemented anywhere", admin, "DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", 501, 0, 0},
		{"own known list", Limits{Methods: []string{"GET"}, Known: []string{"PUT"}}, "PUT / HTTP/1.1\r\nHost: h\r\n\r\n", 405, 0, 0},
		{"100-continue flagged", admin, "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 0, MethodPOST, 2},
		{"body not allowed", Limits{Methods: []string{"POST"}}, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n", 413, 0, 0},
		{"default methods", Limits{}, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", 0, MethodHEAD, -1},
		{"small head limit", Limits{MaxHead: 32}, "GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789abcdef\r\n\r\n", 431, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, n, err := ParseRequestWith([]byte(tc.in), tc.lim)
			if got := outcome(t, err); got != tc.want {
				t.Fatalf("outcome %d (%v), want %d", got, err, tc.want)
			}
			if tc.want != 0 {
				return
			}
			if req.Method != tc.method || req.ContentLength != tc.cl {
				t.Errorf("method %v CL %d, want %v %d", req.Method, req.ContentLength, tc.method, tc.cl)
			}
			if want := strings.Contains(tc.in, "100-continue"); req.Continue != want {
				t.Errorf("Continue %v, want %v", req.Continue, want)
			}
			if body := tc.in[n:]; req.ContentLength > 0 && int64(len(body)) > req.ContentLength {
				t.Errorf("headLen %d leaves %q, longer than Content-Length", n, body)
			}
			if !strings.HasSuffix(tc.in[:n], "\r\n\r\n") {
				t.Errorf("headLen %d does not end at the blank line", n)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	tests := []struct {
		target, key, want string
		found             bool
	}{
		{"/sub?id=abc&since=42", "id", "abc", true},
		{"/sub?id=abc&since=42", "since", "42", true},
		{"/sub?id=abc&since=42", "seq", "", false},
		{"/sub?ids=1&id=2", "id", "2", true},
		{"/sub?id=1&id=2", "id", "1", true},
		{"/sub?flag&id=3", "flag", "", true},
		{"/sub?id=", "id", "", true},
		{"/sub?a=1&&id=x%20y", "id", "x%20y", true},
		{"/sub?id=1#frag", "id", "1", true},
		{"/sub#?id=1", "id", "", false},
		{"/sub", "id", "", false},
		{"/id=1", "id", "", false},
		{"/?=v", "", "v", true},
	}
	for _, tc := range tests {
		got, found := Query([]byte(tc.target), tc.key)
		if found != tc.found || string(got) != tc.want {
			t.Errorf("Query(%q, %q) = %q, %v; want %q, %v", tc.target, tc.key, got, found, tc.want, tc.found)
		}
	}
}
