#!/usr/bin/env bash
# make test-vagrant: the VM lab at its smallest real scale, with assertions. One boot serves two runs:
#   1. make lab-vagrant KEEP_VMS=1 (COMETLAB_PROFILE=small, CONNS=10800 over all 18 client addresses, hold
#      cycle + one broadcast): 4 VMs running; run passed; run.json from inventory vagrant with every sysctl
#      read back on all 4 hosts (only tcp_tw_recycle skipped); traffic on all six lab NICs of every client.
#   2. the same VMs, a run that fails (flood killed on client2 mid-run): the playbook fails naming it, and the
#      teardown leaves nothing: no VM, no namespace, no libvirtd, no private state, no new host interface.
# Needs root, and the box (make box builds it if missing). Results go to a temporary folder (kept on failure).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
export COMETLAB_PROFILE=${COMETLAB_PROFILE:-small}
results=$(mktemp -d /tmp/cometlab-test-vagrant.XXXXXX)
ns=${COMETLAB_VM_NETNS:-cometvm}
started=$SECONDS
ok=0
links_before=$(ip -o link show | awk -F': ' '{print $2}' | sort)
finish() {
  if [ "$ok" = 1 ]; then
    rm -rf "$results"
  else
    echo "test-vagrant: FAILED; logs and results kept in $results" >&2
    make -s vagrant-clean >/dev/null 2>&1 || true
  fi
}
trap finish EXIT
fail() { echo "test-vagrant: $*" >&2; exit 1; }
step() { echo "test-vagrant [$((SECONDS - started))s]: $*"; }

step "run 1: make lab-vagrant KEEP_VMS=1 CONNS=10800 (small profile)"
KEEP_VMS=1 make -s lab-vagrant CONNS=10800 DURATION=60s HOLD_MIN=5s HOLD_MAX=15s PUSH=broadcast:1:20s \
  RESULTS="$results/plain" >"$results/plain.log" 2>&1 \
  || { tail -n 40 "$results/plain.log"; fail "run 1 failed (log $results/plain.log)"; }
running=$(vagrant/vmlab.sh exec virsh -q list --name | grep -c . || true)
[ "$running" = 4 ] || fail "expected 4 running VMs after run 1, libvirt lists $running"
# The processes of the VM lab (libvirtd, dnsmasq, the four QEMUs): none may outlive the teardown.
vm_pids=$(ip netns pids "$ns")
[ "$(echo "$vm_pids" | wc -w)" -ge 6 ] || fail "expected libvirtd, dnsmasq and 4 QEMUs in $ns, found pids: $vm_pids"
run=$(find "$results/plain" -mindepth 1 -maxdepth 1 -type d -name '2*' | head -n 1)
[ -n "$run" ] || fail "no run folder in $results/plain"
python3 - "$run" ansible/roles/tune/defaults/main.yml <<'PY' || fail "run 1 results wrong"
import json, os, re, sys
run, tune_defaults = sys.argv[1], sys.argv[2]
s = json.load(open(os.path.join(run, "summary.json")))
assert s["passed"] is True, s.get("failure_reasons")
assert int(s["conns_peak_held"]) >= 10800, s["conns_peak_held"]
r = json.load(open(os.path.join(run, "run.json")))
assert r["inventory"] == "vagrant", r["inventory"]
assert r["run_id"].endswith("-vagrant-10800"), r["run_id"]
# Every key of the tune role, read back on every host that wants it; only tcp_tw_recycle skipped.
section, keys = None, {"common": [], "client": [], "server": []}
for line in open(tune_defaults):
    m = re.match(r"^(tune_sysctls|tune_client_sysctls|tune_server_sysctls):", line)
    if m:
        section = {"tune_sysctls": "common", "tune_client_sysctls": "client", "tune_server_sysctls": "server"}[m.group(1)]
        continue
    if re.match(r"^\S", line):
        section = None
    m = re.match(r"^  ([a-z0-9_.-]+):", line)
    if section and m:
        keys[section].append(m.group(1))
by_host = r["sysctls_by_host"]
assert sorted(by_host) == ["client1", "client2", "client3", "server"], sorted(by_host)
for host, values in by_host.items():
    want = keys["common"] + (keys["client"] if host.startswith("client") else [])
    missing = [k for k in want if k not in values and k != "net.ipv4.tcp_tw_recycle"]
    assert not missing, (host, "not read back", missing)
assert list(r["sysctls_skipped"]) == ["net.ipv4.tcp_tw_recycle"], r["sysctls_skipped"]
assert by_host["server"]["net.core.somaxconn"] == "60000"
assert by_host["client1"]["net.ipv4.ip_local_port_range"] == "1024 65535"
assert int(r["nofile"]) >= 1000000, r["nofile"]
# All 18 client addresses carried traffic: the six lab NICs of every client.
for n in (1, 2, 3):
    lines = open(os.path.join(run, "client%d" % n, "nic_counters.txt")).read().split("\n")[1:]
    tx = {f[0]: int(f[2]) for f in (l.split() for l in lines if l.strip()) if re.match(r"eth[1-6]$", f[0])}
    assert len(tx) == 6, (n, tx)
    assert min(tx.values()) > sum(tx.values()) / 6 / 3, ("traffic not spread over the NICs", n, tx)
# Every held subscriber got the broadcast: delivered covers all 10,800 (and what the report expected from the
# monitor's last count before the broadcast), nothing dropped by comet.
assert s["broadcasts"] == 1 and s["broadcast_delivered"] >= max(10800, s["broadcast_expected"]), s
assert s["push_gaps"] == 0 and s["push_missed"] == 0, s
# One start for all clients (flood -start-at): their floods began within a second of each other.
starts = s["client_start_unix"].values()
assert len(starts) == 3 and max(starts) - min(starts) < 1.0, s["client_start_unix"]
assert r["server_machine"]["virtualization"] in ("qemu", "kvm"), r["server_machine"]
assert r["vm"]["profile"] == os.environ["COMETLAB_PROFILE"] and r["vm"]["timings_s"]["vagrant_up_s"] > 0, r["vm"]
for f in ("server/monitor.csv", "server/stats.json", "server/comet.log", "client1/flood.jsonl", "report.md"):
    assert os.path.getsize(os.path.join(run, f)) > 0, f
print("run.json: 4 hosts, %d sysctls on the server, skipped %s" % (len(by_host["server"]), list(r["sysctls_skipped"])))
PY
step "run 1 passed ($(basename "$run"))"

step "run 2: the same VMs, flood on client2 killed mid-run: must fail, collect, destroy everything"
# Once flood runs on client2 (its pid file appears when the Run phase starts it), kill it.
(
  for _ in $(seq 1 120); do
    sleep 5
    if vagrant/vmlab.sh exec ssh -F vagrant/.vagrant/ssh-config -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      client2 'pid=$(cat /run/cometlab/client2/flood.pid 2>/dev/null) && sleep 10 && sudo kill -9 "$pid" && echo "killed flood $pid"' \
      >>"$results/kill.log" 2>&1; then
      exit 0
    fi
  done
  exit 1
) &
killer=$!
if make -s lab-vagrant CONNS=10800 DURATION=240s HOLD_MIN=5s HOLD_MAX=15s PUSH= RESULTS="$results/killed" \
  LAB_PLAYBOOK_FLAGS="-e lab_build=false" >"$results/killed.log" 2>&1; then
  kill "$killer" 2>/dev/null || true
  fail "run 2 passed although flood was killed on client2"
fi
wait "$killer" || true
grep -q "client2" "$results/killed.log" && grep -q "flood" "$results/killed.log" \
  || fail "run 2's failure does not name client2 and flood (log $results/killed.log)"
[ -d "$(find "$results/killed" -mindepth 1 -maxdepth 1 -type d -name '2*' | head -n 1)/client1" ] \
  || fail "run 2 collected nothing"
step "run 2 failed as it should"

# Nothing left behind.
if ip netns list | grep -qw "^$ns"; then fail "namespace $ns left"; fi
[ ! -e "/run/$ns" ] || fail "/run/$ns left"
[ ! -e /var/lib/cometlab/vmlab ] || fail "/var/lib/cometlab/vmlab left"
[ "$(ip -o link show | awk -F': ' '{print $2}' | sort)" = "$links_before" ] || fail "host interfaces changed: $(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')"
for pid in $vm_pids; do
  if kill -0 "$pid" 2>/dev/null; then
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
      */qemu-system-x86_64 | */libvirtd | */dnsmasq) fail "$(readlink "/proc/$pid/exe") (pid $pid) still runs" ;;
    esac
  fi
done
step "teardown complete: no VM, namespace, libvirtd, state or interface left"
ok=1
step "passed in $((SECONDS - started)) s"
