package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/comet-lab/comet-lab/src/lab/plan"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string // JSON of the plan, or ""
		wantErr    string // substring of stderr
	}{
		{"the 1M lab", []string{"-conns", "1000000", "-clients", "3", "-addrs-per-client", "6", "-nofile", "20000"}, 0,
			`{"conns":1000000,"clients":3,"addrs_per_client":6,"nofile":20000,"fd_reserve":1000,"max_conns_per_source":60000,` +
				`"client_conns":[333334,333333,333333],"conns_per_source":55556,"procs":53,"ehash_entries":2097152}`, ""},
		{"missing conns", []string{"-clients", "3", "-addrs-per-client", "6", "-nofile", "20000"}, 2, "", "-conns is required"},
		{"negative conns", []string{"-conns", "-5", "-clients", "3", "-addrs-per-client", "6", "-nofile", "20000"}, 2, "", "conns -5: want >= 0"},
		{"bad counts", []string{"-conns", "5", "-clients", "0", "-addrs-per-client", "0", "-nofile", "20000"}, 2, "",
			"clients 0: want >= 1\naddrs-per-client 0: want >= 1"},
		{"missing everything", nil, 2, "", "-conns is required"},
		{"help", []string{"-h"}, 0, "", "-addrs-per-client"},
		{"not a number", []string{"-conns", "many"}, 2, "", `invalid value "many"`},
		{"stray argument", []string{"-conns", "1", "-clients", "1", "-addrs-per-client", "1", "-nofile", "9", "x"}, 2, "", "unexpected arguments"},
		{"zero reserve", []string{"-conns", "1", "-clients", "1", "-addrs-per-client", "1", "-nofile", "9", "-fd-reserve", "0"}, 2, "", "must not be 0"},
		{"too many per source", []string{"-conns", "130000", "-clients", "1", "-addrs-per-client", "2", "-nofile", "20000"}, 2, "",
			"65000 connections per source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(tc.args, &out, &errOut); got != tc.wantStatus {
				t.Fatalf("status %d, want %d (stderr %q)", got, tc.wantStatus, errOut.String())
			}
			if strings.TrimSpace(out.String()) != tc.wantOut {
				t.Errorf("stdout %q, want %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.wantErr)
			}
			if tc.wantOut != "" {
				var p plan.Plan
				if err := json.Unmarshal(out.Bytes(), &p); err != nil || p.Procs == 0 {
					t.Errorf("stdout does not decode into plan.Plan: %v", err)
				}
			}
		})
	}
}
