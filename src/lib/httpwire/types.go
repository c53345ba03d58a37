package httpwire

// Request is a parsed request head. Target aliases the input buffer.
type Request struct {
	Method        Method
	Target        []byte // aliases the input buffer
	Minor         int    // HTTP/1.Minor
	KeepAlive     bool   // 1.1: unless "Connection: close"; 1.0: only with "Connection: keep-alive"
	ContentLength int64  // -1 if absent
	Continue      bool   // HTTP/1.1 "Expect: 100-continue" with a body: send 100 (Continue) before reading it
}

// Limits configures ParseRequestWith (the admin listener).
type Limits struct {
	MaxHead   int      // head bytes including the final CRLF CRLF; 0 = DefaultMaxHead
	AllowBody bool     // allow Content-Length bodies on methods other than GET/HEAD
	MaxBody   int64    // largest allowed Content-Length (413 above)
	Methods   []string // allowed methods; empty = GET, HEAD
	Known     []string // methods not allowed here but implemented (405); any other gets 501; empty = ImplementedMethods
}

// Response is a parsed response as seen by the flood client.
type Response struct {
	Status        int
	ContentLength int
	Close         bool   // server will close: "Connection: close", or HTTP/1.0 without keep-alive
	Seq           uint64 // X-Seq, 0 if absent
	PubNanos      int64  // X-Pub-Time (unix nanoseconds), 0 if absent
	OldestSeq     uint64 // X-Oldest-Seq: messages after the poll's since were dropped; this is the oldest still held
	// nchan names a message by Last-Modified (seconds) and a decimal ETag (its tag within that second); a
	// subscriber asks for the next one with If-Modified-Since and If-None-Match.
	MsgTime   int64  // Last-Modified as unix seconds, 0 if absent
	MsgTag    uint64 // ETag's number
	HasMsgTag bool   // an ETag was present
}

// OldestSeqHeader names, in an answer to /sub?since=S, the oldest seq the server still holds when messages after S
// were dropped before the subscriber came back (the answer carries that oldest message).
const OldestSeqHeader = "X-Oldest-Seq"
