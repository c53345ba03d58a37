package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/procmem"
	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat (100 on every Linux build).
const clockTicks = 100

// CPUOptions are `bench cpu`'s own settings.
type CPUOptions struct {
	Window     time.Duration // how long hold-cycle answers are measured
	HoldArgs   []string      // comet hold flags for the answer phase
	Broadcasts int           // broadcasts in the delivery phase, one after the other
	PushLimit  time.Duration // longest wait for one broadcast to reach every subscriber and every re-poll
}

// CPUResult is comet's (and flood's) CPU per event on loopback: per hold-cycle answer (plain GETs answered by the
// wheel and re-sent) and per push delivery (a broadcast answering every held /sub poll, and the re-poll that follows).
type CPUResult struct {
	Time          time.Time `json:"time"`
	Engine        string    `json:"engine"`
	Procs         int       `json:"procs"`
	Conns         int       `json:"conns"`
	CometArgs     string    `json:"comet_args"`
	WindowS       float64   `json:"answer_window_s"`
	Answers       uint64    `json:"answers"`
	AnswerCPUS    float64   `json:"answer_cpu_s"`
	UsPerAnswer   float64   `json:"server_cpu_us_per_answer"`
	Broadcasts    int       `json:"broadcasts"`
	Deliveries    uint64    `json:"deliveries"`
	DeliveryCPUS  float64   `json:"delivery_cpu_s"`
	DeliveryWallS []float64 `json:"delivery_wall_s"` // per broadcast: publish until every subscriber re-polled
	UsPerDelivery float64   `json:"server_cpu_us_per_delivery"`
	// The workers alone (without the master, whose share includes answering bench's /stats polls).
	WorkersUsPerAnswer   float64 `json:"workers_cpu_us_per_answer"`
	WorkersUsPerDelivery float64 `json:"workers_cpu_us_per_delivery"`
	// The client side over the same windows: utime+stime of flood's coordinator and its children.
	FloodAnswerCPUS    float64 `json:"flood_answer_cpu_s"`
	FloodUsPerAnswer   float64 `json:"flood_cpu_us_per_answer"`
	FloodDeliveryCPUS  float64 `json:"flood_delivery_cpu_s"`
	FloodUsPerDelivery float64 `json:"flood_cpu_us_per_delivery"`
}

// CPU runs the two phases, each against a fresh comet and flood.
func CPU(ctx context.Context, o Options, co CPUOptions) (CPUResult, error) {
	res := CPUResult{Time: time.Now(), Engine: o.Engine, Conns: o.Conns, CometArgs: cometArgsString(&o)}
	dir, cleanup, err := o.prepare()
	if err != nil {
		return res, err
	}
	res.Procs = o.Procs
	defer cleanup()
	base := o.CometArgs
	o.CometArgs = append(append([]string(nil), base...), co.HoldArgs...)
	err = withLoad(ctx, &o, dir, "-answers", nil, false, func(c *comet, flood *process) error {
		f0, err := treeTicks(flood.pid())
		if err != nil {
			return err
		}
		before, err := c.sampleCPU(true)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(co.Window):
		}
		after, err := c.sampleCPU(true)
		if err != nil {
			return err
		}
		f1, err := treeTicks(flood.pid())
		if err != nil {
			return err
		}
		res.FloodAnswerCPUS = float64(f1-f0) / clockTicks
		t0, s0, w0 := before.ticks, before.stats, before.workerTicks
		t1, s1, w1 := after.ticks, after.stats, after.workerTicks
		res.WindowS = co.Window.Seconds()
		res.Answers = s1.Responses - s0.Responses
		res.AnswerCPUS = float64(t1-t0) / clockTicks
		if res.Answers > 0 {
			res.UsPerAnswer = res.AnswerCPUS * 1e6 / float64(res.Answers)
			res.WorkersUsPerAnswer = float64(w1-w0) / clockTicks * 1e6 / float64(res.Answers)
			res.FloodUsPerAnswer = res.FloodAnswerCPUS * 1e6 / float64(res.Answers)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	// Subscribers held far longer than the phase: every answer is a delivery.
	o.CometArgs = append(append([]string(nil), base...), "-hold-min", "600s", "-hold-max", "900s")
	err = withLoad(ctx, &o, dir, "-push", []string{"-push"}, true, func(c *comet, flood *process) error {
		var ticks, wticks, fticks uint64
		for i := 0; i < co.Broadcasts; i++ {
			f0, err := treeTicks(flood.pid())
			if err != nil {
				return err
			}
			before, err := c.sampleCPU(true)
			if err != nil {
				return err
			}
			s0 := before.stats
			start := time.Now()
			if err := c.broadcast(fmt.Sprintf("bench broadcast %d", i)); err != nil {
				return err
			}
			// Delivered to all, and all re-polled (held again): the whole cycle of one delivery.
			s1, err := c.waitFor(ctx, co.PushLimit, fmt.Sprintf("broadcast %d", i), func(s schema.Stats) bool {
				return s.Push.Delivered >= s0.Push.Delivered+uint64(o.Conns) && s.Held == uint64(o.Conns)
			})
			if err != nil {
				return err
			}
			res.DeliveryWallS = append(res.DeliveryWallS, time.Since(start).Seconds())
			after, err := c.sampleCPU(false)
			if err != nil {
				return err
			}
			f1, err := treeTicks(flood.pid())
			if err != nil {
				return err
			}
			fticks += f1 - f0
			ticks += after.ticks - before.ticks
			wticks += after.workerTicks - before.workerTicks
			res.Deliveries += s1.Push.Delivered - s0.Push.Delivered
			res.Broadcasts++
		}
		res.DeliveryCPUS = float64(ticks) / clockTicks
		res.FloodDeliveryCPUS = float64(fticks) / clockTicks
		if res.Deliveries > 0 {
			res.FloodUsPerDelivery = res.FloodDeliveryCPUS * 1e6 / float64(res.Deliveries)
			res.UsPerDelivery = res.DeliveryCPUS * 1e6 / float64(res.Deliveries)
			res.WorkersUsPerDelivery = float64(wticks) / clockTicks * 1e6 / float64(res.Deliveries)
		}
		return nil
	})
	return res, err
}

// withLoad starts comet and a flood holding o.Conns connections, runs measure once every connection is open (and,
// with allHeld, has its request held), then stops both.
func withLoad(ctx context.Context, o *Options, dir, tag string, floodArgs []string, allHeld bool, measure func(*comet, *process) error) error {
	c, err := startComet(o, dir)
	if err != nil {
		return err
	}
	flood, err := startFlood(o, c, dir, tag, floodArgs...)
	if err != nil {
		c.stop(15 * time.Second)
		return err
	}
	_, err = c.waitConns(ctx, o, uint64(o.Conns), flood, "ramp")
	if err == nil && allHeld {
		_, err = c.waitFor(ctx, o.RampLimit, "every connection held", func(s schema.Stats) bool { return s.Held == uint64(o.Conns) })
	}
	if err == nil {
		time.Sleep(Settle)
		err = measure(c, flood)
	}
	if stopErr := flood.stop(30 * time.Second); err == nil && errors.Is(stopErr, errKilled) {
		err = stopErr
	}
	if _, werr := c.waitConns(ctx, o, 0, nil, "close"); err == nil {
		err = werr
	}
	if stopErr := c.stop(15 * time.Second); err == nil && stopErr != nil {
		err = fmt.Errorf("stopping comet: %w", stopErr)
	}
	return err
}

// cpuTicks is utime+stime of comet's master and workers.
func (c *comet) cpuTicks() (uint64, error) {
	pids, err := c.pids()
	if err != nil {
		return 0, err
	}
	return sumTicks(pids)
}

// workerTicks is utime+stime of comet's workers.
func (c *comet) workerTicks() (uint64, error) {
	pids, err := c.pids()
	if err != nil {
		return 0, err
	}
	var workers []int
	for _, pid := range pids {
		if pid != c.pid() {
			workers = append(workers, pid)
		}
	}
	return sumTicks(workers)
}

// treeTicks is utime+stime of pid and its descendants (flood's coordinator and children).
func treeTicks(pid int) (uint64, error) {
	pids, err := procTree("/proc", pid)
	if err != nil {
		return 0, err
	}
	return sumTicks(pids)
}

func sumTicks(pids []int) (uint64, error) {
	var sum uint64
	for _, pid := range pids {
		t, err := procmem.CPUTicks(pid)
		if err != nil && !procmem.IsGone(err) {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// cpuSample is comet's CPU (all processes, and the workers alone) and /stats at one moment.
type cpuSample struct {
	ticks, workerTicks uint64
	stats              schema.Stats
}

// sampleCPU reads the CPU ticks, the workers' ticks and, with withStats, /stats.
func (c *comet) sampleCPU(withStats bool) (cpuSample, error) {
	var s cpuSample
	var err error
	if s.ticks, err = c.cpuTicks(); err != nil {
		return s, err
	}
	if s.workerTicks, err = c.workerTicks(); err != nil {
		return s, err
	}
	if withStats {
		s.stats, err = c.stats()
	}
	return s, err
}

func (c *comet) broadcast(body string) error {
	resp, err := c.client.Post("http://"+c.admin+"/broadcast", "text/plain", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /broadcast: %s %s", resp.Status, b)
	}
	return nil
}

// waitFor polls /stats every 100 ms until ok accepts it or limit passes (each poll costs the master a /proc
// rollup of every worker: the workers-only figures leave it out).
func (c *comet) waitFor(ctx context.Context, limit time.Duration, what string, ok func(schema.Stats) bool) (schema.Stats, error) {
	deadline := time.Now().Add(limit)
	var last schema.Stats
	for {
		st, err := c.stats()
		if err == nil {
			last = st
			if ok(st) {
				return st, nil
			}
		}
		if err := c.exited(); err != nil {
			return last, err
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%s: not within %v (held %d, delivered %d)", what, limit, last.Held, last.Push.Delivered)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PrintCPU writes the human table.
func PrintCPU(w io.Writer, r CPUResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "engine\tprocs\tconns\tanswers\tCPU s\tµs/answer\tdeliveries\tCPU s\tµs/delivery\t\n")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.1f\t%d\t%.2f\t%.1f\t\n", r.Engine, r.Procs, r.Conns, r.Answers, r.AnswerCPUS,
		r.UsPerAnswer, r.Deliveries, r.DeliveryCPUS, r.UsPerDelivery)
	tw.Flush()
	fmt.Fprintf(w, "server_cpu_us_per_answer %.1f (workers %.1f)\nserver_cpu_us_per_delivery %.1f (workers %.1f)\n",
		r.UsPerAnswer, r.WorkersUsPerAnswer, r.UsPerDelivery, r.WorkersUsPerDelivery)
	fmt.Fprintf(w, "flood_cpu_us_per_answer %.1f\nflood_cpu_us_per_delivery %.1f\n", r.FloodUsPerAnswer, r.FloodUsPerDelivery)
}
