package control

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRoundTripOverSeqpacket(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	tests := []Message{
		{Kind: Publish, Seq: 7, PubNanos: 1234567890, ID: []byte("user-42"), Body: []byte("hello")},
		{Kind: Broadcast, Seq: 8, PubNanos: -1, Body: []byte{}},
		{Kind: Broadcast, Seq: 9, PubNanos: 5, Body: bytes.Repeat([]byte("x"), 4096)},
		{Kind: Drain},
		{Kind: Ack, Seq: 9, Answered: 1 << 40},
	}
	buf := make([]byte, MaxPacket)
	for _, want := range tests {
		pkt, err := Append(nil, want)
		if err != nil {
			t.Fatalf("%c: %v", want.Kind, err)
		}
		if _, err := unix.Write(fds[0], pkt); err != nil {
			t.Fatal(err)
		}
		n, err := unix.Read(fds[1], buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(buf[:n])
		if err != nil {
			t.Fatalf("%c: decode: %v", want.Kind, err)
		}
		if got.Kind != want.Kind || got.Seq != want.Seq || got.PubNanos != want.PubNanos ||
			!bytes.Equal(got.ID, want.ID) || !bytes.Equal(got.Body, want.Body) || got.Answered != want.Answered {
			t.Errorf("round trip %c: got %+v want %+v", want.Kind, got, want)
		}
	}
}

func TestDecodeRejectsBadPackets(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"empty", nil},
		{"unknown kind", []byte("Z")},
		{"short publish", []byte("P\x01\x02")},
		{"publish without id", append([]byte("P"), make([]byte, 18)...)},
		{"id longer than packet", append(append([]byte("P"), make([]byte, 16)...), 0xff, 0x00, 'a')},
		{"short ack", []byte("A\x01")},
		{"drain with payload", []byte("Dx")},
	}
	for _, tc := range tests {
		if _, err := Decode(tc.pkt); err == nil {
			t.Errorf("%s: decoded without error", tc.name)
		}
	}
	if _, err := Append(nil, Message{Kind: Publish}); err == nil {
		t.Error("publish with empty id encoded")
	}
	if _, err := Append(nil, Message{Kind: Broadcast, Body: make([]byte, MaxPacket)}); err == nil {
		t.Error("oversized packet encoded")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("D"))
	f.Add(append([]byte("P"), make([]byte, 20)...))
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := Decode(p)
		if err != nil {
			return
		}
		again, err := Append(nil, m)
		if err != nil {
			return
		}
		if !bytes.Equal(again, p) {
			t.Fatalf("re-encoding %q gave %q", p, again)
		}
	})
}
