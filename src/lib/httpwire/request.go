package httpwire

import "bytes"

var (
	errMethod      = &Error{405, "method not allowed"}
	errNotImpl     = &Error{501, "method not implemented"}
	errBadMethod   = &Error{400, "malformed method"}
	errBadTarget   = &Error{400, "malformed request-target"}
	errMisdirected = &Error{421, "https target on a connection without TLS"}
	errBadVersion  = &Error{400, "malformed HTTP version"}
	errVersion     = &Error{505, "HTTP major version not supported"}
	errURITooLong  = &Error{414, "request-target too long"}
	errBodyTooBig  = &Error{413, "request body not allowed or too large"}
	errNoHost      = &Error{400, "HTTP/1.1 request without Host"}
	errManyHosts   = &Error{400, "more than one Host"}
	errBadHost     = &Error{400, "invalid Host"}
	errTE10        = &Error{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errTEFraming   = &Error{400, "Transfer-Encoding does not end in one chunked"}
	errTEUnknown   = &Error{501, "transfer coding not implemented"}
	errLengthReq   = &Error{411, "chunked request body: Content-Length required"}
	errExpectation = &Error{417, "expectation not supported"}
)

// ImplementedMethods are the methods comet implements somewhere (GET and HEAD on the push port, POST on the
// admin listener): one not allowed on a resource is answered 405, any other method 501 (RFC 9110 §9.1).
var ImplementedMethods = []string{"GET", "HEAD", "POST"}

var serverLimits = Limits{MaxHead: DefaultMaxHead, Methods: []string{"GET", "HEAD"}}

// ParseRequest parses a request head with the comet server's rules: head at most 8 KiB (431; 414 when the
// request-target alone does not fit), GET or HEAD only (405 for POST, 501 for any other method), no request body
// (413). headLen is the length of the head including its final CRLF CRLF; the next pipelined request starts there.
func ParseRequest(buf []byte) (req Request, headLen int, err error) {
	return ParseRequestWith(buf, serverLimits)
}

// ParseRequestWith parses a request head under lim, with the checks RFC 9112 and RFC 9110 ask of a server (see
// docs/conformance.md). A zero MaxHead means DefaultMaxHead, empty Methods means GET and HEAD. With AllowBody,
// methods other than GET and HEAD may carry Content-Length <= MaxBody (else 413); the body is not part of
// headLen, so the caller waits for headLen+ContentLength bytes. A chunked body is refused: 411 where bodies are
// allowed (RFC 9112 §6.3), 413 elsewhere.
func ParseRequestWith(buf []byte, lim Limits) (req Request, headLen int, err error) {
	limit := lim.MaxHead
	if limit <= 0 {
		limit = DefaultMaxHead
	}
	methods := lim.Methods
	if len(methods) == 0 {
		methods = serverLimits.Methods
	}
	// RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
	start := 0
	for start+1 < len(buf) && start+2 <= limit && buf[start] == '\r' && buf[start+1] == '\n' {
		start += 2
	}
	line, pos, err := nextLine(buf, start, limit, &reqErrs)
	if err == reqErrs.tooLarge {
		return Request{}, 0, overlongLine(buf[start:min(len(buf), limit)])
	}
	if err != nil {
		return Request{}, 0, err
	}
	method, target, minor, err := requestLine(line, methods, lim.Known)
	if err != nil {
		return Request{}, 0, err
	}
	var f fields
	headLen, err = parseFields(buf, pos, limit, &reqErrs, false, &f)
	if err != nil {
		return Request{}, 0, err
	}
	req = Request{Method: methodOf(method), Target: target, Minor: minor, ContentLength: f.contentLength}
	if err := checkFields(&f, &req, lim); err != nil {
		return Request{}, 0, err
	}
	if minor == 1 {
		req.KeepAlive = !f.connClose
	} else {
		req.KeepAlive = f.connKeepAlive && !f.connClose
	}
	return req, headLen, nil
}

// requestLine splits and checks method SP request-target SP HTTP-version (RFC 9112 §3). The method's status is
// known before the header section arrives, so 405/501/505 need not wait for it.
func requestLine(line []byte, methods, known []string) (method, target []byte, minor int, err error) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !allToken(line[:sp1]) {
		return nil, nil, 0, errBadMethod
	}
	method = line[:sp1]
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		return nil, nil, 0, reqErrs.badLine
	}
	target, status := TargetPath(method, rest[:sp2])
	switch status {
	case 0:
	case 421:
		return nil, nil, 0, errMisdirected
	default:
		return nil, nil, 0, errBadTarget
	}
	major, minor, ok := parseRequestVersion(rest[sp2+1:])
	if !ok {
		return nil, nil, 0, errBadVersion
	}
	if major != 1 {
		return nil, nil, 0, errVersion
	}
	if !listed(method, methods) {
		if len(known) == 0 {
			known = ImplementedMethods
		}
		if listed(method, known) {
			return nil, nil, 0, errMethod
		}
		return nil, nil, 0, errNotImpl
	}
	return method, target, minor, nil
}

func listed(method []byte, list []string) bool {
	for _, m := range list {
		if string(method) == m {
			return true
		}
	}
	return false
}

// parseRequestVersion accepts HTTP-version = "HTTP/" DIGIT "." DIGIT. A minor version above 1 is processed as
// HTTP/1.1 (RFC 9110 §6.2).
func parseRequestVersion(b []byte) (major, minor int, ok bool) {
	if len(b) != 8 || string(b[:5]) != "HTTP/" || b[6] != '.' || b[5] < '0' || b[5] > '9' || b[7] < '0' || b[7] > '9' {
		return 0, 0, false
	}
	return int(b[5] - '0'), min(int(b[7]-'0'), 1), true
}

// overlongLine classifies a request-line that does not end within the head limit: a method longer than any
// implemented is 501 (RFC 9112 §3, SHOULD), a request-target longer than the server parses is 414 (MUST).
func overlongLine(part []byte) error {
	sp1 := bytes.IndexByte(part, ' ')
	switch {
	case len(part) == 0:
		return reqErrs.tooLarge // nothing but empty lines
	case sp1 < 0 && allToken(part):
		return errNotImpl
	case sp1 <= 0 || !allToken(part[:sp1]):
		return errBadMethod
	}
	target := part[sp1+1:]
	if bytes.IndexByte(target, ' ') >= 0 {
		return reqErrs.badLine // the target ended: the rest of the line is not a version
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return errBadTarget
		}
	}
	return errURITooLong
}

// checkFields applies the header-section rules in order: Host (RFC 9112 §3.2), Transfer-Encoding (§6.1, §6.3),
// Content-Length (§6.3), Expect (RFC 9110 §10.1.1).
func checkFields(f *fields, req *Request, lim Limits) error {
	switch {
	case f.hosts > 1:
		return errManyHosts
	case f.badHost:
		return errBadHost
	case f.hosts == 0 && req.Minor == 1:
		return errNoHost
	}
	bodyless := req.Method == MethodGET || req.Method == MethodHEAD
	if f.chunked {
		switch {
		case req.Minor == 0:
			return errTE10
		case f.contentLength >= 0 || f.hugeLength:
			return reqErrs.clTE
		case !f.te.framed():
			return errTEFraming
		case f.te.unknown:
			return errTEUnknown
		case bodyless || !lim.AllowBody:
			return errBodyTooBig
		}
		return errLengthReq
	}
	if f.hugeLength || f.contentLength > 0 && (!lim.AllowBody || bodyless || f.contentLength > lim.MaxBody) {
		return errBodyTooBig
	}
	if req.Minor == 1 {
		// A 100-continue expectation in an HTTP/1.0 request MUST be ignored.
		if f.expectOther {
			return errExpectation
		}
		req.Continue = f.expect100 && f.contentLength > 0
	}
	return nil
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
