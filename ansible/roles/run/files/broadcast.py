# POSTs /broadcast COUNT times, INTERVAL seconds apart on a fixed schedule (a slow answer does not delay the
# next broadcast), to comet's admin and writes one JSON line per broadcast to OUT:
# {"seq", "sent_unix", "answered"}. Runs inside the server's namespace.
#   python3 -c "$(cat broadcast.py)" URL COUNT INTERVAL OUT
import json
import sys
import threading
import time
import urllib.request

url, count, interval, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lines = [None] * count


def send(i):
    body = ("lab broadcast %d of %d" % (i + 1, count)).encode()
    sent = time.time()
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        # comet answers once every worker has acknowledged (or after its ack timeout, with a partial count).
        with urllib.request.urlopen(req, timeout=120) as resp:
            answer = json.load(resp)
        lines[i] = {"seq": answer.get("seq"), "sent_unix": round(sent, 6), "answered": answer.get("answered"),
                    "partial": bool(answer.get("partial")), "answer_s": round(time.time() - sent, 3)}
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
