package flood

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ChildReport is one child's cumulative counters, sent as a JSON line on its stdout; its histograms hold only the
// counts since the child's previous report (the coordinator sums them).
type ChildReport struct {
	Proc            int               `json:"proc"`
	Final           bool              `json:"final,omitempty"`
	Fatal           string            `json:"fatal,omitempty"` // the child gives up; the run fails
	Established     int               `json:"established"`
	PeakEstablished int               `json:"peak_established"`
	Connecting      int               `json:"connecting"`
	ConnectErrors   map[string]uint64 `json:"connect_errors,omitempty"`
	Responses       uint64            `json:"responses"`
	Non200          uint64            `json:"non_200"`
	Reconnects      uint64            `json:"reconnects"`
	ClosedByServer  uint64            `json:"closed_by_server"`
	ProtocolErrors  uint64            `json:"protocol_errors"`
	PortSkips       uint64            `json:"port_skips"`
	HoldCount       uint64            `json:"hold_count"`
	HoldSumMs       uint64            `json:"hold_sum_ms"`
	HoldMinMs       uint64            `json:"hold_min_ms"`
	HoldMaxMs       uint64            `json:"hold_max_ms"`
	HoldHist        Buckets           `json:"hold_hist,omitempty"`
	PushReceived    uint64            `json:"push_received"`
	PushHist        Buckets           `json:"push_hist_ms,omitempty"`
	PushPerSeq      map[uint64]uint64 `json:"push_per_seq,omitempty"`        // final report only
	PushMaxMsPerSeq map[uint64]uint64 `json:"push_max_ms_per_seq,omitempty"` // final report only: latest delivery
	MinAnswers      uint64            `json:"min_answers,omitempty"`         // final report only
	AnsweredConns   int               `json:"answered_conns,omitempty"`      // final report only: conns MinAnswers covers
	PushSeqsDropped uint64            `json:"push_seqs_dropped,omitempty"`
	PushGaps        uint64            `json:"push_gaps,omitempty"`   // answers with X-Oldest-Seq: the server dropped seqs after since
	PushMissed      uint64            `json:"push_missed,omitempty"` // the seqs those answers skipped
}

// errnoName names a connect error for counting: the errno constant name (ECONNREFUSED), else "other".
func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno%d", int(errno))
	}
	return "other"
}

// errnoHints says what a connect error usually means in this experiment.
var errnoHints = map[string]string{
	"EADDRNOTAVAIL": "source address not configured on this machine, or the source port is still tied to the target (TIME_WAIT)",
	"EADDRINUSE":    "source port taken by another socket; flood skips it",
	"ECONNREFUSED":  "server not listening or its accept backlog overflowed",
	"ETIMEDOUT":     "SYN dropped: raise net.core.somaxconn / net.ipv4.tcp_max_syn_backlog on the server or lower -rate",
	"ECONNRESET":    "server reset the connection (backlog overflow with tcp_abort_on_overflow, or server restart)",
	"EMFILE":        "per-process fd limit: raise -procs (or ulimit -n)",
	"ENFILE":        "system-wide fd limit: raise fs.file-max",
	"ENOBUFS":       "kernel out of socket memory: check net.ipv4.tcp_mem",
	"ENOMEM":        "kernel out of memory",
	"ENETUNREACH":   "no route to -target from this source address",
	"EHOSTUNREACH":  "target host unreachable from this source address",
}

// topErrors formats the n most frequent connect errors with hints, e.g.
// "ECONNREFUSED x120 (server not listening or ...)".
func topErrors(errs map[string]uint64, n int, hints bool) string {
	type kv struct {
		name  string
		count uint64
	}
	var list []kv
	for k, v := range errs {
		if v > 0 {
			list = append(list, kv{k, v})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].count != list[j].count {
			return list[i].count > list[j].count
		}
		return list[i].name < list[j].name
	})
	if len(list) > n {
		list = list[:n]
	}
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = fmt.Sprintf("%s x%d", e.name, e.count)
		if h, ok := errnoHints[e.name]; ok && hints {
			parts[i] += " (" + h + ")"
		}
	}
	return strings.Join(parts, "; ")
}
