package report

import (
	"strings"
	"testing"
)

func TestEnginesSideBySide(t *testing.T) {
	run := func(dir, engine, cmd string, bpc, ramp, p99 float64, passed bool) IndexRow {
		return IndexRow{Dir: dir, Summary: Summary{Engine: engine, Command: cmd, Passed: passed, ConnsPeakHeld: 100000,
			ServerUserBytesPerConn: &bpc, AcceptRampSeconds: &ramp, BroadcastP99Ms: &p99, StartedUTC: dir}}
	}
	same := "make lab CONNS=100000 DURATION=90s"
	tests := []struct {
		name    string
		rows    []IndexRow // newest first, as ReadIndex sorts them
		want    []string
		notWant []string
	}{
		{"three engines, one command", []IndexRow{
			run("3", "nchan", same+" ENGINE=nchan", 900, 5, 300, true),
			run("2", "goroutine", same+" ENGINE=goroutine", 4000, 9, 800, true),
			run("1", "netpoll", same+" ENGINE=netpoll", 1200, 4, 500, true),
			run("0", "netpoll", "make lab CONNS=1000000 ENGINE=netpoll", 1000, 40, 9000, true), // other parameters
		}, []string{
			"| | netpoll | goroutine | nchan | best |", "| run | 1 | 2 | 3 | |",
			"same parameters", "`make lab CONNS=100000 DURATION=90s`",
			"| user B/conn (Σ PSS ÷ conns) | 1,200 | 4,000 | 900 | nchan |",
			"| accept ramp (s, first connect to all conns up) | 4.00 | 9.00 | 5.00 | netpoll |",
			"| broadcast delivery p99 (ms) | 500 | 800 | 300 | nchan |",
			"| kernel B/socket | — | — | — | — |",
			"nchan (nginx's module) cannot do", "X-Oldest-Seq",
			"uses 3.33× the user memory", "nginx + nchan uses 0.75× the user memory",
		}, nil},
		{"a failed run stands for its engine, marked", []IndexRow{
			run("3", "goroutine", same+" ENGINE=goroutine", 4000, 9, 800, false),
			run("2", "netpoll", same, 1300, 4, 500, false),
			run("1", "netpoll", same, 1200, 4, 500, true),
		}, []string{"same parameters", "| | netpoll | goroutine | best |", "| run | 1 | 3 (**failed**: ) |"}, []string{"nchan"}},
		{"different commands", []IndexRow{
			run("2", "goroutine", "make lab CONNS=5", 4000, 9, 800, true),
			run("1", "netpoll", same, 1200, 4, 500, true),
		}, []string{"the runs' parameters differ", "| | netpoll | goroutine | best |"}, nil},
		{"one engine, no table", []IndexRow{run("1", "netpoll", same, 1200, 4, 500, true)}, nil, []string{"## Engines side by side"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := string(IndexMarkdown(tc.rows))
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(text, w) {
					t.Errorf("has %q:\n%s", w, text)
				}
			}
		})
	}
}
