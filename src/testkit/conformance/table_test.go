package conformance

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/conformance.md from the table")

// TestTable checks the table itself: unique ids, every column filled, comet's column one of the RFC's outcomes.
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for i := range Cases {
		c := &Cases[i]
		if seen[c.ID] {
			t.Errorf("%s: duplicate id", c.ID)
		}
		seen[c.ID] = true
		switch c.Level {
		case "MUST", "SHOULD", "MAY", "rule":
		default:
			t.Errorf("%s: level %q", c.ID, c.Level)
		}
		if c.Clause == "" || c.Requirement == "" || c.Demands == "" || c.Raw == "" || len(c.Allowed) == 0 || c.Nginx == "" {
			t.Errorf("%s: incomplete row %+v", c.ID, c)
		}
		if !c.conforms(c.Comet) {
			t.Errorf("%s: comet's outcome %q is not one the RFC allows %q", c.ID, c.Comet, c.Allowed)
		}
		if c.Goroutine != "" && c.GoNote == "" {
			t.Errorf("%s: the goroutine engine differs without a note saying why", c.ID)
		}
	}
}

func TestOutcomeMatch(t *testing.T) {
	tests := []struct {
		o, p outcome
		want bool
	}{
		{"400 close", "400 close", true},
		{"431 close", "4xx close", true},
		{"431 open", "4xx close", false},
		{"served close", "4xx close", false},
		{"served 400 close", "served 4xx close", true},
	}
	for _, tc := range tests {
		if got := tc.o.matches(tc.p); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.o, tc.p, got, tc.want)
		}
	}
	o := observed{answers: []answer{{status: 200}, {status: 405, allow: true}, {status: 405}}, closed: true}
	if got := o.format(200); got != "served 405+Allow 405 close" {
		t.Errorf("format: %q", got)
	}
}

// TestDoc fails when docs/conformance.md's generated part differs from the table; -update rewrites it.
func TestDoc(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "conformance.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	begin, end := strings.Index(text, beginMarker), strings.Index(text, endMarker)
	if begin < 0 || end < begin {
		t.Fatalf("%s: markers %q … %q not found", path, beginMarker, endMarker)
	}
	current := text[begin : end+len(endMarker)+1]
	want := generated()
	if current == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(text[:begin]+want+text[end+len(endMarker)+1:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with the table in src/testkit/conformance: run make conformance-doc", path)
}
