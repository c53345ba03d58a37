package httpwire

import "bytes"

var (
	errMethod     = &Error{405, "method not allowed"}
	errBadMethod  = &Error{400, "malformed method"}
	errBadTarget  = &Error{400, "malformed request-target"}
	errBadVersion = &Error{400, "unsupported HTTP version"}
	errBodyTooBig = &Error{413, "request body not allowed or too large"}
	errChunked    = &Error{400, "Transfer-Encoding not supported"}
)

var serverLimits = Limits{MaxHead: DefaultMaxHead, Methods: []string{"GET", "HEAD"}}

// ParseRequest parses a request head with the comet server's rules: head at
// most 8 KiB (431), GET or HEAD only (405), no request body (413 for a
// Content-Length > 0, 400 for Transfer-Encoding). headLen is the length of
// the head including its final CRLF CRLF; the next pipelined request starts
// there.
func ParseRequest(buf []byte) (req Request, headLen int, err error) {
	return ParseRequestWith(buf, serverLimits)
}

// ParseRequestWith parses a request head under lim. A zero MaxHead means
// DefaultMaxHead, empty Methods means GET and HEAD. With AllowBody, methods
// other than GET and HEAD may carry Content-Length <= MaxBody (else 413); the
// body is not part of headLen, so the caller waits for
// headLen+ContentLength bytes. Transfer-Encoding is always rejected with 400
// (chunked bodies are not supported; 411 would invite a retry that still
// fails).
func ParseRequestWith(buf []byte, lim Limits) (req Request, headLen int, err error) {
	limit := lim.MaxHead
	if limit <= 0 {
		limit = DefaultMaxHead
	}
	methods := lim.Methods
	if len(methods) == 0 {
		methods = serverLimits.Methods
	}
	line, pos, err := nextLine(buf, 0, limit, &reqErrs)
	if err != nil {
		return Request{}, 0, err
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return Request{}, 0, errBadMethod
	}
	method := line[:sp1]
	if len(method) == 0 {
		return Request{}, 0, errBadMethod
	}
	for _, c := range method {
		if !isToken[c] {
			return Request{}, 0, errBadMethod
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		return Request{}, 0, reqErrs.badLine
	}
	target, version := rest[:sp2], rest[sp2+1:]
	if len(target) == 0 || target[0] != '/' {
		return Request{}, 0, errBadTarget
	}
	for _, c := range target {
		if !isTarget[c] {
			return Request{}, 0, errBadTarget
		}
	}
	minor, ok := parseVersion(version)
	if !ok {
		return Request{}, 0, errBadVersion
	}
	allowed := false
	for _, m := range methods {
		if string(method) == m {
			allowed = true
			break
		}
	}
	if !allowed {
		// Known as soon as the request line is in: no need to read headers.
		return Request{}, 0, errMethod
	}
	var f fields
	headLen, err = parseFields(buf, pos, limit, &reqErrs, false, &f)
	if err != nil {
		return Request{}, 0, err
	}
	if f.chunked && f.contentLength >= 0 {
		return Request{}, 0, reqErrs.clTE
	}
	if f.chunked {
		return Request{}, 0, errChunked
	}
	req = Request{
		Method:        methodOf(method),
		Target:        target,
		Minor:         minor,
		ContentLength: f.contentLength,
	}
	if f.contentLength > 0 {
		bodyless := req.Method == MethodGET || req.Method == MethodHEAD
		if !lim.AllowBody || bodyless || f.contentLength > lim.MaxBody {
			return Request{}, 0, errBodyTooBig
		}
	}
	if minor == 1 {
		req.KeepAlive = !f.connClose
	} else {
		req.KeepAlive = f.connKeepAlive && !f.connClose
	}
	return req, headLen, nil
}

// Query returns the raw (still percent-encoded) value of the first key=value
// pair named key in target's query string, aliasing target. A bare "key"
// yields an empty value. Percent-decoding is left out on purpose: ids and
// sequence numbers are plain [A-Za-z0-9_-] and decoding would need a copy.
func Query(target []byte, key string) ([]byte, bool) {
	if h := bytes.IndexByte(target, '#'); h >= 0 {
		target = target[:h]
	}
	q := bytes.IndexByte(target, '?')
	if q < 0 {
		return nil, false
	}
	rest := target[q+1:]
	for len(rest) > 0 {
		pair := rest
		if amp := bytes.IndexByte(rest, '&'); amp >= 0 {
			pair, rest = rest[:amp], rest[amp+1:]
		} else {
			rest = nil
		}
		name, value := pair, pair[len(pair):]
		if eq := bytes.IndexByte(pair, '='); eq >= 0 {
			name, value = pair[:eq], pair[eq+1:]
		}
		if string(name) == key {
			return value, true
		}
	}
	return nil, false
}
