package flood

// The HTTP side of a child's connection: send the long poll, read and parse the answers, count them and
// poll again (with since=<last seq> for comet's push subscribers, with the last message's id for nchan's).

import (
	"math"
	"strconv"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/httpwire"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"golang.org/x/sys/unix"
)

// sendRequest writes the next GET at nowMs (child time); the first one is also the connect outcome check.
func (c *child) sendRequest(fd int, nowMs uint32) bool {
	s := &c.slots[fd]
	req := c.plainReq
	switch {
	case c.nchan && c.plan.Push && c.lastSeq[s.conn] != 0:
		b := append(c.reqBuf[:0], c.plainReq[:len(c.plainReq)-2]...) // the head without its final CRLF
		b = appendNchanConditions(b, c.lastSeq[s.conn])
		b = append(b, "\r\n"...)
		c.reqBuf, req = b, b
	case c.plan.Push && !c.nchan:
		b := append(c.reqBuf[:0], c.pushReq...)
		b = strconv.AppendUint(b, uint64(s.conn), 10)
		b = append(b, "&since="...)
		b = strconv.AppendUint(b, c.lastSeq[s.conn], 10)
		b = append(b, " HTTP/1.1\r\nHost: "...)
		b = append(b, c.plan.Target...)
		b = append(b, "\r\n\r\n"...)
		c.reqBuf, req = b, b
	}
	n, err := netloop.Write(fd, req)
	if err != nil || n != len(req) {
		// A fresh or idle socket always has room for a few dozen bytes; anything else is a dead connection.
		return false
	}
	s.sentMs = nowMs
	return true
}

// readFrom reads what fd has (edge-triggered) and handles every complete response. Like comet's workers it stops
// after a short read (netloop.Read says why) unless the event reported a hang-up or error (toEOF).
func (c *child) readFrom(fd int, toEOF bool) {
	for {
		n, err := netloop.Read(fd, c.readBuf)
		switch {
		case n > 0:
			if !c.consume(fd, c.readBuf[:n]) || (n < len(c.readBuf) && !toEOF) {
				return
			}
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return
		default: // EOF or reset
			c.rep.ClosedByServer++
			c.drop(fd)
			return
		}
	}
}

// consume parses the bytes read on fd; it returns false when the connection was closed.
func (c *child) consume(fd int, data []byte) bool {
	tail, hadTail := c.partial[fd]
	if hadTail {
		data = append(tail, data...)
	}
	resp, total, err := httpwire.ParseResponse(data)
	if err == httpwire.ErrIncomplete {
		if len(data) > maxPartialLen {
			c.rep.ProtocolErrors++
			c.drop(fd)
			return false
		}
		if !hadTail {
			data = append([]byte(nil), data...) // copy out of the shared read buffer
		}
		c.partial[fd] = data
		return true
	}
	if hadTail {
		delete(c.partial, fd)
	}
	if err != nil || total != len(data) {
		// Malformed, or bytes beyond the one answer we asked for (we never pipeline).
		c.rep.ProtocolErrors++
		c.drop(fd)
		return false
	}
	now := time.Now() // one clock read per answer: its hold, its push latency and the next request's send time
	nowMs := c.msAt(now)
	c.onResponse(fd, resp, data[total-resp.ContentLength:total], now, nowMs)
	if resp.Close {
		c.rep.ClosedByServer++
		c.drop(fd)
		return false
	}
	if !c.sendRequest(fd, nowMs) {
		c.drop(fd)
		return false
	}
	return true
}

func (c *child) onResponse(fd int, resp httpwire.Response, body []byte, now time.Time, nowMs uint32) {
	s := &c.slots[fd]
	c.rep.Responses++
	if s.answers < math.MaxUint16 {
		s.answers++
	}
	if resp.Status != 200 && !(c.nchan && resp.Status == nchanHoldExpired) {
		c.rep.Non200++
	}
	if c.nchan && resp.Status == 200 && !c.nchanMessage(s, &resp, body) {
		c.rep.ProtocolErrors++
	}
	hold := nowMs - s.sentMs
	c.holdHist.Add(hold)
	if c.rep.HoldCount == 0 || uint64(hold) < c.rep.HoldMinMs {
		c.rep.HoldMinMs = uint64(hold)
	}
	c.rep.HoldMaxMs = max(c.rep.HoldMaxMs, uint64(hold))
	c.rep.HoldCount++
	c.rep.HoldSumMs += uint64(hold)
	if resp.Seq == 0 {
		return
	}
	c.rep.PushReceived++
	var latMs float64
	if resp.PubNanos != 0 {
		latMs = float64(now.UnixNano()-resp.PubNanos) / 1e6
		c.pushHist.Add(latMs)
	}
	if !c.pushPerSeq.add(resp.Seq, uint64(math.Ceil(max(latMs, 0)))) {
		c.rep.PushSeqsDropped++
	}
	if c.plan.Push && !c.nchan && resp.OldestSeq != 0 {
		// The server dropped seqs after our since before we came back: counted, never silent.
		c.rep.PushGaps++
		if since := c.lastSeq[s.conn]; resp.OldestSeq > since+1 {
			c.rep.PushMissed += resp.OldestSeq - since - 1
		}
	}
	if c.plan.Push && !c.nchan && resp.Seq > c.lastSeq[s.conn] {
		c.lastSeq[s.conn] = resp.Seq
	}
}

// nchanMessage takes the seq and publish time of a message nchan delivered from its body and remembers its id
// for the next poll; false when the body or the id is not what the lab publishes.
func (c *child) nchanMessage(s *slot, resp *httpwire.Response, body []byte) bool {
	seq, pub, ok := labMessage(body)
	if !ok || resp.MsgTime <= 0 || !resp.HasMsgTag || resp.MsgTag > maxMsgTag {
		return false
	}
	resp.Seq, resp.PubNanos = seq, pub
	if c.plan.Push {
		c.lastSeq[s.conn] = msgID(resp.MsgTime, resp.MsgTag)
	}
	return true
}
