// Package bench drives the built comet and flood binaries on loopback and turns what they do into the project's
// memory figures: bytes per held connection (bench mem) and whether memory and descriptors come back after many
// connect/disconnect cycles (bench churn).
package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/comet-lab/comet-lab/src/lib/procmem"
)

// portsPerSource is how many connections bench asks of one loopback source address: below the 64,512 usable
// ports so that ports other programs hold on 0.0.0.0 do not make the last connections fail.
const portsPerSource = 50000

// SourcesFor is flood's -src for conns connections: 127.0.0.2 upwards, one address per portsPerSource.
func SourcesFor(conns int) (string, error) {
	n := sourceCount(conns)
	if n > 253 {
		return "", fmt.Errorf("%d connections need %d loopback sources, more than 127.0.0.2-254", conns, n)
	}
	if n == 1 {
		return "127.0.0.2", nil
	}
	return fmt.Sprintf("127.0.0.2-%d", n+1), nil
}

// sourceCount is how many loopback sources conns connections need.
func sourceCount(conns int) int { return max((conns+portsPerSource-1)/portsPerSource, 1) }

// procTree returns root and all its descendants, read from procRoot (normally /proc).
func procTree(procRoot string, root int) ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		ppid, err := parsePPID(b)
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], pid)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree, nil
}

// parsePPID reads field 4 (ppid) of /proc/<pid>/stat.
func parsePPID(stat []byte) (int, error) {
	ppid, err := procmem.StatInt(stat, 4)
	return int(ppid), err
}

// fdCount is the number of open descriptors of pid.
func fdCount(procRoot string, pid int) (int, error) {
	entries, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(pid), "fd"))
	return len(entries), err
}

// threadCount is the Threads: line of /proc/<pid>/status.
func threadCount(procRoot string, pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			return strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	return 0, fmt.Errorf("pid %d: no Threads line in status", pid)
}
