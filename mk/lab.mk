# The lab (docs/lab.md): `make lab CONNS=1000000 RATE=0 DURATION=120s HOLD_MIN=30s HOLD_MAX=90s SAMPLE=1
# ENGINE=netpoll PUSH= RESULTS=results INVENTORY=local`; scale-out: `SERVERS=2 BROKER=nats` (inventory/local-2servers.yml,
# or vagrant-2servers.yml with INVENTORY=vagrant). Defaults live in ansible/group_vars/all.yml: only the
# variables given here are passed on, as -e lab_<name>.
SERVERS ?=
INVENTORY ?= local
# SERVERS=2 picks the inventory's -2servers twin (local-2servers, vagrant-2servers).
LAB_INVENTORY = $(INVENTORY)$(if $(and $(filter 2,$(SERVERS)),$(filter-out %-2servers,$(INVENTORY))),-2servers)
LAB_PLAYBOOK_FLAGS ?=
lab_var = $(if $($(1)),-e '$(2)=$($(1))')
LAB_VARS = $(call lab_var,CONNS,lab_conns) $(call lab_var,RATE,lab_rate) $(call lab_var,DURATION,lab_duration) \
	$(call lab_var,HOLD_MIN,lab_hold_min) $(call lab_var,HOLD_MAX,lab_hold_max) $(call lab_var,SAMPLE,lab_sample) \
	$(call lab_var,ENGINE,lab_engine) $(call lab_var,PUSH,lab_push) $(call lab_var,BROKER,lab_broker) \
	$(if $(RESULTS),-e 'lab_results=$(abspath $(RESULTS))')
# run.json's "command": the make command that made the run (`$(call lab_command,lab)`), shown in results/README.md.
lab_words = $(foreach v,COMETLAB_PROFILE SERVERS BROKER CONNS RATE DURATION HOLD_MIN HOLD_MAX SAMPLE ENGINE PUSH,$(if $($(v)),$(v)=$($(v))))
lab_command = -e '{"lab_command": "make $(or $(LAB_TARGET),$(1)) $(strip $(lab_words))"}'
# One local lab at a time: every run creates and sweeps the cometlab-* namespaces, so a second run would tear down
# the first. A second `make lab` or `make test-lab` waits for the first (LAB_LOCK_WAIT seconds, then exits 75).
LAB_LOCK ?= /run/cometlab-lab.lock
LAB_LOCK_WAIT ?= 7200
# Inside a locked command (COMETLAB_LAB_LOCKED set: test-lab's runs, lab-profile) a nested `make lab` does not lock
# again: flock on the same file from a child would wait for its own parent.
lab_locked = $(if $(COMETLAB_LAB_LOCKED),env,{ flock -n $(LAB_LOCK) true || echo "waiting for the lab run that holds \
	$(LAB_LOCK)"; } && flock -E 75 -w $(LAB_LOCK_WAIT) $(LAB_LOCK) env COMETLAB_LAB_LOCKED=1)
LAB_PLAYBOOK = cd ansible && PATH=/usr/local/go/bin:$$PATH ansible-playbook

.PHONY: lab lab-unlocked lab-profile lab-clean lint-lab test-lab test-lab-idempotence
lab: deps
	$(lab_locked) $(MAKE) -s lab-unlocked

lab-unlocked:
	$(LAB_PLAYBOOK) -i ../inventory/$(LAB_INVENTORY).yml run.yml $(LAB_VARS) $(call lab_command,lab) $(LAB_PLAYBOOK_FLAGS)

# The same run under perf: where the CPU went in the ramp and in each broadcast (scripts/lab-profile.sh).
lab-profile: deps
	$(lab_locked) LAB_TARGET=lab-profile scripts/lab-profile.sh

lab-clean:
	$(LAB_PLAYBOOK) -i ../inventory/local.yml clean.yml

lint-lab:
	yamllint -c ansible/.yamllint ansible inventory
	python3 -m unittest discover -s ansible/tests -p "test_*.py"
	shellcheck -S warning ansible/files/labproc ansible/tests/*.sh vagrant/*.sh vagrant/box/build.sh scripts/deps.sh scripts/floor/run.sh .ci/run
	cd ansible && ansible-lint --offline
	cd ansible && ansible-playbook -i ../inventory/local.yml --syntax-check run.yml clean.yml
	cd ansible && ansible-playbook -i ../inventory/vagrant.yml --syntax-check run.yml
	cd ansible && ansible-playbook -i ../inventory/local-2servers.yml --syntax-check run.yml
	cd ansible && ansible-playbook -i ../inventory/vagrant-2servers.yml --syntax-check run.yml
	cd vagrant && vagrant validate --ignore-provider
	cd vagrant && COMETLAB_SERVERS=2 vagrant validate --ignore-provider

# Real local runs into a temporary results folder (ansible/tests/test_lab.sh says what is asserted).
test-lab: build
	$(lab_locked) ansible/tests/test_lab.sh
	$(lab_locked) ansible/tests/test_idempotence.sh

# Topology + tune twice: the second pass must report changed=0; then teardown.
test-lab-idempotence:
	$(lab_locked) ansible/tests/test_idempotence.sh
