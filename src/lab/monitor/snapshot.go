package monitor

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// topMaxPids is the number of -p pids procps top accepts.
const topMaxPids = 20

// Snapshot writes top.txt, sockstat.txt and free.txt into dir, replacing earlier
// ones atomically. A missing tool leaves a one-line note instead of failing.
func Snapshot(ctx context.Context, dir string, pids []int, sockstatPath string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	topArgs := []string{"-b", "-n1"}
	if len(pids) > 0 {
		list := make([]string, 0, min(len(pids), topMaxPids))
		for _, pid := range pids[:min(len(pids), topMaxPids)] {
			list = append(list, strconv.Itoa(pid))
		}
		topArgs = append(topArgs, "-p", strings.Join(list, ","))
	}
	sock, err := os.ReadFile(sockstatPath)
	if err != nil {
		sock = fmt.Appendf(nil, "reading %s: %v\n", sockstatPath, err)
	}
	files := map[string][]byte{
		"top.txt":      command(ctx, "top", topArgs...),
		"free.txt":     command(ctx, "free", "-m"),
		"sockstat.txt": sock,
	}
	for name, content := range files {
		if err := writeAtomic(filepath.Join(dir, name), content); err != nil {
			return err
		}
	}
	return nil
}

func command(ctx context.Context, name string, args ...string) []byte {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// top refuses to run without a terminal type in some environments.
	cmd.Env = append(os.Environ(), "TERM=dumb", "COLUMNS=200")
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(&out, "\n%s %s: %v\n", name, strings.Join(args, " "), err)
	}
	return out.Bytes()
}

func writeAtomic(path string, content []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// csvWriter is encoding/csv with the error check folded into write.
type csvWriter struct{ w *csv.Writer }

func newCSV(w io.Writer) *csvWriter { return &csvWriter{w: csv.NewWriter(w)} }

func (c *csvWriter) write(rec []string) error {
	if err := c.w.Write(rec); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}
