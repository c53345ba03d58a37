// Package plan derives the lab's numbers from its few inputs, once: how CONNS splits over the clients and their
// source addresses, how many comet processes stay under the descriptor limit, and how large the TCP established
// hash must be. The playbook's Preflight runs cmd/labplan and records the result as run.json's "plan"; bench uses
// Derive directly; the report reads the recorded plan.
package plan

import (
	"errors"
	"fmt"
	"math/bits"
)

// Defaults of the two lab constants (ansible/group_vars/all.yml lab_fd_reserve,
// ansible/roles/preflight/defaults/main.yml preflight_max_conns_per_source).
const (
	// DefaultFDReserve is the descriptors each comet process keeps for its listener, logs and admin work.
	DefaultFDReserve = 1000
	// DefaultMaxConnsPerSource is what one source address carries (source ports 1024-65535, with room to spare).
	DefaultMaxConnsPerSource = 60000
	// MinProcs is the smallest comet process count: the prefork master always has company.
	MinProcs = 2
)

// Input is what the plan is derived from.
type Input struct {
	Conns          int // connections the run holds (CONNS)
	Clients        int // client hosts
	AddrsPerClient int // source addresses on each client
	Nofile         int // per-process descriptor limit comet runs under
	// FDReserve and MaxConnsPerSource: 0 = the defaults above.
	FDReserve         int
	MaxConnsPerSource int
}

// Plan is the derived numbers, as cmd/labplan prints them and run.json records them under "plan".
type Plan struct {
	Conns             int `json:"conns"`
	Clients           int `json:"clients"`
	AddrsPerClient    int `json:"addrs_per_client"`
	Nofile            int `json:"nofile"`
	FDReserve         int `json:"fd_reserve"`
	MaxConnsPerSource int `json:"max_conns_per_source"`
	// ClientConns is each client's share of Conns, in client order: Conns/Clients each, the remainder one
	// apiece to the first clients (ansible/roles/run/defaults/main.yml run_client_conns).
	ClientConns []int `json:"client_conns"`
	// ConnsPerSource is the most connections one source address opens: ceil(Conns / (Clients × AddrsPerClient)).
	ConnsPerSource int `json:"conns_per_source"`
	// Procs is comet's process count: ceil(Conns / (Nofile − FDReserve)), at least MinProcs. A limit at or below
	// the reserve counts as one connection per process.
	Procs int `json:"procs"`
	// EhashEntries is the per-namespace TCP established hash size: the next power of two ≥ 2 × Conns (at least 1).
	EhashEntries int `json:"ehash_entries"`
}

// Derive checks in and computes its plan. It fails when an input is out of range or one source address would
// have to carry more than MaxConnsPerSource connections.
func Derive(in Input) (Plan, error) {
	if in.FDReserve == 0 {
		in.FDReserve = DefaultFDReserve
	}
	if in.MaxConnsPerSource == 0 {
		in.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	var errs []error
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{
		{"conns", in.Conns, 0}, {"clients", in.Clients, 1}, {"addrs-per-client", in.AddrsPerClient, 1},
		{"nofile", in.Nofile, 1}, {"fd reserve", in.FDReserve, 0}, {"max conns per source", in.MaxConnsPerSource, 1},
	} {
		if c.v < c.min {
			errs = append(errs, fmt.Errorf("%s %d: want >= %d", c.name, c.v, c.min))
		}
	}
	if len(errs) > 0 {
		return Plan{}, errors.Join(errs...)
	}
	sources := in.Clients * in.AddrsPerClient
	p := Plan{
		Conns: in.Conns, Clients: in.Clients, AddrsPerClient: in.AddrsPerClient, Nofile: in.Nofile,
		FDReserve: in.FDReserve, MaxConnsPerSource: in.MaxConnsPerSource,
		ClientConns:    make([]int, in.Clients),
		ConnsPerSource: ceilDiv(in.Conns, sources),
		Procs:          max(ceilDiv(in.Conns, max(in.Nofile-in.FDReserve, 1)), MinProcs),
		EhashEntries:   nextPow2(2 * in.Conns),
	}
	for i := range p.ClientConns {
		p.ClientConns[i] = in.Conns / in.Clients
		if i < in.Conns%in.Clients {
			p.ClientConns[i]++
		}
	}
	if p.ConnsPerSource > in.MaxConnsPerSource {
		return p, fmt.Errorf("conns %d needs %d connections per source address (%d clients x %d addresses); one address "+
			"carries at most %d: lower conns to <= %d or add addresses", in.Conns, p.ConnsPerSource, in.Clients,
			in.AddrsPerClient, in.MaxConnsPerSource, in.MaxConnsPerSource*sources)
	}
	return p, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// nextPow2 is the smallest power of two >= n, and 1 for n <= 1.
func nextPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}
