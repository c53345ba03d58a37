package httpwire

import "strconv"

// StatusText returns the reason phrase for the statuses comet sends, and
// "Unknown" for any other code.
func StatusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 421:
		return "Misdirected Request"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Unknown"
}

// AppendResponse appends a complete HTTP/1.1 response to dst: status line,
// Content-Length, "Connection: close" when !keepAlive, the extra headers in
// order, and the body unless headOnly (an answer to HEAD, which still
// announces the body's length). CR, LF and NUL inside header names or values
// are written as spaces so a header can never split the response. It does not
// allocate when dst has enough capacity.
func AppendResponse(dst []byte, status int, hdr [][2]string, body []byte, keepAlive, headOnly bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	if !keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	}
	for _, h := range hdr {
		dst = appendSafe(dst, h[0])
		dst = append(dst, ": "...)
		dst = appendSafe(dst, h[1])
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	if !headOnly {
		dst = append(dst, body...)
	}
	return dst
}

func appendSafe(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

var (
	errRespStatus  = &Error{0, "malformed status code"}
	errRespLength  = &Error{0, "response without Content-Length on a kept-alive connection"}
	errRespChunked = &Error{0, "Transfer-Encoding not supported"}
	errRespExtra   = &Error{0, "malformed X-Seq, X-Pub-Time, X-Oldest-Seq, Last-Modified or ETag"}
	errRespBody    = &Error{0, "response body too large"}
)

// ParseResponse parses one response for the flood client: status line
// "HTTP/1.0|1.1 NNN [reason]", headers (same strictness as requests, 8 KiB
// head), X-Seq and X-Pub-Time into Seq and PubNanos (comet), Last-Modified and
// a decimal ETag into MsgTime and MsgTag (nchan's message id). Content-Length is
// required unless the response says "Connection: close", in which case it has
// no body. total is head plus body length; ErrIncomplete until the whole body
// is buffered. Bodies over 1 GiB are rejected.
func ParseResponse(buf []byte) (resp Response, total int, err error) {
	line, pos, err := nextLine(buf, 0, DefaultMaxHead, &respErrs)
	if err != nil {
		return Response{}, 0, err
	}
	// "HTTP/1.x NNN" then optionally " reason".
	if len(line) < 12 || line[8] != ' ' {
		return Response{}, 0, respErrs.badLine
	}
	minor, ok := parseVersion(line[:8])
	if !ok {
		return Response{}, 0, respErrs.badLine
	}
	code := line[9:12]
	for _, c := range code {
		if c < '0' || c > '9' {
			return Response{}, 0, errRespStatus
		}
	}
	if code[0] == '0' {
		return Response{}, 0, errRespStatus
	}
	if len(line) > 12 {
		if line[12] != ' ' {
			return Response{}, 0, errRespStatus
		}
		for _, c := range line[13:] {
			if !isValue[c] {
				return Response{}, 0, respErrs.ctl
			}
		}
	}
	var f fields
	headLen, err := parseFields(buf, pos, DefaultMaxHead, &respErrs, true, &f)
	if err != nil {
		return Response{}, 0, err
	}
	if f.chunked {
		if f.contentLength >= 0 {
			return Response{}, 0, respErrs.clTE
		}
		return Response{}, 0, errRespChunked
	}
	if f.badExtra {
		return Response{}, 0, errRespExtra
	}
	resp = Response{
		Status:    int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0'),
		Close:     f.connClose || (minor == 0 && !f.connKeepAlive),
		Seq:       f.seq,
		PubNanos:  f.pubNanos,
		OldestSeq: f.oldest,
		MsgTime:   f.lastMod,
		MsgTag:    f.etag,
		HasMsgTag: f.hasETag,
	}
	switch {
	case f.contentLength > maxResponseBody:
		return Response{}, 0, errRespBody
	case f.contentLength >= 0:
		resp.ContentLength = int(f.contentLength)
	case !f.connClose:
		return Response{}, 0, errRespLength
	}
	total = headLen + resp.ContentLength
	if len(buf) < total {
		return Response{}, 0, ErrIncomplete
	}
	return resp, total, nil
}
