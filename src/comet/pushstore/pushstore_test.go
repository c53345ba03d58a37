package pushstore

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/comet-lab/comet-lab/src/comet/control"
)

func pub(seq uint64, id string) Message {
	return Message{Seq: seq, PubNanos: int64(seq) * 10, ID: id, Body: []byte(fmt.Sprintf("p%d", seq))}
}

func bc(seq uint64) Message {
	return Message{Seq: seq, PubNanos: int64(seq) * 10, Broadcast: true, Body: []byte(fmt.Sprintf("b%d", seq))}
}

func TestNext(t *testing.T) {
	bcs := func(from, to uint64) []Message {
		var ms []Message
		for seq := from; seq <= to; seq++ {
			ms = append(ms, bc(seq))
		}
		return ms
	}
	tests := []struct {
		name    string
		keep    int
		adds    []Message
		id      string
		since   uint64
		wantSeq uint64 // 0 = nothing
		wantGap Gap    // the seqs after since the ring no longer holds
	}{
		{"empty store", 4, nil, "a", 0, 0, Gap{}},
		{"own publish", 4, []Message{pub(1, "a")}, "a", 0, 1, Gap{}},
		{"other id not seen", 4, []Message{pub(1, "b")}, "a", 0, 0, Gap{}},
		{"broadcast seen by anyone", 4, []Message{bc(1)}, "zzz", 0, 1, Gap{}},
		{"since filters", 4, []Message{pub(1, "a"), pub(2, "a")}, "a", 1, 2, Gap{}},
		{"since at last", 4, []Message{pub(1, "a"), bc(2)}, "a", 2, 0, Gap{}},
		{"oldest first across kinds", 4, []Message{bc(1), pub(2, "a"), bc(3)}, "a", 0, 1, Gap{}},
		{"pub older than broadcast", 4, []Message{pub(1, "a"), bc(2)}, "a", 0, 1, Gap{}},
		{"broadcast between pubs", 4, []Message{pub(1, "a"), bc(2), pub(3, "a")}, "a", 1, 2, Gap{}},
		{"ring drops oldest broadcast", 2, []Message{bc(1), bc(2), bc(3)}, "x", 0, 2, Gap{}},
		{"per-id drops oldest", 2, []Message{pub(1, "a"), pub(2, "a"), pub(3, "a")}, "a", 0, 2, Gap{}},
		{"non-increasing seq ignored", 4, []Message{pub(5, "a"), pub(3, "a")}, "a", 0, 5, Gap{}},
		{"nothing dropped", 4, bcs(1, 4), "x", 1, 2, Gap{}},
		{"ring overran since", 4, bcs(1, 9), "x", 2, 6, Gap{Oldest: 6, Missed: 3}},
		{"since just before the oldest held", 4, bcs(1, 9), "x", 5, 6, Gap{}},
		{"since is the last dropped", 4, bcs(1, 9), "x", 4, 6, Gap{Oldest: 6, Missed: 1}},
		{"new subscriber is owed nothing older", 4, bcs(1, 9), "x", 0, 6, Gap{}},
		{"caught up: nothing to answer", 4, bcs(1, 9), "x", 9, 0, Gap{}},
		{"per-id queue overran since", 2, []Message{pub(1, "a"), pub(2, "a"), pub(3, "a"), pub(4, "a")}, "a", 1, 3, Gap{Oldest: 3, Missed: 1}},
		{"other id's drop is not this id's gap", 1, []Message{pub(1, "b"), pub(2, "b"), pub(3, "a")}, "a", 2, 3, Gap{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.keep)
			for _, m := range tc.adds {
				s.Add(m)
			}
			m, gap, ok := s.Next([]byte(tc.id), tc.since)
			if tc.wantSeq == 0 {
				if ok || gap != (Gap{}) {
					t.Fatalf("Next = (%d, %+v, %v), want nothing", m.Seq, gap, ok)
				}
				return
			}
			if !ok || m.Seq != tc.wantSeq || gap != tc.wantGap {
				t.Fatalf("Next since %d = (%d, %+v, %v), want seq %d gap %+v", tc.since, m.Seq, gap, ok, tc.wantSeq, tc.wantGap)
			}
			want := fmt.Sprintf("p%d", m.Seq)
			if m.Broadcast {
				want = fmt.Sprintf("b%d", m.Seq)
			}
			if string(m.Body) != want || m.PubNanos != int64(m.Seq)*10 {
				t.Fatalf("message %d carries body %q pubNanos %d", m.Seq, m.Body, m.PubNanos)
			}
		})
	}
}

func TestPagingReturnsEveryKeptMessageInOrder(t *testing.T) {
	s := New(8)
	var want []uint64
	for seq := uint64(1); seq <= 6; seq++ {
		if seq%2 == 0 {
			s.Add(bc(seq))
		} else {
			s.Add(pub(seq, "me"))
		}
		want = append(want, seq)
	}
	s.Add(pub(7, "other"))
	var got []uint64
	since := uint64(0)
	for {
		m, _, ok := s.Next([]byte("me"), since)
		if !ok {
			break
		}
		got = append(got, m.Seq)
		since = m.Seq
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
	if s.LastSeq() != 7 {
		t.Fatalf("LastSeq = %d, want 7", s.LastSeq())
	}
}

func TestBodyIsCopied(t *testing.T) {
	s := New(1)
	buf := []byte("hello")
	s.Add(Message{Seq: 1, ID: "a", Body: buf})
	copy(buf, "XXXXX")
	m, _, _ := s.Next([]byte("a"), 0)
	if string(m.Body) != "hello" {
		t.Fatalf("body %q changed with the caller's buffer", m.Body)
	}
}

func TestIDEviction(t *testing.T) {
	tests := []struct {
		name       string
		touchFirst bool // publish to id-0 again just before the overflow
		evicted    string
		kept       string
	}{
		{"oldest id evicted", false, "id-0", "id-1"},
		{"recently published id survives", true, "id-1", "id-0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const keep = 1
			s := New(keep)
			seq := uint64(0)
			for i := 0; i < keep*1024; i++ {
				seq++
				s.Add(pub(seq, fmt.Sprintf("id-%d", i)))
			}
			if tc.touchFirst {
				seq++
				s.Add(pub(seq, "id-0"))
			}
			seq++
			s.Add(pub(seq, "new"))
			if s.IDs() != keep*1024 {
				t.Fatalf("IDs = %d, want bound %d", s.IDs(), keep*1024)
			}
			if _, _, ok := s.Next([]byte(tc.evicted), 0); ok {
				t.Fatalf("%s still has messages after eviction", tc.evicted)
			}
			for _, id := range []string{tc.kept, "new"} {
				if _, _, ok := s.Next([]byte(id), 0); !ok {
					t.Fatalf("%s lost its messages", id)
				}
			}
		})
	}
}

func TestNextDoesNotAllocate(t *testing.T) {
	s := New(64)
	for i := uint64(1); i <= 100; i++ {
		s.Add(pub(i, "a"))
	}
	id := []byte("a")
	if n := testing.AllocsPerRun(100, func() { s.Next(id, 50) }); n != 0 {
		t.Fatalf("Next allocates %.1f times", n)
	}
}

func TestFromControl(t *testing.T) {
	tests := []struct {
		name string
		cm   control.Message
		want Message
	}{
		{"publish", control.Message{Kind: control.Publish, Seq: 7, PubNanos: 11, ID: []byte("alice"), Body: []byte("hi")},
			Message{Seq: 7, PubNanos: 11, ID: "alice", Body: []byte("hi")}},
		{"broadcast drops the id", control.Message{Kind: control.Broadcast, Seq: 8, PubNanos: 12, ID: []byte("x"), Body: []byte("all")},
			Message{Seq: 8, PubNanos: 12, Broadcast: true, Body: []byte("all")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromControl(&tc.cm); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FromControl = %+v, want %+v", got, tc.want)
			}
		})
	}
}
