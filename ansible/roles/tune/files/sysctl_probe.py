# Prints {key: {"exists", "writable", "value"}} for the sysctl keys in argv, as seen by this
# process's network namespace. Writability is access(2): read-only sysctls deny root too.
import json
import os
import sys

out = {}
for key in sys.argv[1:]:
    path = "/proc/sys/" + key.replace(".", "/")
    if not os.path.isfile(path):
        out[key] = {"exists": False}
        continue
    try:
        with open(path) as f:
            value = " ".join(f.read().split())
    except OSError as err:
        value = "unreadable: %s" % err
    out[key] = {"exists": True, "writable": os.access(path, os.W_OK), "value": value}
print(json.dumps(out, sort_keys=True))
