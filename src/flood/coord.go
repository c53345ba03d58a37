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
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/comet-lab/comet-lab/src/lib/procmem"
	"github.com/comet-lab/comet-lab/src/lib/schema"
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
}

func (co *coordinator) run() (passed bool, msg string) {
	cfg := co.cfg
	co.start = time.Now()
	co.events = make(chan childEvent, 64)
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

// agg is the sum over the children's latest reports.
type agg struct {
	ChildReport
	hold       *HoldHist
	push       *LatHist
	sawAnswers bool // some child reported MinAnswers
}

func (co *coordinator) aggregate() agg {
	a := agg{ChildReport: ChildReport{ConnectErrors: map[string]uint64{}}, hold: NewHoldHist(), push: NewLatHist()}
	for _, ch := range co.children {
		r := &ch.last
		if !ch.gotLast {
			continue
		}
		a.Established += r.Established
		a.Connecting += r.Connecting
		a.Responses += r.Responses
		a.Non200 += r.Non200
		a.Reconnects += r.Reconnects
		a.ClosedByServer += r.ClosedByServer
		a.ProtocolErrors += r.ProtocolErrors
		a.PortSkips += r.PortSkips
		a.PushReceived += r.PushReceived
		a.PushSeqsDropped += r.PushSeqsDropped
		for k, v := range r.ConnectErrors {
			a.ConnectErrors[k] += v
		}
		if r.HoldCount > 0 {
			if a.HoldCount == 0 || r.HoldMinMs < a.HoldMinMs {
				a.HoldMinMs = r.HoldMinMs
			}
			a.HoldMaxMs = max(a.HoldMaxMs, r.HoldMaxMs)
		}
		a.HoldCount += r.HoldCount
		a.HoldSumMs += r.HoldSumMs
		if err := a.hold.Merge(r.HoldHist); err != nil {
			co.log.Warnf("flood: child %d: %v", r.Proc, err)
		}
		if err := a.push.Merge(r.PushHist); err != nil {
			co.log.Warnf("flood: child %d: %v", r.Proc, err)
		}
		if r.AnsweredConns > 0 {
			if !a.sawAnswers || r.MinAnswers < a.MinAnswers {
				a.MinAnswers = r.MinAnswers
			}
			a.sawAnswers = true
		}
		if r.PushPerSeq != nil {
			if a.PushPerSeq == nil {
				a.PushPerSeq = map[uint64]uint64{}
			}
			for k, v := range r.PushPerSeq {
				a.PushPerSeq[k] += v
			}
		}
	}
	return a
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

func (co *coordinator) lineFrom(a agg) schema.FloodLine {
	now := time.Now()
	l := schema.FloodLine{
		T: float64(now.UnixNano()) / 1e9, ElapsedS: now.Sub(co.start).Seconds(), Target: co.cfg.Target,
		ConnsTarget: co.cfg.Conns, Established: a.Established, Connecting: a.Connecting,
		ConnectErrors: a.ConnectErrors, Responses: a.Responses, Reconnects: a.Reconnects,
		ClosedByServer: a.ClosedByServer, PushReceived: a.PushReceived,
		PushP50Ms: float64(a.push.Quantile(0.5)), PushP99Ms: float64(a.push.Quantile(0.99)), PushMaxMs: float64(a.push.Quantile(1)),
		Procs: co.cfg.Procs, PeakEstablished: co.peak, Non200: a.Non200, ProtocolErrors: a.ProtocolErrors,
		PortSkips: a.PortSkips, PSSBytes: co.pss,
	}
	if a.HoldCount > 0 {
		l.HoldMinS = float64(a.HoldMinMs) / 1000
		l.HoldMaxS = float64(a.HoldMaxMs) / 1000
		l.HoldAvgS = float64(a.HoldSumMs) / float64(a.HoldCount) / 1000
	}
	if !co.rampDone.IsZero() {
		l.RampS = co.rampDone.Sub(co.start).Seconds()
	}
	return l
}

func (co *coordinator) line() schema.FloodLine { return co.lineFrom(co.aggregate()) }

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

// finalLine judges the run: passed = peak established == conns, established at the end == conns, no failures.
func (co *coordinator) finalLine(failures []string) schema.FloodFinal {
	co.established() // the final reports may change the peak
	a := co.aggregate()
	l := co.lineFrom(a)
	conns := co.cfg.Conns
	var short []string
	if co.peak < conns {
		short = append(short, fmt.Sprintf("established peaked at %d of -conns %d", co.peak, conns))
	} else if a.Established < conns {
		short = append(short, fmt.Sprintf("established fell to %d of -conns %d by the end", a.Established, conns))
	}
	for i, ch := range co.children {
		if !ch.final && len(failures) == 0 {
			short = append(short, fmt.Sprintf("child %d sent no final report", i))
		}
	}
	short = append(failures, short...)
	passed := len(short) == 0
	var msg string
	if passed {
		msg = fmt.Sprintf("established %d of %d (ramp %.1fs) and held to the end; %d responses, %d reconnects",
			a.Established, conns, l.RampS, a.Responses, a.Reconnects)
	} else {
		msg = strings.Join(short, "; ")
		if top := topErrors(a.ConnectErrors, 3, true); top != "" {
			msg += "; top connect errors: " + top
		} else if co.peak < conns {
			msg += "; no connect errors: is -rate too low for -ramp-timeout, or -inflight too small for the RTT?"
		}
	}
	f := schema.FloodFinal{FloodLine: l, Final: true, Passed: passed, Message: msg, HoldHist: a.hold.Export(),
		PushHistMs: a.push.Export(), PushPerSeq: a.PushPerSeq, MinEstablishedPst: co.minAfterRamp,
		MinAnswersPerConn: a.MinAnswers}
	if f.PushPerSeq == nil {
		f.PushPerSeq = map[uint64]uint64{}
	}
	if co.peak > 0 {
		f.PSSPerConn = float64(co.pss) / float64(co.peak)
	}
	return f
}

func (co *coordinator) writeOut(v any) {
	if co.out == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		co.log.Errorf("flood: encoding output line: %v", err)
		return
	}
	if _, err := co.out.Write(append(b, '\n')); err != nil {
		co.log.Errorf("flood: writing -out: %v", err)
	}
}

// progress prints the live line (on), a plain line every 5 s (plain) or nothing (off).
func (co *coordinator) progress(mode string, l schema.FloodLine) {
	text := fmt.Sprintf("flood %6.1fs established %d/%d connecting %d responses %d reconnects %d",
		l.ElapsedS, l.Established, l.ConnsTarget, l.Connecting, l.Responses, l.Reconnects)
	if top := topErrors(l.ConnectErrors, 3, false); top != "" {
		text += " errors " + top
	}
	if l.PushReceived > 0 {
		text += fmt.Sprintf(" push %d p50 %gms p99 %gms", l.PushReceived, l.PushP50Ms, l.PushP99Ms)
	}
	switch mode {
	case "on":
		fmt.Fprintf(co.stderr, "\r\033[K%s", text)
	case "plain":
		if time.Since(co.lastPlain) >= 5*time.Second {
			co.lastPlain = time.Now()
			fmt.Fprintln(co.stderr, text)
		}
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
