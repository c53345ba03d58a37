package admin

import (
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/comet/supervise"
	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// Snapshot reads the counters page and /proc.
func (a *Admin) Snapshot() schema.Stats {
	st := schema.Stats{Engine: a.opt.Engine, Errors: map[string]uint64{}, MasterPID: a.masterPID, MasterGoroutines: runtime.NumGoroutine()}
	st.MasterPSS, st.MasterRSS = a.rollup(a.masterPID)
	st.PSSBytes, st.RSSBytes = st.MasterPSS, st.MasterRSS
	st.Push.Published, st.Push.Broadcasts = a.opt.PushCounts()
	if a.opt.Broker != nil {
		st.Broker = a.opt.Broker()
		st.Broker.PSSBytes, st.Broker.RSSBytes = a.rollup(st.Broker.PID)
		st.PSSBytes += st.Broker.PSSBytes
		st.RSSBytes += st.Broker.RSSBytes
	}
	now := a.opt.Now().Unix()
	var workers []supervise.WorkerInfo
	if a.opt.Workers != nil {
		workers = a.opt.Workers()
	}
	st.Procs = len(workers)
	for _, in := range workers {
		slot := a.opt.Table.Slot(in.Index)
		ws := schema.WorkerStats{
			Index: in.Index, PID: in.PID, Restarts: in.Restarts, Errors: map[string]uint64{},
			Conns: slot.Get(stats.Conns), Held: slot.Get(stats.Held), Accepted: slot.Get(stats.Accepted),
			Responses: slot.Get(stats.Responses), IdleTimeouts: slot.Get(stats.IdleTimeouts), HeartbeatAgeS: -1,
			Goroutines: slot.Get(stats.Goroutines),
		}
		if hb := int64(slot.Get(stats.HeartbeatUnix)); hb > 0 {
			ws.HeartbeatAgeS = max(now-hb, 0)
		}
		for _, c := range stats.ErrorCounters {
			n := slot.Get(c)
			ws.Errors[stats.ErrorKind(c)] = n
			st.Errors[stats.ErrorKind(c)] += n
		}
		ws.PSSBytes, ws.RSSBytes = a.rollup(in.PID)
		st.Conns += ws.Conns
		st.Held += ws.Held
		st.Accepted += ws.Accepted
		st.Responses += ws.Responses
		st.IdleTimeouts += ws.IdleTimeouts
		st.Goroutines += ws.Goroutines
		st.Restarts += ws.Restarts
		st.PSSBytes += ws.PSSBytes
		st.RSSBytes += ws.RSSBytes
		st.Push.Delivered += slot.Get(stats.PushDelivered)
		st.Push.Gaps += slot.Get(stats.PushGaps)
		st.Push.Missed += slot.Get(stats.PushMissed)
		st.Workers = append(st.Workers, ws)
	}
	return st
}

func (a *Admin) serveStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, a.Snapshot())
}

// serveMetrics renders the Prometheus text exposition format by hand instead of with
// github.com/prometheus/client_golang: the workers are the master's binary, and linking the library costs every
// process its initialisation — measured ≈ 720 kB PSS each, 8.7 MB Σ PSS on comet -procs 11, +45 B/conn at 200k
// connections (+20 %; docs/interfaces.md). TestMetricsParse checks the output with Prometheus' own parser.
func (a *Admin) serveMetrics(w http.ResponseWriter, r *http.Request) {
	st := a.Snapshot()
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name, labels string, v uint64) {
		if labels != "" {
			labels = "{" + labels + "}"
		}
		fmt.Fprintf(&b, "%s%s %d\n", name, labels, v)
	}
	scalar := func(name, typ, help string, v uint64) {
		family(name, typ, help)
		sample(name, "", v)
	}
	scalar("comet_procs", "gauge", "Worker processes.", uint64(st.Procs))
	scalar("comet_conns", "gauge", "Open client connections.", st.Conns)
	scalar("comet_held", "gauge", "Requests held, waiting for their answer.", st.Held)
	scalar("comet_accepted_total", "counter", "Connections accepted.", st.Accepted)
	scalar("comet_responses_total", "counter", "Responses written.", st.Responses)
	family("comet_errors_total", "counter", "Error responses and abnormal closes by kind.")
	kinds := make([]string, 0, len(st.Errors))
	for k := range st.Errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		sample("comet_errors_total", `kind="`+k+`"`, st.Errors[k])
	}
	scalar("comet_idle_timeouts_total", "counter", "Connections closed for sending no request within -idle-timeout.", st.IdleTimeouts)
	scalar("comet_restarts_total", "counter", "Worker restarts.", st.Restarts)
	scalar("comet_pss_bytes", "gauge", "Proportional set size of master and workers.", st.PSSBytes)
	scalar("comet_rss_bytes", "gauge", "Resident set size of master and workers.", st.RSSBytes)
	scalar("comet_master_pss_bytes", "gauge", "Proportional set size of the master.", st.MasterPSS)
	scalar("comet_push_published_total", "counter", "Messages published to one subscriber id.", st.Push.Published)
	scalar("comet_push_broadcasts_total", "counter", "Messages broadcast to every subscriber.", st.Push.Broadcasts)
	scalar("comet_push_delivered_total", "counter", "Messages delivered to subscribers.", st.Push.Delivered)
	scalar("comet_push_gaps_total", "counter", "Answers telling a subscriber that messages after its since were dropped (X-Oldest-Seq).", st.Push.Gaps)
	scalar("comet_push_missed_total", "counter", "Seqs dropped from the ring before a re-polling subscriber saw them.", st.Push.Missed)
	if b := st.Broker; b != nil {
		scalar("comet_broker_connected", "gauge", "1 while the master is connected to the broker (-broker).", b2u(b.Connected))
		scalar("comet_broker_reconnects_total", "counter", "Reconnections to the broker after the connection was lost.", b.Reconnects)
		scalar("comet_broker_messages_in_total", "counter", "Stream messages received from the broker and handed to the workers.", b.In)
		scalar("comet_broker_messages_out_total", "counter", "Publishes the broker's stream acknowledged.", b.Out)
		scalar("comet_broker_local_only_total", "counter", "Publishes delivered on this node only because the broker was unreachable.", b.LocalOnly)
		scalar("comet_broker_dropped_total", "counter", "Stream messages this node never received (discarded by the stream's limits first).", b.Dropped)
	}

	perWorker := []struct {
		name, typ, help string
		value           func(schema.WorkerStats) uint64
	}{
		{"comet_worker_conns", "gauge", "Open connections per worker.", func(w schema.WorkerStats) uint64 { return w.Conns }},
		{"comet_worker_held", "gauge", "Held requests per worker.", func(w schema.WorkerStats) uint64 { return w.Held }},
		{"comet_worker_accepted_total", "counter", "Connections accepted per worker (since its start).", func(w schema.WorkerStats) uint64 { return w.Accepted }},
		{"comet_worker_pss_bytes", "gauge", "Proportional set size per worker.", func(w schema.WorkerStats) uint64 { return w.PSSBytes }},
		{"comet_worker_restarts_total", "counter", "Restarts per worker slot.", func(w schema.WorkerStats) uint64 { return w.Restarts }},
		{"comet_worker_pid", "gauge", "Process id per worker slot (0 while restarting).", func(w schema.WorkerStats) uint64 { return uint64(w.PID) }},
	}
	for _, m := range perWorker {
		family(m.name, m.typ, m.help)
		for _, ws := range st.Workers {
			sample(m.name, `worker="`+strconv.Itoa(ws.Index)+`"`, m.value(ws))
		}
	}
	family("comet_worker_heartbeat_age_seconds", "gauge", "Seconds since the worker's last heartbeat (-1 before the first).")
	for _, ws := range st.Workers {
		fmt.Fprintf(&b, "comet_worker_heartbeat_age_seconds{worker=\"%d\"} %d\n", ws.Index, ws.HeartbeatAgeS)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
