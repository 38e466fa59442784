#!/usr/bin/env bash
# ctest's fuzz runner: a fresh seed corpus, then a bounded libFuzzer run that
# fails on any crash, leak or timeout (the input is kept in WORK for replay:
# FUZZER WORK/crash-...).
#   run_fuzz.sh FUZZER SEED_GENERATOR WORK SECONDS
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/seeds"
"$seeds" "$work/seeds"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "$work/seeds"
