#!/usr/bin/env bash
# Installs what the README's commands need on Debian 12 (idempotent; quiet when all is present).
#   scripts/deps.sh            make lab, make test: Ansible, linters, iproute2, Vagrant (for `vagrant validate`),
#                              nginx + nchan (the conformance suite runs them on loopback; never started as a service)
#   scripts/deps.sh vagrant    also the VM lab: vagrant-libvirt, libvirt, QEMU, debootstrap (make box, make lab-vagrant)
set -euo pipefail
pkgs=(ansible ansible-lint yamllint shellcheck iproute2 procps psmisc bridge-utils python3 gcc make git ca-certificates util-linux
  vagrant nginx libnginx-mod-nchan)
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
  # Debian's nginx starts a service on :80 of the host's network when installed. A policy-rc.d that exits 101
  # forbids every service start during the install; one already in place is set aside and put back afterwards.
  policy=/usr/sbin/policy-rc.d
  saved=""
  restore_policy() {
    rm -f "$policy"
    if [ -n "$saved" ]; then mv -f "$saved" "$policy"; fi
  }
  if [ -e "$policy" ]; then
    saved=$(mktemp "$policy.deps.XXXXXX")
    cp -p "$policy" "$saved"
  fi
  trap restore_policy EXIT
  printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
  # The unit is enabled by the package: disable it so no boot starts it either; stop it if systemd runs.
  if command -v systemctl >/dev/null && systemctl list-unit-files nginx.service >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now nginx >/dev/null 2>&1 || echo "deps: warning: could not disable nginx.service" >&2
    else
      systemctl disable nginx >/dev/null 2>&1 || true
    fi
  fi
fi
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "deps: Go toolchain not found (expected /usr/local/go/bin/go; Go 1.26 from go.dev/dl)" >&2; exit 1; }
cd "$(dirname "$0")/.."
GOFLAGS=-mod=mod go mod download
