"""Small filters the lab playbook needs and Jinja lacks."""

import json
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_seconds(value):
    """Seconds in a Go duration string ("90s", "1m30s", "500ms"); a bare number means seconds."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("not a Go duration: %r (want e.g. 90s, 2m, 1m30s)" % (value,))
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def sysctl_plan(desired, here, root=None, netns=False, notes=None):
    """Split desired {key: value} into what to apply here and what to skip, with the reason.

    here/root are probes ({key: {"exists", "writable", "value"}}) of this host and, for a network
    namespace, of the host's root namespace. Nothing is dropped silently: every key lands in
    "apply" or in "skipped" with a reason naming the host value that stays in force.
    """
    root = root or {}
    notes = notes or {}
    plan = {"apply": {}, "skipped": {}}
    for key, value in desired.items():
        probe = here.get(key, {"exists": False})
        host = root.get(key, {"exists": False})
        note = (" (%s)" % notes[key]) if key in notes else ""
        if not probe.get("exists"):
            if netns and host.get("exists"):
                reason = _global_reason(host.get("value"), value)
            else:
                reason = "not in this kernel%s" % note
        elif netns and not key.startswith("net."):
            reason = _global_reason(probe.get("value"), value)
        elif not probe.get("writable"):
            where = "inside a network namespace" if netns else "on this kernel"
            reason = "read-only %s: value %s stays in force" % (where, probe.get("value"))
        else:
            plan["apply"][key] = " ".join(str(value).split())
            continue
        plan["skipped"][key] = reason + (note if probe.get("exists") else "")
    return plan


def _global_reason(host_value, wanted):
    """Why a host-wide key is not set from inside a namespace, and whether the host already has the wanted value
    (Topology sets a few for the run: topology_host_sysctls)."""
    if " ".join(str(host_value).split()) == " ".join(str(wanted).split()):
        return "global, not per network namespace: host value %s, as wanted" % host_value
    return "global, not per network namespace: host value %s left unchanged" % host_value


def netns_links(results):
    """{namespace: {ifname: {"up", "master", "addrs"}}} from looped `ip -n NS -j addr show` results."""
    out = {}
    for res in results:
        links = {}
        for link in json.loads(res.get("stdout") or "[]"):
            links[link["ifname"]] = {
                "up": "UP" in link.get("flags", []),
                "master": link.get("master"),
                "addrs": [a["local"] for a in link.get("addr_info", []) if a.get("family") == "inet"],
            }
        out[res["item"]] = links
    return out






def failure_text(result):
    """The message of a failed task result, including the failed items of a loop."""
    result = result or {}
    parts = []
    for item in result.get("results") or []:
        if item.get("failed"):
            parts.append(str(item.get("msg") or item.get("stderr") or "failed"))
    if not parts:
        parts.append(str(result.get("msg") or "failed"))
        if result.get("stderr"):
            parts.append(str(result["stderr"]).strip()[-800:])
    return "; ".join(parts)


def _exit_text(rc):
    if rc is None:
        return "no exit status"
    rc = int(rc)
    if rc == 255:
        return "gone without an exit status"
    if rc > 128:
        return "killed by signal %d" % (rc - 128)
    return "exit status %d" % rc


def _look_json(text):
    """The JSON document `labproc look` printed ({} if none); raw over ssh runs under a pty: CRLF line ends."""
    text = text or ""
    start, end = text.find("{"), text.rfind("}")
    return json.loads(text[start:end + 1]) if 0 <= start < end else {}


def run_watch_view(looks, server_host, clients, phase, target, before=None):
    """Sums up one look of the run watch: comet's counts, each flood's line, who runs, who died, whether the phase
    is done.

    looks are the looped results of `labproc look` (item = the host it ran on, stdout = its JSON document): the
    server's look has /stats and its processes, and each client's flood is in one of the looks. phase is "ramp"
    (done when comet holds target connections, the floods have established target, or no flood runs any more)
    or "hold" (done when no flood runs). before is the previous look's view: "looks" counts the looks of the
    watch, "stats_holding" is /stats of the last look while every flood ran and had not written its final line
    (server/stats.json; labproc look reads /stats before it looks at the floods), "stats" this
    look's (None when /stats did not answer).
    """
    before = before or {}
    view = {"conns": 0, "held": 0, "established": 0, "floods": [], "running": [], "server_dead": [],
            "floods_dead": [], "stats": None, "looks": int(before.get("looks") or 0) + 1}
    procs, floods, holding = [], {}, 0
    for res in looks:
        look = _look_json(res.get("stdout"))
        if res["item"] == server_host:
            if not look:
                view["server_dead"].append("labproc look on %s printed no status" % server_host)
            procs = look.get("procs") or []
            if look.get("stats_status") == 200 and isinstance(look.get("stats"), dict):
                view["stats"] = look["stats"]
        floods.update(look.get("floods") or {})
    body = view["stats"] or {}
    # Under heavy load /stats may time out: "?" then, and the floods' own counts decide the ramp.
    view["conns"] = int(body["conns"]) if "conns" in body else "?"
    view["held"] = int(body["held"]) if "held" in body else "?"
    for st in procs:
        if st.get("state") != "running":
            view["server_dead"].append("%s on %s %s (%s)" % (
                st.get("name"), server_host, "never started" if st.get("state") == "missing" else "exited",
                _exit_text(st.get("rc"))))
    for host in sorted(clients):
        st = floods.get(host, {"state": "unseen"})
        last = st.get("last") or {}
        errors = sum((last.get("connect_errors") or {}).values())
        view["established"] += int(last.get("established") or 0)
        line = "%s %s/%s" % (host, last.get("established", 0), last.get("conns_target", "?"))
        if errors:
            line += " errors %d" % errors
        if st.get("state") == "running":
            view["running"].append(host)
            # A flood writes its final line before it closes its connections; /stats was read before this line.
            holding += not last.get("final")
        elif last.get("final") and st.get("rc") in (0, 1):
            line += " done (%s)" % ("passed" if last.get("passed") else "failed: %s" % last.get("message", ""))
        else:
            view["floods_dead"].append("flood on %s %s" % (host, {
                "missing": "never started (%s)" % _exit_text(st.get("rc")),
                "unseen": "not seen (no labproc look printed its status)"}.get(
                    st.get("state"), "died (%s)" % _exit_text(st.get("rc")))))
            line += " DIED"
        view["floods"].append(line)
    every_flood_holds = holding == len(clients)
    view["stats_holding"] = view["stats"] if view["stats"] and every_flood_holds else before.get("stats_holding") or {}
    target = float(target)
    view["done"] = not view["running"] or (phase == "ramp" and (
        (view["conns"] != "?" and view["conns"] >= target) or view["established"] >= target))
    return view


def topology_batch(links, server_ns, bridge, ports, addresses, up_links, prefixlen):
    """ip -batch lines that bring the namespaces from links (netns_links) to the plan.

    Returns {"": [lines for the root namespace: the missing veth pairs], ns: [lines for ns]}, to
    run in that order. Every list is empty when everything is in place: a second run changes nothing.
    """
    have = {ns: dict(v) for ns, v in links.items()}
    new_link = {"up": False, "master": None, "addrs": []}
    out = {"": []}
    out.update({ns: [] for ns in links})
    if bridge not in have[server_ns]:
        out[server_ns].append("link add %s type bridge" % bridge)
        have[server_ns][bridge] = dict(new_link)
    for p in ports:
        if p["dev"] not in have[p["ns"]]:
            out[""].append("link add %s netns %s type veth peer name %s netns %s"
                           % (p["port"], server_ns, p["dev"], p["ns"]))
            have[p["ns"]][p["dev"]] = dict(new_link)
            have[server_ns][p["port"]] = dict(new_link)
        if have[server_ns][p["port"]].get("master") != bridge:
            out[server_ns].append("link set %s master %s" % (p["port"], bridge))
    for a in addresses:
        if a["addr"] not in have[a["ns"]][a["dev"]]["addrs"]:
            out[a["ns"]].append("addr add %s/%s dev %s" % (a["addr"], prefixlen, a["dev"]))
    for ns, dev in up_links:
        if not have[ns][dev]["up"]:
            out[ns].append("link set %s up" % dev)
    return out


class FilterModule:
    """Ansible filter registry."""

    def filters(self):
        return {
            "go_duration_seconds": go_duration_seconds,
            "sysctl_plan": sysctl_plan,
            "netns_links": netns_links,
            "topology_batch": topology_batch,
            "run_watch_view": run_watch_view,
            "failure_text": failure_text,
        }
