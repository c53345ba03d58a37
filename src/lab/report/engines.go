package report

// The engines side by side in results/README.md: comet's netpoll and goroutine engines and nginx + nchan.

import (
	"fmt"
	"math"
	"strings"
)

// Engines is the order of the side-by-side columns; "nchan" is nginx with the nchan module (ENGINE=nchan).
var Engines = []string{"netpoll", "goroutine", "nchan"}

// nchanLimits says what nchan does not do that comet does: the report says so rather than fake it.
var nchanLimits = []string{
	"one subscriber timeout (the lab uses the mean of HOLD_MIN and HOLD_MAX) instead of comet's uniform random hold in [HOLD_MIN, HOLD_MAX]; it answers an expired hold with 408 and no body where comet answers 200",
	"no per-subscriber id and no replay from a seq (comet's /sub?id=&since=): a subscriber names the last message it saw by Last-Modified and ETag, on the one channel every broadcast goes to",
	"no X-Oldest-Seq: a subscriber that falls behind nchan's message buffer is not told what it missed, so push_missed cannot count drops",
	"no sequence numbers or publish times of its own: the lab's publisher (nchanadmin) writes both into the message body, and a publish is answered at once rather than after the deliveries",
	"no count of deliveries on the server side (server_push_delivered stays empty): the clients' counts are the only ones",
}

// engineRow is one line of the side-by-side table: a figure of each engine's run, lower is better.
type engineRow struct {
	label string
	value func(Summary) *float64
	cell  func(*float64) string
}

var engineRows = []engineRow{
	{"user B/conn (Σ PSS ÷ conns)", func(s Summary) *float64 { return s.ServerUserBytesPerConn }, optInt},
	{"kernel B/socket", func(s Summary) *float64 { return s.KernelSlabBytesPerSocket }, optInt},
	{"CPU % while holding (100 % = one core)", func(s Summary) *float64 { return s.CometCPUPercentHold }, func(v *float64) string { return optFloat(v, 1, "") }},
	{"CPU µs per hold answer", func(s Summary) *float64 { return s.ServerCPUUsPerAnswer }, func(v *float64) string { return optFloat(v, 1, "") }},
	{"accept ramp (s, first connect to all conns up)", func(s Summary) *float64 { return s.AcceptRampSeconds }, func(v *float64) string { return optFloat(v, 2, "") }},
	{"broadcast delivery p99 (ms)", func(s Summary) *float64 { return s.BroadcastP99Ms }, optInt},
	{"broadcast delivery max (ms)", func(s Summary) *float64 { return s.BroadcastMaxMs }, optInt},
	{"CPU µs per push delivery", func(s Summary) *float64 { return s.ServerCPUUsPerDelivery }, func(v *float64) string { return optFloat(v, 1, "") }},
}

// comparisonRuns picks one run per engine: from the largest (then newest) set of runs made with one command apart
// from ENGINE (measured with the same parameters), each engine's newest passed run, else its newest failed one (a
// failure is a result too: the table marks it), when such a set holds two engines or more; else each engine's run
// with the lowest user B/conn, passed runs first. same says which.
func comparisonRuns(rows []IndexRow) (picked map[string]IndexRow, same bool) {
	groups := map[string]map[string]IndexRow{}
	var order []string
	for _, r := range rows { // newest first
		s := r.Summary
		if s.Command == "" || s.Engine == "" {
			continue
		}
		key := commandWithoutEngine(s.Command)
		if groups[key] == nil {
			groups[key] = map[string]IndexRow{}
			order = append(order, key)
		}
		if have, ok := groups[key][s.Engine]; !ok || (!have.Summary.Passed && s.Passed) {
			groups[key][s.Engine] = r
		}
	}
	best := ""
	for _, k := range order {
		if len(groups[k]) > len(groups[best]) {
			best = k
		}
	}
	if len(groups[best]) >= 2 {
		return groups[best], true
	}
	picked = map[string]IndexRow{}
	for _, e := range Engines {
		if r, ok := bestRun(rows, e); ok {
			picked[e] = r
		}
	}
	return picked, false
}

func commandWithoutEngine(cmd string) string {
	var words []string
	for _, w := range strings.Fields(cmd) {
		if !strings.HasPrefix(w, "ENGINE=") {
			words = append(words, w)
		}
	}
	return strings.Join(words, " ")
}

// enginesMarkdown renders the side-by-side section ("" with fewer than two engines).
func enginesMarkdown(rows []IndexRow) string {
	picked, same := comparisonRuns(rows)
	var engines []string
	for _, e := range Engines {
		if _, ok := picked[e]; ok {
			engines = append(engines, e)
		}
	}
	if len(engines) < 2 {
		return ""
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("\n## Engines side by side\n\n")
	if same {
		w("The newest runs made with one command apart from ENGINE (`%s`), so measured with the same parameters (passed runs preferred).\n\n",
			strings.ReplaceAll(commandWithoutEngine(picked[engines[0]].Summary.Command), "`", "'"))
	} else {
		var sums []Summary
		for _, e := range engines {
			sums = append(sums, picked[e].Summary)
		}
		w("Best (lowest) user bytes per connection of each engine%s; the runs' parameters differ.\n\n", passedNote(sums...))
	}
	w("| |%s best |\n|---|%s---|\n", " "+strings.Join(engines, " | ")+" |", strings.Repeat("---:|", len(engines)))
	cells := func(f func(Summary) string) string {
		var out []string
		for _, e := range engines {
			out = append(out, f(picked[e].Summary))
		}
		return strings.Join(out, " | ")
	}
	var dirs []string
	for _, e := range engines {
		d := cellText(picked[e].Dir)
		if !picked[e].Summary.Passed {
			d += " (**failed**: " + cellText(strings.Join(picked[e].Summary.FailureReasons, "; ")) + ")"
		}
		dirs = append(dirs, d)
	}
	w("| run | %s | |\n", strings.Join(dirs, " | "))
	w("| connections held | %s | |\n", cells(func(s Summary) string { return thousands(s.ConnsPeakHeld) }))
	for _, row := range engineRows {
		w("| %s | %s | %s |\n", row.label, cells(func(s Summary) string { return row.cell(row.value(s)) }), lowest(picked, engines, row.value))
	}
	if _, ok := picked["nchan"]; ok {
		w("\nnchan (nginx's module) cannot do what comet does in these respects, so the lab does not measure them for it:\n\n")
		for _, l := range nchanLimits {
			w("- %s.\n", l)
		}
	}
	var ratios []string
	if n, g := picked["netpoll"].Summary, picked["goroutine"].Summary; n.ServerUserBytesPerConn != nil && g.ServerUserBytesPerConn != nil {
		ratios = append(ratios, fmt.Sprintf("The goroutine engine uses %.2f× the user memory per connection of the netpoll engine.",
			*g.ServerUserBytesPerConn / *n.ServerUserBytesPerConn))
	}
	if x, n := picked["nchan"].Summary, picked["netpoll"].Summary; x.ServerUserBytesPerConn != nil && n.ServerUserBytesPerConn != nil {
		ratios = append(ratios, fmt.Sprintf("nginx + nchan uses %.2f× the user memory per connection of comet's netpoll engine.",
			*x.ServerUserBytesPerConn / *n.ServerUserBytesPerConn))
	}
	if len(ratios) > 0 {
		w("\n%s\n", strings.Join(ratios, "\n"))
	}
	return b.String()
}

// lowest names the engines with the lowest figure ("—" when fewer than two have one).
func lowest(picked map[string]IndexRow, engines []string, value func(Summary) *float64) string {
	min, have := math.Inf(1), 0
	for _, e := range engines {
		if v := value(picked[e].Summary); v != nil {
			have++
			min = math.Min(min, *v)
		}
	}
	if have < 2 {
		return "—"
	}
	var names []string
	for _, e := range engines {
		if v := value(picked[e].Summary); v != nil && *v == min {
			names = append(names, e)
		}
	}
	return strings.Join(names, ", ")
}
