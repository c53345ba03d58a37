# POSTs /broadcast COUNT times INTERVAL seconds apart to comet's admin and writes one JSON line per
# broadcast to OUT: {"seq", "sent_unix", "answered"}. Runs inside the server's namespace.
#   python3 -c "$(cat broadcast.py)" URL COUNT INTERVAL OUT
import json
import sys
import time
import urllib.request

url, count, interval, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
with open(out, "w") as f:
    for i in range(count):
        if i:
            time.sleep(interval)
        body = ("lab broadcast %d of %d" % (i + 1, count)).encode()
        sent = time.time()
        req = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.load(resp)
        line = {"seq": answer.get("seq"), "sent_unix": round(sent, 6), "answered": answer.get("answered")}
        f.write(json.dumps(line) + "\n")
        f.flush()
        print(json.dumps(line), flush=True)
