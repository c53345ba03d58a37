package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSourcesFor(t *testing.T) {
	tests := []struct {
		conns   int
		want    string
		wantErr bool
	}{
		{1, "127.0.0.2", false},
		{50000, "127.0.0.2", false},
		{50001, "127.0.0.2-3", false},
		{1000000, "127.0.0.2-21", false},
		{253 * 50000, "127.0.0.2-254", false},
		{253*50000 + 1, "", true},
	}
	for _, tc := range tests {
		got, err := SourcesFor(tc.conns)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("SourcesFor(%d) = %q, %v; want %q, error %v", tc.conns, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestJudgeLateGrowthSeparatesWarmUpFromLeak(t *testing.T) {
	cycles := func(pss ...uint64) (out []ChurnCycle) {
		for _, p := range pss {
			out = append(out, ChurnCycle{PSS: p})
		}
		return out
	}
	warm := Judge(cycles(1000, 1100, 1100, 1100, 1100))
	leak := Judge(cycles(1000, 1020, 1040, 1060, 1080))
	if warm.PSSWithin || warm.LatePSSGrowthPct != 0 {
		t.Errorf("warm-up: %+v, want verdict failed and late growth 0", warm)
	}
	if leak.LatePSSGrowthPct < 3 {
		t.Errorf("steady rise: late growth %.1f %%, want about 3.8 %%", leak.LatePSSGrowthPct)
	}
}

func TestJudge(t *testing.T) {
	cycle := func(fds int, pss uint64) ChurnCycle { return ChurnCycle{FDs: fds, PSS: pss} }
	tests := []struct {
		name       string
		cycles     []ChurnCycle
		within     bool
		leaked     int
		broken     bool
		growthSign int
	}{
		{"steady", []ChurnCycle{cycle(20, 1000), cycle(20, 1010), cycle(20, 1040)}, true, 0, false, 1},
		{"grows", []ChurnCycle{cycle(20, 1000), cycle(20, 1100)}, false, 0, true, 1},
		{"shrinks a lot", []ChurnCycle{cycle(20, 1000), cycle(20, 900)}, false, 0, true, -1},
		{"leaks fds", []ChurnCycle{cycle(20, 1000), cycle(23, 1000)}, true, 3, true, 0},
		{"fewer fds is fine", []ChurnCycle{cycle(20, 1000), cycle(18, 1000)}, true, -2, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.cycles)
			if v.PSSWithin != tc.within || v.LeakedFDs != tc.leaked || v.Broken() != tc.broken {
				t.Errorf("Judge = %+v broken %v; want within %v leaked %d broken %v", v, v.Broken(), tc.within, tc.leaked, tc.broken)
			}
			if (v.PSSGrowthPct > 0) != (tc.growthSign > 0) || (v.PSSGrowthPct < 0) != (tc.growthSign < 0) {
				t.Errorf("growth %.2f %%, want sign %d", v.PSSGrowthPct, tc.growthSign)
			}
			var out bytes.Buffer
			PrintVerdict(&out, v)
			if !strings.Contains(out.String(), "leaked fds: ") {
				t.Errorf("verdict output %q lacks the fd line", out.String())
			}
		})
	}
}

// writeProc builds a fake /proc with the given pid -> ppid links.
func writeProc(t *testing.T, links map[int]int) string {
	root := t.TempDir()
	for pid, ppid := range links {
		dir := filepath.Join(root, strconv.Itoa(pid))
		os.MkdirAll(filepath.Join(dir, "fd"), 0o755)
		// comm with spaces and a parenthesis, as real process names may have.
		stat := strconv.Itoa(pid) + " (we ird) name) S " + strconv.Itoa(ppid) + " 1 1 0 -1\n"
		os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644)
		os.WriteFile(filepath.Join(dir, "status"), []byte("Name:\tx\nThreads:\t7\nVmRSS:\t1 kB\n"), 0o644)
		for i := 0; i < pid%5; i++ {
			os.WriteFile(filepath.Join(dir, "fd", strconv.Itoa(i)), nil, 0o644)
		}
	}
	os.MkdirAll(filepath.Join(root, "self"), 0o755) // non-numeric entries are skipped
	return root
}

func TestProcTreeAndCounts(t *testing.T) {
	root := writeProc(t, map[int]int{1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20})
	got, err := procTree(root, 10)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []int{10, 11, 12, 13}; !slices.Equal(got, want) {
		t.Errorf("procTree(10) = %v, want %v", got, want)
	}
	if n, err := fdCount(root, 13); err != nil || n != 3 {
		t.Errorf("fdCount(13) = %d, %v; want 3", n, err)
	}
	if n, err := threadCount(root, 12); err != nil || n != 7 {
		t.Errorf("threadCount(12) = %d, %v; want 7", n, err)
	}
	if _, err := threadCount(root, 99); err == nil {
		t.Error("threadCount of a missing pid succeeded")
	}
}

func TestParsePPIDRejectsGarbage(t *testing.T) {
	for _, stat := range []string{"", "12 noparen S 1", "12 (x)", "12 (x) S notanumber"} {
		if _, err := parsePPID([]byte(stat)); err == nil {
			t.Errorf("parsePPID(%q) succeeded", stat)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bin")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	tests := []struct {
		name string
		o    Options
		want string // substring of the error; "" = valid
	}{
		{"ok", Options{Comet: bin, Flood: bin, Engine: "netpoll", Conns: 10}, ""},
		{"no conns", Options{Comet: bin, Flood: bin, Engine: "netpoll"}, "-conns"},
		{"bad engine", Options{Comet: bin, Flood: bin, Engine: "epoll", Conns: 1}, "-engine"},
		{"missing comet", Options{Comet: bin + "x", Flood: bin, Engine: "goroutine", Conns: 1}, "comet binary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.validate()
			if tc.want == "" {
				if err != nil || tc.o.Procs < 2 {
					t.Fatalf("validate: %v, procs %d", err, tc.o.Procs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
