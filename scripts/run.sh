#!/usr/bin/env bash
# Builds ktrail if needed and runs the agent on this host, printing one JSON
# event per line. Extra arguments go to ktraild (see build/bin/ktraild --help).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "run: ktraild loads BPF programs into the kernel and needs root: sudo scripts/run.sh" >&2
  exit 1
fi
[[ -x build/bin/ktraild ]] || scripts/setup.sh
exec build/bin/ktraild --output stdout --state "${KTRAIL_STATE:-/var/lib/ktrail}" "$@"
