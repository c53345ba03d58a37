// Package conformance is the hostile-input suite run against every engine — comet netpoll, comet goroutine and
// nginx + nchan: one table of raw requests, each written to a loopback TCP socket, with the outcome the RFC asks
// for (comet's expected column) and the outcome each other engine really gives (measured, recorded in the table).
// docs/conformance.md is generated from the same table (TestDoc fails when they differ), so doc and test cannot
// drift.
package conformance

import (
	"strconv"
	"strings"
)

// An outcome is written as the answers in order, then "close" or "open" for the connection after them:
// "400 close", "served open", "served 400 close", "405+Allow close". "served" is the engine's normal answer to a
// held /sub poll (comet: 200 when the hold ends; nchan: its subscriber timeout answer). "garbage" is bytes that are
// not an HTTP response. A pattern may use x for any digit ("4xx close").
type outcome string

// observed is what a probe saw.
type observed struct {
	answers []answer
	garbage bool
	closed  bool
}

type answer struct {
	status int
	allow  bool // an Allow header field (on a 405)
}

// format writes an observation as an outcome; served is the engine's held-poll answer status.
func (o observed) format(served int) outcome {
	var parts []string
	for _, a := range o.answers {
		switch {
		case a.status == served:
			parts = append(parts, "served")
		case a.status == 405 && a.allow:
			parts = append(parts, "405+Allow")
		default:
			parts = append(parts, strconv.Itoa(a.status))
		}
	}
	if o.garbage {
		parts = append(parts, "garbage")
	}
	if o.closed {
		parts = append(parts, "close")
	} else {
		parts = append(parts, "open")
	}
	return outcome(strings.Join(parts, " "))
}

// matches reports whether o fits pattern p (x matches any digit).
func (o outcome) matches(p outcome) bool {
	if len(o) != len(p) {
		return false
	}
	for i := 0; i < len(o); i++ {
		if o[i] != p[i] && !(p[i] == 'x' && o[i] >= '0' && o[i] <= '9') {
			return false
		}
	}
	return true
}

// conforms reports whether o is one of the outcomes the RFC allows.
func (c *Case) conforms(o outcome) bool {
	for _, p := range c.Allowed {
		if o.matches(p) {
			return true
		}
	}
	return false
}
