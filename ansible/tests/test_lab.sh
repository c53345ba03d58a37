#!/usr/bin/env bash
# make test-lab: small real runs of the local lab (network namespaces on this machine) into a
# temporary results folder:
#   1. CONNS=12000 DURATION=20s HOLD 2s-5s: passes; run.json complete; traffic on all six NICs of
#      every client; namespaces gone and the host-wide sysctls restored afterwards.
#   2. PUSH=broadcast:2:3s: passes; two broadcasts, each answered by every connection.
#   3. flood on client2 killed mid-run: the playbook fails naming client2 and flood, results are
#      still collected, namespaces are gone.
# Runs under the lab lock (make test-lab takes it), so each run is `make lab-unlocked`.
# Needs root. The results folder is removed on success and kept (path printed) on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
results=$(mktemp -d /tmp/cometlab-test-lab.XXXXXX)
ehash_before=$(cat /proc/sys/net/ipv4/tcp_child_ehash_entries)
backlog_before=$(cat /proc/sys/net/core/netdev_max_backlog)
started=$SECONDS
ok=0
finish() {
  if [ "$ok" = 1 ]; then rm -rf "$results"; else echo "test-lab: FAILED; results kept in $results" >&2; make -s lab-clean >/dev/null 2>&1 || true; fi
}
trap finish EXIT

fail() { echo "test-lab: $*" >&2; exit 1; }
step() { echo "test-lab [$((SECONDS - started))s]: $*"; }

# check_clean: no lab namespace left, hash size restored.
check_clean() {
  if ip netns list | grep -q '^cometlab-'; then fail "namespaces left after $1: $(ip netns list | grep '^cometlab-' | tr '\n' ' ')"; fi
  [ "$(cat /proc/sys/net/ipv4/tcp_child_ehash_entries)" = "$ehash_before" ] || fail "tcp_child_ehash_entries not restored after $1"
  [ "$(cat /proc/sys/net/core/netdev_max_backlog)" = "$backlog_before" ] || fail "netdev_max_backlog not restored after $1"
  local pidfile pid
  for pidfile in /run/cometlab/*/*.pid; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # A live pid whose executable is one of the lab's (not a recycled pid of something else).
    case "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" in
      comet | flood | labmon) fail "$(basename "$pidfile" .pid) (pid $pid) still runs after $1" ;;
    esac
  done
}

# the_run DIR: the one run folder under DIR.
the_run() { local d; d=$(find "$1" -mindepth 1 -maxdepth 1 -type d -name '2*' | head -n 1); [ -n "$d" ] || fail "no run folder in $1"; echo "$d"; }

step "run 1: CONNS=12000 DURATION=20s HOLD 2s-5s"
make -s lab-unlocked CONNS=12000 DURATION=20s HOLD_MIN=2s HOLD_MAX=5s PUSH= LAB_PLAYBOOK_FLAGS="-e lab_build=false" RESULTS="$results/plain" >"$results/plain.log" 2>&1 \
  || { tail -n 30 "$results/plain.log"; fail "run 1 failed (log $results/plain.log)"; }
check_clean "run 1"
run=$(the_run "$results/plain")
python3 - "$run" <<'PY' || fail "run 1 results wrong"
import json, os, sys
run = sys.argv[1]
s = json.load(open(os.path.join(run, "summary.json")))
assert s["passed"] is True, s.get("failure_reasons")
assert int(s["conns_peak_held"]) >= 12000, s["conns_peak_held"]
r = json.load(open(os.path.join(run, "run.json")))
for key in ("run_id", "inventory", "engine", "conns_target", "started_utc", "params", "kernel", "go_version",
            "ansible_version", "git_commit", "sysctls", "sysctls_skipped", "nofile"):
    assert key in r, "run.json lacks " + key
assert r["run_id"].endswith("-local-12000"), r["run_id"]
assert r["sysctls"]["net.core.somaxconn"] == "60000", r["sysctls"]
assert r["sysctls"]["net.ipv4.ip_local_port_range"] == "1024 65535", r["sysctls"]
assert "net.ipv4.tcp_tw_recycle" in r["sysctls_skipped"], r["sysctls_skipped"]
assert int(r["params"]["procs"]) >= 2
for n in (1, 2, 3):
    lines = open(os.path.join(run, "client%d" % n, "nic_counters.txt")).read().split("\n")[1:]
    tx = {f[0]: int(f[2]) for f in (l.split() for l in lines if l.strip()) if f[0].startswith("nic")}
    assert len(tx) == 6, tx
    # Every NIC carried a real share of the client's traffic (the split is even, so > a third of the mean).
    assert min(tx.values()) > sum(tx.values()) / 6 / 3, ("traffic not spread over the NICs", n, tx)
for f in ("server/monitor.csv", "server/stats.json", "server/comet.log", "server/nic_counters.csv",
          "client1/flood.jsonl", "report.md"):
    assert os.path.getsize(os.path.join(run, f)) > 0, f
PY
step "run 1 passed ($(basename "$run"))"

step "run 2: PUSH=broadcast:2:3s"
make -s lab-unlocked CONNS=6000 DURATION=12s HOLD_MIN=2s HOLD_MAX=5s PUSH=broadcast:2:3s LAB_PLAYBOOK_FLAGS="-e lab_build=false" RESULTS="$results/push" >"$results/push.log" 2>&1 \
  || { tail -n 30 "$results/push.log"; fail "run 2 failed (log $results/push.log)"; }
check_clean "run 2"
run=$(the_run "$results/push")
python3 - "$run" <<'PY' || fail "run 2 results wrong"
import json, os, sys
run = sys.argv[1]
s = json.load(open(os.path.join(run, "summary.json")))
assert s["passed"] is True, s.get("failure_reasons")
lines = [json.loads(l) for l in open(os.path.join(run, "server", "broadcasts.jsonl")) if l.strip()]
assert len(lines) == 2, lines
for b in lines:
    assert {"seq", "sent_unix", "answered"} <= set(b) and "error" not in b, b
    assert int(b["answered"]) > 0, b
assert int(s["broadcast_delivered"]) >= int(s["broadcast_expected"]) > 0, s
PY
step "run 2 passed"

step "run 3: kill flood on client2 mid-run"
make -s lab-unlocked CONNS=6000 DURATION=60s HOLD_MIN=2s HOLD_MAX=5s PUSH= LAB_PLAYBOOK_FLAGS="-e lab_build=false" RESULTS="$results/kill" >"$results/kill.log" 2>&1 &
lab_pid=$!
pidfile=/run/cometlab/client2/flood.pid
for _ in $(seq 1 600); do
  if [ -s "$pidfile" ] && compgen -G "$results/kill/2*/client2/flood.jsonl" >/dev/null \
     && grep -q '"established":[1-9]' "$results"/kill/2*/client2/flood.jsonl; then break; fi
  kill -0 "$lab_pid" 2>/dev/null || break
  sleep 0.2
done
[ -s "$pidfile" ] || { wait "$lab_pid" || true; tail -n 30 "$results/kill.log"; fail "flood on client2 never started"; }
kill -KILL "$(cat "$pidfile")"
rc=0
wait "$lab_pid" || rc=$?
[ "$rc" != 0 ] || fail "the playbook succeeded although flood on client2 was killed"
grep -q 'flood on client2 died (killed by signal 9)' "$results/kill.log" \
  || { tail -n 30 "$results/kill.log"; fail "the failure message does not name flood on client2"; }
check_clean "run 3"
run=$(the_run "$results/kill")
for f in run.json server/monitor.csv server/comet.log client2/flood.log client1/flood.jsonl; do
  [ -s "$run/$f" ] || fail "run 3 did not collect $f"
done
step "run 3 passed: the playbook failed with 'flood on client2 died (killed by signal 9)' and cleaned up"

ok=1
step "all lab runs passed in $((SECONDS - started))s"
