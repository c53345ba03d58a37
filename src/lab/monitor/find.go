package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/comet-lab/comet-lab/src/lib/procmem"
)

// Selector says which processes make up "comet". Exactly one field is set. The
// selection is re-evaluated at every sample because workers restart with new pids.
type Selector struct {
	Exe      string // processes whose /proc/<pid>/exe resolves to this binary (most robust)
	PGID     int    // processes in this process group
	PidsFile string // whitespace-separated pids, re-read every sample
	Match    string // processes whose /proc/<pid>/comm equals this name
	// TreeOf is a pid file: the process it names and all its descendants (nginx's master and its workers,
	// without any other nginx on the machine), re-read every sample.
	TreeOf string
}

// Validate checks that exactly one selector is set and resolves Exe to its real path.
func (s *Selector) Validate() error {
	n := 0
	for _, set := range []bool{s.Exe != "", s.PGID != 0, s.PidsFile != "", s.Match != "", s.TreeOf != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("exactly one of -exe, -pgid, -pids-from-file, -match, -tree-of is required")
	}
	if s.PGID < 0 {
		return fmt.Errorf("-pgid %d: must be positive", s.PGID)
	}
	if s.Exe != "" {
		// /proc/<pid>/exe is the resolved absolute path, so compare against the same.
		real, err := filepath.EvalSymlinks(s.Exe)
		if err != nil {
			return fmt.Errorf("-exe: %w", err)
		}
		abs, err := filepath.Abs(real)
		if err != nil {
			return fmt.Errorf("-exe: %w", err)
		}
		s.Exe = abs
	}
	return nil
}

// Find returns the sorted pids selected under procRoot (normally /proc), never
// including the calling process.
func (s Selector) Find(procRoot string) ([]int, error) {
	if s.PidsFile != "" {
		return s.pidsFromFile(procRoot)
	}
	if s.TreeOf != "" {
		return s.tree(procRoot)
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		if s.matches(dir) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// matches tests one /proc/<pid> directory; unreadable or vanished processes do not match.
func (s Selector) matches(dir string) bool {
	switch {
	case s.Exe != "":
		target, err := os.Readlink(filepath.Join(dir, "exe"))
		if err != nil {
			return false
		}
		// A binary replaced on disk while running reads back with this suffix.
		return strings.TrimSuffix(target, " (deleted)") == s.Exe
	case s.Match != "":
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		return err == nil && string(bytes.TrimSpace(comm)) == s.Match
	case s.PGID != 0:
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			return false
		}
		pgid, ok := statPGID(stat)
		return ok && pgid == s.PGID
	}
	return false
}

func (s Selector) pidsFromFile(procRoot string) ([]int, error) {
	b, err := os.ReadFile(s.PidsFile)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("%s: %q is not a pid", s.PidsFile, f)
		}
		// Listed processes that have exited are dropped, as with the other selectors.
		if _, err := os.Stat(filepath.Join(procRoot, f)); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// statPGID returns field 5 (pgrp) of /proc/<pid>/stat.
func statPGID(stat []byte) (int, bool) {
	pgid, err := procmem.StatInt(stat, 5)
	return int(pgid), err == nil
}

// tree returns the pid in s.TreeOf and its descendants that are alive under procRoot.
func (s Selector) tree(procRoot string) ([]int, error) {
	b, err := os.ReadFile(s.TreeOf)
	if err != nil {
		return nil, err
	}
	root, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || root <= 0 {
		return nil, fmt.Errorf("%s: %q is not a pid", s.TreeOf, strings.TrimSpace(string(b)))
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	alive := false
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if pid == root {
			alive = true
		}
		if ppid, err := procmem.StatInt(stat, 4); err == nil {
			children[int(ppid)] = append(children[int(ppid)], pid)
		}
	}
	if !alive {
		return nil, nil
	}
	pids := []int{root}
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	slices.Sort(pids)
	return pids, nil
}
