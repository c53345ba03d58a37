#!/usr/bin/env bash
# make box: builds the lab's Debian 12 Vagrant box (libvirt, qcow2) offline from Debian's archive only, then
# `vagrant box add`s it. No boot loader: the box's own Vagrantfile boots the kernel and initrd shipped inside
# the box directly (vagrant-libvirt's kernel/initrd/cmd_line), so the image is one ext4 file system built
# without a loop device or a mount.
#
#   vagrant/box/build.sh            build (cached: does nothing when the box is already added)
#   vagrant/box/build.sh --force    rebuild and replace it
#
# Environment: COMETLAB_BOX_NAME (cometlab/debian12), COMETLAB_BOX_CACHE (/var/cache/cometlab/box: the
# debootstrap tree and the .box file), COMETLAB_MIRROR (http://deb.debian.org/debian), COMETLAB_BOX_DISK_GB (4).
set -euo pipefail

name=${COMETLAB_BOX_NAME:-cometlab/debian12}
cache=${COMETLAB_BOX_CACHE:-/var/cache/cometlab/box}
mirror=${COMETLAB_MIRROR:-http://deb.debian.org/debian}
disk_gb=${COMETLAB_BOX_DISK_GB:-4}
here=$(cd "$(dirname "$0")" && pwd)
force=false
[ "${1:-}" = --force ] && force=true

say() { printf 'box: %s\n' "$*"; }
die() { printf 'box: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it)"
for tool in debootstrap mkfs.ext4 qemu-img vagrant tar; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh vagrant (or apt-get install debootstrap e2fsprogs qemu-utils vagrant)"
done

# The packages the lab needs on every VM are in the image: the VMs have no route to any archive.
packages=systemd-sysv,systemd-timesyncd,openssh-server,sudo,python3,python3-apt,linux-image-amd64,udev,ifupdown
packages+=,dbus,isc-dhcp-client,iproute2,procps,psmisc,iputils-ping,libpam-modules,ethtool,less
# ENGINE=nchan: Debian's nginx and its nchan module (the image keeps nginx's own service disabled).
packages+=,nginx,libnginx-mod-nchan
# The package list the added box was built from: a box built from another list is rebuilt.
stamp=$cache/cometlab-debian12.packages

if ! $force && vagrant box list --machine-readable 2>/dev/null | grep -q ",box-name,$name\$" \
  && [ "$(cat "$stamp" 2>/dev/null)" = "$packages" ]; then
  say "$name is already added (vagrant box list) from this package list; nothing to do (--force rebuilds)"
  exit 0
fi

# Vagrant's well-known insecure key: `vagrant up` logs in with it once, then puts a fresh key per machine.
insecure_pub=""
for key in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
  [ -f "$key" ] && insecure_pub=$key
done
[ -n "$insecure_pub" ] || die "Vagrant's insecure public key (keys/vagrant.pub) was not found: is vagrant installed?"

root=$cache/rootfs
work=$cache/build
mkdir -p "$cache"
start=$(date +%s)

# The debootstrap tree is reused only when it was made from this package list.
if [ "$(cat "$root/.cometlab-complete" 2>/dev/null)" != "$packages" ] || $force; then
  rm -rf "$root"
  say "debootstrap bookworm from $mirror (≈ 3 min, ≈ 850 MB)"
  debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  printf '%s' "$packages" >"$root/.cometlab-complete"
else
  say "reusing the debootstrap tree in $root"
fi

say "configuring the image"
# Unique identity per clone: systemd makes a machine-id at first boot; every clone gets its own host keys.
: >"$root/etc/machine-id"
ln -sf /etc/machine-id "$root/var/lib/dbus/machine-id" 2>/dev/null || true
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/cometlab-hostkeys.conf" <<'EOF'
# The box ships without host keys: each VM makes its own before sshd's config test.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$root/etc/fstab"
echo cometlab >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 cometlab\n' >"$root/etc/hosts"
# net.ifnames=0 on the kernel command line: eth0 is Vagrant's management NIC (DHCP); Vagrant itself
# appends the stanzas of the lab NICs it configures (its Debian guest plugin uses ifupdown).
cat >"$root/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
EOF
# sshd: no reverse DNS lookup (there is no DNS on the lab's networks), quick logins.
mkdir -p "$root/etc/ssh/sshd_config.d"
printf 'UseDNS no\nGSSAPIAuthentication no\n' >"$root/etc/ssh/sshd_config.d/cometlab.conf"
# A serial console for `virsh console` and the boot log.
ln -sf /lib/systemd/system/serial-getty@.service \
  "$root/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service" 2>/dev/null || true
# The vagrant user: Vagrant's insecure key, passwordless sudo.
if ! grep -q '^vagrant:' "$root/etc/passwd"; then
  chroot "$root" /usr/sbin/useradd --create-home --shell /bin/bash vagrant
fi
echo 'vagrant:vagrant' | chroot "$root" /usr/sbin/chpasswd
install -d -m 0700 "$root/home/vagrant/.ssh"
install -m 0600 "$insecure_pub" "$root/home/vagrant/.ssh/authorized_keys"
chroot "$root" /bin/chown -R vagrant:vagrant /home/vagrant/.ssh
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
# Debian's nginx must not listen on :80 at boot: the lab starts its own (ansible/roles/nchan) under labproc.
rm -f "$root/etc/systemd/system/multi-user.target.wants/nginx.service"
# No package cache in the image (apt-get clean), no archive to reach from the lab.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)
[ -f "$kernel" ] && [ -f "$initrd" ] || die "no kernel or initrd under $root/boot"

rm -rf "$work"
mkdir -p "$work"
say "making the ${disk_gb} GB ext4 image and the qcow2"
truncate -s "${disk_gb}G" "$work/raw.img"
mkfs.ext4 -q -F -L cometlab -d "$root" "$work/raw.img"
qemu-img convert -c -O qcow2 "$work/raw.img" "$work/box.img"
rm -f "$work/raw.img"
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$disk_gb" >"$work/metadata.json"
cp "$here/Vagrantfile.box" "$work/Vagrantfile"
say "packing $cache/cometlab-debian12.box"
tar -C "$work" -czf "$cache/cometlab-debian12.box.tmp" metadata.json Vagrantfile box.img vmlinuz initrd.img
mv "$cache/cometlab-debian12.box.tmp" "$cache/cometlab-debian12.box"
rm -rf "$work"

vagrant box add --force --name "$name" "$cache/cometlab-debian12.box" >/dev/null
printf '%s' "$packages" >"$stamp"
say "added $name ($(du -h "$cache/cometlab-debian12.box" | cut -f1)) in $(( $(date +%s) - start )) s"
