package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The master and its comet-broker process talk over a SOCK_SEQPACKET pair: one packet per message, little endian,
// kind byte first.
//   - 'Q' publish request (master->broker): req u64, then a message (pubNanos, flags, MsgID, id, body)
//   - 'M' stream message (broker->master): stream seq u64, then a message
//   - 'R' publish result (broker->master): req u64, stream seq u64 (0: failed), flags (1: unavailable), error text
//   - 'S' status (broker->master): connected u8, reconnects, in, out, dropped, goroutines u64
//
// A message is pubNanos i64, flags u8 (1: broadcast), msgIDLen u8, MsgID, idLen u16, id, body.
type packetKind byte

const (
	kindRequest packetKind = 'Q'
	kindMessage packetKind = 'M'
	kindResult  packetKind = 'R'
	kindStatus  packetKind = 'S'
)

// maxPacket bounds a packet: the header, a 1 KiB id, a 255-byte MsgID and the largest message comet accepts.
const maxPacket = 64 << 10

// packet is one decoded packet; Msg's byte fields alias the buffer.
type packet struct {
	Kind    packetKind
	Num     uint64 // request number (Q, R) or stream seq (M)
	Seq     uint64 // R: stream seq, 0 when the publish failed
	Unavail bool   // R: failed because the broker is unreachable
	Err     string // R
	Msg     Message
	Status  Counters
}

var errShortPacket = errors.New("broker link: truncated packet")

func appendPacket(dst []byte, p packet) ([]byte, error) {
	dst = append(dst, byte(p.Kind))
	switch p.Kind {
	case kindRequest, kindMessage:
		m := p.Msg
		if len(m.MsgID) > 255 || len(m.ID) > 0xffff {
			return nil, fmt.Errorf("broker link: MsgID %d or id %d bytes too long", len(m.MsgID), len(m.ID))
		}
		dst = binary.LittleEndian.AppendUint64(dst, p.Num)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(m.PubNanos))
		dst = append(dst, b2byte(m.Broadcast), byte(len(m.MsgID)))
		dst = append(dst, m.MsgID...)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(m.ID)))
		dst = append(dst, m.ID...)
		dst = append(dst, m.Body...)
	case kindResult:
		dst = binary.LittleEndian.AppendUint64(dst, p.Num)
		dst = binary.LittleEndian.AppendUint64(dst, p.Seq)
		dst = append(dst, b2byte(p.Unavail))
		dst = append(dst, p.Err...)
	case kindStatus:
		s := p.Status
		dst = append(dst, b2byte(s.Connected))
		for _, v := range []uint64{s.Reconnects, s.In, s.Out, s.Dropped, s.Goroutines} {
			dst = binary.LittleEndian.AppendUint64(dst, v)
		}
	default:
		return nil, fmt.Errorf("broker link: unknown kind %q", p.Kind)
	}
	if len(dst) > maxPacket {
		return nil, fmt.Errorf("broker link: packet of %d bytes exceeds %d", len(dst), maxPacket)
	}
	return dst, nil
}

func decodePacket(b []byte) (packet, error) {
	if len(b) == 0 {
		return packet{}, errShortPacket
	}
	p := packet{Kind: packetKind(b[0])}
	b = b[1:]
	switch p.Kind {
	case kindRequest, kindMessage:
		if len(b) < 18 {
			return packet{}, errShortPacket
		}
		p.Num = binary.LittleEndian.Uint64(b)
		p.Msg.PubNanos = int64(binary.LittleEndian.Uint64(b[8:]))
		p.Msg.Broadcast = b[16] != 0
		n := int(b[17])
		b = b[18:]
		if len(b) < n+2 {
			return packet{}, errShortPacket
		}
		p.Msg.MsgID, b = string(b[:n]), b[n:]
		n = int(binary.LittleEndian.Uint16(b))
		b = b[2:]
		if len(b) < n {
			return packet{}, errShortPacket
		}
		p.Msg.ID, p.Msg.Body = string(b[:n]), b[n:]
		if p.Kind == kindMessage {
			p.Msg.Seq = p.Num
		}
	case kindResult:
		if len(b) < 17 {
			return packet{}, errShortPacket
		}
		p.Num, p.Seq = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		p.Unavail, p.Err = b[16] != 0, string(b[17:])
	case kindStatus:
		if len(b) != 41 {
			return packet{}, errShortPacket
		}
		s := &p.Status
		s.Connected = b[0] != 0
		s.Reconnects = binary.LittleEndian.Uint64(b[1:])
		s.In = binary.LittleEndian.Uint64(b[9:])
		s.Out = binary.LittleEndian.Uint64(b[17:])
		s.Dropped = binary.LittleEndian.Uint64(b[25:])
		s.Goroutines = binary.LittleEndian.Uint64(b[33:])
	default:
		return packet{}, fmt.Errorf("broker link: unknown kind %q", p.Kind)
	}
	return p, nil
}

func b2byte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
