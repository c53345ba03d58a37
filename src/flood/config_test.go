package flood

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseSources(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "127.0.0.1", want: []string{"127.0.0.1"}},
		{in: "10.0.0.1,10.0.0.3", want: []string{"10.0.0.1", "10.0.0.3"}},
		{in: "10.0.0.1-3", want: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{in: "10.0.0.254-10.0.1.1", want: []string{"10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"}},
		{in: " 10.0.0.9 , 10.0.0.1-2", want: []string{"10.0.0.9", "10.0.0.1", "10.0.0.2"}},
		{in: "10.0.0.5-5", want: []string{"10.0.0.5"}},
		{in: "", wantErr: "empty item"},
		{in: "10.0.0.1,,10.0.0.2", wantErr: "empty item"},
		{in: "10.0.0.300", wantErr: "not an IPv4"},
		{in: "::1", wantErr: "not an IPv4"},
		{in: "host.example", wantErr: "not an IPv4"},
		{in: "10.0.0.5-3", wantErr: "below its start"},
		{in: "10.0.0.5-256", wantErr: "last octet"},
		{in: "10.0.0.5-x", wantErr: "last octet"},
		{in: "10.0.0.1,10.0.0.1", wantErr: "listed twice"},
		{in: "10.0.0.1-3,10.0.0.2", wantErr: "listed twice"},
		{in: "0.0.0.0", wantErr: "not a source address"},
		{in: "10.0.0.0-10.255.255.255", wantErr: "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSources(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSources(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotS []string
			for _, ip := range got {
				gotS = append(gotS, net.IP(ip[:]).String())
			}
			if strings.Join(gotS, ",") != strings.Join(tc.want, ",") {
				t.Errorf("ParseSources(%q) = %v, want %v", tc.in, gotS, tc.want)
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"1024-65535", 1024, 65535, true},
		{"5000", 5000, 5000, true},
		{"0-10", 0, 0, false},
		{"10-65536", 0, 0, false},
		{"20-10", 0, 0, false},
		{"a-b", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tc := range tests {
		lo, hi, err := ParsePortRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (lo != tc.lo || hi != tc.hi)) {
			t.Errorf("ParsePortRange(%q) = %d, %d, %v; want %d, %d, ok=%v", tc.in, lo, hi, err, tc.lo, tc.hi, tc.ok)
		}
	}
}

func TestSplitPortsDisjointAndCovering(t *testing.T) {
	tests := []struct{ lo, hi, n int }{
		{1024, 65535, 1}, {1024, 65535, 3}, {1024, 65535, 7}, {10, 19, 10}, {10, 20, 4}, {1, 65535, 64},
	}
	for _, tc := range tests {
		owner := map[int]int{}
		next := tc.lo
		for i := range tc.n {
			a, b := SplitPorts(tc.lo, tc.hi, tc.n, i)
			if a != next {
				t.Errorf("%+v: process %d starts at %d, want %d (gap or overlap)", tc, i, a, next)
			}
			if b < a {
				t.Errorf("%+v: process %d gets empty range %d-%d", tc, i, a, b)
			}
			for p := a; p <= b; p++ {
				if prev, dup := owner[p]; dup {
					t.Fatalf("%+v: port %d given to processes %d and %d", tc, p, prev, i)
				}
				owner[p] = i
			}
			next = b + 1
		}
		if len(owner) != tc.hi-tc.lo+1 || next != tc.hi+1 {
			t.Errorf("%+v: ranges cover %d ports ending at %d, want %d ending at %d", tc, len(owner), next-1,
				tc.hi-tc.lo+1, tc.hi)
		}
	}
}

func TestValidate(t *testing.T) {
	base := func() Config {
		return Config{Target: "127.0.0.1:11181", Src: "127.0.0.1", Conns: 100, Rate: 1000, Path: "/",
			Ports: "1024-65535", Inflight: 64, Progress: "auto", fdLimit: 20000}
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr []string // all must appear in the message
	}{
		{"ok", func(*Config) {}, nil},
		{"no target", func(c *Config) { c.Target = "" }, []string{"-target is required"}},
		{"hostname target", func(c *Config) { c.Target = "example.com:80" }, []string{"-target"}},
		{"target port 0", func(c *Config) { c.Target = "127.0.0.1:0" }, []string{"-target", "port"}},
		{"bad src", func(c *Config) { c.Src = "1.2.3" }, []string{"-src"}},
		{"bad ports", func(c *Config) { c.Ports = "9-3" }, []string{"-ports"}},
		{"zero conns", func(c *Config) { c.Conns = 0 }, []string{"-conns"}},
		{"negative rate", func(c *Config) { c.Rate = -1 }, []string{"-rate"}},
		{"zero inflight", func(c *Config) { c.Inflight = 0 }, []string{"-inflight"}},
		{"negative duration", func(c *Config) { c.Duration = -1 }, []string{"-duration"}},
		{"path without slash", func(c *Config) { c.Path = "x" }, []string{"-path"}},
		{"path with space", func(c *Config) { c.Path = "/a b" }, []string{"-path"}},
		{"bad progress", func(c *Config) { c.Progress = "yes" }, []string{"-progress"}},
		{"bad proto", func(c *Config) { c.Proto = "websocket" }, []string{"-proto", "comet", "nchan"}},
		{"nchan proto", func(c *Config) { c.Proto = ProtoNchan }, nil},
		{"capacity", func(c *Config) { c.Conns = 21; c.Src = "10.0.0.1-2"; c.Ports = "1000-1009" },
			[]string{"-conns 21", "-src (2 addresses)", "-ports 1000-1009", "20"}},
		{"fd limit per proc", func(c *Config) { c.Conns = 50000; c.Procs = 2 }, []string{"-procs", "raise -procs to at least 3"}},
		{"more procs than ports", func(c *Config) { c.Ports = "1000-1001"; c.Procs = 3; c.Conns = 2 }, []string{"-procs 3", "ports"}},
		{"more procs than conns", func(c *Config) { c.Procs = 200 }, []string{"-procs 200 exceeds -conns 100"}},
		{"negative procs", func(c *Config) { c.Procs = -1 }, []string{"-procs"}},
		{"start-at soon", func(c *Config) { c.StartAt = float64(time.Now().Unix() + 30) }, nil},
		{"start-at past", func(c *Config) { c.StartAt = 1 }, nil},
		{"negative start-at", func(c *Config) { c.StartAt = -5 }, []string{"-start-at", ">= 0"}},
		{"start-at in milliseconds", func(c *Config) { c.StartAt = float64(time.Now().UnixMilli()) },
			[]string{"-start-at", "ahead", "milliseconds"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			err := c.Validate()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a UsageError", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateDefaults(t *testing.T) {
	tests := []struct {
		conns     int
		rate      float64
		wantProcs int
		wantRamp  string
	}{
		{100, 1000, 1, "1m0s"},
		{19800, 1000, 1, "1m0s"},
		{19801, 1000, 2, "1m0s"},
		{100000, 1000, 6, "5m0s"},
		{1000, 0, 1, "1m0s"},
	}
	for _, tc := range tests {
		c := Config{Target: "127.0.0.1:1", Src: "127.0.0.1-10", Conns: tc.conns, Rate: tc.rate, Path: "/",
			Ports: "1024-65535", Inflight: 1, Progress: "off", fdLimit: 20000}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.Procs != tc.wantProcs || c.RampTimeout.String() != tc.wantRamp {
			t.Errorf("conns %d rate %v: procs %d ramp-timeout %v, want %d %s", tc.conns, tc.rate, c.Procs,
				c.RampTimeout, tc.wantProcs, tc.wantRamp)
		}
	}
}

func TestPlans(t *testing.T) {
	c := Config{Target: "127.0.0.1:1", Src: "127.0.0.1,127.0.0.2", Conns: 1001, Rate: 1000, Procs: 2, Path: "/",
		Ports: "2000-2999", Inflight: 8, Progress: "off", fdLimit: 20000}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	plans := c.Plans()
	if len(plans) != 2 || plans[0].Conns+plans[1].Conns != 1001 || plans[0].Conns-plans[1].Conns != 1 {
		t.Fatalf("conn shares %d, %d; want 501, 500", plans[0].Conns, plans[1].Conns)
	}
	if r := plans[0].Rate + plans[1].Rate; r < 999.999 || r > 1000.001 {
		t.Errorf("rate shares sum to %v, want 1000", r)
	}
	for _, p := range plans {
		if err := ValidatePlan(p); err != nil {
			t.Errorf("plan %d invalid: %v", p.Proc, err)
		}
		if len(p.Sources) != 2 || p.Sources[0].Addr != "127.0.0.1" || p.Sources[1].Addr != "127.0.0.2" {
			t.Errorf("plan %d sources %+v", p.Proc, p.Sources)
		}
	}
	if plans[0].Sources[0].PortHi >= plans[1].Sources[0].PortLo {
		t.Errorf("port ranges overlap: %+v %+v", plans[0].Sources[0], plans[1].Sources[0])
	}
}

func TestValidatePlan(t *testing.T) {
	good := Plan{Target: "127.0.0.1:80", Conns: 10, Inflight: 1, Path: "/",
		Sources: []SourcePlan{{Addr: "127.0.0.1", PortLo: 2000, PortHi: 2009}}}
	tests := []struct {
		name    string
		mod     func(*Plan)
		wantErr string
	}{
		{"ok", func(*Plan) {}, ""},
		{"bad target", func(p *Plan) { p.Target = "x" }, "target"},
		{"no conns", func(p *Plan) { p.Conns = 0 }, "conns"},
		{"negative rate", func(p *Plan) { p.Rate = -1 }, "rate"},
		{"no inflight", func(p *Plan) { p.Inflight = 0 }, "inflight"},
		{"no sources", func(p *Plan) { p.Sources = nil }, "no source"},
		{"bad source", func(p *Plan) { p.Sources = []SourcePlan{{Addr: "x", PortLo: 1, PortHi: 2}} }, "source"},
		{"bad ports", func(p *Plan) { p.Sources[0].PortLo = 3000 }, "port range"},
		{"over capacity", func(p *Plan) { p.Conns = 11 }, "exceed"},
		{"bad path", func(p *Plan) { p.Path = "nope" }, "path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			p.Sources = append([]SourcePlan(nil), good.Sources...)
			tc.mod(&p)
			err := ValidatePlan(p)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestMainUsageExitCode(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing target", []string{"-conns", "1"}, "-target is required"},
		{"unknown flag", []string{"-bogus"}, "bogus"},
		{"stray argument", []string{"-target", "127.0.0.1:1", "-conns", "1", "extra"}, "unexpected argument"},
		{"unconfigured source", []string{"-target", "127.0.0.1:1", "-conns", "1", "-src", "192.0.2.77"}, "EADDRNOTAVAIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			code := Main(tc.args, strings.NewReader(""), io.Discard, &stderr)
			if code != ExitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d stderr %q, want %d and %q", code, stderr.String(), ExitUsage, tc.want)
			}
		})
	}
}
