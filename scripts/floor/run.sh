#!/usr/bin/env bash
# make bench-floor [FLOOR_CONNS=… FLOOR_TOPO=loopback|bridge|veth FLOOR_ROUNDS=…]: the kernel's floor for the ramp
# and for a delivery at the lab's scale. FLOOR_CONNS are split into pairs of floor processes (each under the
# 20,000-fd limit) that all run at once; the figures are CPU per connection and per delivery averaged over the pairs
# (system-wide CPU, server side + client side), and the wall time of the whole ramp.
#   loopback: 127.0.0.1 from 127.0.3.x;
#   bridge:   the local lab's path: client namespace -> veth -> bridge br0 in the server namespace (docs/lab.md);
#   veth:     the same without the bridge: the server's address on the veth itself.
set -euo pipefail
conns=${FLOOR_CONNS:-1000000} rounds=${FLOOR_ROUNDS:-3} topo=${FLOOR_TOPO:-loopback} per=${FLOOR_PER_PROC:-19900}
port0=${FLOOR_PORT:-46100}
cd "$(dirname "$0")"
command -v cc >/dev/null || { echo "bench-floor: a C compiler is missing (apt-get install gcc)" >&2; exit 1; }
case $topo in loopback|bridge|veth) ;; *) echo "bench-floor: FLOOR_TOPO must be loopback, bridge or veth, not '$topo'" >&2; exit 2;; esac
work=$(mktemp -d /tmp/cometlab-floor.XXXXXX)
cc -O2 -o "$work/floor" floor.c
srv_ns=cometlab-floor-s cli_ns=cometlab-floor-c
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$topo" != loopback ]; then ip netns del $srv_ns 2>/dev/null || true; ip netns del $cli_ns 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
nsrc=$(( (conns / 60000) + 1 ))    # source addresses: ~60k ports each
if [ "$topo" = loopback ]; then
  dst=127.0.0.1; srcs=$(seq -s, -f "127.0.4.%g" 1 "$nsrc"); run_s=(); run_c=()
else
  ip netns add $srv_ns; ip netns add $cli_ns
  ip -n $srv_ns link set lo up; ip -n $cli_ns link set lo up
  ip link add fl0 netns $cli_ns type veth peer name fl0p netns $srv_ns
  dst=10.78.0.1
  if [ "$topo" = bridge ]; then
    ip -n $srv_ns link add br0 type bridge; ip -n $srv_ns link set fl0p master br0
    ip -n $srv_ns addr add $dst/16 dev br0; ip -n $srv_ns link set br0 up
  else
    ip -n $srv_ns addr add $dst/16 dev fl0p
  fi
  ip -n $srv_ns link set fl0p up; ip -n $cli_ns link set fl0 up
  srcs=""
  for i in $(seq 1 "$nsrc"); do ip -n $cli_ns addr add 10.78.1.$i/16 dev fl0; srcs+="${srcs:+,}10.78.1.$i"; done
  for ns in $srv_ns $cli_ns; do
    ip netns exec $ns sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
      net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
  done
  run_s=(ip netns exec "$srv_ns") run_c=(ip netns exec "$cli_ns")
  sleep 2 # the veth's carrier
fi
pairs=$(( (conns + per - 1) / per ))
echo "bench-floor: $conns conns in $pairs pairs, $rounds rounds, topology $topo"
t0=$(date +%s.%N)
for k in $(seq 0 $((pairs - 1))); do
  n=$(( k == pairs - 1 ? conns - k * per : per ))
  "${run_s[@]}" timeout 600 "$work/floor" server $dst $((port0 + k)) "$n" "$rounds" >"$work/s$k" &
  pids+=($!)
done
sleep 0.5
for k in $(seq 0 $((pairs - 1))); do
  n=$(( k == pairs - 1 ? conns - k * per : per ))
  # Each pair binds the same source ports: its 4-tuples differ by the destination port.
  "${run_c[@]}" timeout 600 "$work/floor" client "$srcs" $dst $((port0 + k)) "$n" "$rounds" 10000 >"$work/c$k" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
pids=()
t1=$(date +%s.%N)
[ $rc = 0 ] || { echo "bench-floor: a floor process failed:" >&2; cat "$work"/s* "$work"/c* >&2; exit 1; }
cat "$work"/s* "$work"/c* | awk -v conns="$conns" -v pairs="$pairs" -v wall="$(echo "$t1 - $t0" | bc)" -v topo="$topo" '
  /^server/ { sr += $7 * $3; if ($5 + 0 > rw) rw = $5 + 0; sd += $(NF-1) * $3 }
  /^client/ { cr += $7 * $3; if ($5 + 0 > cw) cw = $5 + 0; cd += $(NF-1) * $3 }
  END {
    printf "ramp:     %.1f us CPU per conn (server %.1f + client %.1f); slowest pair %.1f s; on 2 cores >= %.1f s for %d\n",
      (sr + cr) / conns, sr / conns, cr / conns, (rw > cw ? rw : cw), (sr + cr) / 1e6 / 2, conns
    printf "delivery: %.1f us CPU per delivery (server %.1f + client %.1f); on 2 cores >= %.1f s per broadcast to %d\n",
      (sd + cd) / conns, sd / conns, cd / conns, (sd + cd) / 1e6 / 2, conns
    printf "{\"bench\":\"floor\",\"topo\":\"%s\",\"conns\":%d,\"pairs\":%d,\"ramp_us_per_conn\":%.2f,\"delivery_us\":%.2f,\"wall_s\":%.1f}\n",
      topo, conns, pairs, (sr + cr) / conns, (sd + cd) / conns, wall }'
