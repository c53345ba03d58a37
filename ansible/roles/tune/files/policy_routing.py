# Six addresses on one subnet: without policy routing every packet would leave through the first
# NIC. For the k-th address (argv order) this adds "from <addr> lookup BASE+k" and, in that table,
# "<subnet> dev <its NIC> src <addr>", only where missing.
#   python3 -c "$(cat policy_routing.py)" BASE addr1 addr2 ...
# Prints {"changed": [...], "nics": [{"addr","dev","table","net"}]}; exit 1 names a missing address.
import ipaddress
import json
import subprocess
import sys


def ip_json(*args):
    return json.loads(subprocess.run(["ip", "-j", *args], check=True, capture_output=True, text=True).stdout or "[]")


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


base, addrs = int(sys.argv[1]), sys.argv[2:]
owner = {}
for link in ip_json("-4", "addr", "show"):
    for a in link.get("addr_info", []):
        owner[a["local"]] = (link["ifname"], a["prefixlen"])
missing = [a for a in addrs if a not in owner]
if missing:
    print("lab addresses not on any NIC: " + ", ".join(missing), file=sys.stderr)
    sys.exit(1)

rules = ip_json("-4", "rule", "show")
routes = ip_json("-4", "route", "show", "table", "all")
changed, nics = [], []
for k, addr in enumerate(addrs, start=1):
    dev, plen = owner[addr]
    table = base + k
    net = str(ipaddress.ip_interface("%s/%d" % (addr, plen)).network)
    nics.append({"addr": addr, "dev": dev, "table": table, "net": net})
    if not any(r.get("src") == addr and str(r.get("table")) == str(table) for r in rules):
        ip("rule", "add", "from", addr, "lookup", str(table), "priority", str(table))
        changed.append("rule from %s lookup %d" % (addr, table))
    if not any(str(r.get("table")) == str(table) and r.get("dst") == net and r.get("dev") == dev
               and r.get("prefsrc") == addr for r in routes):
        ip("route", "replace", net, "dev", dev, "src", addr, "table", str(table))
        changed.append("table %d: %s dev %s src %s" % (table, net, dev, addr))
print(json.dumps({"changed": changed, "nics": nics}))
