# The VM lab (docs/lab.md, "On VMs"): `make box` builds the offline Debian 12 box once; `make lab-vagrant`
# boots server + 3 clients in a private libvirt namespace, runs ansible/run.yml on them with the same
# parameters as `make lab` (CONNS=…), collects into results/ and destroys everything. COMETLAB_PROFILE=small
# fits the four VMs on a 2-core machine without KVM. SERVERS=2 BROKER=nats: a fifth VM, server2, and
# inventory/vagrant-2servers.yml (the scale-out lab, COMETLAB_SERVERS=2 for the Vagrantfile).
.PHONY: deps-vagrant box box-rebuild lab-vagrant test-vagrant vagrant-clean

deps-vagrant:
	scripts/deps.sh vagrant

box: deps-vagrant
	vagrant/box/build.sh

box-rebuild: deps-vagrant
	vagrant/box/build.sh --force

lab-vagrant: deps-vagrant
	$(if $(SERVERS),COMETLAB_SERVERS=$(SERVERS)) vagrant/lab.sh $(LAB_VARS) $(call lab_command,lab-vagrant) $(LAB_PLAYBOOK_FLAGS)

# The smallest real VM lab, with assertions (ansible/tests/test_vagrant.sh).
test-vagrant: deps-vagrant
	ansible/tests/test_vagrant.sh

# After an interrupted KEEP_VMS=1 run: destroy the VMs, stop the private libvirtd, delete its namespace.
vagrant-clean:
	-cd vagrant && ../vagrant/vmlab.sh exec vagrant destroy -f
	vagrant/vmlab.sh stop
