package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/comet-lab/comet-lab/src/lib/schema"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart names, without extension; each is written as .png and .svg into charts/.
const (
	ChartConnections  = "connections"
	ChartMemory       = "memory"
	ChartBytesPerConn = "bytes_per_conn"
	ChartCPU          = "cpu"
	ChartHolds        = "holds"
	ChartPushLatency  = "push_latency"
)

const mib = 1 << 20

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // blue
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, // red
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // green
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // orange
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, // purple
	color.RGBA{0x8c, 0x56, 0x4b, 0xff}, // brown
	color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, // grey
}

// WriteCharts renders every chart the data supports into dir and returns the
// names written (without extension), in report order.
func WriteCharts(in *Input, s Summary, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	t0 := startTime(in)
	builders := []struct {
		name  string
		build func() (*plot.Plot, error)
	}{
		{ChartConnections, func() (*plot.Plot, error) { return connectionsChart(in, s, t0) }},
		{ChartMemory, func() (*plot.Plot, error) { return memoryChart(in, t0) }},
		{ChartBytesPerConn, func() (*plot.Plot, error) { return bytesPerConnChart(in, s) }},
		{ChartCPU, func() (*plot.Plot, error) { return cpuChart(in, s, t0) }},
		{ChartHolds, func() (*plot.Plot, error) { return holdsChart(in) }},
		{ChartPushLatency, func() (*plot.Plot, error) { return pushChart(in) }},
	}
	var written []string
	for _, b := range builders {
		p, err := b.build()
		if err != nil {
			return written, fmt.Errorf("chart %s: %w", b.name, err)
		}
		if p == nil {
			continue // no data for this chart in this run
		}
		for _, ext := range []string{".png", ".svg"} {
			if err := p.Save(10*vg.Inch, 5.5*vg.Inch, filepath.Join(dir, b.name+ext)); err != nil {
				return written, fmt.Errorf("chart %s%s: %w", b.name, ext, err)
			}
		}
		written = append(written, b.name)
	}
	return written, nil
}

// startTime is the earliest timestamp of the run, the zero of the time axes.
func startTime(in *Input) float64 {
	t0 := math.Inf(1)
	if len(in.Monitor) > 0 {
		t0 = in.Monitor[0].T
	}
	for _, c := range in.Clients {
		if len(c.Lines) > 0 {
			t0 = math.Min(t0, c.Lines[0].T)
		}
	}
	if math.IsInf(t0, 0) {
		return 0
	}
	return t0
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text, p.Y.Label.Text = x, y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(12)
		a.Tick.Label.Font.Size = vg.Points(11)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(8)
	p.Add(plotter.NewGrid())
	return p
}

// headroom raises the Y axis above the data so a top legend of n entries does
// not cover the lines (gonum legends have no background).
func headroom(p *plot.Plot, all []plotter.XYs, n int) {
	top := math.Inf(-1)
	for _, xys := range all {
		for _, pt := range xys {
			top = math.Max(top, pt.Y)
		}
	}
	if top > 0 {
		p.Y.Max = top * (1.08 + 0.075*float64(n))
	}
}

// series keeps the points of rows where both values are numbers.
func series[T any](rows []T, x, y func(T) float64) plotter.XYs {
	var xys plotter.XYs
	for _, r := range rows {
		xv, yv := x(r), y(r)
		if !math.IsNaN(xv) && !math.IsNaN(yv) && !math.IsInf(yv, 0) {
			xys = append(xys, plotter.XY{X: xv, Y: yv})
		}
	}
	return xys
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func connectionsChart(in *Input, s Summary, t0 float64) (*plot.Plot, error) {
	p := newPlot("Connections", "seconds since start", "connections")
	mon := func(r schema.MonitorRow) float64 { return r.T - t0 }
	held := series(in.Monitor, mon, func(r schema.MonitorRow) float64 { return r.Conns })
	if err := addLine(p, "held at server", held, palette[0], false); err != nil {
		return nil, err
	}
	heldReqs := series(in.Monitor, mon, func(r schema.MonitorRow) float64 { return r.Held })
	if err := addLine(p, "requests held", heldReqs, palette[6], true); err != nil {
		return nil, err
	}
	all := []plotter.XYs{held, heldReqs}
	for i, c := range in.Clients {
		xys := series(c.Lines, func(l schema.FloodFinal) float64 { return l.T - t0 }, func(l schema.FloodFinal) float64 { return float64(l.Established) })
		all = append(all, xys)
		if err := addLine(p, c.Name+" established", xys, palette[(i+2)%len(palette)], false); err != nil {
			return nil, err
		}
	}
	xmin, xmax := xRange(all...)
	if math.IsInf(xmin, 0) {
		return nil, nil
	}
	if s.ConnsTarget > 0 {
		target := plotter.XYs{{X: xmin, Y: s.ConnsTarget}, {X: xmax, Y: s.ConnsTarget}}
		if err := addLine(p, "target", target, palette[1], true); err != nil {
			return nil, err
		}
		all = append(all, target)
	}
	p.Y.Min = 0
	headroom(p, all, 3+len(in.Clients))
	return p, nil
}

// xRange returns the X extent of some series.
func xRange(all ...plotter.XYs) (float64, float64) {
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, xys := range all {
		for _, p := range xys {
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
		}
	}
	return xmin, xmax
}

func memoryChart(in *Input, t0 float64) (*plot.Plot, error) {
	p := newPlot("Memory", "seconds since start", "MiB")
	x := func(r schema.MonitorRow) float64 { return r.T - t0 }
	slab0 := firstValid(in.Monitor, func(r schema.MonitorRow) float64 { return r.SlabBytes })
	avail0 := firstValid(in.Monitor, func(r schema.MonitorRow) float64 { return r.MemAvailable })
	lines := []struct {
		name string
		y    func(schema.MonitorRow) float64
	}{
		{"comet Σ PSS", func(r schema.MonitorRow) float64 { return r.PSS / mib }},
		{"Slab growth since start", func(r schema.MonitorRow) float64 { return (r.SlabBytes - slab0) / mib }},
		{"TCP buffers (sockstat mem)", func(r schema.MonitorRow) float64 { return r.TCPMemPages * 4096 / mib }},
		{"MemAvailable drop since start", func(r schema.MonitorRow) float64 { return (avail0 - r.MemAvailable) / mib }},
	}
	var all []plotter.XYs
	n := 0
	for i, l := range lines {
		xys := series(in.Monitor, x, l.y)
		n += len(xys)
		all = append(all, xys)
		if err := addLine(p, l.name, xys, palette[i], i == 3); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, nil
	}
	headroom(p, all, len(lines))
	return p, nil
}

func bytesPerConnChart(in *Input, s Summary) (*plot.Plot, error) {
	// Per-connection figures are meaningless at a handful of connections (the fixed
	// cost dominates), so only samples above 5% of the peak are drawn.
	minConns := math.Max(1, s.ConnsPeakHeld/20)
	rows := make([]schema.MonitorRow, 0, len(in.Monitor))
	for _, r := range in.Monitor {
		if r.Conns >= minConns {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	p := newPlot("Bytes per connection", "connections held", "bytes")
	x := func(r schema.MonitorRow) float64 { return r.Conns }
	if err := addScatter(p, "user: Σ PSS / conns", series(rows, x, func(r schema.MonitorRow) float64 { return r.PSS / r.Conns }), palette[0]); err != nil {
		return nil, err
	}
	slab0 := firstValid(in.Monitor, func(r schema.MonitorRow) float64 { return r.SlabBytes })
	kernel := series(rows, x, func(r schema.MonitorRow) float64 { return (r.SlabBytes - slab0) / (s.SocketsPerConn * r.Conns) })
	if err := addScatter(p, "kernel: Slab growth / socket", kernel, palette[1]); err != nil {
		return nil, err
	}
	if s.ServerUserSlopeBytesPerConn != nil && s.ServerUserFixedBytes != nil {
		b, a := *s.ServerUserSlopeBytesPerConn, *s.ServerUserFixedBytes
		var fit plotter.XYs
		lo, hi := rows[0].Conns, s.ConnsPeakHeld
		for i := 0; i <= 50; i++ {
			c := lo + (hi-lo)*float64(i)/50
			if c > 0 {
				fit = append(fit, plotter.XY{X: c, Y: a/c + b})
			}
		}
		if err := addLine(p, fmt.Sprintf("fit: Σ PSS = %.1f MiB + %.0f B × conns, ÷ conns", a/mib, b), fit, palette[2], false); err != nil {
			return nil, err
		}
		if err := addLine(p, fmt.Sprintf("slope %.0f B/conn", b), plotter.XYs{{X: lo, Y: b}, {X: hi, Y: b}}, palette[2], true); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	p.Legend.Left = false
	return p, nil
}

func addScatter(p *plot.Plot, name string, xys plotter.XYs, c color.Color) error {
	if len(xys) == 0 {
		return nil
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	p.Add(sc)
	p.Legend.Add(name, sc)
	return nil
}

func cpuChart(in *Input, s Summary, t0 float64) (*plot.Plot, error) {
	xys := series(in.Monitor, func(r schema.MonitorRow) float64 { return r.T - t0 }, func(r schema.MonitorRow) float64 { return r.CPUPercent })
	if len(xys) == 0 {
		return nil, nil
	}
	p := newPlot("comet CPU (100% = one core)", "seconds since start", "CPU %")
	if err := addLine(p, "comet processes", xys, palette[0], false); err != nil {
		return nil, err
	}
	if s.CometCPUPercentHold != nil && !math.IsNaN(s.rampEndUnix) {
		end := xys[len(xys)-1].X
		mean := plotter.XYs{{X: s.rampEndUnix - t0, Y: *s.CometCPUPercentHold}, {X: end, Y: *s.CometCPUPercentHold}}
		if err := addLine(p, fmt.Sprintf("mean while holding %.1f%%", *s.CometCPUPercentHold), mean, palette[1], true); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	headroom(p, []plotter.XYs{xys}, 2)
	return p, nil
}

// mergedHist adds one histogram field of every client's last line.
func mergedHist(in *Input, field func(*schema.FloodFinal) map[int]uint64) map[float64]float64 {
	out := map[float64]float64{}
	for _, c := range in.Clients {
		if l := c.Last(); l != nil {
			for k, n := range field(l) {
				out[float64(k)] += float64(n)
			}
		}
	}
	return out
}

func holdsChart(in *Input) (*plot.Plot, error) {
	hist := mergedHist(in, func(l *schema.FloodFinal) map[int]uint64 { return l.HoldHist })
	if len(hist) == 0 {
		return nil, nil
	}
	secs := sortedKeys(hist)
	h := &plotter.Histogram{FillColor: palette[0], LineStyle: draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}, Width: 1}
	var top float64
	for _, sec := range secs {
		h.Bins = append(h.Bins, plotter.HistogramBin{Min: sec, Max: sec + 1, Weight: hist[sec]})
		top = math.Max(top, hist[sec])
	}
	p := newPlot("Observed hold times (all clients)", "hold time, whole seconds", "responses")
	p.Add(h)
	p.Legend.Add("observed", h)
	params := in.Run.Params
	for i, bound := range []struct {
		name string
		v    Num
	}{{"configured hold-min", params.HoldMinS}, {"configured hold-max", params.HoldMaxS}} {
		if bound.v.Valid {
			line := plotter.XYs{{X: bound.v.V, Y: 0}, {X: bound.v.V, Y: top * 1.05}}
			if err := addLine(p, fmt.Sprintf("%s %gs", bound.name, bound.v.V), line, palette[1+i], true); err != nil {
				return nil, err
			}
		}
	}
	// Margins around data and bounds keep the bound lines off the frame and the legend.
	lo, hi := secs[0], secs[len(secs)-1]+1
	if params.HoldMinS.Valid {
		lo = math.Min(lo, params.HoldMinS.V)
	}
	if params.HoldMaxS.Valid {
		hi = math.Max(hi, params.HoldMaxS.V)
	}
	pad := math.Max(2, (hi-lo)*0.05)
	p.X.Min, p.X.Max = lo-pad, hi+pad
	p.Y.Min, p.Y.Max = 0, top*1.35
	p.Legend.Left = false
	return p, nil
}

func pushChart(in *Input) (*plot.Plot, error) {
	hist := mergedHist(in, func(l *schema.FloodFinal) map[int]uint64 { return l.PushHistMs })
	var total float64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return nil, nil
	}
	bounds := sortedKeys(hist)
	// A log axis cannot show 0 ms: such a bucket is drawn at a tenth of the next bound.
	floor := 0.01
	for _, b := range bounds {
		if b > 0 {
			floor = b / 10
			break
		}
	}
	// Start the curve at 0% so a single bucket still spans a range on the log axis.
	cdf := plotter.XYs{{X: floor, Y: 0}}
	if bounds[0] <= floor {
		cdf[0].X = floor / 10
	}
	var cum float64
	for _, b := range bounds {
		cum += hist[b]
		cdf = append(cdf, plotter.XY{X: math.Max(b, floor), Y: 100 * cum / total})
	}
	p := newPlot("Push latency, publish to client (CDF)", "latency bucket upper bound, ms (log)", "% of messages delivered within")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	lp, sc, err := plotter.NewLinePoints(cdf)
	if err != nil {
		return nil, err
	}
	lp.Color, lp.Width = palette[0], vg.Points(2)
	sc.GlyphStyle = draw.GlyphStyle{Color: palette[0], Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
	p.Add(lp, sc)
	p.Legend.Add(fmt.Sprintf("%s messages", strconv.FormatFloat(total, 'f', 0, 64)), lp, sc)
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.YOffs = vg.Points(20)
	return p, nil
}

func sortedKeys(m map[float64]float64) []float64 {
	keys := make([]float64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Float64s(keys)
	return keys
}
