#!/usr/bin/env bash
# Installs what the README's commands need on Debian 12 (idempotent; quiet when all is present).
#   scripts/deps.sh            make lab, make test: Ansible, linters, iproute2, Vagrant (for `vagrant validate`)
#   scripts/deps.sh vagrant    also the VM lab: vagrant-libvirt, libvirt, QEMU, debootstrap (make box, make lab-vagrant)
set -euo pipefail
pkgs=(ansible ansible-lint yamllint shellcheck iproute2 procps psmisc bridge-utils python3 gcc make git ca-certificates util-linux
  vagrant)
if [ "${1:-}" = vagrant ]; then
  pkgs+=(vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients dnsmasq-base iptables
    qemu-system-x86 qemu-utils debootstrap e2fsprogs openssh-client)
elif [ -n "${1:-}" ]; then
  echo "deps: unknown group '$1' (none, or vagrant)" >&2
  exit 2
fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "deps: missing ${missing[*]}: run as root (apt-get install)" >&2; exit 1; }
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "deps: Go toolchain not found (expected /usr/local/go/bin/go; Go 1.26 from go.dev/dl)" >&2; exit 1; }
cd "$(dirname "$0")/.."
GOFLAGS=-mod=mod go mod download
