package enginetest

import "testing"

// The broker is the master's: one engine is enough to prove the fan-out; the netpoll engine is the one deployed.
func TestScaleOutNetpoll(t *testing.T) { RunScaleOut(t, "netpoll") }
