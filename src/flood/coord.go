package flood

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/comet-lab/comet-lab/src/lib/procmem"
)

// Exit codes.
const (
	ExitPassed = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// stopGrace is how long children get to send their final report after SIGTERM.
const stopGrace = 15 * time.Second

// Main runs the flood binary with os.Args[1:]; it returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == ChildArg {
		if err := RunChild(stdin, stdout); err != nil {
			fmt.Fprintln(stderr, "flood child:", err)
			return ExitFailed
		}
		return ExitPassed
	}
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitUsage
	}
	if err != nil {
		fmt.Fprintln(stderr, "flood:", err)
		return ExitUsage
	}
	if err := checkSources(cfg.srcs); err != nil {
		fmt.Fprintf(stderr, "flood: -src: %v\n", err)
		return ExitUsage
	}
	var out io.Writer
	if cfg.Out != "" {
		f, err := os.Create(cfg.Out)
		if err != nil {
			fmt.Fprintf(stderr, "flood: -out: %v\n", err)
			return ExitUsage
		}
		defer f.Close()
		out = f
	}
	co := &coordinator{cfg: cfg, exe: "/proc/self/exe", out: out, stdout: stdout, stderr: stderr,
		log: logrus.New()}
	co.log.SetOutput(stderr)
	passed, msg := co.run()
	if co.liveProgress {
		fmt.Fprintln(stderr)
	}
	if passed {
		co.log.Info("flood passed: " + msg)
		return ExitPassed
	}
	co.log.Error("flood failed: " + msg)
	return ExitFailed
}

type childProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	last    ChildReport
	gotLast bool
	final   bool
	exited  bool
	exitErr error
}

type childEvent struct {
	idx    int
	report *ChildReport
	exit   bool
	err    error
}

type coordinator struct {
	cfg    *Config
	exe    string
	out    io.Writer
	stdout io.Writer
	stderr io.Writer
	log    *logrus.Logger

	children     []*childProc
	events       chan childEvent
	start        time.Time
	rampDone     time.Time
	peak         int
	minAfterRamp int
	liveProgress bool
	lastPlain    time.Time
	pss          uint64
	// The children's histograms, summed as their reports arrive (each report carries the counts since the
	// previous one).
	hold *HoldHist
	push *LatHist
}

func (co *coordinator) run() (passed bool, msg string) {
	cfg := co.cfg
	co.events = make(chan childEvent, 64)
	co.hold, co.push = NewHoldHist(), NewLatHist()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)
	progress := cfg.Progress
	if progress == "auto" {
		progress = "plain"
		if f, ok := co.stderr.(*os.File); ok && isTerminal(f) {
			progress = "on"
		}
	}
	co.liveProgress = progress == "on"
	if !co.waitForStart(sigs) {
		return false, "interrupted before -start-at"
	}
	co.log.Infof("flood: %d conns to %s from %d source addresses, ports %s, %d procs, rate %v/s",
		cfg.Conns, cfg.Target, len(cfg.srcs), cfg.Ports, cfg.Procs, cfg.Rate)

	var failures []string
	for _, p := range cfg.Plans() {
		if err := co.spawn(p); err != nil {
			failures = append(failures, fmt.Sprintf("starting child %d: %v", p.Proc, err))
			break
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rampTimeout := time.NewTimer(cfg.RampTimeout)
	defer rampTimeout.Stop()
	var holdDone <-chan time.Time
	stopReason := ""
	for len(failures) == 0 && stopReason == "" {
		select {
		case ev := <-co.events:
			if f := co.handle(ev); f != "" {
				failures = append(failures, f)
			}
			if est := co.established(); co.rampDone.IsZero() && est >= cfg.Conns {
				co.rampDone = time.Now()
				co.minAfterRamp = est
				co.log.Infof("flood: ramp done: %d established after %.1fs", est, time.Since(co.start).Seconds())
				if cfg.Duration > 0 {
					holdDone = time.After(cfg.Duration)
				}
				rampTimeout.Stop()
			}
		case <-tick.C:
			co.samplePSS()
			line := co.line()
			co.writeOut(line)
			co.progress(progress, line)
		case <-rampTimeout.C:
			failures = append(failures, fmt.Sprintf("ramp timed out after %v", cfg.RampTimeout))
		case <-holdDone:
			stopReason = "duration"
		case s := <-sigs:
			stopReason = s.String()
			co.log.Infof("flood: %v: stopping", s)
		}
	}
	failures = append(failures, co.stopChildren()...)
	final := co.finalLine(failures)
	co.writeOut(final)
	co.progress(progress, final.FloodLine)
	return final.Passed, final.Message
}

func (co *coordinator) spawn(p Plan) error {
	cmd := exec.Command(co.exe, ChildArg)
	cmd.Stderr = co.stderr
	// The child dies with us even if we are SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	b, _ := json.Marshal(p)
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("sending plan: %w", err)
	}
	idx := len(co.children)
	co.children = append(co.children, &childProc{cmd: cmd, stdin: stdin})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20) // a final report with many push seqs is large
		for sc.Scan() {
			var r ChildReport
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				co.events <- childEvent{idx: idx, err: fmt.Errorf("bad report line: %v", err)}
				continue
			}
			co.events <- childEvent{idx: idx, report: &r}
		}
		co.events <- childEvent{idx: idx, exit: true, err: cmd.Wait()}
	}()
	return nil
}

// handle applies one child event; it returns a failure description when the child failed.
func (co *coordinator) handle(ev childEvent) string {
	ch := co.children[ev.idx]
	switch {
	case ev.report != nil:
		if ch.final {
			return ""
		}
		ch.last, ch.gotLast, ch.final = *ev.report, true, ev.report.Final
		co.addHists(ch)
		if ev.report.Fatal != "" {
			return fmt.Sprintf("child %d failed: %s", ev.idx, ev.report.Fatal)
		}
	case ev.exit:
		ch.exited, ch.exitErr = true, ev.err
		if !ch.final {
			return fmt.Sprintf("child %d exited before its final report: %v", ev.idx, ev.err)
		}
		if ev.err != nil {
			return fmt.Sprintf("child %d: %v", ev.idx, ev.err)
		}
	case ev.err != nil:
		return fmt.Sprintf("child %d: %v", ev.idx, ev.err)
	}
	return ""
}

// addHists moves the histogram counts of ch's latest report (those since its previous report) into the run's.
func (co *coordinator) addHists(ch *childProc) {
	r := &ch.last
	if err := co.hold.AddBuckets(r.HoldHist); err != nil {
		co.log.Warnf("flood: child %d: %v", r.Proc, err)
	}
	if err := co.push.AddBuckets(r.PushHist); err != nil {
		co.log.Warnf("flood: child %d: %v", r.Proc, err)
	}
	r.HoldHist, r.PushHist = nil, nil
}

// stopChildren sends SIGTERM, closes stdin and waits for every child's final report and exit.
func (co *coordinator) stopChildren() (failures []string) {
	for _, ch := range co.children {
		if !ch.exited {
			ch.cmd.Process.Signal(unix.SIGTERM)
			ch.stdin.Close()
		}
	}
	deadline := time.After(stopGrace)
	for {
		running := 0
		for _, ch := range co.children {
			if !ch.exited {
				running++
			}
		}
		if running == 0 {
			return failures
		}
		select {
		case ev := <-co.events:
			if f := co.handle(ev); f != "" {
				failures = append(failures, f)
			}
		case <-deadline:
			for i, ch := range co.children {
				if !ch.exited {
					ch.cmd.Process.Kill()
					// A child that sent its final report has counted everything; it was only slow closing its
					// sockets (a loaded machine closing hundreds of thousands of them), which exit does for it.
					if !ch.final {
						failures = append(failures, fmt.Sprintf("child %d did not stop within %v", i, stopGrace))
					}
				}
			}
			// Collect the exits of the killed children so their reader goroutines finish.
			for running > 0 {
				if ev := <-co.events; ev.exit {
					co.children[ev.idx].exited = true
					running--
				}
			}
			return failures
		}
	}
}

// established sums the children's latest established counts and tracks the peak and the post-ramp minimum.
func (co *coordinator) established() int {
	est := 0
	for _, ch := range co.children {
		est += ch.last.Established
	}
	co.peak = max(co.peak, est)
	if !co.rampDone.IsZero() {
		co.minAfterRamp = min(co.minAfterRamp, est)
	}
	return est
}

func (co *coordinator) samplePSS() {
	var pids []int
	for _, ch := range co.children {
		if !ch.exited {
			pids = append(pids, ch.cmd.Process.Pid)
		}
	}
	if len(pids) == 0 {
		return
	}
	if pss, _, err := procmem.SumRollup(pids); err == nil {
		co.pss = pss
	}
}

// waitForStart holds the run until -start-at (the lab gives every client host the same moment, so no client's
// ramp starts seconds after another's), then sets the start all elapsed times count from. False: a signal came.
func (co *coordinator) waitForStart(sigs <-chan os.Signal) bool {
	if wait := time.Until(time.Unix(0, int64(co.cfg.StartAt*1e9))); co.cfg.StartAt > 0 && wait > 0 {
		co.log.Infof("flood: waiting %.1f s for -start-at %.3f", wait.Seconds(), co.cfg.StartAt)
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-sigs:
			return false
		}
	} else if co.cfg.StartAt > 0 {
		co.log.Warnf("flood: started %.1f s after -start-at %.3f", -wait.Seconds(), co.cfg.StartAt)
	}
	co.start = time.Now()
	return true
}
