// Package pushstore keeps the recent messages a comet worker can hand to re-polling subscribers: a ring of the
// last keep broadcasts and, per subscriber id, its last keep messages. Everything is bounded: at most keep*1024
// ids are remembered, and the id published to least recently is forgotten first, so a publisher inventing ids
// cannot grow a worker without limit.
package pushstore

import (
	"container/list"

	"github.com/comet-lab/comet-lab/src/comet/control"
)

// Message is one published or broadcast message.
type Message struct {
	Seq       uint64
	PubNanos  int64
	Broadcast bool
	ID        string // empty for broadcasts
	Body      []byte
}

// FromControl is the message a Publish or Broadcast packet from the master carries, as both engines store and
// deliver it. Body aliases the packet buffer: Add copies it, a caller that keeps m elsewhere copies it itself.
func FromControl(cm *control.Message) Message {
	m := Message{Seq: cm.Seq, PubNanos: cm.PubNanos, Broadcast: cm.Kind == control.Broadcast, Body: cm.Body}
	if !m.Broadcast {
		m.ID = string(cm.ID)
	}
	return m
}

// idQueue is one id's recent messages, oldest first, plus its place in the eviction order.
type idQueue struct {
	msgs    []Message
	elem    *list.Element // Value is the id string
	evicted uint64        // highest seq pushed out of msgs (0: none)
}

// Store is not goroutine-safe: a worker's event loop owns one.
type Store struct {
	keep    int
	maxIDs  int
	ring    []Message // broadcasts, circular
	start   int       // index of the oldest broadcast in ring
	n       int       // broadcasts in ring
	ids     map[string]*idQueue
	byAge   *list.List // ids, least recently published first
	lastSeq uint64
	evicted uint64 // highest broadcast seq pushed out of ring (0: none)
}

// Gap tells a subscriber that messages after its since were dropped before it came back: Oldest is the seq of the
// message it gets (the oldest still held after since), Missed how many seqs lie between since and Oldest. Seqs are
// issued one per message by the master, so for broadcasts Missed is exact; for a publish to an id it also counts
// the other ids' messages in between (an upper bound).
type Gap struct {
	Oldest uint64
	Missed uint64
}

// New returns a store keeping keep broadcasts, keep messages per id and keep*1024 ids; keep below 1 becomes 1.
func New(keep int) *Store {
	if keep < 1 {
		keep = 1
	}
	return &Store{
		keep:   keep,
		maxIDs: keep * 1024,
		ring:   make([]Message, keep),
		ids:    make(map[string]*idQueue),
		byAge:  list.New(),
	}
}

// Add stores a copy of m (its Body may alias a reusable buffer). Seqs must increase; a message whose Seq is not
// above LastSeq is ignored, because subscribers page through the store by seq.
func (s *Store) Add(m Message) {
	if m.Seq <= s.lastSeq {
		return
	}
	s.lastSeq = m.Seq
	m.Body = append([]byte(nil), m.Body...)
	if m.Broadcast {
		m.ID = ""
		if s.n < s.keep {
			s.ring[(s.start+s.n)%s.keep] = m
			s.n++
		} else {
			s.evicted = s.ring[s.start].Seq
			s.ring[s.start] = m
			s.start = (s.start + 1) % s.keep
		}
		return
	}
	q, ok := s.ids[m.ID]
	if !ok {
		if len(s.ids) >= s.maxIDs {
			oldest := s.byAge.Front()
			delete(s.ids, oldest.Value.(string))
			s.byAge.Remove(oldest)
		}
		q = &idQueue{elem: s.byAge.PushBack(m.ID)}
		s.ids[m.ID] = q
	} else {
		s.byAge.MoveToBack(q.elem)
	}
	if len(q.msgs) >= s.keep {
		q.evicted = q.msgs[0].Seq
		copy(q.msgs, q.msgs[1:])
		q.msgs = q.msgs[:len(q.msgs)-1]
	}
	q.msgs = append(q.msgs, m)
}

// Next returns the oldest kept message with Seq > since that is for id or a broadcast, and the gap when a message
// after since (for id or a broadcast) was dropped to make room: a subscriber re-polling with since catches up
// oldest first while the store still holds what it has not seen, and is told when it does not. since 0 is a new
// subscriber that is owed nothing older than what is held: it never has a gap.
func (s *Store) Next(id []byte, since uint64) (Message, Gap, bool) {
	var best Message
	found := false
	dropped := s.evicted
	for i := 0; i < s.n; i++ {
		m := &s.ring[(s.start+i)%s.keep]
		if m.Seq > since {
			best, found = *m, true
			break
		}
	}
	if q, ok := s.ids[string(id)]; ok {
		dropped = max(dropped, q.evicted)
		for i := range q.msgs {
			m := &q.msgs[i]
			if m.Seq > since {
				if !found || m.Seq < best.Seq {
					best, found = *m, true
				}
				break
			}
		}
	}
	if !found || since == 0 || dropped <= since {
		return best, Gap{}, found
	}
	return best, Gap{Oldest: best.Seq, Missed: best.Seq - since - 1}, true
}

// LastSeq is the highest seq added (0 when empty).
func (s *Store) LastSeq() uint64 { return s.lastSeq }

// IDs is the number of ids with kept messages.
func (s *Store) IDs() int { return len(s.ids) }
