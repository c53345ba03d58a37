package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseURLs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"nats://127.0.0.1:4222", []string{"nats://127.0.0.1:4222"}, ""},
		{"127.0.0.1:4222, tls://b:4223", []string{"nats://127.0.0.1:4222", "tls://b:4223"}, ""},
		{"nats://u:secret@h:1", []string{"nats://u:secret@h:1"}, ""},
		{"", nil, "no server"},
		{"http://h:1", nil, `scheme "http"`},
		{"nats://h", nil, "want host:port"},
		{"nats://u:secret@h", nil, `"nats://***@h": want host:port`}, // the error never shows the secret
	} {
		got, err := ParseURLs(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseURLs(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseURLs(%q) error %q shows the credentials", tc.in, err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseURLs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://h:4222", "nats://h:4222"},
		{"nats://user:pw@h:4222,nats://tok@g:1", "nats://***@h:4222,nats://***@g:1"},
		{"s3cr3t@h:4222", "***@h:4222"},
		{"nats://a:b@c@h:1", "nats://***@h:1"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{0, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {7, 5 * time.Second}, {1000, 5 * time.Second}} {
		if got := Backoff(tc.attempt); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
}

func TestPacketRoundTrip(t *testing.T) {
	for _, p := range []packet{
		{Kind: kindRequest, Num: 7, Msg: Message{PubNanos: -3, Broadcast: true, MsgID: "n-7", Body: []byte("hello")}},
		{Kind: kindRequest, Num: 8, Msg: Message{PubNanos: 9, ID: "sub-1", MsgID: "n-8", Body: []byte{}}},
		{Kind: kindMessage, Num: 42, Msg: Message{Seq: 42, PubNanos: 1, ID: "x", MsgID: strings.Repeat("m", 255), Body: []byte("b")}},
		{Kind: kindResult, Num: 7, Seq: 3},
		{Kind: kindResult, Num: 8, Unavail: true, Err: "broker unreachable"},
		{Kind: kindStatus, Status: Counters{Connected: true, Reconnects: 1, In: 2, Out: 3, Dropped: 4, Goroutines: 5}},
	} {
		buf, err := appendPacket(nil, p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		got, err := decodePacket(buf)
		if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", p) {
			t.Errorf("round trip of %+v = %+v, %v", p, got, err)
		}
		// Cut inside its fixed part (everything before the trailing body or error text), a packet is an error,
		// never a panic or another message.
		fixed := map[packetKind]int{kindRequest: 21 + len(p.Msg.MsgID) + len(p.Msg.ID), kindResult: 18, kindStatus: 42}
		fixed[kindMessage] = fixed[kindRequest]
		for n := 0; n < fixed[p.Kind]; n++ {
			if q, err := decodePacket(buf[:n]); err == nil {
				t.Errorf("%q cut to %d bytes decoded as %+v", p.Kind, n, q)
			}
		}
	}
	if _, err := appendPacket(nil, packet{Kind: kindRequest, Msg: Message{MsgID: strings.Repeat("m", 256)}}); err == nil {
		t.Error("a 256-byte MsgID was encoded")
	}
}

// FuzzDecodePacket: comet-broker's packets are decoded by the master; whatever arrives, decoding never panics,
// and a packet it accepts encodes back to one that decodes the same.
func FuzzDecodePacket(f *testing.F) {
	for _, p := range []packet{
		{Kind: kindRequest, Num: 1, Msg: Message{PubNanos: 2, MsgID: "m", ID: "id", Body: []byte("b")}},
		{Kind: kindMessage, Num: 3, Msg: Message{Seq: 3, Broadcast: true, MsgID: "x", Body: []byte("hello")}},
		{Kind: kindResult, Num: 4, Seq: 5, Err: "e"},
		{Kind: kindStatus, Status: Counters{Connected: true, In: 1}},
	} {
		b, _ := appendPacket(nil, p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePacket(b)
		if err != nil {
			return
		}
		again, err := appendPacket(nil, p)
		if err != nil {
			return // e.g. an accepted body that makes the packet too long to send back: no panic is the point
		}
		q, err := decodePacket(again)
		if err != nil || fmt.Sprintf("%+v", p) != fmt.Sprintf("%+v", q) {
			t.Fatalf("%x decoded as %+v, re-encoded as %+v (%v)", b, p, q, err)
		}
	})
}
