package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/comet/supervise"
	"github.com/comet-lab/comet-lab/src/lib/schema"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type published struct {
	id        string
	broadcast bool
	body      string
}

// fixture is an Admin over a real two-slot stats table, fake workers and a recording publisher.
func fixture(t *testing.T, token string) (*Admin, *[]published) {
	t.Helper()
	table, err := stats.Create(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { table.Close() })
	now := time.Unix(1_000_000, 0)
	for i, v := range []struct{ conns, held, accepted, e400, idle, hb uint64 }{
		{conns: 120, held: 100, accepted: 150, e400: 2, idle: 1, hb: 999_998},
		{conns: 80, held: 70, accepted: 90, e400: 3, idle: 4, hb: 0},
	} {
		s := table.Slot(i)
		s.Set(stats.Conns, v.conns)
		s.Set(stats.Held, v.held)
		s.Set(stats.Accepted, v.accepted)
		s.Set(stats.Err400, v.e400)
		s.Set(stats.IdleTimeouts, v.idle)
		s.Set(stats.HeartbeatUnix, v.hb)
		s.Set(stats.PushDelivered, uint64(10*(i+1)))
		s.Set(stats.PushGaps, uint64(i+1))
		s.Set(stats.PushMissed, uint64(100*(i+1)))
	}
	var pubs []published
	a := New(Options{
		Token: token, MaxMessage: 16, Engine: "netpoll", Table: table,
		Workers: func() []supervise.WorkerInfo {
			return []supervise.WorkerInfo{{Index: 0, PID: 101, Restarts: 2}, {Index: 1, PID: 102}}
		},
		Publish: func(ctx context.Context, id string, broadcast bool, body []byte) (PushResult, error) {
			pubs = append(pubs, published{id, broadcast, string(body)})
			return PushResult{Seq: 7, Answered: 3}, nil
		},
		PushCounts: func() (uint64, uint64) { return 5, 6 },
		Rollup:     func(pid int) (uint64, uint64, error) { return uint64(pid) * 1000, uint64(pid) * 2000, nil },
		Now:        func() time.Time { return now },
	})
	a.masterPID = 100 // the fake Rollup gives the master 100000 bytes of PSS
	return a, &pubs
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name, token, method, target, auth, body string
		contentLength                           int64 // -1 = chunked (unknown length)
		wantStatus                              int
		wantBody                                string // substring
	}{
		{name: "stats open", method: "GET", target: "/stats", wantStatus: 200, wantBody: `"conns": 200`},
		{name: "stats needs token", token: "s3cret", method: "GET", target: "/stats", wantStatus: 401},
		{name: "stats wrong token", token: "s3cret", method: "GET", target: "/stats", auth: "Bearer s3cre", wantStatus: 401},
		{name: "stats not bearer", token: "s3cret", method: "GET", target: "/stats", auth: "Basic s3cret", wantStatus: 401},
		{name: "stats with token", token: "s3cret", method: "GET", target: "/stats", auth: "Bearer s3cret", wantStatus: 200, wantBody: `"held": 170`},
		{name: "metrics needs token", token: "s3cret", method: "GET", target: "/metrics", wantStatus: 401},
		{name: "metrics with token", token: "s3cret", method: "GET", target: "/metrics", auth: "Bearer s3cret", wantStatus: 200, wantBody: "comet_conns 200"},
		{name: "pub needs token", token: "s3cret", method: "POST", target: "/pub?id=a", body: "hi", wantStatus: 401},
		{name: "pub with token", token: "s3cret", method: "POST", target: "/pub?id=a", auth: "Bearer s3cret", body: "hi", wantStatus: 200, wantBody: `"answered": 3`},
		{name: "pub", method: "POST", target: "/pub?id=a", body: "hi", wantStatus: 200, wantBody: `"seq": 7`},
		{name: "pub without id", method: "POST", target: "/pub", body: "hi", wantStatus: 400},
		{name: "pub empty id", method: "POST", target: "/pub?id=&x=1", body: "hi", wantStatus: 400},
		{name: "pub id too long", method: "POST", target: "/pub?id=" + strings.Repeat("x", MaxIDLen+1), body: "hi", wantStatus: 400},
		{name: "pub with GET", method: "GET", target: "/pub?id=a", wantStatus: 405},
		{name: "pub oversize", method: "POST", target: "/pub?id=a", body: strings.Repeat("x", 17), wantStatus: 413},
		{name: "pub oversize chunked", method: "POST", target: "/pub?id=a", body: strings.Repeat("x", 17), contentLength: -1, wantStatus: 413},
		{name: "pub at the limit", method: "POST", target: "/pub?id=a", body: strings.Repeat("x", 16), wantStatus: 200},
		{name: "broadcast", method: "POST", target: "/broadcast", body: "all", wantStatus: 200, wantBody: `"answered": 3`},
		{name: "broadcast oversize", method: "POST", target: "/broadcast", body: strings.Repeat("x", 100), wantStatus: 413},
		{name: "broadcast with GET", method: "GET", target: "/broadcast", wantStatus: 405},
		{name: "stats with POST", method: "POST", target: "/stats", wantStatus: 405},
		{name: "unknown path", method: "GET", target: "/nope", wantStatus: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, pubs := fixture(t, tc.token)
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.contentLength == -1 {
				req.ContentLength = -1
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("body %s does not contain %q", rec.Body, tc.wantBody)
			}
			if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			// Only accepted pushes may reach the workers.
			wantPubs := 0
			if rec.Code == 200 && tc.method == "POST" {
				wantPubs = 1
			}
			if len(*pubs) != wantPubs {
				t.Fatalf("%d publishes reached the hub, want %d", len(*pubs), wantPubs)
			}
			if wantPubs == 1 {
				got := (*pubs)[0]
				if got.body != tc.body || got.broadcast != (tc.target == "/broadcast") {
					t.Errorf("published %+v for %s %q", got, tc.target, tc.body)
				}
			}
		})
	}
}

func TestStatsJSON(t *testing.T) {
	a, _ := fixture(t, "")
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
	var st schema.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"procs", uint64(st.Procs), 2},
		{"conns", st.Conns, 200},
		{"held", st.Held, 170},
		{"accepted", st.Accepted, 240},
		{"errors[400]", st.Errors["400"], 5},
		{"idle_timeouts", st.IdleTimeouts, 5},
		{"restarts", st.Restarts, 2},
		{"pss_bytes (master+workers)", st.PSSBytes, 100_000 + 101_000 + 102_000},
		{"rss_bytes", st.RSSBytes, 2 * (100_000 + 101_000 + 102_000)},
		{"master_pss_bytes", st.MasterPSS, 100_000},
		{"push.published", st.Push.Published, 5},
		{"push.broadcasts", st.Push.Broadcasts, 6},
		{"push.delivered", st.Push.Delivered, 30},
		{"push.gaps", st.Push.Gaps, 3},
		{"push.missed", st.Push.Missed, 300},
		{"workers[0].pid", uint64(st.Workers[0].PID), 101},
		{"workers[0].pss_bytes", st.Workers[0].PSSBytes, 101_000},
		{"workers[1].conns", st.Workers[1].Conns, 80},
		{"workers[1].errors[400]", st.Workers[1].Errors["400"], 3},
		{"workers[0].heartbeat_age_s", uint64(st.Workers[0].HeartbeatAgeS), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if st.Workers[1].HeartbeatAgeS != -1 {
		t.Errorf("worker without heartbeat: age %d, want -1", st.Workers[1].HeartbeatAgeS)
	}
	if st.Engine != "netpoll" {
		t.Errorf("engine %q", st.Engine)
	}
	// Every field named in docs/interfaces.md is present.
	var raw map[string]any
	json.Unmarshal(rec.Body.Bytes(), &raw)
	for _, k := range []string{"engine", "procs", "conns", "held", "accepted", "responses", "errors", "idle_timeouts", "restarts", "pss_bytes", "rss_bytes", "push", "workers"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/stats lacks %q", k)
		}
	}
}

func TestMetricsParse(t *testing.T) {
	a, _ := fixture(t, "")
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.Reader(rec.Body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	value := func(name string, label string) float64 {
		f := families[name]
		if f == nil {
			t.Fatalf("metric %s missing", name)
		}
		for _, m := range f.Metric {
			if label == "" {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
			for _, l := range m.Label {
				if l.GetName()+"="+l.GetValue() == label {
					return m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
		t.Fatalf("metric %s{%s} missing", name, label)
		return 0
	}
	checks := []struct {
		name, label string
		want        float64
	}{
		{"comet_conns", "", 200},
		{"comet_held", "", 170},
		{"comet_accepted_total", "", 240},
		{"comet_errors_total", "kind=400", 5},
		{"comet_restarts_total", "", 2},
		{"comet_pss_bytes", "", 303_000},
		{"comet_push_gaps_total", "", 3},
		{"comet_push_missed_total", "", 300},
		{"comet_worker_conns", "worker=1", 80},
		{"comet_worker_pss_bytes", "worker=0", 101_000},
		{"comet_worker_heartbeat_age_seconds", "worker=1", -1},
	}
	for _, c := range checks {
		if got := value(c.name, c.label); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
}

func TestCheckExposure(t *testing.T) {
	tests := []struct {
		addr, token string
		wantErr     bool
	}{
		{"127.0.0.1:11182", "", false},
		{"[::1]:11182", "", false},
		{"localhost:11182", "", false},
		{"", "", false},
		{"0.0.0.0:11182", "", true},
		{":11182", "", true},
		{"10.0.0.1:11182", "", true},
		{"0.0.0.0:11182", "tok", false},
		{"nonsense", "", true},
	}
	for _, tc := range tests {
		err := CheckExposure(tc.addr, tc.token)
		if (err != nil) != tc.wantErr {
			t.Errorf("CheckExposure(%q, %q) = %v, want error %v", tc.addr, tc.token, err, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "-admin") {
			t.Errorf("error %q does not name -admin", err)
		}
	}
}

func TestPublishErrorIs500(t *testing.T) {
	a, _ := fixture(t, "")
	a.opt.Publish = func(context.Context, string, bool, []byte) (PushResult, error) {
		return PushResult{}, errors.New("boom")
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/broadcast", strings.NewReader("x")))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
}

// With -broker the answer says how far a publish went: through the broker (200) or this node only (202).
func TestPublishScope(t *testing.T) {
	tests := []struct {
		name       string
		res        PushResult
		wantStatus int
		wantHeader string
		wantBody   string
	}{
		{"no broker", PushResult{Seq: 7, Answered: 3}, 200, "", `"answered": 3`},
		{"through the broker", PushResult{Seq: 7_000_000, Answered: 3, Scope: "cluster"}, 200, "cluster", `"scope": "cluster"`},
		{"broker down", PushResult{Seq: 7_000_001, Answered: 1, Scope: "local", BrokerError: "broker unreachable"}, 202, "local",
			`"broker_error": "broker unreachable"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := fixture(t, "")
			a.opt.Publish = func(context.Context, string, bool, []byte) (PushResult, error) { return tc.res, nil }
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/pub?id=x", strings.NewReader("m")))
			if rec.Code != tc.wantStatus || rec.Header().Get(ScopeHeader) != tc.wantHeader ||
				!strings.Contains(rec.Body.String(), tc.wantBody) || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("status %d %s %q content-type %q body %s; want %d, %q, body with %s", rec.Code, ScopeHeader,
					rec.Header().Get(ScopeHeader), rec.Header().Get("Content-Type"), rec.Body, tc.wantStatus, tc.wantHeader, tc.wantBody)
			}
		})
	}
}

// The broker section is in /stats and /metrics only when comet runs with -broker.
func TestBrokerStats(t *testing.T) {
	a, _ := fixture(t, "")
	get := func(target string) string {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		return rec.Body.String()
	}
	if s, m := get("/stats"), get("/metrics"); strings.Contains(s, `"broker"`) || strings.Contains(m, "comet_broker") {
		t.Errorf("without a broker /stats or /metrics has a broker section:\n%s\n%s", s, m)
	}
	a.opt.Broker = func() *schema.BrokerStats {
		return &schema.BrokerStats{Connected: true, Reconnects: 2, In: 30, Out: 10, LocalOnly: 4, Dropped: 1}
	}
	var st schema.Stats
	if err := json.Unmarshal([]byte(get("/stats")), &st); err != nil {
		t.Fatal(err)
	}
	if want := (schema.BrokerStats{Connected: true, Reconnects: 2, In: 30, Out: 10, LocalOnly: 4, Dropped: 1}); st.Broker == nil || *st.Broker != want {
		t.Errorf("/stats broker = %+v, want %+v", st.Broker, want)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(get("/metrics")))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	for name, want := range map[string]float64{
		"comet_broker_connected": 1, "comet_broker_reconnects_total": 2, "comet_broker_messages_in_total": 30,
		"comet_broker_messages_out_total": 10, "comet_broker_local_only_total": 4, "comet_broker_dropped_total": 1,
	} {
		f := families[name]
		if f == nil || len(f.Metric) != 1 {
			t.Errorf("metric %s missing", name)
			continue
		}
		if got := f.Metric[0].GetGauge().GetValue() + f.Metric[0].GetCounter().GetValue(); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
