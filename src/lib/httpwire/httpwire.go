// Package httpwire is a strict, allocation-free HTTP/1.x parser and response
// writer for a server that holds millions of connections and for the flood
// client that reads their answers.
//
// Every parser works on the caller's buffer and never allocates: results alias
// the buffer and errors are preallocated *Error values (treat them as
// read-only). Parsers are incremental by re-parsing: call again with more
// bytes after ErrIncomplete.
package httpwire

import (
	"errors"
	"time"
)

// ErrIncomplete means the buffer does not yet hold a complete message (and the
// part seen so far is neither malformed nor over a limit).
var ErrIncomplete = errors.New("httpwire: incomplete message")

// Error is a protocol violation. Status is the HTTP status the server should
// answer with before closing (400, 405, 411, 413, 414, 417, 421, 431, 501, 505);
// it is 0 for responses parsed by the client.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "httpwire: " + e.Reason }

// Method identifies a request method without keeping a string.
type Method uint8

// Known methods. MethodOther is any other token that Limits.Methods allows.
const (
	MethodOther Method = iota
	MethodGET
	MethodHEAD
	MethodPOST
	MethodPUT
	MethodDELETE
	MethodPATCH
	MethodOPTIONS
)

var methodNames = [...]string{"OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}

func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "OTHER"
}

func methodOf(tok []byte) Method {
	switch string(tok) { // the compiler does not allocate for this conversion
	case "GET":
		return MethodGET
	case "HEAD":
		return MethodHEAD
	case "POST":
		return MethodPOST
	case "PUT":
		return MethodPUT
	case "DELETE":
		return MethodDELETE
	case "PATCH":
		return MethodPATCH
	case "OPTIONS":
		return MethodOPTIONS
	}
	return MethodOther
}

const (
	// DefaultMaxHead bounds a request or response head, terminator included.
	DefaultMaxHead = 8 << 10
	// MaxHeaders bounds the number of header fields in one head.
	MaxHeaders = 100
	// maxResponseBody keeps head+body within int on every platform and stops a
	// hostile server from making the client wait for gigabytes.
	maxResponseBody = 1 << 30
)

// ascii character classes, built once.
var (
	isToken    [256]bool // RFC 9110 tchar
	isHostChar [256]bool // RFC 3986 unreserved and sub-delims: reg-name without pct-encoding
	isPathChar [256]bool // RFC 3986 pchar without pct-encoding, plus "/" and "?": path and query
	isValue    [256]bool // field-value / reason-phrase bytes: HT, SP, VCHAR, obs-text
)

func init() {
	for c := 0; c < 256; c++ {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		isToken[c] = alnum
		isHostChar[c] = alnum
		isValue[c] = c == '\t' || (c >= 0x20 && c != 0x7f)
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		isToken[c] = true
	}
	for _, c := range []byte("-._~!$&'()*+,;=") {
		isHostChar[c] = true
	}
	for c := 0; c < 256; c++ {
		isPathChar[c] = isHostChar[c] || c == ':' || c == '@' || c == '/' || c == '?'
	}
}

// lowerASCII folds A-Z only; header names are ASCII tokens.
func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// equalFold reports whether b equals the lower-case literal lower, ignoring
// ASCII case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		if lowerASCII(b[i]) != lower[i] {
			return false
		}
	}
	return true
}

// trimOWS strips optional whitespace (SP, HT) from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseDecimal parses 1-18 ASCII digits (so the value fits int64 without an
// overflow check).
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseUint64 parses 1-20 ASCII digits into a uint64, rejecting overflow.
func parseUint64(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt64 parses an optionally negative decimal int64, rejecting overflow.
func parseInt64(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint64(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// httpDateLayout is the IMF-fixdate of RFC 9110 §5.6.7, the only HTTP-date form a server may send.
const httpDateLayout = "Mon, 02 Jan 2006 15:04:05 GMT"

// parseHTTPDate reads an IMF-fixdate into unix seconds.
func parseHTTPDate(b []byte) (int64, bool) {
	t, err := time.Parse(httpDateLayout, string(b))
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

// AppendHTTPDate appends unix seconds as an IMF-fixdate (for If-Modified-Since).
func AppendHTTPDate(dst []byte, unix int64) []byte {
	return time.Unix(unix, 0).UTC().AppendFormat(dst, httpDateLayout)
}

// trimQuotes drops the double quotes of an entity tag ("12" -> 12); nchan sends the number bare.
func trimQuotes(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}
