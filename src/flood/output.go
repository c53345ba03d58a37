// Output: the children's reports summed into schema.FloodLine every second and schema.FloodFinal at the end,
// written to -out and summarised on the terminal.

package flood

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// agg is the sum over the children's latest reports; its histograms are the coordinator's running sums.
type agg struct {
	ChildReport
	hold       *HoldHist
	push       *LatHist
	sawAnswers bool // some child reported MinAnswers
}

func (co *coordinator) aggregate() agg {
	a := agg{ChildReport: ChildReport{ConnectErrors: map[string]uint64{}}, hold: co.hold, push: co.push}
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
		a.PushGaps += r.PushGaps
		a.PushMissed += r.PushMissed
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
		if r.AnsweredConns > 0 {
			if !a.sawAnswers || r.MinAnswers < a.MinAnswers {
				a.MinAnswers = r.MinAnswers
			}
			a.sawAnswers = true
		}
		if r.PushPerSeq != nil {
			if a.PushPerSeq == nil {
				a.PushPerSeq, a.PushMaxMsPerSeq = map[uint64]uint64{}, map[uint64]uint64{}
			}
			for k, v := range r.PushPerSeq {
				a.PushPerSeq[k] += v
			}
			for k, v := range r.PushMaxMsPerSeq {
				a.PushMaxMsPerSeq[k] = max(a.PushMaxMsPerSeq[k], v)
			}
		}
	}
	return a
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
		PortSkips: a.PortSkips, PSSBytes: co.pss, PushGaps: a.PushGaps, PushMissed: a.PushMissed,
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
		PushHistMs: a.push.Export(), PushPerSeq: a.PushPerSeq, PushMaxMsPerSeq: a.PushMaxMsPerSeq,
		MinEstablishedPst: co.minAfterRamp, MinAnswersPerConn: a.MinAnswers}
	if f.PushPerSeq == nil {
		f.PushPerSeq, f.PushMaxMsPerSeq = map[uint64]uint64{}, map[uint64]uint64{}
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
	if l.PushGaps > 0 {
		text += fmt.Sprintf(" gaps %d (%d seqs dropped by the server)", l.PushGaps, l.PushMissed)
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
