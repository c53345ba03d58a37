package schema

// FloodLine is one line of flood's -out JSON lines (clientN/flood.jsonl in a run), written every second; field
// names are the contract in docs/flood.md.
type FloodLine struct {
	T              float64           `json:"t"`
	ElapsedS       float64           `json:"elapsed_s"`
	Target         string            `json:"target"`
	ConnsTarget    int               `json:"conns_target"`
	Established    int               `json:"established"`
	Connecting     int               `json:"connecting"`
	ConnectErrors  map[string]uint64 `json:"connect_errors"`
	Responses      uint64            `json:"responses"`
	Reconnects     uint64            `json:"reconnects"`
	ClosedByServer uint64            `json:"closed_by_server"`
	HoldMinS       float64           `json:"hold_min_s"`
	HoldAvgS       float64           `json:"hold_avg_s"`
	HoldMaxS       float64           `json:"hold_max_s"`
	PushReceived   uint64            `json:"push_received"`
	// Push latencies in whole milliseconds (float64 so that readers also take hand-made or rounded values).
	PushP50Ms       float64 `json:"push_p50_ms"`
	PushP99Ms       float64 `json:"push_p99_ms"`
	PushMaxMs       float64 `json:"push_max_ms"`
	Procs           int     `json:"procs"`
	PeakEstablished int     `json:"peak_established"`
	RampS           float64 `json:"ramp_s"` // time until established first reached conns_target; 0 = not yet
	Non200          uint64  `json:"non_200"`
	ProtocolErrors  uint64  `json:"protocol_errors"`
	PortSkips       uint64  `json:"port_skips"`
	PSSBytes        uint64  `json:"flood_pss_bytes"` // Σ PSS of the children
	// PushGaps counts answers carrying X-Oldest-Seq (the server dropped seqs after the poll's since before the
	// connection came back); PushMissed is the seqs they skipped (Σ oldest - since - 1).
	PushGaps   uint64 `json:"push_gaps"`
	PushMissed uint64 `json:"push_missed"`
}

// FloodFinal is flood's last -out line: a FloodLine with the verdict and the histograms. Earlier lines decode
// into it with the extra fields zero.
type FloodFinal struct {
	FloodLine
	Final             bool              `json:"final"`
	Passed            bool              `json:"passed"`
	Message           string            `json:"message"`
	HoldHist          map[int]uint64    `json:"hold_hist"`
	PushHistMs        map[int]uint64    `json:"push_hist_ms"`
	PushPerSeq        map[uint64]uint64 `json:"push_per_seq"`
	PushMaxMsPerSeq   map[uint64]uint64 `json:"push_max_ms_per_seq"` // per seq: the latest delivery, ms after publish
	PSSPerConn        float64           `json:"flood_pss_per_conn_bytes"`
	MinEstablishedPst int               `json:"min_established_after_ramp"`
	MinAnswersPerConn uint64            `json:"min_answers_per_conn"` // fewest responses any connection open at the end got
}
