package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The C++ seed experiment this project re-does in Go: its published figures sit
// beside ours in every report.
const (
	seedHeld           = 1017147
	seedProcs          = 8
	seedResMiB         = 1244
	seedBytesPerConn   = 1282
	seedSockstatPages  = 404824
	seedConnsPerSecond = 1000
)

// Generate loads a run folder and writes summary.json, report.md and charts/ into it.
func Generate(dir string) (Summary, error) {
	in, err := Load(dir)
	if err != nil {
		return Summary{}, err
	}
	s := Summarize(in)
	charts, err := WriteCharts(in, s, filepath.Join(dir, "charts"))
	if err != nil {
		return s, err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return s, err
	}
	return s, os.WriteFile(filepath.Join(dir, "report.md"), Markdown(in, s, charts), 0o644)
}

// Markdown renders report.md.
func Markdown(in *Input, s Summary, charts []string) []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# comet-lab run %s\n\n", s.RunID)
	verdict := "**PASSED**"
	if !s.Passed {
		verdict = "**FAILED**"
	}
	w("%s — engine %s, inventory %s%s, started %s.\n\n", verdict, orDash(s.Engine), orDash(s.Inventory),
		virtualizationNote(s.ServerVirtualization), orDash(s.StartedUTC))

	w("| | this run | C++ seed |\n|---|---|---|\n")
	w("| connections held | %s of %s target (requests held at peak: %s) | %s |\n",
		thousands(s.ConnsPeakHeld), thousands(s.ConnsTarget), optInt(s.RequestsHeldAtPeak), thousands(seedHeld))
	w("| server processes | %s | %d |\n", optInt(s.Procs), seedProcs)
	ramp := "never reached the target"
	if s.RampSeconds != nil {
		ramp = fmt.Sprintf("%.1f s", *s.RampSeconds)
		if *s.RampSeconds > 0 && s.Clients > 0 {
			ramp += fmt.Sprintf(" (≈ %s conns/s per client, %d clients)", thousands(s.ConnsTarget / *s.RampSeconds / float64(s.Clients)), s.Clients)
		}
	}
	w("| ramp time | %s | ~%s conns/s per client |\n", ramp, thousands(seedConnsPerSecond))
	if starts := s.ClientStartOffsets(); starts != "" {
		w("| client start (each flood's first connect, after the earliest) | %s | — |\n", starts)
	}
	w("| user bytes/conn (Σ PSS ÷ conns at peak) | %s (marginal slope %s/conn; Σ PSS %s) | %s MiB RES ≈ %s B/conn |\n",
		optBytes(s.ServerUserBytesPerConn), optBytes(s.ServerUserSlopeBytesPerConn), optMiB(s.ServerPSSBytes),
		thousands(seedResMiB), thousands(seedBytesPerConn))
	w("| kernel bytes/socket (Slab growth ÷ %g sockets per conn) | %s | — |\n", s.SocketsPerConn, optBytes(s.KernelSlabBytesPerSocket))
	seedTCP := float64(seedSockstatPages) * 4096 / seedHeld
	w("| TCP buffer memory (sockstat mem at peak) | %s | %s pages (≈ %s B/conn) |\n",
		pagesCell(s.SockstatMemPages, s.ConnsPeakHeld), thousands(seedSockstatPages), thousands(seedTCP))
	w("| %s CPU %% while holding (100%% = one core) | %s | — |\n", serverName(s.Engine), optFloat(s.CometCPUPercentHold, 1, " %"))
	w("| %s CPU per hold answer / per push delivery | %s / %s | — |\n", serverName(s.Engine),
		optFloat(s.ServerCPUUsPerAnswer, 1, " µs"), optFloat(s.ServerCPUUsPerDelivery, 1, " µs"))
	w("| errors | connect %s%s, server %s | — |\n", thousands(s.ConnectErrors), kinds(s.ConnectErrorsByKind), optInt(s.ServerErrors))
	if s.PushRan {
		w("| push delivery | %s of %s over %d broadcasts; p50 %s, p99 %s, max %s | — |\n",
			optInt(s.BroadcastDelivered), optInt(s.BroadcastExpected), s.Broadcasts,
			optFloat(s.BroadcastP50Ms, -1, " ms"), optFloat(s.BroadcastP99Ms, -1, " ms"), optFloat(s.BroadcastMaxMs, -1, " ms"))
		if s.Engine == "nchan" {
			w("| push dropped by the server | not measurable: nchan tells a subscriber nothing of what it missed | — |\n")
		} else {
			w("| push dropped by comet (ring overrun, told with X-Oldest-Seq) | %s seqs in %s answers; comet wrote %s messages in all | — |\n",
				optInt(s.PushMissed), optInt(s.PushGaps), optInt(s.ServerPushDelivered))
		}
	}
	w("| pass/fail | %s | — |\n\n", verdict)
	if len(s.BroadcastRows) > 0 {
		w("Broadcasts, each owed to every connection held when it was sent; \"latest\" is the last subscriber's delivery\n")
		w("after the publish; comet's write is its publish call, until every worker had answered its held subscribers.\n\n")
		w("| # | sent | delivered of owed | latest delivery | comet write (held then) |\n|---:|---:|---|---:|---|\n")
		for i, r := range s.BroadcastRows {
			latest := "—"
			if r.LatestMs != nil {
				latest = fmt.Sprintf("%.1f s", *r.LatestMs/1000)
			}
			w("| %d | +%.1f s | %s of %s | %s | %.1f s (%s) |\n", i+1, r.SentOffsetS, thousands(r.Delivered), thousands(r.Owed),
				latest, r.CometWriteS, thousands(r.HeldAnswered))
		}
		w("\n")
	}
	if len(s.FailureReasons) > 0 {
		w("Failure reasons:\n\n")
		for _, r := range s.FailureReasons {
			w("- %s\n", r)
		}
		w("\n")
	}

	w("%s", scaleOutMarkdown(s))
	if s.Engine == "nchan" {
		w("## What nchan does not do\n\nThe server is nginx with the nchan module (ENGINE=nchan). Where comet does more, this run does not measure it:\n\n")
		for _, l := range nchanLimits {
			w("- %s.\n", l)
		}
		w("\n")
	}

	w("## Parameters\n\n| parameter | value |\n|---|---|\n")
	run := in.Run
	p := run.Params
	for _, kv := range [][2]string{
		{"run_id", run.RunID}, {"inventory", run.Inventory}, {"engine", run.Engine},
		{"conns_target", numCell(run.ConnsTarget)}, {"started_utc", run.StartedUTC},
		{"params.conns", numCell(p.Conns)}, {"params.rate", numCell(p.Rate)}, {"params.duration_s", numCell(p.DurationS)},
		{"params.hold_min_s", numCell(p.HoldMinS)}, {"params.hold_max_s", numCell(p.HoldMaxS)},
		{"params.procs", numCell(p.Procs)}, {"params.push", strconv.FormatBool(bool(p.Push))},
		{"kernel", run.Kernel}, {"go_version", run.GoVersion}, {"ansible_version", run.AnsibleVersion},
		{"git_commit", run.GitCommit}, {"nofile", strings.Trim(string(run.Nofile), `"`)},
	} {
		w("| %s | %s |\n", kv[0], cellText(orDash(kv[1])))
	}
	if pl := run.Plan; pl != nil {
		for _, kv := range [][2]string{
			{"plan.clients", strconv.Itoa(pl.Clients)}, {"plan.addrs_per_client", strconv.Itoa(pl.AddrsPerClient)},
			{"plan.client_conns", strings.Trim(fmt.Sprint(pl.ClientConns), "[]")},
			{"plan.conns_per_source", strconv.Itoa(pl.ConnsPerSource)}, {"plan.procs", strconv.Itoa(pl.Procs)},
			{"plan.nofile", strconv.Itoa(pl.Nofile)}, {"plan.ehash_entries", strconv.Itoa(pl.EhashEntries)},
		} {
			w("| %s | %s |\n", kv[0], cellText(kv[1]))
		}
	}
	w("\n## Applied sysctls (read back)\n\n")
	if list := run.SysctlList(); len(list) > 0 {
		w("| key | value |\n|---|---|\n")
		for _, sc := range list {
			w("| %s | %s |\n", cellText(sc.Key), cellText(sc.Value))
		}
	} else {
		w("None recorded in run.json.\n")
	}
	if len(run.SysctlsSkipped) > 0 {
		w("\nSkipped:\n\n| key | reason |\n|---|---|\n")
		for _, k := range sortedStrings(run.SysctlsSkipped) {
			w("| %s | %s |\n", cellText(k), cellText(run.SysctlsSkipped[k]))
		}
	}

	w("\n## Charts\n\n")
	if len(charts) == 0 {
		w("No chart: the run recorded no samples.\n")
	}
	for _, c := range charts {
		w("### %s\n\n![%s](charts/%s.png)\n\n[SVG](charts/%s.svg)\n\n", chartTitle(c), c, c, c)
	}

	if len(in.NICs) > 0 {
		w("## NIC packet counters\n\n")
		for _, t := range in.NICs {
			w("### %s\n\n", t.File)
			if len(t.Rows) == 0 {
				w("```\n%s\n```\n\n", strings.TrimRight(t.Raw, "\n"))
				continue
			}
			w("| interface | rx_packets | tx_packets |\n|---|---:|---:|\n")
			for _, r := range t.Rows {
				w("| %s | %s | %s |\n", cellText(r.Interface), thousands(float64(r.RxPackets)), thousands(float64(r.TxPackets)))
			}
			w("\n")
		}
	}
	return b.Bytes()
}

func chartTitle(name string) string {
	switch name {
	case ChartConnections:
		return "Connections held and established"
	case ChartMemory:
		return "Memory: comet PSS, kernel Slab, TCP buffers, MemAvailable"
	case ChartBytesPerConn:
		return "Bytes per connection"
	case ChartCPU:
		return "comet CPU"
	case ChartHolds:
		return "Observed hold times"
	case ChartPushLatency:
		return "Push latency"
	}
	return name
}

// serverName names the server process set of an engine: nginx for ENGINE=nchan, else comet.
func serverName(engine string) string {
	if engine == "nchan" {
		return "nginx"
	}
	return "comet"
}

// thousands formats a rounded number with comma separators: 1017147 -> 1,017,147.
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatFloat(math.Abs(math.Round(v)), 'f', 0, 64)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 && math.Round(v) != 0 {
		return "-" + string(out)
	}
	return string(out)
}

func optInt(v *float64) string {
	if v == nil {
		return "—"
	}
	return thousands(*v)
}

func optBytes(v *float64) string {
	if v == nil {
		return "—"
	}
	return thousands(*v) + " B"
}

func optMiB(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", *v/mib)
}

func optFloat(v *float64, prec int, unit string) string {
	if v == nil {
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', prec, 64) + unit
}

func pagesCell(pages *float64, conns float64) string {
	if pages == nil {
		return "—"
	}
	s := fmt.Sprintf("%s pages = %.1f MiB", thousands(*pages), *pages*4096/mib)
	if conns > 0 {
		s += fmt.Sprintf(" (≈ %s B/conn)", thousands(*pages*4096/conns))
	}
	return s
}

func kinds(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedStrings(m) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func numCell(n Num) string {
	if !n.Valid {
		return ""
	}
	return strconv.FormatFloat(n.V, 'f', -1, 64)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// cellText keeps a value from breaking the Markdown table.
func cellText(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// virtualizationNote says how the server host ran when it was not bare metal: under QEMU's software emulation
// every figure that depends on CPU time is far from what the same code does on real hardware or KVM.
func virtualizationNote(virt string) string {
	switch virt {
	case "", "none":
		return ""
	case "qemu":
		return " (server VM under QEMU software emulation, no KVM: CPU-bound figures are far slower than on hardware)"
	default:
		return " (server virtualised: " + virt + ")"
	}
}
