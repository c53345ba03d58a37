package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// IndexRow is one run in results/README.md.
type IndexRow struct {
	Dir     string // folder name under results/
	Summary Summary
	Report  bool // report.md exists
}

// ReadIndex collects every run folder under resultsDir: from summary.json when
// present, else by summarising the raw files. Folders with neither run.json nor
// summary.json are not runs and are skipped. Newest first.
func ReadIndex(resultsDir string) ([]IndexRow, error) {
	entries, err := os.ReadDir(resultsDir)
	if err != nil {
		return nil, fmt.Errorf("%w: results folder %s", ErrMissing, resultsDir)
	}
	var rows []IndexRow
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(resultsDir, e.Name())
		row := IndexRow{Dir: e.Name()}
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &row.Summary); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "summary.json"), err)
			}
		case errors.Is(err, os.ErrNotExist):
			in, err := Load(dir)
			if errors.Is(err, ErrMissing) {
				continue
			}
			if err != nil {
				return nil, err
			}
			row.Summary = Summarize(in)
		default:
			return nil, err
		}
		if row.Summary.RunID == "" {
			row.Summary.RunID = e.Name()
		}
		_, err = os.Stat(filepath.Join(dir, "report.md"))
		row.Report = err == nil
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].Summary, rows[j].Summary
		if a.StartedUTC != b.StartedUTC {
			return a.StartedUTC > b.StartedUTC
		}
		return rows[i].Dir > rows[j].Dir
	})
	return rows, nil
}

// WriteIndex writes resultsDir/README.md.
func WriteIndex(resultsDir string) error {
	rows, err := ReadIndex(resultsDir)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(resultsDir, "README.md"), IndexMarkdown(rows), 0o644)
}

// IndexMarkdown renders the results index.
func IndexMarkdown(rows []IndexRow) []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# comet-lab results\n\n")
	w("Every lab run (`make lab`) leaves a folder here; `make report RUN=results/<run-id>` summarises it. Newest first; B/conn is comet's Σ PSS ÷ connections held at the peak.\n\n")
	if len(rows) == 0 {
		w("No runs yet.\n")
		return b.Bytes()
	}
	w("| date | inventory | engine | conns target | held | B/conn | ramp | passed | report | command |\n")
	w("|---|---|---|---:|---:|---:|---:|---|---|---|\n")
	for _, r := range rows {
		s := r.Summary
		date := s.StartedUTC
		if date == "" {
			date = r.Dir
		}
		passed := "no"
		if s.Passed {
			passed = "yes"
		}
		link := "—"
		if r.Report {
			link = fmt.Sprintf("[%s](%s/report.md)", r.Dir, r.Dir)
		}
		command := "—"
		if s.Command != "" {
			command = "`" + strings.ReplaceAll(s.Command, "`", "'") + "`"
		}
		engine := orDash(s.Engine)
		if so := s.ScaleOut; so != nil {
			engine += fmt.Sprintf(" × %d servers (%s; cross-node p99 %s vs same-node %s)", so.Servers, orDash(so.Broker),
				optFloat(so.CrossNode.P99Ms, -1, " ms"), optFloat(so.SameNode.P99Ms, -1, " ms"))
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", cellText(date), cellText(orDash(s.Inventory)),
			cellText(engine), thousands(s.ConnsTarget), thousands(s.ConnsPeakHeld),
			optInt(s.ServerUserBytesPerConn), optFloat(s.RampSeconds, 1, " s"), passed, link, cellText(command))
	}

	b.WriteString(enginesMarkdown(rows))
	return b.Bytes()
}

// bestRun picks the engine's run with the lowest user B/conn, preferring passed runs.
func bestRun(rows []IndexRow, engine string) (IndexRow, bool) {
	var cands []IndexRow
	for _, r := range rows {
		if strings.EqualFold(r.Summary.Engine, engine) && r.Summary.ServerUserBytesPerConn != nil && *r.Summary.ServerUserBytesPerConn > 0 {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return IndexRow{}, false
	}
	if passed := slices.DeleteFunc(slices.Clone(cands), func(r IndexRow) bool { return !r.Summary.Passed }); len(passed) > 0 {
		cands = passed
	}
	return slices.MinFunc(cands, func(a, b IndexRow) int {
		return cmpFloat(*a.Summary.ServerUserBytesPerConn, *b.Summary.ServerUserBytesPerConn)
	}), true
}

func passedNote(runs ...Summary) string {
	for _, s := range runs {
		if !s.Passed {
			return " (an engine without a passed run is shown with its best failed run)"
		}
	}
	return " among passed runs"
}

func sortedStrings[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
