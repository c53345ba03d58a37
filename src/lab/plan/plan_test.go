package plan

import (
	"reflect"
	"strings"
	"testing"
)

func TestDerive(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Plan
	}{
		{
			name: "the 1M local lab",
			in:   Input{Conns: 1000000, Clients: 3, AddrsPerClient: 6, Nofile: 20000},
			want: Plan{Conns: 1000000, Clients: 3, AddrsPerClient: 6, Nofile: 20000, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{333334, 333333, 333333}, ConnsPerSource: 55556,
				Procs: 53, EhashEntries: 2097152},
		},
		{
			name: "remainder goes to the first clients",
			in:   Input{Conns: 200002, Clients: 3, AddrsPerClient: 6, Nofile: 20000},
			want: Plan{Conns: 200002, Clients: 3, AddrsPerClient: 6, Nofile: 20000, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{66668, 66667, 66667}, ConnsPerSource: 11112,
				Procs: 11, EhashEntries: 524288},
		},
		{
			name: "at least two processes",
			in:   Input{Conns: 38000, Clients: 1, AddrsPerClient: 1, Nofile: 20000},
			want: Plan{Conns: 38000, Clients: 1, AddrsPerClient: 1, Nofile: 20000, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{38000}, ConnsPerSource: 38000, Procs: 2, EhashEntries: 131072},
		},
		{
			name: "one more connection needs a third process",
			in:   Input{Conns: 38001, Clients: 1, AddrsPerClient: 1, Nofile: 20000},
			want: Plan{Conns: 38001, Clients: 1, AddrsPerClient: 1, Nofile: 20000, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{38001}, ConnsPerSource: 38001, Procs: 3, EhashEntries: 131072},
		},
		{
			name: "ehash is exact at a power of two",
			in:   Input{Conns: 65536, Clients: 2, AddrsPerClient: 1, Nofile: 1000000},
			want: Plan{Conns: 65536, Clients: 2, AddrsPerClient: 1, Nofile: 1000000, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{32768, 32768}, ConnsPerSource: 32768, Procs: 2, EhashEntries: 131072},
		},
		{
			name: "no connections",
			in:   Input{Conns: 0, Clients: 2, AddrsPerClient: 3, Nofile: 1024},
			want: Plan{Conns: 0, Clients: 2, AddrsPerClient: 3, Nofile: 1024, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{0, 0}, ConnsPerSource: 0, Procs: 2, EhashEntries: 1},
		},
		{
			name: "fewer connections than clients",
			in:   Input{Conns: 2, Clients: 3, AddrsPerClient: 1, Nofile: 20000},
			want: Plan{Conns: 2, Clients: 3, AddrsPerClient: 1, Nofile: 20000, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{1, 1, 0}, ConnsPerSource: 1, Procs: 2, EhashEntries: 4},
		},
		{
			name: "a limit below the reserve gives one connection per process",
			in:   Input{Conns: 5, Clients: 1, AddrsPerClient: 1, Nofile: 500},
			want: Plan{Conns: 5, Clients: 1, AddrsPerClient: 1, Nofile: 500, FDReserve: 1000,
				MaxConnsPerSource: 60000, ClientConns: []int{5}, ConnsPerSource: 5, Procs: 5, EhashEntries: 16},
		},
		{
			name: "own reserve and per-source cap",
			in:   Input{Conns: 100, Clients: 1, AddrsPerClient: 2, Nofile: 60, FDReserve: 10, MaxConnsPerSource: 50},
			want: Plan{Conns: 100, Clients: 1, AddrsPerClient: 2, Nofile: 60, FDReserve: 10,
				MaxConnsPerSource: 50, ClientConns: []int{100}, ConnsPerSource: 50, Procs: 2, EhashEntries: 256},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Derive(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Derive(%+v)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
			sum := 0
			for _, c := range got.ClientConns {
				sum += c
			}
			if sum != tc.in.Conns {
				t.Errorf("client shares sum to %d, want %d", sum, tc.in.Conns)
			}
		})
	}
}

func TestDeriveRejects(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want []string // substrings of the error
	}{
		{"negative conns", Input{Conns: -1, Clients: 1, AddrsPerClient: 1, Nofile: 20000}, []string{"conns -1"}},
		{"no clients", Input{Conns: 10, Clients: 0, AddrsPerClient: 1, Nofile: 20000}, []string{"clients 0"}},
		{"no addresses", Input{Conns: 10, Clients: 1, AddrsPerClient: 0, Nofile: 20000}, []string{"addrs-per-client 0"}},
		{"no nofile", Input{Conns: 10, Clients: 1, AddrsPerClient: 1, Nofile: 0}, []string{"nofile 0"}},
		{"every bad input at once", Input{Conns: -5, Clients: -1, AddrsPerClient: 0, Nofile: -3},
			[]string{"conns -5", "clients -1", "addrs-per-client 0", "nofile -3"}},
		{"too many per source", Input{Conns: 1080001, Clients: 3, AddrsPerClient: 6, Nofile: 20000},
			[]string{"60001 connections per source", "lower conns to <= 1080000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Derive(tc.in)
			if err == nil {
				t.Fatalf("Derive(%+v): no error", tc.in)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
