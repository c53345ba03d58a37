// Package control is the master<->worker message format on the SOCK_SEQPACKET socket each netpoll worker inherits
// as fd 5. Seqpacket keeps message boundaries, so a message is exactly one packet: no framing, no partial reads.
package control

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind is a message's first byte.
type Kind byte

const (
	Publish   Kind = 'P' // master->worker: a message for one subscriber id
	Broadcast Kind = 'B' // master->worker: a message for every subscriber
	Drain     Kind = 'D' // master->worker: answer every held request, close, exit
	Ack       Kind = 'A' // worker->master: how many held requests a publish/broadcast answered
	// Batch carries several packets in one, each as [u32 length][packet]: a burst of publishes wakes each worker
	// once instead of once per message, and the worker's acks for them go back in one packet.
	Batch Kind = 'M'
)

// MaxPacket bounds a packet: header + id + a message of the largest allowed size.
const MaxPacket = 64 << 10

// Message is one decoded packet. ID and Body alias the packet buffer.
type Message struct {
	Kind     Kind
	Seq      uint64
	PubNanos int64
	ID       []byte
	Body     []byte
	Answered uint64 // Ack only
}

var errShort = errors.New("control: truncated packet")

// Append encodes m onto dst.
func Append(dst []byte, m Message) ([]byte, error) {
	dst = append(dst, byte(m.Kind))
	switch m.Kind {
	case Publish, Broadcast:
		dst = binary.LittleEndian.AppendUint64(dst, m.Seq)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(m.PubNanos))
		if m.Kind == Publish {
			if len(m.ID) == 0 || len(m.ID) > 0xffff {
				return nil, fmt.Errorf("control: publish id length %d out of range", len(m.ID))
			}
			dst = binary.LittleEndian.AppendUint16(dst, uint16(len(m.ID)))
			dst = append(dst, m.ID...)
		}
		dst = append(dst, m.Body...)
	case Drain:
	case Ack:
		dst = binary.LittleEndian.AppendUint64(dst, m.Seq)
		dst = binary.LittleEndian.AppendUint64(dst, m.Answered)
	default:
		return nil, fmt.Errorf("control: unknown kind %q", m.Kind)
	}
	if len(dst) > MaxPacket {
		return nil, fmt.Errorf("control: packet of %d bytes exceeds %d", len(dst), MaxPacket)
	}
	return dst, nil
}

// Decode parses one packet.
func Decode(p []byte) (Message, error) {
	if len(p) == 0 {
		return Message{}, errShort
	}
	m := Message{Kind: Kind(p[0])}
	p = p[1:]
	switch m.Kind {
	case Publish, Broadcast:
		if len(p) < 16 {
			return Message{}, errShort
		}
		m.Seq = binary.LittleEndian.Uint64(p)
		m.PubNanos = int64(binary.LittleEndian.Uint64(p[8:]))
		p = p[16:]
		if m.Kind == Publish {
			if len(p) < 2 {
				return Message{}, errShort
			}
			n := int(binary.LittleEndian.Uint16(p))
			p = p[2:]
			if n == 0 || len(p) < n {
				return Message{}, errShort
			}
			m.ID, p = p[:n], p[n:]
		}
		m.Body = p
	case Drain:
		if len(p) != 0 {
			return Message{}, fmt.Errorf("control: drain with %d trailing bytes", len(p))
		}
	case Ack:
		if len(p) != 16 {
			return Message{}, errShort
		}
		m.Seq = binary.LittleEndian.Uint64(p)
		m.Answered = binary.LittleEndian.Uint64(p[8:])
	default:
		return Message{}, fmt.Errorf("control: unknown kind %q", m.Kind)
	}
	return m, nil
}

// batchHead is the size of a Batch packet's kind byte, and batchItem the length prefix of each packet in it.
const (
	batchHead = 1
	batchItem = 4
)

// AppendToBatch adds the packet pkt to the batch b (an empty b starts one). ok is false, and b unchanged, when the
// batch would outgrow MaxPacket: send b and start another.
func AppendToBatch(b, pkt []byte) (out []byte, ok bool) {
	if len(b) == 0 {
		b = append(b, byte(Batch))
	}
	if len(b)+batchItem+len(pkt) > MaxPacket {
		return b, false
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
	return append(b, pkt...), true
}

// ForEach calls fn with each packet p carries: the packets of a Batch in order, or p itself. It stops at the first
// error of fn, or at a malformed batch.
func ForEach(p []byte, fn func(pkt []byte) error) error {
	if len(p) == 0 || Kind(p[0]) != Batch {
		return fn(p)
	}
	for p = p[batchHead:]; len(p) > 0; {
		if len(p) < batchItem {
			return errShort
		}
		n := int(binary.LittleEndian.Uint32(p))
		p = p[batchItem:]
		if n == 0 || n > len(p) {
			return errShort
		}
		if Kind(p[0]) == Batch {
			return errors.New("control: batch inside a batch")
		}
		if err := fn(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// Handle runs one packet a worker read from the master: each Publish or Broadcast it carries goes to push, which
// returns how many held requests it answered, and a Drain to drain. It returns the acknowledgement to write back,
// appended to ack[:0]: one Ack for a lone message, one Batch of Acks for a batch, empty when nothing needs one.
// Both engines' workers use it, so a batch means the same to each.
func Handle(p, ack []byte, push func(*Message) uint64, drain func()) ([]byte, error) {
	ack = ack[:0]
	batched := len(p) > 0 && Kind(p[0]) == Batch
	err := ForEach(p, func(pkt []byte) error {
		m, err := Decode(pkt)
		if err != nil {
			return err
		}
		switch m.Kind {
		case Publish, Broadcast:
			one := Message{Kind: Ack, Seq: m.Seq, Answered: push(&m)}
			if !batched {
				ack, err = Append(ack, one)
				return err
			}
			var item [1 + 16]byte
			enc, _ := Append(item[:0], one)
			ack, _ = AppendToBatch(ack, enc) // 21 bytes per ack: a full batch of messages never fills it
		case Drain:
			drain()
		default:
			return fmt.Errorf("control: unexpected %q packet from the master", m.Kind)
		}
		return nil
	})
	return ack, err
}
