// Command report turns a lab result folder into summary.json, report.md and
// charts, and writes the results index.
//
//	report -run results/<run-id>
//	report -index results
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/comet-lab/comet-lab/src/lab/report"
	log "github.com/sirupsen/logrus"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	runDir := fs.String("run", "", "run folder results/<run-id> to summarise")
	indexDir := fs.String("index", "", "results folder whose README.md index to (re)write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *runDir == "" && *indexDir == "" {
		return fmt.Errorf("need -run DIR and/or -index DIR")
	}
	if *runDir != "" {
		s, err := report.Generate(*runDir)
		if err != nil {
			return err
		}
		fields := log.Fields{"report": filepath.Join(*runDir, "report.md"), "held": s.ConnsPeakHeld, "passed": s.Passed}
		if s.Passed {
			log.WithFields(fields).Info("report written")
		} else {
			// A failed run still gets its report; the reasons are in it and here.
			log.WithFields(fields).WithField("reasons", s.FailureReasons).Warn("report written for a failed run")
		}
	}
	if *indexDir != "" {
		if err := report.WriteIndex(*indexDir); err != nil {
			return err
		}
		log.WithField("index", filepath.Join(*indexDir, "README.md")).Info("index written")
	}
	return nil
}
