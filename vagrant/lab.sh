#!/usr/bin/env bash
# make lab-vagrant: the VM lab end to end — box (cached), a private libvirtd in its own network namespace,
# `vagrant up`, `ansible-playbook run.yml`, then `vagrant destroy -f` and the namespace deleted, on success and on
# failure alike. Each step's duration is printed and handed to the playbook, which records it in run.json.
#
#   vagrant/lab.sh [ansible-playbook ARGS…]
#
# Environment: COMETLAB_PROFILE etc. (vagrant/Vagrantfile); COMETLAB_SERVERS=2 (make lab-vagrant SERVERS=2) boots
# server2 too and runs the playbook with inventory/vagrant-2servers.yml; KEEP_VMS=1 leaves the VMs and the namespace up
# (then `vagrant/vmlab.sh exec vagrant destroy -f` and `vagrant/vmlab.sh stop` clean up).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
vmlab=$root/vagrant/vmlab.sh
export PATH=/usr/local/go/bin:$PATH

say() { printf 'lab-vagrant [%ss]: %s\n' "$((SECONDS - t0))" "$*"; }
die() { printf 'lab-vagrant: %s\n' "$*" >&2; exit 1; }
t0=$SECONDS

[ "$(id -u)" = 0 ] || die "run as root (network namespace, libvirtd)"
case ${COMETLAB_SERVERS:-1} in
  1) inventory=vagrant ;;
  2) inventory=vagrant-2servers ;;
  *) die "COMETLAB_SERVERS=${COMETLAB_SERVERS}: 1 or 2 (SERVERS=2 is the scale-out lab)" ;;
esac

box_t=$SECONDS
make -s -C "$root" box
box_s=$((SECONDS - box_t))
make -s -C "$root" build

cleanup() {
  local rc=$?
  if [ "${KEEP_VMS:-0}" = 1 ]; then
    say "KEEP_VMS=1: VMs left running (vagrant/vmlab.sh exec vagrant destroy -f; vagrant/vmlab.sh stop)"
    exit "$rc"
  fi
  say "destroying the VMs and the namespace"
  local destroy_t=$SECONDS
  (cd "$root/vagrant" && "$vmlab" exec vagrant destroy -f >/dev/null 2>&1) || true
  "$vmlab" stop || rc=1
  say "teardown took $((SECONDS - destroy_t)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$vmlab" start
say "vagrant up (box ${COMETLAB_BOX:-cometlab/debian12}, profile ${COMETLAB_PROFILE:-seed}, ${COMETLAB_SERVERS:-1} server(s))"
up_t=$SECONDS
# Vagrant redraws its upload progress with carriage returns: keep the log readable.
(cd "$root/vagrant" && "$vmlab" exec vagrant up 2>&1 | tr '\r' '\n' | grep --line-buffered -v 'Progress: ') || die "vagrant up failed (the VMs are destroyed; KEEP_VMS=1 keeps them to look)"
up_s=$((SECONDS - up_t))
say "vagrant up took $up_s s"

run_t=$SECONDS
say "ansible-playbook -i inventory/$inventory.yml run.yml"
rc=0
(cd "$root/ansible" && "$vmlab" exec ansible-playbook -i "../inventory/$inventory.yml" run.yml \
  -e "{\"lab_vm_timings\": {\"box_s\": $box_s, \"vagrant_up_s\": $up_s}, \"lab_vm_profile\": \"${COMETLAB_PROFILE:-seed}\"}" \
  "$@") || rc=$?
say "ansible-playbook took $((SECONDS - run_t)) s (rc $rc)"
exit "$rc"
