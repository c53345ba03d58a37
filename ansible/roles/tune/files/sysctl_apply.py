# Sets sysctls (only those that differ) in this process's network namespace, persists them in FILE
# (rewritten only when its content changes; "-" = do not persist) and reads every key back.
#   python3 -c "$(cat sysctl_apply.py)" FILE key=value...
# Prints {"changed": [keys], "file_changed": bool, "read_back": {key: value}}; exit 1 names a key
# that could not be written. One process for all keys: each process started in a namespace costs
# ~0.3 s, so a per-key module loop would dominate a small lab run.
import json
import os
import sys


def path_of(key):
    return "/proc/sys/" + key.replace(".", "/")


def read(key):
    with open(path_of(key)) as f:
        return " ".join(f.read().split())


target, pairs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
changed, read_back = [], {}
for key, value in pairs:
    value = " ".join(value.split())
    if read(key) != value:
        try:
            with open(path_of(key), "w") as f:
                f.write(value)
        except OSError as err:
            print("cannot set %s=%s: %s" % (key, value, err.strerror), file=sys.stderr)
            sys.exit(1)
        changed.append(key)
    read_back[key] = read(key)

file_changed = False
if target != "-":
    content = "# comet-lab tune phase (ansible/roles/tune/defaults/main.yml)\n" + "".join(
        "%s = %s\n" % (k, " ".join(v.split())) for k, v in pairs)
    try:
        with open(target) as f:
            old = f.read()
    except FileNotFoundError:
        old = None
    if old != content:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target + ".tmp", "w") as f:
            f.write(content)
        os.replace(target + ".tmp", target)
        file_changed = True
print(json.dumps({"changed": changed, "file_changed": file_changed, "read_back": read_back}, sort_keys=True))
