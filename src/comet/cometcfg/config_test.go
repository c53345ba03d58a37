package cometcfg

import (
	"flag"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("comet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &c, c.Validate()
}

func TestValidateNamesTheBadFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string // substring of the error; empty = valid
	}{
		{nil, ""},
		{[]string{"-engine", "goroutine", "-procs", "3"}, ""},
		{[]string{"-engine", "threads"}, "-engine"},
		{[]string{"-procs", "0"}, "-procs"},
		{[]string{"-hold-min", "10s", "-hold-max", "5s"}, "-hold-min"},
		{[]string{"-tick", "0s"}, "-tick"},
		{[]string{"-max-message", "0"}, "-max-message"},
		{[]string{"-log-format", "xml"}, "-log-format"},
		{[]string{"-keep", "0"}, "-keep"},
		{[]string{"-broker", "nats://127.0.0.1:4222", "-broker-user", "u"}, ""},
		{[]string{"-broker-user", "u"}, "need -broker"},
		{[]string{"-broker-creds", "/x.creds"}, "need -broker"},
		{[]string{"-broker", "nats://127.0.0.1:4222", "-broker-stream", "a.b"}, "-broker-stream"},
	}
	for _, tc := range tests {
		_, err := parse(t, tc.args...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}

func TestArgsRoundTrip(t *testing.T) {
	c, err := parse(t, "-procs", "7", "-hold-min", "2s", "-hold-max", "3s", "-engine", "goroutine", "-admin", "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := parse(t, c.Args()...)
	if err != nil {
		t.Fatal(err)
	}
	c.AdminToken, again.AdminToken = "", ""
	if !reflect.DeepEqual(c, again) {
		t.Errorf("round trip changed config:\n%+v\n%+v", c, again)
	}
}

// The workers are started with Args: the broker's URL and secrets must not reach them or a process listing.
func TestArgsLeaveTheBrokerOut(t *testing.T) {
	c, err := parse(t, "-broker", "nats://user:pw@127.0.0.1:4222", "-broker-token", "tok", "-broker-user", "user", "-broker-password", "pw2")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(c.Args(), " ")
	for _, secret := range []string{"broker", "pw", "tok", "4222"} {
		if strings.Contains(args, secret) {
			t.Errorf("worker args %q contain %q", args, secret)
		}
	}
}

func TestDrawHold(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
		seeded   bool
	}{
		{"range, own source", 30 * time.Second, 90 * time.Second, true},
		{"range, global source", 30 * time.Second, 90 * time.Second, false},
		{"tiny range", time.Nanosecond, 2 * time.Nanosecond, true},
		{"fixed", 5 * time.Second, 5 * time.Second, true},
		{"zero", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{HoldMin: tc.min, HoldMax: tc.max}
			var rng *rand.Rand
			if tc.seeded {
				rng = rand.New(rand.NewPCG(1, 2))
			}
			lo, hi := tc.max, tc.min
			for range 2000 {
				d := c.DrawHold(rng)
				if d < tc.min || d > tc.max {
					t.Fatalf("DrawHold = %v, outside [%v, %v]", d, tc.min, tc.max)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			// 2000 uniform draws reach both ends' neighbourhood (within 5 % of the span).
			if span := tc.max - tc.min; lo-tc.min > span/20 || tc.max-hi > span/20 {
				t.Errorf("draws spread over [%v, %v] only, want about [%v, %v]", lo, hi, tc.min, tc.max)
			}
		})
	}
}
