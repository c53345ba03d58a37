package control

import (
	"bytes"
	"fmt"
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

// A batch carries its packets in order; ForEach passes a lone packet through; a batch stops growing at MaxPacket;
// malformed batches are errors, never a partial silent read.
func TestBatch(t *testing.T) {
	var pkts [][]byte
	for seq := uint64(1); seq <= 3; seq++ {
		p, _ := Append(nil, Message{Kind: Publish, Seq: seq, ID: []byte("id"), Body: []byte("m")})
		pkts = append(pkts, p)
	}
	var batch []byte
	for _, p := range pkts {
		var ok bool
		if batch, ok = AppendToBatch(batch, p); !ok {
			t.Fatal("a small batch is full")
		}
	}
	big, _ := Append(nil, Message{Kind: Broadcast, Body: make([]byte, MaxPacket-50)})
	if _, ok := AppendToBatch(batch, big); ok {
		t.Error("a batch grew past MaxPacket")
	}
	nested, _ := AppendToBatch(nil, batch)
	tests := []struct {
		name    string
		pkt     []byte
		want    []uint64 // seqs seen, in order
		wantErr bool
	}{
		{"batch of three", batch, []uint64{1, 2, 3}, false},
		{"lone packet", pkts[1], []uint64{2}, false},
		{"truncated length", batch[:len(batch)-len(pkts[2])-2], []uint64{1, 2}, true},
		{"truncated packet", batch[:len(batch)-1], []uint64{1, 2}, true},
		{"zero length", []byte{byte(Batch), 0, 0, 0, 0}, nil, true},
		{"batch in a batch", nested, nil, true},
	}
	for _, tc := range tests {
		var got []uint64
		err := ForEach(tc.pkt, func(p []byte) error {
			m, err := Decode(p)
			if err != nil {
				return err
			}
			got = append(got, m.Seq)
			return nil
		})
		if (err != nil) != tc.wantErr || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: seqs %v err %v, want %v err %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// Handle gives every message to push and acknowledges each with its count: one Ack for a lone message, a Batch of
// Acks for a batch, none for a drain; a packet a worker cannot use is an error.
func TestHandle(t *testing.T) {
	pub := func(seq uint64, kind Kind) []byte {
		m := Message{Kind: kind, Seq: seq, Body: []byte("m")}
		if kind == Publish {
			m.ID = []byte("id")
		}
		p, _ := Append(nil, m)
		return p
	}
	drainPkt, _ := Append(nil, Message{Kind: Drain})
	ackPkt, _ := Append(nil, Message{Kind: Ack, Seq: 1})
	batch, _ := AppendToBatch(nil, pub(4, Publish))
	batch, _ = AppendToBatch(batch, pub(5, Broadcast))
	tests := []struct {
		name      string
		pkt       []byte
		wantSeqs  []uint64 // pushed, in order
		wantAcks  string   // "seq:answered" of the acks written back
		wantBatch bool     // the ack is one Batch packet
		wantDrain bool
		wantErr   bool
	}{
		{"lone publish", pub(3, Publish), []uint64{3}, "[3:30]", false, false, false},
		{"batch", batch, []uint64{4, 5}, "[4:40 5:50]", true, false, false},
		{"drain", drainPkt, nil, "[]", false, true, false},
		{"ack from the master", ackPkt, nil, "[]", false, false, true},
	}
	for _, tc := range tests {
		var seqs []uint64
		drained := false
		ack, err := Handle(tc.pkt, make([]byte, 0, 8), func(m *Message) uint64 {
			seqs = append(seqs, m.Seq)
			return m.Seq * 10
		}, func() { drained = true })
		var acks []string
		ForEach(ack, func(p []byte) error {
			if m, err := Decode(p); err == nil && m.Kind == Ack {
				acks = append(acks, fmt.Sprintf("%d:%d", m.Seq, m.Answered))
			}
			return nil
		})
		if len(ack) == 0 {
			acks = nil
		}
		isBatch := len(ack) > 0 && Kind(ack[0]) == Batch
		if (err != nil) != tc.wantErr || fmt.Sprint(seqs) != fmt.Sprint(tc.wantSeqs) || fmt.Sprint(acks) != tc.wantAcks ||
			isBatch != tc.wantBatch || drained != tc.wantDrain {
			t.Errorf("%s: pushed %v acks %v batch %v drained %v err %v", tc.name, seqs, acks, isBatch, drained, err)
		}
	}
}
