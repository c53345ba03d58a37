// Command report turns a lab result folder into summary.json, report.md and
// charts, and writes the results index.
//
//	report -run results/<run-id>
//	report -index results
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/comet-lab/comet-lab/src/lab/report"
	log "github.com/sirupsen/logrus"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 0 done, 1 failed, 2 usage.
func run(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runDir := fs.String("run", "", "run folder results/<run-id> to summarise")
	indexDir := fs.String("index", "", "results folder whose README.md index to (re)write")
	if err := fs.Parse(args); err != nil {
		return usageStatus(err)
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "report: unexpected arguments: %v\n", fs.Args())
		return 2
	case *runDir == "" && *indexDir == "":
		fmt.Fprintln(stderr, "report: need -run DIR and/or -index DIR")
		return 2
	}
	if err := generate(*runDir, *indexDir); err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return 1
	}
	return 0
}

// usageStatus is the exit status for a flag error: 0 for -h, else 2 (the flag package printed the message).
func usageStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func generate(runDir, indexDir string) error {
	if runDir != "" {
		s, err := report.Generate(runDir)
		if err != nil {
			return err
		}
		fields := log.Fields{"report": filepath.Join(runDir, "report.md"), "held": s.ConnsPeakHeld, "passed": s.Passed}
		if s.Passed {
			log.WithFields(fields).Info("report written")
		} else {
			// A failed run still gets its report; the reasons are in it and here.
			log.WithFields(fields).WithField("reasons", s.FailureReasons).Warn("report written for a failed run")
		}
	}
	if indexDir != "" {
		if err := report.WriteIndex(indexDir); err != nil {
			return err
		}
		log.WithField("index", filepath.Join(indexDir, "README.md")).Info("index written")
	}
	return nil
}
