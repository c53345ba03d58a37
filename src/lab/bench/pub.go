package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// PubOptions are `bench pub`'s own settings.
type PubOptions struct {
	Publishers int           // concurrent admin clients, each POSTing /pub?id=<new id> in a loop
	Window     time.Duration // how long they publish
}

// PubResult is comet's publish-to-one throughput and CPU per publish on loopback. Every worker must store each
// message (a subscriber may re-poll for it on any worker), so the figure grows with the worker count.
type PubResult struct {
	Time                time.Time `json:"time"`
	Engine              string    `json:"engine"`
	Procs               int       `json:"procs"`
	Publishers          int       `json:"publishers"`
	WindowS             float64   `json:"window_s"`
	Publishes           uint64    `json:"publishes"`
	PerSecond           float64   `json:"publishes_per_s"`
	CPUS                float64   `json:"cpu_s"`
	UsPerPublish        float64   `json:"server_cpu_us_per_publish"`
	WorkersUsPerPublish float64   `json:"workers_cpu_us_per_publish"`
}

// Pub runs comet without connections and publishes to fresh ids from po.Publishers clients for po.Window.
func Pub(ctx context.Context, o Options, po PubOptions) (PubResult, error) {
	res := PubResult{Time: time.Now(), Engine: o.Engine, Publishers: po.Publishers}
	dir, cleanup, err := o.prepare()
	if err != nil {
		return res, err
	}
	res.Procs = o.Procs
	defer cleanup()
	c, err := startComet(&o, dir)
	if err != nil {
		return res, err
	}
	defer c.stop(10 * time.Second)
	before, err := c.sampleCPU(false)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, po.Window)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: po.Publishers}}
	var published atomic.Uint64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for p := 0; p < po.Publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				url := "http://" + c.admin + "/pub?id=bench-" + strconv.Itoa(p) + "-" + strconv.Itoa(i)
				resp, err := client.Post(url, "text/plain", strings.NewReader("bench message"))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("POST /pub: %s", resp.Status)
					}
				}
				if err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				published.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := c.sampleCPU(false)
	if err != nil {
		return res, err
	}
	if firstErr != nil {
		return res, firstErr
	}
	res.WindowS, res.Publishes = elapsed.Seconds(), published.Load()
	if res.Publishes == 0 {
		return res, fmt.Errorf("no publish completed in %v", po.Window)
	}
	res.PerSecond = float64(res.Publishes) / res.WindowS
	res.CPUS = float64(after.ticks-before.ticks) / clockTicks
	res.UsPerPublish = res.CPUS / float64(res.Publishes) * 1e6
	res.WorkersUsPerPublish = float64(after.workerTicks-before.workerTicks) / clockTicks / float64(res.Publishes) * 1e6
	return res, nil
}

// PrintPub writes the result as a small table and the two key figures.
func PrintPub(w io.Writer, r PubResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "engine\tprocs\tpublishers\tpublishes\tper s\tCPU s\tµs/publish\t\n")
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.2f\t%.1f\t\n", r.Engine, r.Procs, r.Publishers, r.Publishes, r.PerSecond, r.CPUS,
		r.UsPerPublish)
	tw.Flush()
	fmt.Fprintf(w, "publishes_per_s %.0f\nserver_cpu_us_per_publish %.1f (workers %.1f)\n", r.PerSecond, r.UsPerPublish,
		r.WorkersUsPerPublish)
}
