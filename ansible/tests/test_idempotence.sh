#!/usr/bin/env bash
# make test-lab-idempotence: topology + tune twice on the local lab; the second pass must change
# nothing (changed=0 on every host); then tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp /tmp/cometlab-idem.XXXXXX)
trap 'ansible-playbook -i ../inventory/local.yml clean.yml >/dev/null 2>&1 || true; rm -f "$log"' EXIT
ansible-playbook -i ../inventory/local.yml run.yml --tags topology,tune -e lab_conns=12000 >"$log" 2>&1 \
  || { tail -n 30 "$log"; echo "first pass failed" >&2; exit 1; }
ansible-playbook -i ../inventory/local.yml run.yml --tags topology,tune -e lab_conns=12000 >"$log" 2>&1 \
  || { tail -n 30 "$log"; echo "second pass failed" >&2; exit 1; }
sed -n '/PLAY RECAP/,$p' "$log"
if sed -n '/PLAY RECAP/,$p' "$log" | grep -E 'changed=[1-9]'; then
  echo "test-lab-idempotence: the second topology+tune pass changed something" >&2
  exit 1
fi
echo "test-lab-idempotence: second pass changed=0"
