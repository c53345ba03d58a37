#!/usr/bin/env bash
# vmlab: a private libvirtd inside a network namespace of its own, so that the VM lab's libvirt networks,
# bridges, DHCP, the VMs' addresses, Vagrant's SSH and Ansible's traffic never touch the host's network and
# never meet a libvirt the host already runs.
#
#   vagrant/vmlab.sh start            namespace + private libvirt state + libvirtd (idempotent)
#   vagrant/vmlab.sh exec CMD [ARG…]  run CMD in the namespace, talking to that libvirtd
#   vagrant/vmlab.sh shell            an interactive shell there: `vagrant up`, `cd ansible && ansible-playbook run.yml`
#   vagrant/vmlab.sh status           is it running; which VMs it has
#   vagrant/vmlab.sh stop             kill every process of the namespace by PID, delete it and the private state
#
# Environment: COMETLAB_VM_NETNS (cometvm: not cometlab-*, which the local lab's teardown owns),
# COMETLAB_VM_STATE (/var/lib/cometlab/vmlab).
set -euo pipefail

ns=${COMETLAB_VM_NETNS:-cometvm}
state=${COMETLAB_VM_STATE:-/var/lib/cometlab/vmlab}
sockdir=/run/$ns
uri="qemu:///system?socket=$sockdir/libvirt-sock"

say() { printf 'vmlab: %s\n' "$*"; }
die() { printf 'vmlab: %s\n' "$*" >&2; exit 1; }

# virsh against the namespace's libvirtd.
ns_virsh() { LIBVIRT_DEFAULT_URI=$uri ip netns exec "$ns" virsh "$@"; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root (network and mount namespaces)"; }

running() { [ -S "$sockdir/libvirt-sock" ] && [ -f "$state/libvirtd.pid" ] && kill -0 "$(cat "$state/libvirtd.pid")" 2>/dev/null; }

cmd_start() {
  need_root
  for tool in ip unshare libvirtd virsh qemu-system-x86_64 dnsmasq vagrant; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh vagrant"
  done
  vagrant plugin list 2>/dev/null | grep -q '^vagrant-libvirt' || die "the vagrant-libvirt plugin is missing: apt-get install vagrant-libvirt"
  if running; then say "already running in namespace $ns"; return 0; fi
  ip netns list | grep -qw "^$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  # Private copies of libvirt's state: nothing the host's libvirt keeps is read or written.
  rm -rf "$state"
  mkdir -p "$state"/{etc,lib/images,log,cache} "$sockdir"
  cp -a /etc/libvirt/. "$state/etc/"
  rm -f "$state"/etc/qemu/networks/*.xml "$state"/etc/qemu/networks/autostart/*.xml "$state"/etc/qemu/*.xml
  cat >"$state/etc/libvirtd.conf" <<EOF
# vmlab's libvirtd: its socket outside the private /run/libvirt so vagrant and virsh can reach it.
unix_sock_dir = "$sockdir"
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
EOF
  # No systemd as PID 1 and no cgroup delegation on every machine: no cgroup controllers, no security driver;
  # guest consoles to files instead of virtlogd.
  cat >"$state/etc/qemu.conf" <<EOF
user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
remember_owner = 0
EOF
  # A mount namespace gives libvirtd these copies at the paths it expects; /run/libvirt is a private tmpfs.
  ip netns exec "$ns" unshare --mount --propagation private bash -euc "
    mount --bind '$state/etc' /etc/libvirt
    mkdir -p /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
    mount --bind '$state/lib' /var/lib/libvirt
    mount --bind '$state/log' /var/log/libvirt
    mount --bind '$state/cache' /var/cache/libvirt
    mount -t tmpfs tmpfs /run/libvirt 2>/dev/null || { mkdir -p /run/libvirt; mount -t tmpfs tmpfs /run/libvirt; }
    exec libvirtd -d -p '$state/libvirtd.pid' -f '$state/etc/libvirtd.conf'
  " >"$state/log/start.log" 2>&1 || { cat "$state/log/start.log" >&2; die "libvirtd did not start"; }
  local _
  for _ in $(seq 1 100); do
    if running && ns_virsh -q version >/dev/null 2>&1; then
      say "libvirtd $(cat "$state/libvirtd.pid") up in namespace $ns (socket $sockdir/libvirt-sock)"
      return 0
    fi
    sleep 0.2
  done
  die "libvirtd did not answer on $sockdir/libvirt-sock within 20 s (log: $state/log/libvirtd.log)"
}

cmd_exec() {
  need_root
  running || die "not running: vagrant/vmlab.sh start"
  exec ip netns exec "$ns" env LIBVIRT_DEFAULT_URI="$uri" COMETLAB_VM_NETNS="$ns" "$@"
}

cmd_status() {
  if running; then
    say "running: namespace $ns, libvirtd $(cat "$state/libvirtd.pid")"
    ns_virsh list --all
  else
    say "not running"
    return 1
  fi
}

cmd_stop() {
  need_root
  if ip netns list | grep -qw "^$ns"; then
    # Domains first, politely: libvirt removes their disks' locks and the bridges' state.
    if running; then
      local dom
      for dom in $(ns_virsh -q list --name 2>/dev/null); do
        ns_virsh -q destroy "$dom" >/dev/null 2>&1 || true
      done
    fi
    # Then every process still in the namespace (libvirtd, dnsmasq, qemu), by PID.
    local pids round
    for round in TERM TERM KILL; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -z "$pids" ] && break
      # shellcheck disable=SC2086
      kill -s "$round" $pids 2>/dev/null || true
      sleep 1
    done
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || die "processes $pids would not leave namespace $ns"
    ip netns del "$ns"
  fi
  rm -rf "$state" "$sockdir"
  rmdir --ignore-fail-on-non-empty "$(dirname "$state")" 2>/dev/null || true
  say "stopped: namespace $ns and $state removed"
}

case ${1:-} in
  start) cmd_start ;;
  exec) shift; [ $# -gt 0 ] || die "usage: vmlab.sh exec CMD [ARG…]"; cmd_exec "$@" ;;
  shell) cmd_exec bash -i ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  *) die "usage: vmlab.sh start|exec CMD…|shell|status|stop" ;;
esac
