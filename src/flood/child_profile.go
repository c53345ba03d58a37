package flood

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// ProfileEnv names a directory; when set, every child writes a CPU profile of its whole life there as
// child-<proc>-<pid>.pprof (children are re-executions of flood, so a flag could not reach them through -procs).
const ProfileEnv = "FLOOD_CHILD_CPUPROFILE"

// startProfile starts the child's CPU profile when ProfileEnv asks for one; stop ends it (a no-op otherwise).
func startProfile(proc int) (stop func(), err error) {
	dir := os.Getenv(ProfileEnv)
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("child-%d-%d.pprof", proc, os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", ProfileEnv, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
