// The plan: what the coordinator hands each child on stdin (its share of connections, sources and ports), and
// the checks a child makes before it trusts one.

package flood

import (
	"errors"
	"fmt"
	"net"

	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"golang.org/x/sys/unix"
)

// SplitPorts gives process i of n its own contiguous slice of [lo, hi]; the slices are disjoint and cover the
// range. It requires n <= hi-lo+1.
func SplitPorts(lo, hi, n, i int) (int, int) {
	size := hi - lo + 1
	return lo + i*size/n, lo + (i+1)*size/n - 1
}

// SourcePlan is one source address with the ports a child may use on it.
type SourcePlan struct {
	Addr   string `json:"addr"`
	PortLo int    `json:"port_lo"`
	PortHi int    `json:"port_hi"`
}

// Plan is what the coordinator hands one child on stdin.
type Plan struct {
	Proc     int          `json:"proc"`
	Target   string       `json:"target"`
	Conns    int          `json:"conns"`
	Rate     float64      `json:"rate"` // connections per second for this child; 0 = unlimited
	Inflight int          `json:"inflight"`
	Path     string       `json:"path"`
	Push     bool         `json:"push"`
	Proto    string       `json:"proto,omitempty"` // ProtoComet ("" too) or ProtoNchan
	Sources  []SourcePlan `json:"sources"`
	ReportMs int          `json:"report_ms"`
	// ExitCloses leaves closing the sockets to process exit after the final report (real child processes);
	// in-process children (tests) close them one by one.
	ExitCloses bool `json:"exit_closes,omitempty"`
}

// Plans splits a validated config into one plan per process.
func (c *Config) Plans() []Plan {
	plans := make([]Plan, c.Procs)
	for i := range plans {
		share := c.Conns / c.Procs
		if i < c.Conns%c.Procs {
			share++
		}
		lo, hi := SplitPorts(c.portLo, c.portHi, c.Procs, i)
		srcs := make([]SourcePlan, len(c.srcs))
		for j, ip := range c.srcs {
			srcs[j] = SourcePlan{Addr: net.IP(ip[:]).String(), PortLo: lo, PortHi: hi}
		}
		plans[i] = Plan{Proc: i, Target: c.Target, Conns: share, Rate: c.Rate * float64(share) / float64(c.Conns),
			Inflight: c.Inflight, Path: c.Path, Push: c.Push, Proto: c.Proto, Sources: srcs, ReportMs: 250, ExitCloses: true}
	}
	return plans
}

// ValidatePlan checks a plan received on stdin.
func ValidatePlan(p Plan) error {
	if _, port, err := netloop.ParseAddr4(p.Target); err != nil || port == 0 {
		return fmt.Errorf("plan: target %q is not an IPv4 host:port", p.Target)
	}
	if p.Conns <= 0 {
		return fmt.Errorf("plan: conns must be > 0, got %d", p.Conns)
	}
	if p.Rate < 0 {
		return fmt.Errorf("plan: rate must be >= 0, got %v", p.Rate)
	}
	if p.Inflight <= 0 {
		return fmt.Errorf("plan: inflight must be > 0, got %d", p.Inflight)
	}
	if p.Proto != "" && p.Proto != ProtoComet && p.Proto != ProtoNchan {
		return fmt.Errorf("plan: proto %q is neither %s nor %s", p.Proto, ProtoComet, ProtoNchan)
	}
	if len(p.Sources) == 0 {
		return errors.New("plan: no source addresses")
	}
	if err := checkPath(p.Path); err != nil {
		return fmt.Errorf("plan: path %q: %v", p.Path, err)
	}
	capacity := 0
	for _, s := range p.Sources {
		if _, err := parseIPv4(s.Addr); err != nil {
			return fmt.Errorf("plan: source %v", err)
		}
		if s.PortLo < 1 || s.PortHi > 65535 || s.PortLo > s.PortHi {
			return fmt.Errorf("plan: source %s: port range %d-%d invalid", s.Addr, s.PortLo, s.PortHi)
		}
		capacity += s.PortHi - s.PortLo + 1
	}
	if p.Conns > capacity {
		return fmt.Errorf("plan: %d conns exceed the %d source address:port pairs", p.Conns, capacity)
	}
	return nil
}

// checkSources binds a throwaway socket to each source address so a missing address fails the run at once
// with a clear message instead of as a stream of EADDRNOTAVAIL.
func checkSources(srcs [][4]byte) error {
	for _, ip := range srcs {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		err = unix.Bind(fd, &unix.SockaddrInet4{Addr: ip})
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("source address %d.%d.%d.%d: bind: %s (%v)", ip[0], ip[1], ip[2], ip[3], errnoName(err),
				"not configured on this machine?")
		}
	}
	return nil
}
