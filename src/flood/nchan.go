package flood

// nchan mode (-proto nchan): nginx's nchan module as the server. A long poll GETs -path; the answer to a
// message carries Last-Modified and ETag, which name it, and the next poll asks for the message after it with
// If-Modified-Since and If-None-Match. When nchan's subscriber timeout passes without a message it answers
// 408 with no body: that is the hold cycle's answer, as comet's empty 200 is. nchan stamps neither a sequence
// number nor a publish time, so the lab's publisher writes both into the message body (labMessage).

import (
	"bytes"
	"strconv"

	"github.com/comet-lab/comet-lab/src/lib/httpwire"
)

// Protocols -proto accepts.
const (
	ProtoComet = "comet" // comet: GET /sub?id=<n>&since=<seq>; X-Seq, X-Pub-Time, X-Oldest-Seq
	ProtoNchan = "nchan" // nginx + nchan long-poll: If-Modified-Since / If-None-Match; 408 at timeout
)

// nchanHoldExpired is nchan's answer to a long poll whose subscriber timeout passed.
const nchanHoldExpired = 408

// maxMsgTag bounds an ETag that fits beside the seconds in one uint64 (msgID).
const maxMsgTag = 1<<16 - 1

// msgID packs nchan's message id (Last-Modified seconds, ETag) into the uint64 comet mode keeps as the last
// seq per connection, so nchan mode needs no more memory per connection. 0 = no message seen yet.
func msgID(unix int64, tag uint64) uint64 { return uint64(unix)<<16 | tag }

// appendNchanConditions appends the headers that ask nchan for the message after id.
func appendNchanConditions(b []byte, id uint64) []byte {
	b = append(b, "If-Modified-Since: "...)
	b = httpwire.AppendHTTPDate(b, int64(id>>16))
	b = append(b, "\r\nIf-None-Match: "...)
	b = strconv.AppendUint(b, id&maxMsgTag, 10)
	return append(b, "\r\n"...)
}

// labMessage reads the body the lab's publisher sends through nchan, "seq=<n> pub=<unix ns>", into the seq
// and publish time comet gives in X-Seq and X-Pub-Time. ok is false for any other body.
func labMessage(body []byte) (seq uint64, pubNanos int64, ok bool) {
	rest, found := bytes.CutPrefix(body, []byte("seq="))
	if !found {
		return 0, 0, false
	}
	num, rest, found := bytes.Cut(rest, []byte(" pub="))
	if !found {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil || seq == 0 {
		return 0, 0, false
	}
	pubNanos, err = strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
	if err != nil || pubNanos <= 0 {
		return 0, 0, false
	}
	return seq, pubNanos, true
}

// AppendLabMessage appends the body labMessage reads (used by tests and documented for publishers).
func AppendLabMessage(dst []byte, seq uint64, pubNanos int64) []byte {
	dst = append(dst, "seq="...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, " pub="...)
	return strconv.AppendInt(dst, pubNanos, 10)
}
