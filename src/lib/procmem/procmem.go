// Package procmem reads process and system memory/CPU figures straight from /proc.
//
// It parses the few files it needs by hand instead of using github.com/prometheus/procfs: the package is linked
// into comet and flood, whose every process (master and workers, coordinator and children) is the same binary and
// pays a library's package initialisation. Measured on an idle comet -procs 11 (docs/interfaces.md): procfs v0.23.0
// adds ≈ 220 kB PSS per process, 2.6 MB Σ PSS, +13 B/conn at 200k connections (+6 %, over bench-mem's 5 % budget).
// A Reader reuses one buffer, so the monitor's per-second sampling of ~55 processes does not allocate beyond the
// path string.
package procmem

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// ClockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const ClockTicks = 100

// PageSize is the unit of the "mem" field of /proc/net/sockstat.
const PageSize = 4096

// ErrFormat reports a /proc file whose content does not look as expected.
var ErrFormat = errors.New("procmem: unexpected format")

// MemInfo holds the /proc/meminfo fields the lab reports, in bytes.
type MemInfo struct {
	MemTotal     uint64
	MemAvailable uint64
	Slab         uint64
}

// SockStat holds the TCP line of /proc/net/sockstat (per network namespace).
type SockStat struct {
	TCPInuse  uint64
	TCPOrphan uint64
	TCPTW     uint64
	TCPAlloc  uint64
	TCPMem    uint64 // pages of PageSize bytes
}

// Reader reads /proc files into a reused buffer. It is not safe for concurrent use;
// the package-level functions share a pool of Readers and are.
type Reader struct {
	// Root is the proc mount point; empty means "/proc". Tests point it at fixtures.
	Root string
	buf  []byte
}

func (r *Reader) root() string {
	if r.Root == "" {
		return "/proc"
	}
	return r.Root
}

// Rollup returns the process's proportional and resident set sizes in bytes from
// /proc/<pid>/smaps_rollup.
func (r *Reader) Rollup(pid int) (pss, rss uint64, err error) {
	b, err := r.read(r.root() + "/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0, err
	}
	return ParseRollup(b)
}

// CPUTicks returns utime+stime of the process in ClockTicks units from /proc/<pid>/stat.
func (r *Reader) CPUTicks(pid int) (uint64, error) {
	b, err := r.read(r.root() + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return ParseStatTicks(b)
}

// Meminfo reads <root>/meminfo.
func (r *Reader) Meminfo() (MemInfo, error) {
	b, err := r.read(r.root() + "/meminfo")
	if err != nil {
		return MemInfo{}, err
	}
	return ParseMeminfo(b)
}

// Sockstat reads a sockstat file: /proc/net/sockstat for the caller's network
// namespace or /proc/<pid>/net/sockstat for the namespace of another process.
func (r *Reader) Sockstat(path string) (SockStat, error) {
	b, err := r.read(path)
	if err != nil {
		return SockStat{}, err
	}
	return ParseSockstat(b)
}

// SumRollup adds PSS and RSS over pids. Processes that exit between listing and
// reading are skipped (they hold no memory any more); other errors are returned.
func (r *Reader) SumRollup(pids []int) (pss, rss uint64, err error) {
	for _, pid := range pids {
		p, s, err := r.Rollup(pid)
		if IsGone(err) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		pss += p
		rss += s
	}
	return pss, rss, nil
}

// IsGone reports whether err means the process no longer exists.
func IsGone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// read loads the whole file with raw syscalls into r.buf (proc files report size 0,
// so the buffer grows until a read returns EOF).
func (r *Reader) read(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	if cap(r.buf) == 0 {
		r.buf = make([]byte, 0, 4096)
	}
	b := r.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	r.buf = b
	return b, nil
}

// ParseRollup extracts Pss and Rss (kB in the file) as bytes.
func ParseRollup(b []byte) (pss, rss uint64, err error) {
	var havePss, haveRss bool
	for line := range lines(b) {
		if v, ok := kbField(line, "Pss:"); ok {
			pss, havePss = v, true
		} else if v, ok := kbField(line, "Rss:"); ok {
			rss, haveRss = v, true
		}
	}
	if !havePss || !haveRss {
		return 0, 0, fmt.Errorf("%w: smaps_rollup without Pss/Rss", ErrFormat)
	}
	return pss, rss, nil
}

// StatField returns field n (numbered from 1 as in proc(5): 1 pid, 2 comm, 3 state, 4 ppid, 5 pgrp, 14 utime,
// 15 stime) of a /proc/<pid>/stat line, for n >= 3. The comm field may contain spaces and parentheses, so fields
// are counted after its last ')'. The result aliases b; nothing is allocated.
func StatField(b []byte, n int) ([]byte, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("%w: stat without comm", ErrFormat)
	}
	if n < 3 {
		return nil, fmt.Errorf("%w: stat field %d is not after comm", ErrFormat, n)
	}
	idx := 3 // the field after ')' is state
	for f := range bytes.FieldsSeq(b[i+1:]) {
		if idx == n {
			return f, nil
		}
		idx++
	}
	return nil, fmt.Errorf("%w: stat too short for field %d", ErrFormat, n)
}

// StatInt is StatField parsed as a non-negative integer.
func StatInt(b []byte, n int) (uint64, error) {
	f, err := StatField(b, n)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(f), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stat field %d: %v", ErrFormat, n, err)
	}
	return v, nil
}

// ParseStatTicks returns utime+stime (fields 14 and 15) of a /proc/<pid>/stat line.
func ParseStatTicks(b []byte) (uint64, error) {
	utime, err := StatInt(b, 14)
	if err != nil {
		return 0, err
	}
	stime, err := StatInt(b, 15)
	if err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// ParseMeminfo extracts MemTotal, MemAvailable and Slab as bytes.
func ParseMeminfo(b []byte) (MemInfo, error) {
	var m MemInfo
	var found int
	for line := range lines(b) {
		if v, ok := kbField(line, "MemTotal:"); ok {
			m.MemTotal = v
			found |= 1
		} else if v, ok := kbField(line, "MemAvailable:"); ok {
			m.MemAvailable = v
			found |= 2
		} else if v, ok := kbField(line, "Slab:"); ok {
			m.Slab = v
			found |= 4
		}
	}
	if found != 7 {
		return MemInfo{}, fmt.Errorf("%w: meminfo without MemTotal/MemAvailable/Slab", ErrFormat)
	}
	return m, nil
}

// ParseSockstat extracts the "TCP:" line: inuse, orphan, tw, alloc, mem.
func ParseSockstat(b []byte) (SockStat, error) {
	for line := range lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("TCP:"))
		if !ok {
			continue
		}
		var s SockStat
		var key []byte
		var seen int
		for f := range bytes.FieldsSeq(rest) {
			if key == nil {
				key = f
				continue
			}
			v, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return SockStat{}, fmt.Errorf("%w: sockstat TCP %s: %v", ErrFormat, key, err)
			}
			switch string(key) {
			case "inuse":
				s.TCPInuse, seen = v, seen|1
			case "orphan":
				s.TCPOrphan, seen = v, seen|2
			case "tw":
				s.TCPTW, seen = v, seen|4
			case "alloc":
				s.TCPAlloc, seen = v, seen|8
			case "mem":
				s.TCPMem, seen = v, seen|16
			}
			key = nil
		}
		if seen != 31 {
			return SockStat{}, fmt.Errorf("%w: sockstat TCP line incomplete", ErrFormat)
		}
		return s, nil
	}
	return SockStat{}, fmt.Errorf("%w: sockstat without TCP line", ErrFormat)
}

// kbField parses "<name>   123 kB" into bytes.
func kbField(line []byte, name string) (uint64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(name))
	if !ok {
		return 0, false
	}
	rest = bytes.TrimSpace(rest)
	rest = bytes.TrimSpace(bytes.TrimSuffix(rest, []byte("kB")))
	v, err := strconv.ParseUint(string(rest), 10, 64)
	if err != nil {
		return 0, false
	}
	return v * 1024, true
}

// lines iterates over b split at '\n' without allocating.
func lines(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				yield(b)
				return
			}
			if !yield(b[:i]) {
				return
			}
			b = b[i+1:]
		}
	}
}

var pool = sync.Pool{New: func() any { return new(Reader) }}

func withReader[T any](f func(r *Reader) (T, error)) (T, error) {
	r := pool.Get().(*Reader)
	defer pool.Put(r)
	return f(r)
}

// Rollup returns PSS and RSS in bytes of one process.
func Rollup(pid int) (pss, rss uint64, err error) {
	r := pool.Get().(*Reader)
	defer pool.Put(r)
	return r.Rollup(pid)
}

// SumRollup adds PSS and RSS over pids, skipping processes that have exited.
func SumRollup(pids []int) (pss, rss uint64, err error) {
	r := pool.Get().(*Reader)
	defer pool.Put(r)
	return r.SumRollup(pids)
}

// CPUTicks returns utime+stime of a process in ClockTicks units.
func CPUTicks(pid int) (uint64, error) {
	return withReader(func(r *Reader) (uint64, error) { return r.CPUTicks(pid) })
}

// Meminfo reads /proc/meminfo.
func Meminfo() (MemInfo, error) {
	return withReader(func(r *Reader) (MemInfo, error) { return r.Meminfo() })
}

// Sockstat reads a sockstat file (see Reader.Sockstat).
func Sockstat(path string) (SockStat, error) {
	return withReader(func(r *Reader) (SockStat, error) { return r.Sockstat(path) })
}
