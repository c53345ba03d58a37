# POSTs /broadcast COUNT times, INTERVAL seconds apart on a fixed schedule (a slow answer does not delay the
# next broadcast), to comet's admin and writes one JSON line per broadcast to OUT:
# {"seq", "sent_unix", "answered", "partial", "answer_s", "conns_at_send"}. Runs on the server (inside its
# namespace in the local lab).
#   python3 -c "$(cat broadcast.py)" URL COUNT INTERVAL OUT [WAIT_CONNS WAIT_S [AFTER_S]]
# With WAIT_CONNS the schedule starts once comet's /stats counts that many connections (the ramp is over), read
# here every 0.2 s rather than by the playbook's slower watch, or after WAIT_S seconds whatever the count; then
# AFTER_S seconds later (PUSH=broadcast:N:INTERVAL:AFTER: a hold-only window before the first broadcast).
# With ENGINE=nchan, URL is nchanadmin's, which speaks comet's admin in front of nginx.
import json
import sys
import threading
import time
import urllib.request

url, count, interval, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
wait_conns = int(sys.argv[5]) if len(sys.argv) > 5 else 0
wait_s = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
after_s = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
stats_url = url.rsplit("/", 1)[0] + "/stats"


def held_conns():
    try:
        with urllib.request.urlopen(stats_url, timeout=5) as resp:
            return int(json.load(resp).get("conns", 0))
    except Exception:  # comet busy or restarting: look again
        return 0


if wait_conns > 0:
    deadline = time.time() + wait_s
    while held_conns() < wait_conns and time.time() < deadline:
        time.sleep(0.2)
time.sleep(after_s)

lines = [None] * count


def send(i):
    body = ("lab broadcast %d of %d" % (i + 1, count)).encode()
    conns = held_conns()  # every connection held now is owed this broadcast (the report's "owed")
    sent = time.time()
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        # comet answers once every worker has acknowledged (or after its ack timeout, with a partial count).
        with urllib.request.urlopen(req, timeout=120) as resp:
            answer = json.load(resp)
        lines[i] = {"seq": answer.get("seq"), "sent_unix": round(sent, 6), "answered": answer.get("answered"),
                    "partial": bool(answer.get("partial")), "answer_s": round(time.time() - sent, 3),
                    "conns_at_send": conns}
    except Exception as err:  # recorded, and the exit status says a broadcast failed
        lines[i] = {"seq": None, "sent_unix": round(sent, 6), "answered": None, "error": str(err)}
    print(json.dumps(lines[i]), flush=True)


start = time.time()
threads = []
for i in range(count):
    time.sleep(max(0.0, start + i * interval - time.time()))
    t = threading.Thread(target=send, args=(i,))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
with open(out, "w") as f:
    for line in lines:
        f.write(json.dumps(line) + "\n")
sys.exit(1 if any(line.get("error") for line in lines) else 0)
