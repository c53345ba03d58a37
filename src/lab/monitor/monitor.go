// Package monitor samples the comet server and its machine into server/monitor.csv
// (columns in docs/interfaces.md) and takes snapshots at the connection peak.
package monitor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/adminclient"
	"github.com/comet-lab/comet-lab/src/lib/procmem"
	"github.com/comet-lab/comet-lab/src/lib/schema"
	log "github.com/sirupsen/logrus"
)

// Config drives Run.
type Config struct {
	Select     Selector
	Admin      string        // base URL of comet's admin, e.g. http://127.0.0.1:11182; "" = no admin
	AdminToken string        // bearer token for /stats when the admin requires one
	Every      time.Duration // sampling period
	// Sockstat is the sockstat file to read; "" = that of the first comet process's
	// network namespace (/proc/<pid>/net/sockstat), falling back to /proc/net/sockstat.
	Sockstat  string
	PeakDir   string        // where to write top.txt, sockstat.txt, free.txt at the peak; "" = off
	PeakEvery time.Duration // minimum spacing of peak snapshots (default 10 s)
	UntilFile string        // stop once this file exists; "" = off
	ProcRoot  string        // "" = /proc
}

// Sampler takes one schema.MonitorRow per call and remembers what CPU deltas need.
type Sampler struct {
	cfg       Config
	reader    procmem.Reader
	client    *http.Client
	start     time.Time
	prevT     time.Time
	prevTicks map[int]uint64
	pids      []int
}

// NewSampler validates cfg and prepares a sampler whose elapsed_s counts from start.
func NewSampler(cfg Config, start time.Time) (*Sampler, error) {
	if err := cfg.Select.Validate(); err != nil {
		return nil, err
	}
	if cfg.Every <= 0 {
		return nil, fmt.Errorf("-every %v: must be positive", cfg.Every)
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Admin != "" && !strings.Contains(cfg.Admin, "://") {
		cfg.Admin = "http://" + cfg.Admin
	}
	cfg.Admin = strings.TrimSuffix(cfg.Admin, "/")
	// The admin must not stall sampling: give it most of one period, at least 200 ms.
	timeout := max(cfg.Every*8/10, 200*time.Millisecond)
	return &Sampler{
		cfg:    cfg,
		reader: procmem.Reader{Root: cfg.ProcRoot},
		client: &http.Client{Timeout: timeout},
		start:  start,
	}, nil
}

// Pids returns the comet pids found by the last Sample.
func (s *Sampler) Pids() []int { return s.pids }

// Sample reads everything once. Individual failures leave their cells empty: a
// sampler that stops on the first hiccup would lose the rest of a lab run.
func (s *Sampler) Sample(now time.Time) schema.MonitorRow {
	nan := math.NaN()
	row := schema.MonitorRow{T: float64(now.UnixNano()) / 1e9, ElapsedS: now.Sub(s.start).Seconds(), Conns: nan, Held: nan, PSS: nan, RSS: nan,
		CPUPercent: nan, TCPInuse: nan, TCPOrphan: nan, TCPTW: nan, TCPAlloc: nan, TCPMemPages: nan,
		SlabBytes: nan, MemAvailable: nan}

	pids, err := s.cfg.Select.Find(s.cfg.ProcRoot)
	if err != nil {
		log.WithError(err).Warn("labmon: finding comet processes")
	}
	s.pids = pids
	if len(pids) > 0 {
		if pss, rss, err := s.reader.SumRollup(pids); err == nil {
			row.PSS, row.RSS = float64(pss), float64(rss)
		}
		ticks := make(map[int]uint64, len(pids))
		for _, pid := range pids {
			if t, err := s.reader.CPUTicks(pid); err == nil {
				ticks[pid] = t
			}
		}
		if s.prevTicks != nil {
			row.CPUPercent = CPUPercent(s.prevTicks, ticks, now.Sub(s.prevT).Seconds())
		}
		s.prevTicks, s.prevT = ticks, now
	}

	if st, err := s.reader.Sockstat(s.sockstatPath()); err == nil {
		row.TCPInuse, row.TCPOrphan, row.TCPTW = float64(st.TCPInuse), float64(st.TCPOrphan), float64(st.TCPTW)
		row.TCPAlloc, row.TCPMemPages = float64(st.TCPAlloc), float64(st.TCPMem)
	}
	if m, err := s.reader.Meminfo(); err == nil {
		row.SlabBytes, row.MemAvailable = float64(m.Slab), float64(m.MemAvailable)
	}
	if s.cfg.Admin != "" {
		if conns, held, err := s.adminStats(); err == nil {
			row.Conns, row.Held = conns, held
		}
	}
	return row
}

func (s *Sampler) sockstatPath() string {
	if s.cfg.Sockstat != "" {
		return s.cfg.Sockstat
	}
	if len(s.pids) > 0 {
		return s.cfg.ProcRoot + "/" + strconv.Itoa(s.pids[0]) + "/net/sockstat"
	}
	return s.cfg.ProcRoot + "/net/sockstat"
}

func (s *Sampler) adminStats() (conns, held float64, err error) {
	st, err := adminclient.Stats(s.client, s.cfg.Admin, s.cfg.AdminToken)
	return float64(st.Conns), float64(st.Held), err
}

// CPUPercent turns per-pid utime+stime readings dt seconds apart into percent of
// one core. A pid absent from prev started during the interval, so all its ticks
// count; a pid absent from cur exited and its last interval is lost (unknowable).
func CPUPercent(prev, cur map[int]uint64, dt float64) float64 {
	if dt <= 0 {
		return math.NaN()
	}
	var delta uint64
	for pid, t := range cur {
		p, ok := prev[pid]
		switch {
		case !ok:
			delta += t
		case t >= p:
			delta += t - p
		}
	}
	return float64(delta) / procmem.ClockTicks / dt * 100
}

// Run samples every cfg.Every into w (CSV with header, flushed per row) until ctx
// ends or cfg.UntilFile appears. Peak snapshots go to cfg.PeakDir.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	start := time.Now()
	s, err := NewSampler(cfg, start)
	if err != nil {
		return err
	}
	if cfg.PeakEvery <= 0 {
		cfg.PeakEvery = 10 * time.Second
	}
	bw := bufio.NewWriter(w)
	out := newCSV(bw)
	if err := out.write(schema.MonitorColumns()); err != nil {
		return err
	}
	peak := peakTracker{every: cfg.PeakEvery}
	ticker := time.NewTicker(cfg.Every)
	defer ticker.Stop()
	for {
		row := s.Sample(time.Now())
		if err := out.write(row.Record()); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if cfg.PeakDir != "" && peak.observe(row) {
			if err := Snapshot(ctx, cfg.PeakDir, s.Pids(), s.sockstatPath()); err != nil {
				log.WithError(err).Warn("labmon: peak snapshot")
			}
		}
		if cfg.UntilFile != "" {
			if _, err := os.Stat(cfg.UntilFile); err == nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return finish(ctx, cfg, s, &peak)
		case <-ticker.C:
		}
	}
	return finish(ctx, cfg, s, &peak)
}

// finish takes the snapshot a recent new maximum was still owed, or the only one if
// none was ever taken, so a peak dir is never left empty.
func finish(ctx context.Context, cfg Config, s *Sampler, peak *peakTracker) error {
	if cfg.PeakDir != "" && (peak.pending || peak.last == 0) {
		// ctx may be cancelled already (that is how we got here); the snapshot gets its own.
		return Snapshot(context.WithoutCancel(ctx), cfg.PeakDir, s.Pids(), s.sockstatPath())
	}
	return nil
}

// peakTracker decides when a sample is a new connection maximum worth a snapshot,
// at most once per `every`; a maximum seen too soon is taken later if the count
// still stands at that maximum (the plateau after the ramp), else at the end.
type peakTracker struct {
	every   time.Duration
	max     float64
	last    float64 // unix seconds of the last snapshot; 0 = none yet
	pending bool
}

func (p *peakTracker) observe(r schema.MonitorRow) bool {
	if math.IsNaN(r.Conns) || r.Conns <= 0 {
		return false
	}
	if r.Conns > p.max {
		p.max = r.Conns
		p.pending = true
	}
	if p.pending && r.Conns >= p.max && (p.last == 0 || r.T-p.last >= p.every.Seconds()) {
		p.pending = false
		p.last = r.T
		return true
	}
	return false
}
