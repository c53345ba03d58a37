# Memory benchmarks on loopback (src/lab/bench): bytes per held connection and churn stability.
# BENCH_CONNS and BENCH_ENGINE, not CONNS and ENGINE: those are the lab's (mk/lab.mk).
BENCH_CONNS ?= 200000
BENCH_ENGINE ?= netpoll
CYCLES ?= 10
CHURN_CONNS ?= 100000
# One JSON line per run, next to the binaries (git-ignored).
BENCH_JSON ?= bin/bench.jsonl

.PHONY: bench-mem bench-churn bench-cpu bench-pub bench-floor bench-go
bench-mem: build
	bin/bench mem -conns $(BENCH_CONNS) -engine $(BENCH_ENGINE) -procs auto -json $(BENCH_JSON)

bench-churn: build
	bin/bench churn -cycles $(CYCLES) -conns $(CHURN_CONNS) -engine $(BENCH_ENGINE) -procs auto -json $(BENCH_JSON)

# comet and flood CPU per hold-cycle answer and per push delivery (µs, utime+stime of comet's master and workers,
# of flood's coordinator and children) at CPU_CONNS.
CPU_CONNS ?= 100000
bench-cpu: build
	bin/bench cpu -conns $(CPU_CONNS) -engine $(BENCH_ENGINE) -procs auto -json $(BENCH_JSON)

# Publish-to-one throughput and comet CPU per publish, with as many workers as PUB_CONNS needs here (no connections).
PUB_CONNS ?= 1000000
bench-pub: build
	bin/bench pub -conns $(PUB_CONNS) -engine $(BENCH_ENGINE) -procs auto -json $(BENCH_JSON)

# The kernel's floor for one connection (ramp) and one delivery at FLOOR_CONNS: C programs doing only the system
# calls the lab cannot avoid, many pairs at once (scripts/floor). FLOOR_TOPO: bridge (the local lab's path), veth,
# loopback. Under the lab lock, so a lab run does not share the cores with it.
FLOOR_CONNS ?= 1000000
FLOOR_TOPO ?= bridge
bench-floor:
	$(lab_locked) env FLOOR_CONNS=$(FLOOR_CONNS) FLOOR_TOPO=$(FLOOR_TOPO) scripts/floor/run.sh

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem ./src/...
