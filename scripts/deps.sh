#!/usr/bin/env bash
# Installs what the lab and the tests need on Debian 12 (idempotent; quiet when all is present).
set -euo pipefail
pkgs=(ansible ansible-lint yamllint iproute2 procps psmisc bridge-utils python3 gcc make git ca-certificates util-linux
  vagrant)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || { echo "deps: Go toolchain not found (expected /usr/local/go/bin/go)"; exit 1; }
cd "$(dirname "$0")/.."
GOFLAGS=-mod=mod go mod download
