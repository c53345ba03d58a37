// Package schema declares, once, the documents comet-lab's programs exchange: comet's /stats (Stats), flood's
// -out JSON lines (FloodLine, FloodFinal) and the monitor's server/monitor.csv columns (MonitorRow). The writer
// encodes these types and every reader (enginetest, bench, labmon, report) decodes into them. docs/interfaces.md
// describes the fields.
package schema

// Stats is comet's /stats document: the totals over the workers, plus the master's own pid and memory.
type Stats struct {
	Engine           string            `json:"engine"`
	Procs            int               `json:"procs"`
	Conns            uint64            `json:"conns"`
	Held             uint64            `json:"held"`
	Accepted         uint64            `json:"accepted"`
	Responses        uint64            `json:"responses"`
	Errors           map[string]uint64 `json:"errors"`
	IdleTimeouts     uint64            `json:"idle_timeouts"`
	Restarts         uint64            `json:"restarts"`
	Goroutines       uint64            `json:"goroutines"` // Σ over workers (each stamps runtime.NumGoroutine with its heartbeat)
	PSSBytes         uint64            `json:"pss_bytes"`  // master + workers
	RSSBytes         uint64            `json:"rss_bytes"`
	MasterPID        int               `json:"master_pid"`
	MasterPSS        uint64            `json:"master_pss_bytes"`
	MasterRSS        uint64            `json:"master_rss_bytes"`
	MasterGoroutines int               `json:"master_goroutines"` // the master's own (admin, hub, broker connection)
	Push             PushStats         `json:"push"`
	Broker           *BrokerStats      `json:"broker,omitempty"` // only with -broker
	Workers          []WorkerStats     `json:"workers"`
}

// BrokerStats is the master's broker connection (comet -broker): its state, and the messages through it.
type BrokerStats struct {
	Connected  bool   `json:"connected"`
	Reconnects uint64 `json:"reconnects"` // successful reconnections after the connection was lost
	In         uint64 `json:"in"`         // stream messages received and handed to the workers (this node's own included)
	Out        uint64 `json:"out"`        // publishes the stream acknowledged
	LocalOnly  uint64 `json:"local_only"` // publishes delivered on this node only: the broker was unreachable
	Dropped    uint64 `json:"dropped"`    // stream messages this node never received (discarded by the stream's limits first)
	// The comet-broker process that holds the connection (its PSS/RSS are also in the top-level totals).
	PID        int    `json:"pid"`
	PSSBytes   uint64 `json:"pss_bytes"`
	RSSBytes   uint64 `json:"rss_bytes"`
	Goroutines uint64 `json:"goroutines"`
}

// PushStats counts push traffic: what the master sent, and what the workers delivered to subscribers.
type PushStats struct {
	Published  uint64 `json:"published"`
	Broadcasts uint64 `json:"broadcasts"`
	Delivered  uint64 `json:"delivered"`
	// Gaps counts answers that told a subscriber (X-Oldest-Seq) that messages after its since were dropped from
	// the ring before it came back; Missed the seqs those answers skipped. Nothing is dropped silently.
	Gaps   uint64 `json:"gaps"`
	Missed uint64 `json:"missed"`
}

// WorkerStats is one worker slot.
type WorkerStats struct {
	Index        int               `json:"index"`
	PID          int               `json:"pid"`
	Conns        uint64            `json:"conns"`
	Held         uint64            `json:"held"`
	Accepted     uint64            `json:"accepted"`
	Responses    uint64            `json:"responses"`
	PSSBytes     uint64            `json:"pss_bytes"`
	RSSBytes     uint64            `json:"rss_bytes"`
	Restarts     uint64            `json:"restarts"`
	Errors       map[string]uint64 `json:"errors"`
	IdleTimeouts uint64            `json:"idle_timeouts"`
	Goroutines   uint64            `json:"goroutines"`
	// HeartbeatAgeS is the seconds since the worker last stamped its slot; -1 before the first beat. A growing
	// age with a live pid means a stuck event loop.
	HeartbeatAgeS int64 `json:"heartbeat_age_s"`
}
