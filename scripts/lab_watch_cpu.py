#!/usr/bin/env python3
"""CPU the lab's watch costs per look: runs a lab command, e.g.

    scripts/lab_watch_cpu.py make lab CONNS=6000 DURATION=60s HOLD_MIN=20s HOLD_MAX=40s

passes its output through, samples the CPU (user + system) of the ansible-playbook process tree every 0.2 s
(every live process's utime + stime plus the cutime + cstime of the children it reaped) and, at the end, prints
per phase (ramp, hold) the CPU-seconds between the first and the last progress line divided by the looks in between.
Each look is one progress line, so this is what one look costs the controller and what it starts (modules, raw
commands), whatever the machine's other load (CPU time, not wall time). --tasks adds where the CPU of the hold went:
the CPU until each kind of output line (task banner, result, loop item) from the line before. Exit status: the
command's.
"""
import os
import re
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
PROGRESS = re.compile(r'"?msg"?:\s*["\']?(ramp|hold) (\d+)s: ')


def stat(pid):
    """(ppid, utime + stime + cutime + cstime in ticks, comm) of pid, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    f = s[s.rindex(")") + 2:].split()
    return int(f[1]), sum(int(x) for x in f[11:15]), comm


def tree_cpu(root):
    """CPU-seconds of root and every live descendant (including what they reaped)."""
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(int(d))
            if st:
                procs[int(d)] = st
    kids = {}
    for pid, (ppid, _, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            total += procs[pid][1]
            todo.extend(kids.get(pid, []))
    return total / TICK


def find_playbook(root):
    """pid of the ansible-playbook process under root (make's tree), or None."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"ansible-playbook") for a in argv[:2]):
            pid = int(d)
            p = pid
            while p > 1:
                if p == root:
                    return pid
                st = stat(p)
                if not st:
                    break
                p = st[0]
    return None


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: lab_watch_cpu.py [--tasks] COMMAND [ARG...]")
    per_task = sys.argv[1] == "--tasks"
    argv = sys.argv[2:] if per_task else sys.argv[1:]
    banners = []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)
    samples, lines, stop = [], [], threading.Event()

    def sample():
        pb = None
        while not stop.is_set():
            if pb is None:
                pb = find_playbook(proc.pid)
            elif stat(pb) is None:
                pb = find_playbook(proc.pid)  # one make may run several playbooks
            if pb is not None:
                samples.append((time.time(), pb, tree_cpu(pb)))
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    for raw in iter(proc.stdout.readline, b""):
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        text = raw.decode(errors="replace")
        m = PROGRESS.search(text)
        if m:
            lines.append((time.time(), m.group(1)))
        if per_task and text.startswith(("TASK [", "ok: [", "changed: [", "included: ")):
            pb = find_playbook(proc.pid)
            if pb:
                label = text[6:text.index("]")] if text.startswith("TASK [") else re.sub(r"\d+", "N", text.strip())
                banners.append((time.time(), label, pb, tree_cpu(pb)))
    rc = proc.wait()
    stop.set()
    t.join()

    def cpu_at(ts):
        """Tree CPU of the playbook at the last sample at or before ts (same playbook process)."""
        best = None
        for s in samples:
            if s[0] <= ts:
                best = s
        return best

    print("lab_watch_cpu: %d samples" % len(samples))
    for phase in ("ramp", "hold"):
        ts = [t for t, p in lines if p == phase]
        if len(ts) < 3:
            print("lab_watch_cpu: %s: %d progress lines, too few to measure" % (phase, len(ts)))
            continue
        a, b = cpu_at(ts[0]), cpu_at(ts[-1])
        if not a or not b or a[1] != b[1]:
            print("lab_watch_cpu: %s: no samples" % phase)
            continue
        looks = len(ts) - 1
        marks = [cpu_at(t) for t in ts]
        per = ["%.2f" % (m2[2] - m1[2]) for m1, m2 in zip(marks, marks[1:]) if m1 and m2 and m1[1] == m2[1]]
        print("lab_watch_cpu: %s: CPU-s of each look: %s" % (phase, " ".join(per)))
        print("lab_watch_cpu: %s: %d looks in %.1f s wall, %.2f CPU-s: %.3f CPU-s per look (%.1f s wall per look)"
              % (phase, looks, b[0] - a[0], b[2] - a[2], (b[2] - a[2]) / looks, (b[0] - a[0]) / looks))
    if per_task:
        # A task's banner is printed with its first result (display_skipped_hosts = False), so the CPU between two
        # output lines (banner, result, loop item, include) is roughly the later one's.
        hold = [t for t, p in lines if p == "hold"]
        cost = {}
        for a, b in zip(banners, banners[1:]):
            if hold and hold[0] <= a[0] <= hold[-1] and a[2] == b[2]:
                cost.setdefault(b[1], []).append(b[3] - a[3])
        for name, v in sorted(cost.items(), key=lambda kv: -sum(kv[1])):
            print("lab_watch_cpu: hold: until %-70.70s %3d x %.3f CPU-s" % (name, len(v), sum(v) / len(v)))
    return rc


if __name__ == "__main__":
    sys.exit(main())
