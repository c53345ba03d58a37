package schema

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestMonitorRecordAndRow(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		row  MonitorRow
		want string // the record, comma-joined
	}{
		{"every value", MonitorRow{T: 1767225600.1234, ElapsedS: 1.5, Conns: 1000, Held: 999, PSS: 4096, RSS: 8192,
			CPUPercent: 12.345, TCPInuse: 1001, TCPOrphan: 0, TCPTW: 3, TCPAlloc: 1002, TCPMemPages: 77, SlabBytes: 1 << 20,
			MemAvailable: 1 << 30},
			"1767225600.123,1.500,1000,999,4096,8192,12.3,1001,0,3,1002,77,1048576,1073741824"},
		{"admin down and no comet", MonitorRow{T: 10, ElapsedS: 0, Conns: nan, Held: nan, PSS: nan, RSS: nan,
			CPUPercent: nan, TCPInuse: 5, TCPOrphan: 0, TCPTW: 0, TCPAlloc: 5, TCPMemPages: 1, SlabBytes: 2, MemAvailable: 3},
			"10.000,0.000,,,,,,5,0,0,5,1,2,3"},
	}
	hdr, err := ParseMonitorHeader(MonitorColumns())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.row.Record()
			if got := strings.Join(rec, ","); got != tc.want {
				t.Fatalf("Record\n got %s\nwant %s", got, tc.want)
			}
			back := hdr.Row(rec)
			for i, name := range MonitorColumns() {
				g, w := *monitorColumns[i].field(&back), *monitorColumns[i].field(&tc.row)
				if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && math.Abs(g-w) > 0.05) {
					t.Errorf("%s: read back %v, wrote %v", name, g, w)
				}
			}
		})
	}
}

func TestMonitorHeader(t *testing.T) {
	tests := []struct {
		name    string
		header  []string
		rec     []string
		wantErr bool
		conns   float64 // NaN = absent
		t       float64
	}{
		{"reordered with spaces", []string{" conns", "t "}, []string{"7", "3.5"}, false, 7, 3.5},
		{"fewer columns", []string{"t"}, []string{"1"}, false, math.NaN(), 1},
		{"unparsable cell", []string{"t", "conns"}, []string{"1", "x"}, false, math.NaN(), 1},
		{"short record", []string{"t", "conns"}, []string{"1"}, false, math.NaN(), 1},
		{"no t", []string{"conns"}, nil, true, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseMonitorHeader(tc.header)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			r := h.Row(tc.rec)
			if r.T != tc.t || math.IsNaN(r.Conns) != math.IsNaN(tc.conns) || (!math.IsNaN(tc.conns) && r.Conns != tc.conns) {
				t.Errorf("row t=%v conns=%v, want t=%v conns=%v", r.T, r.Conns, tc.t, tc.conns)
			}
			if !math.IsNaN(r.PSS) {
				t.Errorf("absent column read as %v, want NaN", r.PSS)
			}
		})
	}
}

// The documents keep the field names docs/interfaces.md and docs/flood.md promise.
func TestJSONNames(t *testing.T) {
	tests := []struct {
		name string
		doc  any
		want []string
	}{
		{"stats", Stats{Workers: []WorkerStats{{}}}, []string{`"engine"`, `"procs"`, `"conns"`, `"held"`, `"pss_bytes"`,
			`"master_pss_bytes"`, `"push":{"published":0,"broadcasts":0,"delivered":0,"gaps":0,"missed":0}`, `"heartbeat_age_s"`, `"goroutines"`}},
		{"flood final", FloodFinal{FloodLine: FloodLine{PushMaxMs: 87}, HoldHist: map[int]uint64{30: 2}},
			[]string{`"conns_target"`, `"established"`, `"push_max_ms":87,`, `"flood_pss_bytes"`, `"final"`,
				`"hold_hist":{"30":2}`, `"min_answers_per_conn"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %s", b, w)
				}
			}
			back := reflect.New(reflect.TypeOf(tc.doc))
			if err := json.Unmarshal(b, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), tc.doc) {
				t.Errorf("round trip\n got %+v\nwant %+v", back.Elem().Interface(), tc.doc)
			}
		})
	}
}
