package report

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/comet-lab/comet-lab/src/lib/schema"
)

func TestAddMonitor(t *testing.T) {
	rows := []schema.MonitorRow{{T: 100, Conns: 10, PSS: 1000, SlabBytes: 5}, {T: 101, Conns: 20, PSS: 2000, SlabBytes: 6}, {T: 106, Conns: 30}}
	peer := []schema.MonitorRow{{T: 100.4, Conns: 1, PSS: 100, SlabBytes: 99}, {T: 101.3, Conns: 2, PSS: 200}, {T: 104, Conns: 3}}
	got := addMonitor(rows, peer)
	for i, want := range []struct{ conns, pss, slab float64 }{
		{11, 1100, 5},               // nearest peer row 0.4 s away
		{22, 2200, 6},               // nearest 0.3 s away; host-wide Slab is not added
		{math.NaN(), math.NaN(), 0}, // no peer row within 1.5 s: unknown, not understated
	} {
		r := got[i]
		if !sameNum(r.Conns, want.conns) || !sameNum(r.PSS, want.pss) || r.SlabBytes != want.slab {
			t.Errorf("row %d = conns %v pss %v slab %v, want %v %v %v", i, r.Conns, r.PSS, r.SlabBytes, want.conns, want.pss, want.slab)
		}
	}
	if rows[0].Conns != 10 {
		t.Error("addMonitor changed its input")
	}
}

func sameNum(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func TestScaleOutSplit(t *testing.T) {
	client := func(name, target string, conns int, hist map[int]uint64) Client {
		f := schema.FloodFinal{}
		f.Target, f.ConnsTarget, f.Final, f.Passed = target, conns, true, true
		f.PushHistMs = hist
		return Client{Name: name, Lines: []schema.FloodFinal{f}}
	}
	tests := []struct {
		name        string
		crossHist   map[int]uint64
		wantCross   []float64 // delivered, p50, p99
		wantDiff    float64
		wantFailure string
	}{
		{"all delivered", map[int]uint64{20: 1, 50: 1}, []float64{2, 20, 50}, 40, ""},
		{"one lost across", map[int]uint64{20: 1}, []float64{1, 20, 20}, 10, "cross-node clients got 1 of 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Peers: []Peer{{Name: "server2"}}}
			in.Run.ServerAddrs = map[string]string{"server": "10.77.0.1", "server2": "10.77.0.2"}
			in.Run.Params.Broker = "nats"
			in.Clients = []Client{
				client("client1", "10.77.0.1:11181", 2, map[int]uint64{5: 2, 10: 2}),
				client("client2", "10.77.0.2:11181", 1, tc.crossHist),
			}
			s := Summary{Broadcasts: 2, PushRan: true}
			var failures []string
			s.scaleOut(in, func(f string, a ...any) { failures = append(failures, fmt.Sprintf(f, a...)) })
			so := s.ScaleOut
			if so == nil || so.Servers != 2 || so.Broker != "nats" {
				t.Fatalf("scale-out %+v", so)
			}
			same, cross := so.SameNode, so.CrossNode
			if strings.Join(same.Clients, ",") != "client1" || same.Delivered != 4 || same.Expected != 4 || *same.P50Ms != 5 || *same.P99Ms != 10 {
				t.Errorf("same-node %+v, want client1 4 of 4, p50 5, p99 10", same)
			}
			if strings.Join(cross.Clients, ",") != "client2" || cross.Delivered != tc.wantCross[0] || cross.Expected != 2 ||
				*cross.P50Ms != tc.wantCross[1] || *cross.P99Ms != tc.wantCross[2] {
				t.Errorf("cross-node %+v, want client2 %v of 2", cross, tc.wantCross)
			}
			if so.CrossMinusSameP99Ms == nil || *so.CrossMinusSameP99Ms != tc.wantDiff {
				t.Errorf("p99 difference %v, want %v", so.CrossMinusSameP99Ms, tc.wantDiff)
			}
			if got := strings.Join(failures, "; "); !strings.Contains(got, tc.wantFailure) || (tc.wantFailure == "") != (got == "") {
				t.Errorf("failures %q, want %q", got, tc.wantFailure)
			}
			if md := scaleOutMarkdown(s); !strings.Contains(md, "| cross-node | client2 |") {
				t.Errorf("report section lacks the cross-node row:\n%s", md)
			}
		})
	}
}
