package enginetest

import "testing"

func TestNetpollEngine(t *testing.T) { Run(t, "netpoll") }
