package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/lab/plan"
	"github.com/comet-lab/comet-lab/src/lib/adminclient"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/comet-lab/comet-lab/src/lib/schema"
	"golang.org/x/sys/unix"
)

// Options are the settings both benchmarks share.
type Options struct {
	Comet     string        // path of the comet binary
	Flood     string        // path of the flood binary
	Engine    string        // netpoll or goroutine
	Procs     int           // comet workers; 0 = plan.Derive(…).Procs for conns under RLIMIT_NOFILE
	Conns     int           // connections flood opens
	RampLimit time.Duration // longest wait for all connections to be up (and, in churn, down)
	CometArgs []string      // extra comet flags (hold times ...)
	WorkDir   string        // logs and flood output; empty = a temp dir removed afterwards
	Progress  io.Writer     // progress lines (nil = none)
}

func (o *Options) validate() error {
	if o.Conns < 1 {
		return fmt.Errorf("-conns %d: want >= 1", o.Conns)
	}
	if o.Engine != "netpoll" && o.Engine != "goroutine" {
		return fmt.Errorf("-engine %q: want netpoll or goroutine", o.Engine)
	}
	if o.Procs < 0 {
		return fmt.Errorf("-procs %d: want >= 1 or auto", o.Procs)
	}
	for name, path := range map[string]string{"comet": o.Comet, "flood": o.Flood} {
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			return fmt.Errorf("%s binary %q not found (run make build)", name, path)
		}
	}
	if o.RampLimit <= 0 {
		o.RampLimit = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Procs == 0 {
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
		}
		p, err := plan.Derive(plan.Input{Conns: o.Conns, Clients: 1, AddrsPerClient: sourceCount(o.Conns),
			Nofile: int(lim.Cur), MaxConnsPerSource: portsPerSource})
		if err != nil {
			return err
		}
		o.Procs = p.Procs
	}
	return nil
}

// prepare validates the options (deriving Procs) and returns the directory for logs with its cleanup.
func (o *Options) prepare() (string, func(), error) {
	if err := o.validate(); err != nil {
		return "", nil, err
	}
	return o.workDir()
}

// workDir returns the directory for logs and a cleanup that removes it when bench made it.
func (o *Options) workDir() (string, func(), error) {
	if o.WorkDir != "" {
		return o.WorkDir, func() {}, os.MkdirAll(o.WorkDir, 0o755)
	}
	dir, err := os.MkdirTemp("", "comet-bench-")
	return dir, func() { os.RemoveAll(dir) }, err
}

// process is a started child bench owns (killed only by its pid).
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func start(name, logPath string, bin string, args ...string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		logf.Close()
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports a process that ended on its own, with the end of its log.
func (p *process) exited() error {
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Errorf("%s exited early (%v); log %s:\n%s", p.name, err, p.log, tail(p.log, 1500))
	default:
		return nil
	}
}

// errKilled marks a process that had to be killed after its SIGTERM grace.
var errKilled = errors.New("killed")

// stop sends SIGTERM and waits up to grace, then SIGKILL.
func (p *process) stop(grace time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(grace):
		p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return fmt.Errorf("%s did not stop within %v after SIGTERM: %w", p.name, grace, errKilled)
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// comet is a running comet with its admin address.
type comet struct {
	*process
	listen string
	admin  string
	client *http.Client
}

func startComet(o *Options, dir string) (*comet, error) {
	port, err := netloop.FreePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := netloop.FreePort()
	if err != nil {
		return nil, err
	}
	c := &comet{
		listen: fmt.Sprintf("127.0.0.1:%d", port),
		admin:  fmt.Sprintf("127.0.0.1:%d", adminPort),
		client: &http.Client{Timeout: 10 * time.Second},
	}
	args := append([]string{"-engine", o.Engine, "-procs", strconv.Itoa(o.Procs), "-listen", c.listen, "-admin", c.admin},
		o.CometArgs...)
	c.process, err = start("comet", filepath.Join(dir, "comet.log"), o.Comet, args...)
	if err != nil {
		return nil, err
	}
	// Up when /stats answers with every worker running.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.stats()
		if err == nil && len(st.Workers) == o.Procs && allRunning(st) {
			return c, nil
		}
		if err := c.exited(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			c.stop(5 * time.Second)
			return nil, fmt.Errorf("comet not ready within 20s (last /stats error: %v); log %s:\n%s", err, c.log, tail(c.log, 1500))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func allRunning(st schema.Stats) bool {
	for _, w := range st.Workers {
		if w.PID <= 0 {
			return false
		}
	}
	return true
}

func (c *comet) stats() (schema.Stats, error) {
	return adminclient.Stats(c.client, "http://"+c.admin, "")
}

// waitConns polls /stats until conns == want, printing progress; it fails when flood dies or limit passes.
func (c *comet) waitConns(ctx context.Context, o *Options, want uint64, flood *process, what string) (time.Duration, error) {
	start := time.Now()
	lastPrint := start
	var last schema.Stats
	for {
		st, err := c.stats()
		if err == nil {
			last = st
			if st.Conns == want {
				return time.Since(start), nil
			}
		}
		if err := c.exited(); err != nil {
			return 0, err
		}
		if flood != nil {
			if err := flood.exited(); err != nil {
				return 0, err
			}
		}
		if time.Since(start) > o.RampLimit {
			return 0, fmt.Errorf("%s: comet has %d conns after %v, want %d (raise -ramp-limit or see %s)",
				what, last.Conns, o.RampLimit, want, filepath.Dir(c.log))
		}
		if time.Since(lastPrint) >= 2*time.Second {
			fmt.Fprintf(o.Progress, "%s: %d/%d conns after %.0fs\n", what, last.Conns, want, time.Since(start).Seconds())
			lastPrint = time.Now()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// pids is comet's master and workers, as the process tree shows them.
func (c *comet) pids() ([]int, error) { return procTree("/proc", c.pid()) }

// startFlood opens o.Conns connections to c and keeps them until stopped; extra are more flood flags (-push).
func startFlood(o *Options, c *comet, dir, tag string, extra ...string) (*process, error) {
	src, err := SourcesFor(o.Conns)
	if err != nil {
		return nil, err
	}
	args := append([]string{"-target", c.listen, "-src", src, "-conns", strconv.Itoa(o.Conns), "-rate", "0", "-duration", "0",
		"-ramp-timeout", o.RampLimit.String(),
		"-progress", "off", "-out", filepath.Join(dir, "flood"+tag+".jsonl")}, extra...)
	return start("flood", filepath.Join(dir, "flood"+tag+".log"), o.Flood, args...)
}

// errJoin keeps the first error and adds cleanup errors after it.
func errJoin(first error, more ...error) error {
	errs := []error{first}
	errs = append(errs, more...)
	return errors.Join(errs...)
}

// cometArgsString is for reports: the comet flags bench added.
func cometArgsString(o *Options) string { return strings.Join(o.CometArgs, " ") }
