#!/usr/bin/env python3
"""Where the CPU of a lab run went, from `perf record -a -g -k CLOCK_REALTIME` (scripts/lab-profile.sh).

    lab_profile.py PERF_DATA PS_SNAPSHOTS RUN_DIR

Windows come from the run's own files: the ramp is [peak_unix - ramp_seconds, peak_unix] (summary.json), each
broadcast is [sent_unix, sent_unix + its latest delivery] (server/broadcasts.jsonl and summary.json's
broadcast_rows). A sample is one CPU busy for 1/F s; its process is comet, flood, the engine under test (nginx) or
other, from `ps` snapshots taken during the run; kernel time is split by the system call the stack entered through
(the network receive work a write or connect triggers runs inline in that call, in softirq), with two cross-cuts:
receive processing (net_rx_action) and slab growth (allocate_slab: new pages for socket objects).
Prints one table per window and the CPU per event: per connection for the ramp, per delivery for broadcasts.
"""
import collections
import json
import os
import subprocess
import sys

SYSCALLS = [  # outermost kernel entry on the stack -> class
    ("__x64_sys_connect", "connect"), ("__x64_sys_socket", "socket"), ("__x64_sys_bind", "bind"),
    ("__x64_sys_accept4", "accept"), ("ksys_write", "write"), ("__x64_sys_sendto", "write"),
    ("ksys_read", "read"), ("__x64_sys_recvfrom", "read"), ("__x64_sys_epoll_ctl", "epoll_ctl"),
    ("do_epoll_wait", "epoll_wait"), ("__x64_sys_close", "close"), ("__x64_sys_setsockopt", "sockopt"),
    ("__x64_sys_getsockopt", "sockopt"), ("exc_page_fault", "page fault"),
]
CROSS = [("net_rx_action", "of which receive processing (softirq)"), ("allocate_slab", "of which slab growth")]
ROLES = ["comet", "flood", "nginx", "other"]


def role_of(args):
    if "-flood-child" in args or "/flood " in args or args.endswith("/flood"):
        return "flood"
    if "/comet" in args:
        return "comet"
    if "nginx" in args:
        return "nginx"
    return "other"


def load_roles(path):
    roles = {}
    with open(path, errors="replace") as f:
        for line in f:
            pid, _, args = line.strip().partition(" ")
            if pid.isdigit():
                # A lab process keeps its role even if its pid is reused after it exits (a busy machine).
                r, pid = role_of(args), int(pid)
                if roles.get(pid, "other") == "other":
                    roles[pid] = r
    return roles


def load_windows(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    wins = []
    peak, ramp = summary.get("peak_unix"), summary.get("ramp_seconds")
    if peak and ramp:
        wins.append(("ramp", peak - ramp, peak, summary.get("conns_target") or 0, "conn"))
    rows = summary.get("broadcast_rows") or []
    bpath = os.path.join(run, "server", "broadcasts.jsonl")
    sent = [json.loads(l)["sent_unix"] for l in open(bpath)] if os.path.exists(bpath) else []
    for i, (t0, row) in enumerate(zip(sent, rows)):
        latest = row.get("latest_ms") or row.get("comet_write_s", 0) * 1000
        wins.append(("broadcast %d" % (i + 1), t0, t0 + latest / 1000.0, row.get("delivered") or 0, "delivery"))
    return wins


def samples(perf_data):
    """Yields (time, pid, frames) per sample; frames are symbol names, leaf first."""
    cmd = ["perf", "script", "-i", perf_data, "-F", "pid,time,ip,sym"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors="replace") as p:
        head, frames = None, []
        for line in p.stdout:
            if not line.strip():
                if head:
                    yield head[0], head[1], frames
                head, frames = None, []
            elif line[0] in " \t" and head:
                parts = line.split()
                frames.append(parts[1] if len(parts) > 1 else "?")
            else:
                parts = line.split()
                try:
                    head = (float(parts[1].rstrip(":")), int(parts[0]))
                except (ValueError, IndexError):
                    head = None
        if head:
            yield head[0], head[1], frames


def classify(frames):
    kernel = any(f.startswith(("entry_SYSCALL", "asm_", "ret_from_fork")) or f in ("do_syscall_64",) for f in frames)
    if not kernel:
        return "user", []
    cls = "other kernel"
    for f in reversed(frames):  # outermost first
        hit = next((c for name, c in SYSCALLS if f == name), None)
        if hit:
            cls = hit
            break
    return cls, [label for name, label in CROSS if name in frames]


def main():
    perf_data, ps_path, run = sys.argv[1:4]
    freq = int(os.environ.get("PROFILE_FREQ", "199"))
    roles, wins = load_roles(ps_path), load_windows(run)
    if not wins:
        sys.exit("lab_profile: no ramp or broadcast window in %s/summary.json" % run)
    tally = {w[0]: collections.Counter() for w in wins}
    for t, pid, frames in samples(perf_data):
        for name, t0, t1, _, _ in wins:
            if t0 <= t < t1:
                c = tally[name]
                if pid == 0:
                    c["idle"] += 1
                    continue
                role = roles.get(pid, "other")
                cls, cross = classify(frames)
                c["busy"] += 1
                c[(role, "user" if cls == "user" else "kernel")] += 1
                if cls != "user":
                    c[("kernel", cls)] += 1
                    for x in cross:
                        c[("kernel", x)] += 1
    for name, t0, t1, events, unit in wins:
        c = tally[name]
        total = c["idle"] + c["busy"]
        if not total:
            print("%s: no samples (perf did not cover it)\n" % name)
            continue
        busy_s = c["busy"] / freq
        print("## %s: %.1f s wall, %s %ss, %.1f CPU-seconds busy, %.0f %% idle" % (
            name, t1 - t0, format(int(events), ","), unit, busy_s, 100.0 * c["idle"] / total))
        per = (lambda n: "%.1f" % (n / freq / events * 1e6)) if events else (lambda n: "—")
        print("| where | share of busy CPU | µs per %s |\n|---|---:|---:|" % unit)
        print("| all processes | 100 %% | %s |" % per(c["busy"]))
        for role in ROLES:
            for side in ("user", "kernel"):
                n = c[(role, side)]
                if n:
                    print("| %s %s | %.1f %% | %s |" % (role, side, 100.0 * n / c["busy"], per(n)))
        kernel = sorted(((k[1], n) for k, n in c.items() if isinstance(k, tuple) and k[0] == "kernel"),
                        key=lambda kv: (kv[0].startswith("of which"), -kv[1]))
        for cls, n in kernel:
            print("| kernel: %s | %.1f %% | %s |" % (cls, 100.0 * n / c["busy"], per(n)))
        print()


if __name__ == "__main__":
    main()
