package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/comet-lab/comet-lab/src/lib/procmem"
)

// MemResult is one bench-mem measurement (also its -json line).
type MemResult struct {
	Time              time.Time `json:"t"`
	Engine            string    `json:"engine"`
	Procs             int       `json:"procs"`
	Conns             int       `json:"conns"`
	RampSeconds       float64   `json:"ramp_s"`
	CometPSS          uint64    `json:"comet_pss_bytes"`
	CometIdlePSS      uint64    `json:"comet_idle_pss_bytes"`
	BytesPerConn      float64   `json:"bytes_per_conn"`          // comet PSS / conns
	MarginalPerConn   float64   `json:"marginal_bytes_per_conn"` // (comet PSS - idle) / conns
	FloodPSS          uint64    `json:"flood_pss_bytes"`
	FloodBytesPerConn float64   `json:"flood_bytes_per_conn"`
	SlabDelta         int64     `json:"slab_delta_bytes"`
	SlabPerSocket     float64   `json:"slab_bytes_per_socket"` // 2 sockets per connection on loopback
	CometArgs         string    `json:"comet_args,omitempty"`
}

// Settle is how long bench waits after the last connection before measuring, so lazily freed memory and the
// kernel's socket caches reach their steady state.
const Settle = 3 * time.Second

// Mem measures comet's memory per held connection: idle comet first, then with o.Conns connections from flood.
// A result with CometPSS set is a complete measurement even when err reports a failure to shut down afterwards.
func Mem(ctx context.Context, o Options) (MemResult, error) {
	dir, cleanup, err := o.prepare()
	if err != nil {
		return MemResult{}, err
	}
	defer cleanup()
	c, err := startComet(&o, dir)
	if err != nil {
		return MemResult{}, err
	}
	res, err := measureMem(ctx, &o, c, dir)
	if stopErr := c.stop(15 * time.Second); err == nil && stopErr != nil {
		err = fmt.Errorf("stopping comet: %w", stopErr)
	}
	return res, err
}

func measureMem(ctx context.Context, o *Options, c *comet, dir string) (MemResult, error) {
	res := MemResult{Time: time.Now(), Engine: o.Engine, Procs: o.Procs, Conns: o.Conns, CometArgs: cometArgsString(o)}
	time.Sleep(Settle)
	idle, err := c.stats()
	if err != nil {
		return res, fmt.Errorf("idle /stats: %w", err)
	}
	res.CometIdlePSS = idle.PSSBytes
	before, err := procmem.Meminfo()
	if err != nil {
		return res, err
	}
	flood, err := startFlood(o, c, dir, "")
	if err != nil {
		return res, err
	}
	ramp, err := c.waitConns(ctx, o, uint64(o.Conns), flood, "ramp")
	if err != nil {
		flood.stop(30 * time.Second)
		return res, err
	}
	res.RampSeconds = ramp.Seconds()
	time.Sleep(Settle)
	st, err := c.stats()
	if err != nil {
		return res, fmt.Errorf("/stats: %w", err)
	}
	after, err := procmem.Meminfo()
	if err != nil {
		return res, err
	}
	floodPids, err := procTree("/proc", flood.pid())
	if err != nil {
		return res, err
	}
	if res.FloodPSS, _, err = procmem.SumRollup(floodPids); err != nil {
		return res, err
	}
	n := float64(o.Conns)
	res.CometPSS = st.PSSBytes
	res.BytesPerConn = float64(st.PSSBytes) / n
	res.MarginalPerConn = (float64(st.PSSBytes) - float64(idle.PSSBytes)) / n
	res.FloodBytesPerConn = float64(res.FloodPSS) / n
	res.SlabDelta = int64(after.Slab) - int64(before.Slab)
	res.SlabPerSocket = float64(res.SlabDelta) / (2 * n)
	// Close the connections before comet's drain, so the drain does not race hundreds of thousands of closes
	// (the goroutine engine needs seconds for them).
	if err := flood.stop(30 * time.Second); errors.Is(err, errKilled) {
		return res, err
	}
	if _, err := c.waitConns(ctx, o, 0, nil, "close"); err != nil {
		return res, err
	}
	return res, nil
}

// PrintMem writes the human table.
func PrintMem(w io.Writer, r MemResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "engine\tprocs\tconns\tramp s\tcomet PSS\tbytes/conn\tidle PSS\tmarginal bytes/conn\tflood bytes/conn\tslab bytes/socket\t\n")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%.0f\t%s\t%.0f\t%.0f\t%.0f\t\n", r.Engine, r.Procs, r.Conns, r.RampSeconds,
		human(r.CometPSS), r.BytesPerConn, human(r.CometIdlePSS), r.MarginalPerConn, r.FloodBytesPerConn, r.SlabPerSocket)
	tw.Flush()
}

// AppendJSON appends r as one JSON line to path.
func AppendJSON(path string, r any) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// human renders bytes as MiB/GiB.
func human(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
}
