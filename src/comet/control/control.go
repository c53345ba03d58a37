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
