package httpwire

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"
)

// within reports whether sub aliases memory inside buf.
func within(sub, buf []byte) bool {
	if len(sub) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= start && p+uintptr(len(sub)) <= start+uintptr(len(buf))
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return -1
}

var trailers = [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), []byte("\x00garbage"), []byte("\r\n\r\n")}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET /sub?id=1&since=0 HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("\r\nGET http://[::1]:80/sub?id=%41 HTTP/1.2\r\nHost: [::1]:80\r\nExpect: 100-continue\r\n\r\n"))
	f.Add([]byte("POST /pub HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 1, 1\r\n\r\n"))
	f.Add([]byte("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a:1 HTTP/2.0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		admin := Limits{AllowBody: true, MaxBody: 64, Methods: []string{"GET", "POST"}}
		for _, lim := range []*Limits{nil, &admin} {
			parse := func(b []byte) (Request, int, error) {
				if lim == nil {
					return ParseRequest(b)
				}
				return ParseRequestWith(b, *lim)
			}
			req, n, err := parse(data)
			if n < 0 || n > len(data) {
				t.Fatalf("headLen %d outside [0, %d]", n, len(data))
			}
			switch {
			case err == nil:
				if n == 0 || n > DefaultMaxHead || !bytes.HasSuffix(data[:n], []byte("\r\n\r\n")) {
					t.Fatalf("headLen %d does not end a head", n)
				}
				root := len(req.Target) == 1 && &req.Target[0] == &rootPath[0] // absolute-form with an empty path
				if !root && !within(req.Target, data[:n]) || len(req.Target) == 0 || req.Target[0] != '/' && req.Target[0] != '?' {
					t.Fatalf("bad target %q", req.Target)
				}
				if lim == nil && (req.Method != MethodGET && req.Method != MethodHEAD || req.ContentLength > 0) {
					t.Fatalf("server defaults accepted %v with CL %d", req.Method, req.ContentLength)
				}
				if req.ContentLength > admin.MaxBody {
					t.Fatalf("accepted CL %d over MaxBody", req.ContentLength)
				}
				// One byte less is an incomplete head, never an error.
				if _, _, err := parse(data[:n-1]); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("head without its last byte: %v", err)
				}
				// The head alone, followed by anything, parses identically.
				for _, tail := range trailers {
					again := append(bytes.Clone(data[:n]), tail...)
					req2, n2, err2 := parse(again)
					if err2 != nil || n2 != n || !bytes.Equal(req2.Target, req.Target) ||
						req2.Method != req.Method || req2.Minor != req.Minor ||
						req2.KeepAlive != req.KeepAlive || req2.ContentLength != req.ContentLength {
						t.Fatalf("re-parse with tail %q: %+v %d %v, first %+v %d", tail, req2, n2, err2, req, n)
					}
				}
			case errors.Is(err, ErrIncomplete):
				if len(data) >= DefaultMaxHead {
					t.Fatalf("incomplete with %d bytes buffered", len(data))
				}
			default:
				status := statusOf(err)
				switch status {
				case 400, 405, 411, 413, 414, 417, 421, 431, 501, 505:
				default:
					t.Fatalf("unexpected error %v", err)
				}
				// More bytes never turn a rejected request into anything else.
				for _, tail := range trailers {
					if _, _, err2 := parse(append(bytes.Clone(data), tail...)); statusOf(err2) != status {
						t.Fatalf("with tail %q: %v, without: %v", tail, err2, err)
					}
				}
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Seq: 1\r\n\r\nok\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, total, err := ParseResponse(data)
		if total < 0 || total > len(data) {
			t.Fatalf("total %d outside [0, %d]", total, len(data))
		}
		switch {
		case err == nil:
			if resp.Status < 100 || resp.Status > 999 || resp.ContentLength < 0 || total < resp.ContentLength+len("HTTP/1.1 200\r\n\r\n") {
				t.Fatalf("inconsistent %+v total %d", resp, total)
			}
			again := append(bytes.Clone(data[:total]), "HTTP/1.1 200"...)
			resp2, total2, err2 := ParseResponse(again)
			if err2 != nil || resp2 != resp || total2 != total {
				t.Fatalf("re-parse: %+v %d %v, first %+v %d", resp2, total2, err2, resp, total)
			}
		case errors.Is(err, ErrIncomplete):
		default:
			if statusOf(err) != 0 {
				t.Fatalf("response error with status: %v", err)
			}
		}
	})
}

func FuzzQuery(f *testing.F) {
	f.Add([]byte("/sub?id=1&since=2"), "since")
	f.Fuzz(func(t *testing.T, target []byte, key string) {
		v, ok := Query(target, key)
		if !ok {
			if v != nil {
				t.Fatalf("not found but value %q", v)
			}
			return
		}
		if !within(v, target) {
			t.Fatalf("value %q does not alias target", v)
		}
		pair := key
		if len(v) > 0 {
			pair = key + "=" + string(v)
		}
		if !bytes.Contains(target, []byte(pair)) || bytes.IndexByte(target, '?') < 0 {
			t.Fatalf("found %q for %q in %q", v, key, target)
		}
	})
}
