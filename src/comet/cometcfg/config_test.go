package cometcfg

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
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
