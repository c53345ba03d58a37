// Package flood is the source-bound load client: a coordinator that splits the work into child processes
// (re-executed with the hidden first argument -flood-child), each of which opens its share of long-poll
// connections from explicit source addresses and ports on one netloop.Loop, and reports counters back.
package flood

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comet-lab/comet-lab/src/lib/netloop"
)

// ChildArg is the hidden first argument that makes the binary run as a child.
const ChildArg = "-flood-child"

// fdReserve is the number of descriptors per process kept for everything that is not a load connection.
const fdReserve = 200

// maxStartWait bounds how far ahead -start-at may be, so a value in milliseconds fails instead of waiting years.
const maxStartWait = time.Hour

// maxSources bounds -src so a typo like 10.0.0.0-10.255.255.255 fails fast instead of planning millions.
const maxSources = 65536

// Config holds the flags. Validate fills the parsed fields.
type Config struct {
	Target      string
	Src         string
	Conns       int
	Rate        float64
	Procs       int
	Duration    time.Duration
	Path        string
	Push        bool
	Proto       string
	Ports       string
	Inflight    int
	Out         string
	Progress    string
	RampTimeout time.Duration
	StartAt     float64 // Unix seconds: connect no earlier than this (0 = at once); one moment for every client host

	// Parsed by Validate.
	dst     [4]byte
	dstPort int
	srcs    [][4]byte
	portLo  int
	portHi  int
	fdLimit int // descriptors per process (RLIMIT_NOFILE soft); 0 = unknown
}

// UsageError is a bad flag value; the binary exits 2 with its message.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// Register defines the flags on fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Target, "target", "", "server `host:port` (IPv4 literal), required")
	fs.StringVar(&c.Src, "src", "127.0.0.1", "source addresses: comma list of a.b.c.d, a.b.c.d-e or a.b.c.d-a.b.c.e")
	fs.IntVar(&c.Conns, "conns", 0, "connections to open and hold, required")
	fs.Float64Var(&c.Rate, "rate", 1000, "new connections per second over all processes (0 = as fast as possible)")
	fs.IntVar(&c.Procs, "procs", 0, "child processes (0 = enough for the fd limit: ceil(conns / (RLIMIT_NOFILE-200)))")
	fs.DurationVar(&c.Duration, "duration", 0, "how long to hold after the ramp (0 = until SIGINT/SIGTERM)")
	fs.StringVar(&c.Path, "path", "/", "request path for plain long polls")
	fs.BoolVar(&c.Push, "push", false, "subscribe: GET /sub?id=<unique>&since=<last seq seen> (comet); with -proto nchan, GET -path with the last message's If-Modified-Since/If-None-Match")
	fs.StringVar(&c.Proto, "proto", ProtoComet, "the server's long-poll protocol: comet | nchan (nginx's nchan module: 408 ends a hold, messages are named by Last-Modified/ETag)")
	fs.StringVar(&c.Ports, "ports", "1024-65535", "source port range `lo-hi`, split between the processes")
	fs.IntVar(&c.Inflight, "inflight", 64, "max connects in progress per process")
	fs.StringVar(&c.Out, "out", "", "write JSON lines (once per second, final summary last) to `file`")
	fs.StringVar(&c.Progress, "progress", "auto", "progress line on stderr: auto|on|off (auto: live when stderr is a terminal, else every 5 s)")
	fs.DurationVar(&c.RampTimeout, "ramp-timeout", 0, "fail when -conns are not established within this time (0 = max(60s, 3*conns/rate))")
	fs.Float64Var(&c.StartAt, "start-at", 0, "start connecting at this Unix time in `seconds` (a start barrier shared by several client hosts; 0 = at once)")
}

// Validate checks every flag, fills defaults and the parsed fields.
func (c *Config) Validate() error {
	ip, port, err := netloop.ParseAddr4(c.Target)
	switch {
	case c.Target == "":
		return usagef("-target is required (host:port, IPv4)")
	case err != nil:
		return usagef("-target %q: want an IPv4 host:port, e.g. 10.0.0.1:11181", c.Target)
	case ip == [4]byte{}:
		return usagef("-target %q: host must be a concrete IPv4 address, not 0.0.0.0 or empty", c.Target)
	case port == 0:
		return usagef("-target %q: port must be 1-65535", c.Target)
	}
	c.dst, c.dstPort = ip, port
	if c.srcs, err = ParseSources(c.Src); err != nil {
		return usagef("-src: %v", err)
	}
	if c.portLo, c.portHi, err = ParsePortRange(c.Ports); err != nil {
		return usagef("-ports: %v", err)
	}
	if c.Conns <= 0 {
		return usagef("-conns must be > 0 (got %d)", c.Conns)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return usagef("-rate must be >= 0 connections per second (got %v)", c.Rate)
	}
	if c.Inflight <= 0 {
		return usagef("-inflight must be > 0 (got %d)", c.Inflight)
	}
	if c.Duration < 0 {
		return usagef("-duration must be >= 0 (got %v)", c.Duration)
	}
	if c.RampTimeout < 0 {
		return usagef("-ramp-timeout must be >= 0 (got %v)", c.RampTimeout)
	}
	if c.StartAt < 0 || math.IsNaN(c.StartAt) || math.IsInf(c.StartAt, 0) {
		return usagef("-start-at must be a Unix time in seconds >= 0 (got %v)", c.StartAt)
	}
	if ahead := c.StartAt - float64(time.Now().UnixNano())/1e9; c.StartAt > 0 && ahead > maxStartWait.Seconds() {
		return usagef("-start-at %.3f is %.0f s ahead: more than %v (is it in milliseconds?)", c.StartAt, ahead, maxStartWait)
	}
	if c.Proto == "" {
		c.Proto = ProtoComet
	}
	if c.Proto != ProtoComet && c.Proto != ProtoNchan {
		return usagef("-proto must be %s or %s (got %q)", ProtoComet, ProtoNchan, c.Proto)
	}
	if err := checkPath(c.Path); err != nil {
		return usagef("-path %q: %v", c.Path, err)
	}
	switch c.Progress {
	case "auto", "on", "off":
	default:
		return usagef("-progress must be auto, on or off (got %q)", c.Progress)
	}
	nports := c.portHi - c.portLo + 1
	if capacity := len(c.srcs) * nports; c.Conns > capacity {
		return usagef("-conns %d exceeds what -src (%d addresses) x -ports %s (%d ports) can carry: %d; "+
			"add source addresses or widen the port range", c.Conns, len(c.srcs), c.Ports, nports, capacity)
	}
	if c.fdLimit == 0 {
		c.fdLimit = fdLimit()
	}
	perProc := c.fdLimit - fdReserve
	if c.Procs < 0 {
		return usagef("-procs must be >= 0 (got %d)", c.Procs)
	}
	if c.Procs == 0 {
		c.Procs = 1
		if perProc > 0 {
			c.Procs = (c.Conns + perProc - 1) / perProc
		}
	}
	if c.Procs > nports {
		return usagef("-procs %d exceeds the %d ports of -ports %s: each process needs its own ports", c.Procs, nports, c.Ports)
	}
	if c.Procs > c.Conns {
		return usagef("-procs %d exceeds -conns %d", c.Procs, c.Conns)
	}
	if share := (c.Conns + c.Procs - 1) / c.Procs; perProc > 0 && share > perProc {
		return usagef("-conns %d over -procs %d gives %d connections per process, above the fd limit %d minus %d reserved; "+
			"raise -procs to at least %d", c.Conns, c.Procs, share, c.fdLimit, fdReserve, (c.Conns+perProc-1)/perProc)
	}
	for _, p := range c.Plans() {
		if capacity := len(p.Sources) * (p.Sources[0].PortHi - p.Sources[0].PortLo + 1); p.Conns > capacity {
			return usagef("-conns %d: process %d gets %d connections but only %d source address:port pairs "+
				"(-src %d addresses x its %d-%d share of -ports); widen -ports, add -src addresses or lower -procs",
				c.Conns, p.Proc, p.Conns, capacity, len(p.Sources), p.Sources[0].PortLo, p.Sources[0].PortHi)
		}
	}
	if c.RampTimeout == 0 {
		c.RampTimeout = time.Minute
		if c.Rate > 0 {
			if d := time.Duration(3 * float64(c.Conns) / c.Rate * float64(time.Second)); d > c.RampTimeout {
				c.RampTimeout = d
			}
		}
	}
	return nil
}

func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with /")
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return fmt.Errorf("byte %d is not visible ASCII", i)
		}
	}
	return nil
}

// fdLimit returns this process's RLIMIT_NOFILE soft limit (Go raises it to the hard limit at start-up, and
// children get the same), or 0 when unknown or unlimited.
func fdLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return 0
	}
	return int(rl.Cur)
}

// ParseSources parses "a.b.c.d", "a.b.c.d-e" and "a.b.c.d-a.b.c.e" items separated by commas.
func ParseSources(s string) ([][4]byte, error) {
	var out [][4]byte
	seen := map[[4]byte]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty item in %q", s)
		}
		first, last, err := parseSourceItem(item)
		if err != nil {
			return nil, err
		}
		if last-first+1 > maxSources || len(out)+int(last-first+1) > maxSources {
			return nil, fmt.Errorf("more than %d addresses", maxSources)
		}
		for v := first; ; v++ {
			ip := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
			if seen[ip] {
				return nil, fmt.Errorf("address %s listed twice", net.IP(ip[:]))
			}
			seen[ip] = true
			out = append(out, ip)
			if v == last {
				break
			}
		}
	}
	return out, nil
}

func parseSourceItem(item string) (first, last uint32, err error) {
	lo, hi, isRange := strings.Cut(item, "-")
	first, err = parseIPv4(lo)
	if err != nil {
		return 0, 0, fmt.Errorf("%q: %v", item, err)
	}
	if first == 0 {
		return 0, 0, fmt.Errorf("%q: 0.0.0.0 is not a source address", item)
	}
	if !isRange {
		return first, first, nil
	}
	if strings.Contains(hi, ".") {
		last, err = parseIPv4(hi)
		if err != nil {
			return 0, 0, fmt.Errorf("%q: range end: %v", item, err)
		}
	} else {
		n, err := strconv.Atoi(hi)
		if err != nil || n < 0 || n > 255 {
			return 0, 0, fmt.Errorf("%q: range end %q must be a last octet 0-255 or a full address", item, hi)
		}
		last = first&^0xff | uint32(n)
	}
	if last < first {
		return 0, 0, fmt.Errorf("%q: range end is below its start", item)
	}
	return first, last, nil
}

// parseIPv4 is netloop.ParseIPv4 as a number, for address ranges.
func parseIPv4(s string) (uint32, error) {
	ip, err := netloop.ParseIPv4(s)
	return binary.BigEndian.Uint32(ip[:]), err
}

// ParsePortRange parses "lo-hi" (or a single port) within 1-65535.
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q: want lo-hi, e.g. 1024-65535", s)
	}
	if lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%q: want 1 <= lo <= hi <= 65535", s)
	}
	return lo, hi, nil
}

// ParseArgs parses and validates the command line; flag errors are UsageErrors.
func ParseArgs(args []string, stderr io.Writer) (*Config, error) {
	var c Config
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
