package enginetest

import "testing"

func TestGoroutineEngine(t *testing.T) { Run(t, "goroutine") }
