#!/usr/bin/env bash
# The single-host default: builds ktrail if needed, starts a collector with an
# SQLite store under the data dir and the agent shipping to it over loopback
# mutual TLS (development certificates, made on the first run). Ctrl-C stops
# both. Extra arguments go to ktraild (see build/bin/ktraild --help), e.g.
# `--output stdout` to also see every event.
#
#   KTRAIL_DATA  where the state, spool, certificates and store live
#                (default /var/lib/ktrail)
#   KTRAIL_PORT  the collector's loopback port (default 7443)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "run: ktraild loads BPF programs into the kernel and needs root: sudo scripts/run.sh" >&2
  exit 1
fi
[[ -x build/bin/ktraild && -x build/bin/ktrail-collector ]] || scripts/setup.sh

data=${KTRAIL_DATA:-/var/lib/ktrail}
port=${KTRAIL_PORT:-7443}
host=$(hostname)
mkdir -p "$data/collector" && chmod 700 "$data"
scripts/dev-certs.sh "$data/tls" "$host" >/dev/null
store="sqlite:$data/collector/events.db"

# In its own session: Ctrl-C stops the agent first, which then delivers what
# it still holds; the collector is stopped after it (the EXIT trap).
# --allow-root: this development setup keeps every file root's (the package
# runs the collector as its own user).
setsid build/bin/ktrail-collector --allow-root --listen "127.0.0.1:$port" --store "$store" \
  --tls-ca "$data/tls/ca.crt" --tls-cert "$data/tls/collector.crt" --tls-key "$data/tls/collector.key" &
collector=$!
trap 'kill -TERM $collector 2>/dev/null; wait $collector 2>/dev/null' EXIT

cat >&2 <<MSG
run: collector on 127.0.0.1:$port, store $store
run: try, in another terminal:
       sudo build/bin/ktrail query --store $store --since 10m
       sudo build/bin/ktrail query --store $store --action created-file --path '/etc/*' --json
       sudo build/bin/ktrail verify --store $store
MSG
trap '' INT  # the agent stops on Ctrl-C; this script waits for it, then stops the collector
build/bin/ktraild --state "$data" --output "collector:localhost:$port" \
  --tls-ca "$data/tls/ca.crt" --tls-cert "$data/tls/agent-$host.crt" --tls-key "$data/tls/agent-$host.key" "$@"
