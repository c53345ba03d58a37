package procmem

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const fixtureRoot = "testdata/proc"

func TestReaderRollup(t *testing.T) {
	r := &Reader{Root: fixtureRoot}
	tests := []struct {
		pid      int
		pss, rss uint64
	}{
		{4242, 436 * 1024, 1600 * 1024},
		{77, 150000 * 1024, 200000 * 1024},
	}
	for _, tc := range tests {
		pss, rss, err := r.Rollup(tc.pid)
		if err != nil {
			t.Fatalf("pid %d: %v", tc.pid, err)
		}
		if pss != tc.pss || rss != tc.rss {
			t.Errorf("pid %d: pss=%d rss=%d, want %d %d", tc.pid, pss, rss, tc.pss, tc.rss)
		}
	}
}

func TestReaderSumRollupSkipsExited(t *testing.T) {
	r := &Reader{Root: fixtureRoot}
	// 999 has no directory: it stands for a worker that exited between listing and reading.
	pss, rss, err := r.SumRollup([]int{4242, 999, 77})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(436+150000) * 1024; pss != want {
		t.Errorf("pss=%d want %d", pss, want)
	}
	if want := uint64(1600+200000) * 1024; rss != want {
		t.Errorf("rss=%d want %d", rss, want)
	}
}

func TestReaderCPUTicks(t *testing.T) {
	r := &Reader{Root: fixtureRoot}
	tests := []struct {
		pid  int
		want uint64
	}{
		{4242, 1234 + 566}, // comm "comet (worker) 1" has spaces and a ')'
		{77, 10 + 5},
	}
	for _, tc := range tests {
		got, err := r.CPUTicks(tc.pid)
		if err != nil || got != tc.want {
			t.Errorf("pid %d: got %d, %v; want %d", tc.pid, got, err, tc.want)
		}
	}
	if _, err := r.CPUTicks(999); !IsGone(err) {
		t.Errorf("missing pid: err=%v, want not-exist", err)
	}
}

func TestReaderMeminfoAndSockstat(t *testing.T) {
	r := &Reader{Root: fixtureRoot}
	m, err := r.Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	want := MemInfo{MemTotal: 24683656 * 1024, MemAvailable: 24303864 * 1024, Slab: 177676 * 1024}
	if m != want {
		t.Errorf("meminfo %+v, want %+v", m, want)
	}
	s, err := r.Sockstat(filepath.Join(fixtureRoot, "4242/net/sockstat"))
	if err != nil {
		t.Fatal(err)
	}
	wantS := SockStat{TCPInuse: 2000001, TCPOrphan: 3, TCPTW: 17, TCPAlloc: 2000005, TCPMem: 404824}
	if s != wantS {
		t.Errorf("sockstat %+v, want %+v", s, wantS)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		file  string
		parse func([]byte) error
	}{
		{"smaps_no_pss", func(b []byte) error { _, _, err := ParseRollup(b); return err }},
		{"stat_short", func(b []byte) error { _, err := ParseStatTicks(b); return err }},
		{"stat_no_comm", func(b []byte) error { _, err := ParseStatTicks(b); return err }},
		{"meminfo_no_avail", func(b []byte) error { _, err := ParseMeminfo(b); return err }},
		{"sockstat_no_tcp", func(b []byte) error { _, err := ParseSockstat(b); return err }},
		{"sockstat_bad_number", func(b []byte) error { _, err := ParseSockstat(b); return err }},
		{"sockstat_short", func(b []byte) error { _, err := ParseSockstat(b); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/bad", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.parse(b); !errors.Is(err, ErrFormat) {
				t.Errorf("err=%v, want ErrFormat", err)
			}
		})
	}
}

// The live /proc must parse too: this catches kernel format drift the fixtures miss.
func TestLiveProc(t *testing.T) {
	pss, rss, err := Rollup(os.Getpid())
	if err != nil {
		t.Skipf("smaps_rollup unavailable: %v", err)
	}
	if pss == 0 || rss < pss {
		t.Errorf("pss=%d rss=%d", pss, rss)
	}
	if _, err := CPUTicks(os.Getpid()); err != nil {
		t.Error(err)
	}
	m, err := Meminfo()
	if err != nil || m.MemAvailable == 0 || m.Slab == 0 {
		t.Errorf("meminfo %+v %v", m, err)
	}
	if _, err := Sockstat("/proc/net/sockstat"); err != nil {
		t.Error(err)
	}
}

// Sampling runs every second in the master and in labmon: it must not allocate
// per line or per file beyond the path.
func TestReaderAllocations(t *testing.T) {
	r := &Reader{Root: fixtureRoot}
	if _, _, err := r.Rollup(4242); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if _, _, err := r.Rollup(4242); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Errorf("Rollup allocates %.0f times per call, want <= 4", allocs)
	}
}

// Proc files report size 0, so read must grow its buffer until EOF.
func TestReaderGrowsBuffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	want := make([]byte, 3*4096+17)
	for i := range want {
		want[i] = byte('a' + i%26)
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	var r Reader
	got, err := r.read(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("read %d bytes, want %d identical bytes", len(got), len(want))
	}
}

func TestStatField(t *testing.T) {
	const stat = "4242 (a (weird) comm) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0"
	tests := []struct {
		n       int
		want    string
		wantErr bool
	}{
		{3, "S", false},
		{4, "1", false},
		{5, "4242", false},
		{14, "7", false},
		{15, "3", false},
		{2, "", true},  // comm is not addressable by field counting
		{99, "", true}, // past the end
	}
	for _, tc := range tests {
		got, err := StatField([]byte(stat), tc.n)
		if (err != nil) != tc.wantErr || (!tc.wantErr && string(got) != tc.want) {
			t.Errorf("field %d = %q, %v; want %q (error %v)", tc.n, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := StatField([]byte("4242 no comm S 1"), 4); err == nil {
		t.Error("stat without ')' accepted")
	}
	if _, err := StatInt([]byte(stat), 3); err == nil {
		t.Error("state field parsed as an integer")
	}
}
