package httpwire

import "bytes"

// errSet holds the preallocated errors one parser returns, so the request
// parser reports HTTP statuses and the response parser reports Status 0.
type errSet struct {
	badLine, bareLF, ctl, obsFold, badName, tooLarge, tooMany, badCL, dupCL, clTE *Error
}

var reqErrs = errSet{
	badLine:  &Error{400, "malformed request line"},
	bareLF:   &Error{400, "line not terminated by CRLF"},
	ctl:      &Error{400, "control byte in head"},
	obsFold:  &Error{400, "obsolete line folding"},
	badName:  &Error{400, "malformed header field name"},
	tooLarge: &Error{431, "request head too large"},
	tooMany:  &Error{431, "too many header fields"},
	badCL:    &Error{400, "malformed Content-Length"},
	dupCL:    &Error{400, "conflicting Content-Length"},
	clTE:     &Error{400, "both Content-Length and Transfer-Encoding"},
}

var respErrs = errSet{
	badLine:  &Error{0, "malformed status line"},
	bareLF:   &Error{0, "line not terminated by CRLF"},
	ctl:      &Error{0, "control byte in head"},
	obsFold:  &Error{0, "obsolete line folding"},
	badName:  &Error{0, "malformed header field name"},
	tooLarge: &Error{0, "response head too large"},
	tooMany:  &Error{0, "too many header fields"},
	badCL:    &Error{0, "malformed Content-Length"},
	dupCL:    &Error{0, "conflicting Content-Length"},
	clTE:     &Error{0, "both Content-Length and Transfer-Encoding"},
}

// fields collects what the parsers need from the header section.
type fields struct {
	contentLength int64 // -1 if absent
	hugeLength    bool  // a valid Content-Length too large for int64
	chunked       bool  // any Transfer-Encoding header
	connClose     bool
	connKeepAlive bool
	// request only
	hosts       int  // Host field lines
	badHost     bool // a Host value that is not uri-host [ ":" port ]
	te          teState
	expectOther bool // an Expect member other than 100-continue
	expect100   bool
	// response only
	seq      uint64
	pubNanos int64
	oldest   uint64
	lastMod  int64  // Last-Modified, unix seconds (nchan's message time)
	etag     uint64 // ETag, a decimal number (nchan's message tag within lastMod)
	hasETag  bool
	badExtra bool // malformed X-Seq / X-Pub-Time / X-Oldest-Seq / Last-Modified / ETag
}

// nextLine returns the line starting at pos without its CRLF and the offset
// after it. Only bytes below limit may belong to the head. On a missing LF it
// reports tooLarge once limit bytes are buffered, an early error when the
// partial line already holds a byte no valid line may contain, and
// ErrIncomplete otherwise.
func nextLine(buf []byte, pos, limit int, es *errSet) (line []byte, next int, err error) {
	end := len(buf)
	if end > limit {
		end = limit
	}
	i := bytes.IndexByte(buf[pos:end], '\n')
	if i < 0 {
		if len(buf) >= limit {
			return nil, 0, es.tooLarge
		}
		// Reject garbage without waiting for the head limit or a timeout.
		part := buf[pos:end]
		for j, c := range part {
			if !isValue[c] && !(c == '\r' && j == len(part)-1) {
				return nil, 0, es.ctl
			}
		}
		return nil, 0, ErrIncomplete
	}
	if i == 0 || buf[pos+i-1] != '\r' {
		return nil, 0, es.bareLF
	}
	return buf[pos : pos+i-1], pos + i + 1, nil
}

// parseFields parses header lines from pos up to and including the empty
// line, returning the head length.
func parseFields(buf []byte, pos, limit int, es *errSet, resp bool, f *fields) (int, error) {
	f.contentLength = -1
	for n := 0; ; n++ {
		line, next, err := nextLine(buf, pos, limit, es)
		if err != nil {
			return 0, err
		}
		pos = next
		if len(line) == 0 {
			return pos, nil
		}
		if n == MaxHeaders {
			return 0, es.tooMany
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, es.obsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, es.badName
		}
		name := line[:colon]
		for _, c := range name {
			if !isToken[c] {
				return 0, es.badName
			}
		}
		value := line[colon+1:]
		for _, c := range value {
			if !isValue[c] {
				return 0, es.ctl
			}
		}
		value = trimOWS(value)
		switch {
		case equalFold(name, "content-length"):
			if err := contentLength(value, f, es, resp); err != nil {
				return 0, err
			}
		case equalFold(name, "transfer-encoding"):
			f.chunked = true
			if !resp {
				f.te.add(value)
			}
		case !resp && equalFold(name, "host"):
			f.hosts++
			f.badHost = f.badHost || !ValidHost(value)
		case !resp && equalFold(name, "expect"):
			expectTokens(value, f)
		case equalFold(name, "connection"):
			connectionTokens(value, f)
		case resp && equalFold(name, "x-oldest-seq"):
			v, ok := parseUint64(value)
			f.oldest = v
			f.badExtra = f.badExtra || !ok
		case resp && equalFold(name, "x-seq"):
			v, ok := parseUint64(value)
			f.seq = v
			f.badExtra = f.badExtra || !ok
		case resp && equalFold(name, "x-pub-time"):
			v, ok := parseInt64(value)
			f.pubNanos = v
			f.badExtra = f.badExtra || !ok
		case resp && equalFold(name, "last-modified"):
			v, ok := parseHTTPDate(value)
			f.lastMod = v
			f.badExtra = f.badExtra || !ok
		case resp && equalFold(name, "etag"):
			v, ok := parseUint64(trimQuotes(value))
			f.etag, f.hasETag = v, ok
			f.badExtra = f.badExtra || !ok
		}
	}
}

// nextElement splits the first element off a comma-separated field value (RFC 9110 §5.6.1), OWS trimmed; an
// empty element is returned as such (the caller decides whether the list rule allows it).
func nextElement(v []byte) (elem, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:]
	}
	return trimOWS(v), nil
}

// connectionTokens records close / keep-alive from a comma-separated list.
func connectionTokens(v []byte, f *fields) {
	for len(v) > 0 {
		var tok []byte
		tok, v = nextElement(v)
		switch {
		case equalFold(tok, "close"):
			f.connClose = true
		case equalFold(tok, "keep-alive"):
			f.connKeepAlive = true
		}
	}
}

// parseVersion accepts exactly HTTP/1.0 and HTTP/1.1.
func parseVersion(b []byte) (minor int, ok bool) {
	if len(b) != 8 || string(b[:7]) != "HTTP/1." || (b[7] != '0' && b[7] != '1') {
		return 0, false
	}
	return int(b[7] - '0'), true
}
