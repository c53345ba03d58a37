#!/usr/bin/env bash
# make lab-profile [CONNS=… PUSH=… …]: one local lab run under `perf record -a -g` (timestamps on the wall clock,
# so the run's own ramp and broadcast times cut the windows), then scripts/lab_profile.py says where the CPU went
# in each window — comet, flood, the kernel by system call — and per connection / per delivery. The tables go to
# <run>/profile.md; perf.data stays in a temporary folder (printed), it is too big to keep with the results.
# Runs from make (the lab's variables reach `make lab-unlocked` through MAKEFLAGS) under the lab lock.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "lab-profile: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
results=${RESULTS:-results}
freq=${PROFILE_FREQ:-199}
work=$(mktemp -d /tmp/cometlab-profile.XXXXXX)
before=$(ls "$results" 2>/dev/null || true)

perf record -k CLOCK_REALTIME -F "$freq" -a -g -o "$work/perf.data" >"$work/perf.log" 2>&1 &
perf_pid=$!
# Which pid is comet, flood or nginx: the processes come and go, so look every 2 s.
( while kill -0 "$perf_pid" 2>/dev/null; do ps -eo pid=,args= >>"$work/ps.txt"; sleep 2; done ) &
ps_pid=$!
stop() { kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; kill "$ps_pid" 2>/dev/null || true; }
trap stop EXIT

rc=0
make -s lab-unlocked || rc=$?
stop
trap - EXIT

run=$(comm -13 <(echo "$before" | sort) <(ls "$results" | sort) | grep -v README | tail -1)
[ -n "$run" ] || { echo "lab-profile: the lab left no run folder in $results (rc $rc)" >&2; exit 1; }
PROFILE_FREQ=$freq python3 scripts/lab_profile.py "$work/perf.data" "$work/ps.txt" "$results/$run" | tee "$results/$run/profile.md"
echo "lab-profile: $results/$run/profile.md; perf data in $work (remove it when done)"
exit "$rc"
