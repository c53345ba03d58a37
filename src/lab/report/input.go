// Package report turns a lab result folder (results/<run-id>/) into summary.json,
// report.md and charts, and lists all runs in results/README.md.
package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/comet-lab/comet-lab/src/lab/plan"
	"github.com/comet-lab/comet-lab/src/lib/schema"
)

// Num is a JSON number that also accepts a numeric string or null, because
// run.json is written by Ansible templates, which quote freely.
type Num struct {
	V     float64
	Valid bool
}

// UnmarshalJSON accepts 12, 12.5, "12", "12s" (a trailing unit is dropped), null.
func (n *Num) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*n = Num{}
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimRight(strings.TrimSpace(uq), "smh")
		if s == "" {
			*n = Num{}
			return nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*n = Num{V: v, Valid: true}
	return nil
}

// Flag is a JSON bool that also accepts "true"/"yes"/"1" strings and numbers.
type Flag bool

// UnmarshalJSON implements json.Unmarshaler.
func (f *Flag) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.ToLower(strings.TrimSpace(string(b))), `"`)
	switch s {
	case "true", "yes", "on", "1":
		*f = true
	case "false", "no", "off", "0", "", "null":
		*f = false
	default:
		return fmt.Errorf("not a boolean: %s", b)
	}
	return nil
}

// Params are the experiment parameters in run.json "params".
type Params struct {
	Conns     Num    `json:"conns"`
	Rate      Num    `json:"rate"`
	DurationS Num    `json:"duration_s"`
	HoldMinS  Num    `json:"hold_min_s"`
	HoldMaxS  Num    `json:"hold_max_s"`
	Procs     Num    `json:"procs"`
	Push      Flag   `json:"push"`
	Broker    string `json:"broker"` // scale-out: "nats" when the servers shared a broker
}

// Run is run.json as written by the lab. Every field is optional.
type Run struct {
	RunID       string `json:"run_id"`
	Command     string `json:"command"` // the make command (or ansible-playbook) that made the run
	Inventory   string `json:"inventory"`
	Engine      string `json:"engine"`
	ConnsTarget Num    `json:"conns_target"`
	StartedUTC  string `json:"started_utc"`
	Params      Params `json:"params"`
	// Plan is cmd/labplan's output as the Preflight recorded it; nil in runs from before labplan existed.
	Plan   *plan.Plan `json:"plan"`
	Kernel string     `json:"kernel"`
	// ServerMachine is how the server host runs: virtualization "none", "qemu" (software emulation), "kvm", ….
	ServerMachine struct {
		Virtualization string `json:"virtualization"`
	} `json:"server_machine"`
	GoVersion      string            `json:"go_version"`
	AnsibleVersion string            `json:"ansible_version"`
	GitCommit      string            `json:"git_commit"`
	Sysctls        json.RawMessage   `json:"sysctls"` // {key: value} or a list of "key = value" / {key,value}
	SysctlsSkipped map[string]string `json:"sysctls_skipped"`
	Nofile         json.RawMessage   `json:"nofile"`
	// ServerAddrs is each comet server's lab address by host (scale-out runs: the server and its peers).
	ServerAddrs map[string]string `json:"server_addrs"`
}

// ServerAddr is the address of the server the broadcasts are published on ("" when run.json does not say).
func (r Run) ServerAddr() string { return r.ServerAddrs["server"] }

// Sysctl is one applied kernel setting as read back.
type Sysctl struct{ Key, Value string }

// SysctlList normalises the map or list forms of run.json "sysctls", sorted by key.
func (r Run) SysctlList() []Sysctl {
	var out []Sysctl
	var asMap map[string]json.RawMessage
	var asList []json.RawMessage
	switch {
	case len(r.Sysctls) == 0:
	case json.Unmarshal(r.Sysctls, &asMap) == nil:
		for k, v := range asMap {
			out = append(out, Sysctl{k, rawString(v)})
		}
	case json.Unmarshal(r.Sysctls, &asList) == nil:
		for _, item := range asList {
			var s string
			var kv struct {
				Key   string          `json:"key"`
				Name  string          `json:"name"`
				Value json.RawMessage `json:"value"`
			}
			if json.Unmarshal(item, &s) == nil {
				k, v, _ := strings.Cut(s, "=")
				out = append(out, Sysctl{strings.TrimSpace(k), strings.TrimSpace(v)})
			} else if json.Unmarshal(item, &kv) == nil {
				out = append(out, Sysctl{kv.Key + kv.Name, rawString(kv.Value)})
			}
		}
	}
	slices.SortFunc(out, func(a, b Sysctl) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func rawString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// Client is one clientN folder.
type Client struct {
	Name     string
	Lines    []schema.FloodFinal
	BadLines int // unparseable lines (e.g. a line cut off by a killed flood)
}

// Last returns the final line if there is one, else the last line, else nil.
func (c Client) Last() *schema.FloodFinal {
	if len(c.Lines) == 0 {
		return nil
	}
	return &c.Lines[len(c.Lines)-1]
}

// Final reports whether the client wrote its final line.
func (c Client) Final() bool { l := c.Last(); return l != nil && l.Final }

// Broadcast is one line of server/broadcasts.jsonl.
type Broadcast struct {
	Seq         uint64  `json:"seq"`
	SentUnix    float64 `json:"sent_unix"`
	Answered    float64 `json:"answered"`      // subscribers held at that moment (the rest fetch it on their next poll)
	AnswerS     float64 `json:"answer_s"`      // until every worker had written its answers
	ConnsAtSend float64 `json:"conns_at_send"` // /stats conns just before the POST (0 in older runs)
}

// NICCounter is one interface's packet counters.
type NICCounter struct {
	Interface            string
	RxPackets, TxPackets uint64
}

// NICTable is one nic_counters file, parsed or (when unrecognised) raw.
type NICTable struct {
	File string // path relative to the run folder
	Rows []NICCounter
	Raw  string
}

// Input is everything read from one run folder.
type Input struct {
	Dir        string
	Run        Run
	Monitor    []schema.MonitorRow
	Clients    []Client
	Stats      *schema.Stats // nil when server/stats.json is missing
	StatsEnd   *schema.Stats // server/stats_end.json (after the run, push counters final); nil when absent
	Broadcasts []Broadcast
	HaveBcast  bool   // server/broadcasts.jsonl exists
	Peers      []Peer // further servers of a scale-out run (server2/ …), already added into Monitor and Stats
	NICs       []NICTable
	Missing    []string // optional files that were absent (relative paths)
}

// ErrMissing wraps a required file or folder that does not exist.
var ErrMissing = errors.New("missing")

// Load reads a run folder. run.json and server/monitor.csv are required; every
// other file is optional and its absence is recorded in Input.Missing.
func Load(dir string) (*Input, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: run folder %s", ErrMissing, dir)
	}
	in := &Input{Dir: dir}
	if err := readJSON(filepath.Join(dir, "run.json"), &in.Run); err != nil {
		return nil, err
	}
	if in.Run.Plan != nil && in.Run.Plan.Procs == 0 {
		in.Run.Plan = nil // an empty "plan" object: the params stand
	}
	if in.Monitor, err = readMonitor(filepath.Join(dir, "server", "monitor.csv")); err != nil {
		return nil, err
	}

	var stats schema.Stats
	switch err := readJSON(filepath.Join(dir, "server", "stats.json"), &stats); {
	case err == nil:
		in.Stats = &stats
	case errors.Is(err, ErrMissing):
		in.Missing = append(in.Missing, "server/stats.json")
	default:
		return nil, err
	}

	var end schema.Stats
	switch err := readJSON(filepath.Join(dir, "server", "stats_end.json"), &end); {
	case err == nil:
		in.StatsEnd = &end
	case !errors.Is(err, ErrMissing):
		return nil, err
	}

	bpath := filepath.Join(dir, "server", "broadcasts.jsonl")
	if b, err := os.ReadFile(bpath); err == nil {
		in.HaveBcast = true
		for i, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var bc Broadcast
			if err := json.Unmarshal(line, &bc); err != nil {
				return nil, fmt.Errorf("%s line %d: %w", bpath, i+1, err)
			}
			in.Broadcasts = append(in.Broadcasts, bc)
		}
	}

	clientDirs, _ := filepath.Glob(filepath.Join(dir, "client*"))
	slices.SortFunc(clientDirs, naturalCompare)
	for _, cd := range clientDirs {
		if st, err := os.Stat(cd); err != nil || !st.IsDir() {
			continue
		}
		c, err := readFlood(cd)
		if errors.Is(err, ErrMissing) {
			in.Missing = append(in.Missing, filepath.Base(cd)+"/flood.jsonl")
			continue
		}
		if err != nil {
			return nil, err
		}
		in.Clients = append(in.Clients, c)
	}
	if len(clientDirs) == 0 {
		in.Missing = append(in.Missing, "client*/flood.jsonl")
	}

	nicFiles := []string{filepath.Join(dir, "server", "nic_counters.csv")}
	for _, cd := range clientDirs {
		nicFiles = append(nicFiles, filepath.Join(cd, "nic_counters.txt"))
	}
	for _, p := range nicFiles {
		if b, err := os.ReadFile(p); err == nil {
			rel, _ := filepath.Rel(dir, p)
			in.NICs = append(in.NICs, parseNIC(rel, b))
		}
	}
	if err := in.loadPeers(); err != nil {
		return nil, err
	}
	return in, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrMissing, path)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readMonitor(path string) ([]schema.MonitorRow, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrMissing, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1 // a sampler killed mid-write may leave a short last line
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: no header: %w", path, err)
	}
	hdr, err := schema.ParseMonitorHeader(header)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rows []schema.MonitorRow
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err != nil {
			if isEOF(err) {
				break
			}
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		if len(rec) < len(header) {
			continue // cut off mid-write: a short "2500" reads as "25", so drop the row
		}
		row := hdr.Row(rec)
		if math.IsNaN(row.T) {
			continue // a truncated line
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

func readFlood(dir string) (Client, error) {
	path := filepath.Join(dir, "flood.jsonl")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Client{}, fmt.Errorf("%w: %s", ErrMissing, path)
	}
	if err != nil {
		return Client{}, err
	}
	defer f.Close()
	c := Client{Name: filepath.Base(dir)}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 64<<20) // the final line carries whole histograms
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l schema.FloodFinal
		if err := json.Unmarshal(line, &l); err != nil {
			c.BadLines++
			continue
		}
		c.Lines = append(c.Lines, l)
	}
	if err := sc.Err(); err != nil {
		return Client{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var devLine = regexp.MustCompile(`^\s*([^\s:]+):\s*((?:\d+\s+){15}\d+)\s*$`)

// parseNIC accepts three layouts: a CSV/whitespace table with a header naming
// interface, rx_packets and tx_packets; headerless "iface rx tx" lines; and
// /proc/net/dev. Anything else is kept raw.
func parseNIC(rel string, b []byte) NICTable {
	t := NICTable{File: rel}
	ifCol, rxCol, txCol := 0, 1, 2
	for _, line := range strings.Split(string(b), "\n") {
		if m := devLine.FindStringSubmatch(line); m != nil {
			f := strings.Fields(m[2])
			rx, _ := strconv.ParseUint(f[1], 10, 64)
			tx, _ := strconv.ParseUint(f[9], 10, 64)
			t.Rows = append(t.Rows, NICCounter{m[1], rx, tx})
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == ';' })
		if i := slices.Index(f, "rx_packets"); i >= 0 {
			rxCol = i
			txCol = slices.Index(f, "tx_packets")
			ifCol = max(slices.Index(f, "interface"), slices.Index(f, "iface"), 0)
			continue
		}
		if txCol < 0 || len(f) <= max(ifCol, rxCol, txCol) {
			continue
		}
		rx, err1 := strconv.ParseUint(f[rxCol], 10, 64)
		tx, err2 := strconv.ParseUint(f[txCol], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		t.Rows = append(t.Rows, NICCounter{strings.TrimSuffix(f[ifCol], ":"), rx, tx})
	}
	if len(t.Rows) == 0 {
		t.Raw = string(b)
	}
	return t
}

// naturalCompare orders client2 before client10.
func naturalCompare(a, b string) int {
	na, nb := trailingNum(a), trailingNum(b)
	if pa, pb := strings.TrimRight(a, "0123456789"), strings.TrimRight(b, "0123456789"); pa == pb && na != nb {
		return na - nb
	}
	return strings.Compare(a, b)
}

func trailingNum(s string) int {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, _ := strconv.Atoi(s[i:])
	return n
}
