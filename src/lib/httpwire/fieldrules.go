package httpwire

// The request header fields whose value decides the answer: Content-Length (RFC 9112 §6.3, RFC 9110 §8.6),
// Transfer-Encoding (RFC 9112 §6.1, §6.3), Host (RFC 9112 §3.2) and Expect (RFC 9110 §10.1.1).

import "bytes"

// contentLength records one Content-Length field line. A response takes exactly 1*DIGIT. A request may also
// carry a list of identical values ("5, 5"), which RFC 9112 §6.3 says to process as that single value; a valid
// number too large for int64 is recorded as hugeLength (the body is refused with 413, not called malformed).
func contentLength(value []byte, f *fields, es *errSet, resp bool) error {
	if resp {
		cl, ok := parseDecimal(value)
		if !ok {
			return es.badCL
		}
		if f.contentLength >= 0 && f.contentLength != cl {
			return es.dupCL
		}
		f.contentLength = cl
		return nil
	}
	seen := false
	for len(value) > 0 || !seen {
		var elem []byte
		elem, value = nextElement(value)
		if len(elem) == 0 {
			if len(value) == 0 && !seen {
				return es.badCL // no value at all
			}
			continue // RFC 9110 §5.6.1: empty list elements are ignored
		}
		seen = true
		cl, huge, ok := parseLength(elem)
		if !ok {
			return es.badCL
		}
		if huge {
			f.hugeLength = true
			continue
		}
		if f.contentLength >= 0 && f.contentLength != cl {
			return es.dupCL
		}
		f.contentLength = cl
	}
	if f.hugeLength && f.contentLength >= 0 {
		return es.dupCL // a huge value and a small one differ
	}
	return nil
}

// parseLength parses 1*DIGIT; huge reports a value beyond 18 significant digits.
func parseLength(b []byte) (n int64, huge, ok bool) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	if len(b) == 0 {
		return 0, false, false
	}
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	if len(b) > 18 {
		return 0, true, true
	}
	n, ok = parseDecimal(b)
	return n, false, ok
}

// teState follows the transfer codings of every Transfer-Encoding line, in order (RFC 9112 §6.1).
type teState struct {
	codings   int  // codings listed
	chunked   int  // how many of them are chunked
	lastChunk bool // the final coding is chunked
	unknown   bool // a coding other than chunked (comet decodes none)
	bad       bool // not a token, or chunked with parameters
}

func (t *teState) add(value []byte) {
	for len(value) > 0 {
		var elem []byte
		elem, value = nextElement(value)
		if len(elem) == 0 {
			continue
		}
		name, params := elem, false
		if i := bytes.IndexByte(elem, ';'); i >= 0 {
			name, params = trimOWS(elem[:i]), true
		}
		if len(name) == 0 || !allToken(name) {
			t.bad = true
			continue
		}
		t.codings++
		t.lastChunk = equalFold(name, "chunked")
		if t.lastChunk {
			t.chunked++
			t.bad = t.bad || params // chunked defines no parameters (RFC 9112 §7.1)
		} else {
			t.unknown = true
		}
	}
}

// framed reports whether the codings end in exactly one chunked: the body length can be determined.
func (t *teState) framed() bool { return !t.bad && t.lastChunk && t.chunked == 1 }

// expectTokens records the members of an Expect field (RFC 9110 §10.1.1: only 100-continue is defined).
func expectTokens(v []byte, f *fields) {
	for len(v) > 0 {
		var tok []byte
		tok, v = nextElement(v)
		switch {
		case len(tok) == 0:
		case equalFold(tok, "100-continue"):
			f.expect100 = true
		default:
			f.expectOther = true
		}
	}
}

func allToken(b []byte) bool {
	for _, c := range b {
		if !isToken[c] {
			return false
		}
	}
	return true
}

// ValidHost reports whether v (without surrounding whitespace) is a valid Host field value: uri-host [ ":" port ]
// (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP-literal in brackets or a reg-name of unreserved, pct-encoded and
// sub-delims characters (which covers IPv4 and the empty host), then optionally ":" and digits.
func ValidHost(v []byte) bool {
	host, port := v, []byte(nil)
	if len(v) > 0 && v[0] == '[' {
		end := bytes.IndexByte(v, ']')
		if end < 2 {
			return false
		}
		for _, c := range v[1:end] {
			if !isHostChar[c] && c != ':' {
				return false
			}
		}
		host, port = nil, v[end+1:]
		if len(port) > 0 {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else if i := bytes.IndexByte(v, ':'); i >= 0 {
		host, port = v[:i], v[i+1:]
	}
	if !validRegName(host) {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func validRegName(b []byte) bool { return validPctEncoded(b, &isHostChar) }

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
