package schema

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MonitorRow is one line of server/monitor.csv, which cmd/labmon writes every -every and the report reads. A value
// that could not be read (admin down, no comet process) is NaN and written as an empty cell.
type MonitorRow struct {
	T, ElapsedS                                       float64 // unix seconds of the sample; seconds since labmon started
	Conns, Held                                       float64 // comet's /stats
	PSS, RSS, CPUPercent                              float64 // Σ over comet's processes
	TCPInuse, TCPOrphan, TCPTW, TCPAlloc, TCPMemPages float64 // sockstat of comet's network namespace
	SlabBytes, MemAvailable                           float64 // /proc/meminfo
}

// monitorColumns is the CSV layout: column name, decimals written (-1 = as many as needed) and the field.
var monitorColumns = []struct {
	name  string
	prec  int
	field func(*MonitorRow) *float64
}{
	{"t", 3, func(r *MonitorRow) *float64 { return &r.T }},
	{"elapsed_s", 3, func(r *MonitorRow) *float64 { return &r.ElapsedS }},
	{"conns", -1, func(r *MonitorRow) *float64 { return &r.Conns }},
	{"held", -1, func(r *MonitorRow) *float64 { return &r.Held }},
	{"comet_pss_bytes", -1, func(r *MonitorRow) *float64 { return &r.PSS }},
	{"comet_rss_bytes", -1, func(r *MonitorRow) *float64 { return &r.RSS }},
	{"comet_cpu_percent", 1, func(r *MonitorRow) *float64 { return &r.CPUPercent }},
	{"tcp_inuse", -1, func(r *MonitorRow) *float64 { return &r.TCPInuse }},
	{"tcp_orphan", -1, func(r *MonitorRow) *float64 { return &r.TCPOrphan }},
	{"tcp_tw", -1, func(r *MonitorRow) *float64 { return &r.TCPTW }},
	{"tcp_alloc", -1, func(r *MonitorRow) *float64 { return &r.TCPAlloc }},
	{"tcp_mem_pages", -1, func(r *MonitorRow) *float64 { return &r.TCPMemPages }},
	{"slab_bytes", -1, func(r *MonitorRow) *float64 { return &r.SlabBytes }},
	{"mem_available_bytes", -1, func(r *MonitorRow) *float64 { return &r.MemAvailable }},
}

// MonitorColumns is the monitor.csv header.
func MonitorColumns() []string {
	names := make([]string, len(monitorColumns))
	for i, c := range monitorColumns {
		names[i] = c.name
	}
	return names
}

// Record formats the row as CSV cells in MonitorColumns order.
func (r MonitorRow) Record() []string {
	cells := make([]string, len(monitorColumns))
	for i, c := range monitorColumns {
		if v := *c.field(&r); !math.IsNaN(v) {
			cells[i] = strconv.FormatFloat(v, 'f', c.prec, 64)
		}
	}
	return cells
}

// MonitorHeader maps a monitor.csv header's column names to their positions, so that files with columns in another
// order, or with fewer or more of them, still read.
type MonitorHeader map[string]int

// ParseMonitorHeader reads the header line; it must name the column t.
func ParseMonitorHeader(header []string) (MonitorHeader, error) {
	h := MonitorHeader{}
	for i, name := range header {
		h[strings.TrimSpace(name)] = i
	}
	if _, ok := h["t"]; !ok {
		return nil, fmt.Errorf("header lacks column t")
	}
	return h, nil
}

// Row reads one record; absent, empty and unparsable cells are NaN.
func (h MonitorHeader) Row(rec []string) MonitorRow {
	var r MonitorRow
	for _, c := range monitorColumns {
		v := math.NaN()
		if i, ok := h[c.name]; ok && i < len(rec) {
			if f, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64); err == nil {
				v = f
			}
		}
		*c.field(&r) = v
	}
	return r
}
