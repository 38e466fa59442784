#!/usr/bin/env bash
# Measures what ktraild costs the workloads it watches, next to Debian's auditd:
#   (1) an open/close loop whose every open is captured,
#   (2) the same loop while ktraild watches only /etc (the loop works elsewhere),
#   (3) a fork+exec loop of /bin/true.
# ktraild runs these with --no-default-rules (the agent alone, comparable across
# rule set changes); workload (1) is also run with the default rule set loaded.
# Each cell is the median of BENCH_REPS runs of build/bin/bench_loop (ns per
# iteration). The machine is noisy, so results are reported as ratios to a
# baseline taken in the same run: bare reps are run right before each tracer's
# block and pooled per workload. Also reports ktraild's delivered/dropped
# events, CPU seconds and peak RSS, and checks them against the targets; and,
# with no kernel involved, audit parsing, enrichment and rule evaluation per event;
# the SIEM outputs' formats and sinks in events/s on one core (outputs_bench);
# and the central side (spool, collector ingest, end-to-end latency).
#   sudo scripts/bench.sh      (env: BENCH_OPEN_N, BENCH_EXEC_N, BENCH_REPS)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

OPEN_N=${BENCH_OPEN_N:-200000}
EXEC_N=${BENCH_EXEC_N:-2000}
REPS=${BENCH_REPS:-7}
WORK=/tmp/ktrail-bench
LOOP=$WORK/loop
EVENTS=$WORK/events.json
BIN=build/bin
KEY=ktrail-bench
AUDIT_BACKLOG=8192 # what Debian's shipped rules.d/audit.rules sets (-b 8192)

if [[ $(id -u) -ne 0 ]]; then
  echo "bench: needs root (loads BPF programs, runs auditd): sudo scripts/bench.sh" >&2
  exit 1
fi

# --- state the cleanup trap undoes -------------------------------------------
KTRAILD_PID=""
COLLECTOR_PID=""
AUDITD_PID=""
AUDIT_RULE_DEL=()  # auditctl arguments that delete the rule we added
AUDIT_ORIG_ENABLED=""
AUDIT_ORIG_BACKLOG=""

audit_status() { auditctl -s | awk -v k="$1" '$1 == k { print $2 }'; }

stop_ktraild() {
  [[ -n $KTRAILD_PID ]] || return 0
  kill -TERM "$KTRAILD_PID" 2>/dev/null || true
  KTRAILD_RC=0
  wait "$KTRAILD_PID" || KTRAILD_RC=$?
  KTRAILD_PID=""
}

stop_auditd() {
  [[ -n $AUDITD_PID ]] || return 0
  kill -TERM "$AUDITD_PID" 2>/dev/null || true
  wait "$AUDITD_PID" || true
  AUDITD_PID=""
}

delete_audit_rule() {
  ((${#AUDIT_RULE_DEL[@]})) || return 0
  auditctl "${AUDIT_RULE_DEL[@]}" >/dev/null || true
  AUDIT_RULE_DEL=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_ktraild
  [[ -z $COLLECTOR_PID ]] || { kill -TERM "$COLLECTOR_PID" 2>/dev/null; wait "$COLLECTOR_PID" 2>/dev/null || true; }
  delete_audit_rule
  stop_auditd
  if [[ -n $AUDIT_ORIG_ENABLED ]]; then
    auditctl -e "$AUDIT_ORIG_ENABLED" >/dev/null || true
    auditctl -b "$AUDIT_ORIG_BACKLOG" >/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -------------------------------------------------------------------
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# run_loop W: one rep of workload W, prints ns/iteration
run_loop() {
  case $1 in
    1 | 2) "$BIN/bench_loop" open "$LOOP" "$OPEN_N" ;;
    3) "$BIN/bench_loop" exec "$EXEC_N" ;;
  esac
}

# reps W: BENCH_REPS runs of workload W, prints the values space-separated
reps() {
  local out=() i
  for ((i = 0; i < REPS; i++)); do out+=("$(run_loop "$1")"); done
  echo "${out[*]}"
}

# --- ktraild ---------------------------------------------------------------------
start_ktraild() {
  rm -f "$EVENTS"
  "$BIN/ktraild" --output "file:$EVENTS" --state "$WORK/state" "$@" 2>"$WORK/ktraild.err" &
  KTRAILD_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    grep -qs '"agent-started"' "$EVENTS" && return 0
    kill -0 "$KTRAILD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: ktraild did not start; its stderr:" >&2
  tail -n 20 "$WORK/ktraild.err" >&2
  exit 1
}

# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat; skip
# "pid (comm) " as comm may hold spaces)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# ktraild_block KEY W ARGS...: reps of workload W under ktraild started with
# ARGS; sets K_TIMES[KEY] and K_STATS[KEY]
declare -A K_TIMES K_STATS
ktraild_block() {
  local key=$1 w=$2; shift 2
  start_ktraild "$@"
  # CPU from here on: loading (the verifier) is a one-off, not the cost of watching.
  local cpu0 cpu1 clk cpu rss last delivered dropped
  cpu0=$(cpu_ticks "$KTRAILD_PID")
  K_TIMES[$key]=$(reps "$w")
  sleep 0.2 # let the agent drain what the last rep produced
  cpu1=$(cpu_ticks "$KTRAILD_PID")
  clk=$(getconf CLK_TCK)
  cpu=$(awk -v t="$((cpu1 - cpu0))" -v c="$clk" 'BEGIN { printf "%.2f", t / c }')
  rss=$(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/$KTRAILD_PID/status")
  stop_ktraild
  if ((KTRAILD_RC != 0)); then
    echo "bench: ktraild exited with $KTRAILD_RC; its stderr:" >&2
    tail -n 20 "$WORK/ktraild.err" >&2
    exit 1
  fi
  last=$(grep 'ktraild stopped:' "$WORK/ktraild.err" | tail -n 1)
  delivered=$(sed -n 's/.*delivered \([0-9]*\).*/\1/p' <<<"$last")
  dropped=$(sed -n 's/.*dropped \([0-9]*\).*/\1/p' <<<"$last")
  K_STATS[$key]="${delivered:--} ${dropped:--} $cpu $rss"
  rm -f "$EVENTS"
}

# --- auditd ----------------------------------------------------------------------
AUDITD_SKIP=""
ensure_auditd() {
  command -v auditd >/dev/null && command -v auditctl >/dev/null && return 0
  local made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then # keep the service from auto-starting
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  echo "bench: installing auditd"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null || rc=$?
  [[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
  return "$rc"
}

check_auditd() {
  if ! ensure_auditd; then
    AUDITD_SKIP="could not install auditd"
  elif ! auditctl -s >/dev/null 2>&1; then
    AUDITD_SKIP="auditctl -s failed (no kernel audit support?)"
  elif [[ $(audit_status pid) != 0 ]]; then
    AUDITD_SKIP="an audit daemon is already registered (auditctl -s pid $(audit_status pid))"
  elif pgrep -x auditd >/dev/null; then
    AUDITD_SKIP="an auditd process is already running"
  fi
}

start_auditd() {
  [[ -n $AUDIT_ORIG_ENABLED ]] || {
    AUDIT_ORIG_ENABLED=$(audit_status enabled)
    AUDIT_ORIG_BACKLOG=$(audit_status backlog_limit)
  }
  auditd -n >"$WORK/auditd.log" 2>&1 &
  AUDITD_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(audit_status pid) != 0 ]] && { auditctl -b "$AUDIT_BACKLOG" >/dev/null; return 0; }
    kill -0 "$AUDITD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: auditd did not register; its output:" >&2
  tail -n 20 "$WORK/auditd.log" >&2
  exit 1
}

# auditd_block W: reps of W under auditd with the equivalent rule; sets A_TIMES, A_LOST
declare -A A_TIMES A_LOST
auditd_block() {
  local w=$1 add
  # shellcheck disable=SC2054 # commas belong to auditctl arguments
  case $w in
    1) add=(-a always,exit -F arch=b64 -S open,openat,openat2,creat -F "dir=$LOOP" -k "$KEY") ;;
    2) add=(-w /etc -p wa -k "$KEY") ;;
    3) add=(-a always,exit -F arch=b64 -S execve -k "$KEY") ;;
  esac
  start_auditd
  auditctl "${add[@]}" >/dev/null
  if [[ ${add[0]} == -w ]]; then AUDIT_RULE_DEL=(-W "${add[@]:1}"); else AUDIT_RULE_DEL=(-d "${add[@]:1}"); fi
  local lost0; lost0=$(audit_status lost)
  A_TIMES[$w]=$(reps "$w")
  A_LOST[$w]=$(($(audit_status lost) - lost0))
  delete_audit_rule
  stop_auditd
  auditctl -e "$AUDIT_ORIG_ENABLED" >/dev/null
  auditctl -b "$AUDIT_ORIG_BACKLOG" >/dev/null
}

# --- run -------------------------------------------------------------------------
mkdir -p "$LOOP" "$WORK/state"
scripts/setup.sh >"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log" >&2; exit 1; }
check_auditd
[[ -z $AUDITD_SKIP ]] || echo "bench: auditd column skipped: $AUDITD_SKIP"

# ktraild first: once audit has been enabled, the kernel gives every new task
# an audit context until reboot, which slows every later run, bare included.
# So each tracer is compared with bare runs of its own phase.
# The agent alone: no ktrail rules (ktraild loads the default set unless told
# not to). Workload (1) once more with the default set loaded, against the same
# pooled bare runs, unless the set does not load (rules_bench loads the very
# directory ktraild would, KTRAIL_DEFAULT_RULES_DIR).
declare -A BARE_TIMES BARE_AUDIT_TIMES
KTRAILD_ARGS=(--no-default-rules)
KTRAILD_ARGS_2=(--watch /etc --watched-only)
DEFAULT_RULES_SKIP=""
if ! "$BIN/rules_bench" - 1 >/dev/null 2>"$WORK/rules_check.err"; then
  DEFAULT_RULES_SKIP="the default rule set does not load"
  echo "bench: open/close with the default rule set skipped: $DEFAULT_RULES_SKIP:" >&2
  head -n 20 "$WORK/rules_check.err" >&2
fi
for w in 1 2 3; do
  echo "bench: workload ($w), bare and ktraild..." >&2
  BARE_TIMES[$w]=$(reps "$w")
  if [[ $w == 2 ]]; then ktraild_block "$w" "$w" "${KTRAILD_ARGS[@]}" "${KTRAILD_ARGS_2[@]}"
  else ktraild_block "$w" "$w" "${KTRAILD_ARGS[@]}"; fi
  BARE_TIMES[$w]+=" $(reps "$w")"
  if [[ $w == 1 && -z $DEFAULT_RULES_SKIP ]]; then
    echo "bench: workload (1), ktraild with the default rule set, and bare..." >&2
    ktraild_block 1r 1
    BARE_TIMES[1]+=" $(reps 1)"
  fi
done
if [[ -z $AUDITD_SKIP ]]; then
  for w in 1 2 3; do
    echo "bench: workload ($w), bare and auditd..." >&2
    BARE_AUDIT_TIMES[$w]=$(reps "$w")
    auditd_block "$w"
    BARE_AUDIT_TIMES[$w]+=" $(reps "$w")"
  done
fi

# --- report ----------------------------------------------------------------------
NAMES=("" "(1) open/close, all" "(2) open/close, /etc only" "(3) fork+exec /bin/true")
TARGETS=("" 1.15 1.03 1.10)
declare -A K_RATIO
echo
echo "ktrail benchmark: open N=$OPEN_N, exec N=$EXEC_N, $REPS reps (medians, ns/iteration)"
printf '%-26s %10s %10s %7s %10s %10s %7s %8s\n' workload bare ktraild ratio bare-2 auditd ratio target
for w in 1 2 3; do
  bare=$(median <<<"${BARE_TIMES[$w]}")
  kt=$(median <<<"${K_TIMES[$w]}")
  K_RATIO[$w]=$(ratio "$kt" "$bare")
  if [[ -z $AUDITD_SKIP ]]; then
    bare2=$(median <<<"${BARE_AUDIT_TIMES[$w]}")
    au=$(median <<<"${A_TIMES[$w]}"); au_r="$(ratio "$au" "$bare2")x"
  else
    bare2=-; au=skipped; au_r=-
  fi
  printf '%-26s %10s %10s %7s %10s %10s %7s %8s\n' "${NAMES[$w]}" "$bare" "$kt" "${K_RATIO[$w]}x" \
    "$bare2" "$au" "$au_r" "<=${TARGETS[$w]}x"
  if [[ $w == 1 && -z $DEFAULT_RULES_SKIP ]]; then
    kt=$(median <<<"${K_TIMES[1r]}")
    K_RATIO[1r]=$(ratio "$kt" "$bare")
    printf '%-26s %10s %10s %7s %10s %10s %7s %8s\n' "(1) + default rule set" "$bare" "$kt" "${K_RATIO[1r]}x" \
      - - - -
  fi
done
echo "(ktraild: with --no-default-rules, except the row with the default rule set)"
echo "(bare-2: bare runs of the auditd phase; after auditd has run once, the kernel audits"
echo " every new task until reboot, so bare-2 is slower than bare on a freshly booted host)"

echo
printf '%-10s %12s %9s %8s %14s\n' ktraild delivered dropped cpu_s peak_rss_MiB
# (cpu_s: the agent's CPU while the workload ran, loading excluded)
for w in 1 2 3; do
  read -r d x c r <<<"${K_STATS[$w]}"
  printf '%-10s %12s %9s %8s %14s\n' "($w)" "$d" "$x" "$c" "$r"
  if [[ $w == 1 && -z $DEFAULT_RULES_SKIP ]]; then
    read -r d x c r <<<"${K_STATS[1r]}"
    printf '%-10s %12s %9s %8s %14s\n' "(1) rules" "$d" "$x" "$c" "$r"
  fi
done
if [[ -z $AUDITD_SKIP ]]; then
  echo
  printf '%-10s %12s %9s\n' auditd delivered "dropped(lost)"
  for w in 1 2 3; do printf '%-10s %12s %9s\n' "($w)" - "${A_LOST[$w]}"; done
fi

# (4) The open/close loop with a kernel audit rule on openat: the audit stream
# read by ktraild (as the audit daemon; its BPF file capture off, so only the
# audit path is measured) vs by auditd. The rule is added with auditctl.
AUDIT_RULE=(-a always,exit -F arch=b64 -S openat -F "dir=$LOOP" -k "$KEY")
if [[ -z $AUDITD_SKIP ]]; then
  echo "bench: workload (4), audit rule on openat..." >&2
  A4_BARE=$(reps 1)
  start_ktraild --disable file "${KTRAILD_ARGS[@]}"
  cpu0=$(cpu_ticks "$KTRAILD_PID")
  auditctl "${AUDIT_RULE[@]}" >/dev/null
  AUDIT_RULE_DEL=(-d "${AUDIT_RULE[@]:1}")
  A4_KT=$(reps 1)
  sleep 0.5
  cpu1=$(cpu_ticks "$KTRAILD_PID")
  delete_audit_rule
  stop_ktraild
  A4_KT_CPU=$(awk -v t="$((cpu1 - cpu0))" -v c="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / c }')
  A4_KT_EVENTS=$(grep 'ktraild stopped:' "$WORK/ktraild.err" | sed -n 's/.*audit events \([0-9]*\).*/\1/p')
  start_auditd
  auditctl "${AUDIT_RULE[@]}" >/dev/null
  AUDIT_RULE_DEL=(-d "${AUDIT_RULE[@]:1}")
  A4_AU=$(reps 1)
  delete_audit_rule
  stop_auditd
  auditctl -e "$AUDIT_ORIG_ENABLED" >/dev/null
  auditctl -b "$AUDIT_ORIG_BACKLOG" >/dev/null
  A4_BARE+=" $(reps 1)"
  b=$(median <<<"$A4_BARE"); k=$(median <<<"$A4_KT"); a=$(median <<<"$A4_AU")
  echo
  echo "(4) open/close with an audit rule on openat (the stream read by each; median ns/iteration):"
  printf '  bare %s   ktraild %s (%sx, %s audit events, agent cpu %ss)   auditd %s (%sx)\n' \
    "$b" "$k" "$(ratio "$k" "$b")" "${A4_KT_EVENTS:--}" "$A4_KT_CPU" "$a" "$(ratio "$a" "$b")"
fi

# Audit records parsed and reassembled per second on one core, from the
# corpus logs replayed many times (no kernel involved).
CORPUS=${KTRAIL_CORPUS:-../shared/corpus}
AUDIT_RATE=""
if [[ -d $CORPUS/logs ]]; then
  echo
  echo "audit stream, one core (corpus logs replayed):"
  audit_out=$(taskset -c 0 "$BIN/audit_parse_bench" "$CORPUS" 3)
  echo "$audit_out" | sed 's/^/  /'
  AUDIT_RATE=$(awk '/^parse\+reassemble / { print $2 }' <<<"$audit_out")
else
  echo "bench: no corpus at $CORPUS: audit parse rate not measured"
fi

# Enrichment cost per event and the process table's memory, on a synthetic
# tree of 10k live processes (no kernel involved): build/bin/enrich_bench.
# Its "NAME key=value..." lines are read by key.
ENRICH_MEDIAN="" ENRICH_P99="" ENRICH_RATIO="" TABLE_MIB_EXEC="" TABLE_MIB_FORK=""
echo "bench: enrichment..." >&2
if enrich_out=$(taskset -c 0 "$BIN/enrich_bench" 2>"$WORK/enrich.err"); then
  enrich_field() { awk -v n="$1" -v k="$2" '$1 == n { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' <<<"$enrich_out"; }
  ENRICH_MEDIAN=$(enrich_field enrich_bpf_ns median)
  ENRICH_P99=$(enrich_field enrich_bpf_ns p99)
  ENRICH_RATIO=$(enrich_field enrich_bpf_ratio median)
  TABLE_MIB_EXEC=$(enrich_field table_mib_per_10k exec)
  TABLE_MIB_FORK=$(enrich_field table_mib_per_10k fork)
  echo
  echo "enrichment, one core (synthetic tree of 10k live processes, depth 6; ns per event):"
  printf '  %-34s %8s %8s %8s\n' "" median p99 mean
  printf '  %-34s %8s %8s %8s\n' "enrich_bpf (file event)" "$ENRICH_MEDIAN" "$ENRICH_P99" "$(enrich_field enrich_bpf_ns mean)"
  printf '  %-34s %8s %8s %8s\n' "enrich_audit (file event)" "$(enrich_field enrich_audit_ns median)" \
    "$(enrich_field enrich_audit_ns p99)" "$(enrich_field enrich_audit_ns mean)"
  printf '  %-34s %8s %8s %8s\n' "baseline: decode-like event build" "$(enrich_field baseline_build_ns median)" \
    "$(enrich_field baseline_build_ns p99)" "$(enrich_field baseline_build_ns mean)"
  printf '  %-34s %8s\n' "enrich_bpf / baseline (medians)" "${ENRICH_RATIO}x"
  printf '  %-34s %8s %8s\n' "clock read (in every cell above)" "$(enrich_field timer_overhead_ns median)" \
    "$(enrich_field timer_overhead_ns p99)"
  echo "  process table, MiB per 10k live processes: $TABLE_MIB_EXEC each exec'd," \
    "$TABLE_MIB_FORK forked only (sharing their image)"
else
  echo "bench: enrich_bench failed: enrichment not measured; its stderr:" >&2
  tail -n 20 "$WORK/enrich.err" >&2
fi

# Rule evaluation cost per event with the default rule set (Engine::apply, and
# Engine::count for alert rules, as the agent runs them), on a synthetic host
# mix of enriched events, against an empty rule set in the same run (no kernel
# involved): build/bin/rules_bench, read as enrich_bench is.
RULES_MEDIAN="" RULES_P99="" RULES_SKIP=""
echo "bench: rule evaluation..." >&2
if rules_out=$(taskset -c 0 "$BIN/rules_bench" 2>"$WORK/rules.err"); then
  rules_field() { awk -v n="$1" -v k="$2" '$1 == n { for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' <<<"$rules_out"; }
  RULES_MEDIAN=$(rules_field rules_eval_ns median)
  RULES_P99=$(rules_field rules_eval_ns p99)
  echo
  echo "rule evaluation, one core (default rule set: $(rules_field rules_loaded n) rules," \
    "$(rules_field rules_loaded drop) drop, $(rules_field rules_loaded alert) alert; a host mix of" \
    "$(rules_field rules_bench events) enriched events; ns per event):"
  printf '  %-34s %8s %8s %8s\n' "" median p99 mean
  printf '  %-34s %8s %8s %8s\n' "default rule set (apply [+count])" "$RULES_MEDIAN" "$RULES_P99" \
    "$(rules_field rules_eval_ns mean)"
  printf '  %-34s %8s %8s %8s\n' "baseline: empty rule set" "$(rules_field rules_baseline_ns median)" \
    "$(rules_field rules_baseline_ns p99)" "$(rules_field rules_baseline_ns mean)"
  printf '  %-34s %8s\n' "default / empty (medians)" "$(rules_field rules_eval_ratio median)x"
  printf '  %-34s %8s %8s\n' "clock read (in every cell above)" "$(rules_field timer_overhead_ns median)" \
    "$(rules_field timer_overhead_ns p99)"
  echo "  events the default set matched: $(rules_field rules_mix matched), dropped: $(rules_field rules_mix dropped)," \
    "alert rule hits: $(rules_field rules_mix alert_hits), alerts: $(rules_field rules_mix alerts)"
else
  RULES_SKIP="rules_bench failed (exit $?)"
  echo "bench: rules_bench failed: rule evaluation not measured; its stderr:" >&2
  tail -n 20 "$WORK/rules.err" >&2
fi

# What the decoder costs when it finishes a name on disk (.., symlinks, a
# followed final link: openat2 under the host's root) against the lexical
# baseline, per decode on one core (no kernel programs involved): build/bin/decode_bench.
echo "bench: decoding names..." >&2
if decode_out=$(taskset -c 0 "$BIN/decode_bench" /var/tmp 2>"$WORK/decode.err"); then
  echo
  echo "decoding file records whose names are finished on disk, one core (ns per decode: median p99 mean):"
  awk '/^decode_[a-z_]*_ns / { sub(/^decode_/, "", $1); sub(/_ns$/, "", $1); printf "  %-28s %s %s %s\n", $1, $2, $3, $4 }' <<<"$decode_out"
else
  echo "bench: decode_bench failed: decoding not measured; its stderr:" >&2
  tail -n 20 "$WORK/decode.err" >&2
fi

# --- the central side: spool appends, collector ingest, end-to-end latency ------
echo "bench: spool append rate..." >&2
SPOOL_OUT=$("$BIN/spool_bench" /var/tmp 2>&1) || SPOOL_OUT="spool_bench failed: $SPOOL_OUT"
echo "bench: output formats and sinks on one core..." >&2
OUT_TLS=$WORK/outputs-tls
scripts/dev-certs.sh "$OUT_TLS" "$(hostname)" >/dev/null
OUTPUTS_OUT=$("$BIN/outputs_bench" /var/tmp "$OUT_TLS" 2>"$WORK/outputs.err" | grep -E '^outputs ') ||
  OUTPUTS_OUT="outputs_bench failed: $(tail -n 5 "$WORK/outputs.err")"
echo "bench: collector ingest into SQLite and PostgreSQL..." >&2
INGEST_OUT=$("$BIN/collector_bench" 2>&1 | grep -E '^collector ingest' || true)
STORE_OUT=$("$BIN/store_bench" 2>&1 | grep -E '^store ' || true)

# End to end at a steady 10k events/s: a collector on loopback with SQLite and
# ktraild shipping to it; e2e_latency_bench creates the files and polls the store.
echo "bench: end-to-end latency at 10k events/s..." >&2
LAT_DIR=$WORK/latency
mkdir -p "$LAT_DIR/files"
scripts/dev-certs.sh "$LAT_DIR/tls" "$(hostname)" >/dev/null
"$BIN/ktrail-collector" --allow-root --listen 127.0.0.1:0 --store "sqlite:$LAT_DIR/events.db" --tls-ca "$LAT_DIR/tls/ca.crt" \
  --tls-cert "$LAT_DIR/tls/collector.crt" --tls-key "$LAT_DIR/tls/collector.key" 2>"$LAT_DIR/collector.err" &
COLLECTOR_PID=$!
LAT_PORT=""
for ((i = 0; i < 100; i++)); do
  LAT_PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$LAT_DIR/collector.err" | sed 's/.*://' || true)
  [[ -n $LAT_PORT ]] && break
  sleep 0.1
done
LAT_OUT="not measured (the collector did not start)"
if [[ -n $LAT_PORT ]]; then
  start_ktraild --no-default-rules --output "collector:127.0.0.1:$LAT_PORT" --tls-ca "$LAT_DIR/tls/ca.crt" \
    --tls-cert "$LAT_DIR/tls/agent-$(hostname).crt" --tls-key "$LAT_DIR/tls/agent-$(hostname).key"
  sleep 2  # the agent-started event reaches the store, the table exists
  LAT_OUT=$("$BIN/e2e_latency_bench" "$LAT_DIR/events.db" "$(cat "$WORK/state/agent-id")" "$LAT_DIR/files" 10000 10 2>&1) ||
    LAT_OUT="e2e_latency_bench failed: $LAT_OUT"
  stop_ktraild
fi
kill -TERM "$COLLECTOR_PID" 2>/dev/null || true
wait "$COLLECTOR_PID" 2>/dev/null || true
COLLECTOR_PID=""

echo
echo "outputs (events/s on one core; formats: decode + render from the spool's bytes; sinks: a forwarder"
echo "delivering a filled spool of 200k events; syslog to a discarding receiver on the other core; Kafka to"
echo "librdkafka's mock cluster in the same process, not a real broker):"
echo "$OUTPUTS_OUT"
echo
echo "central side:"
echo "$SPOOL_OUT"
echo "$INGEST_OUT"
echo "$STORE_OUT"
echo "$LAT_OUT"

echo
verdict() { if "$@"; then echo PASS; else echo MISS; fi; }
INGEST_RATE=$(sed -n 's/^collector ingest sqlite: \([0-9]*\) events\/s (one agent.*/\1/p' <<<"$INGEST_OUT")
[[ -z $INGEST_RATE ]] || echo "target collector ingest into SQLite $INGEST_RATE events/s >= 100000: $(verdict le 100000 "$INGEST_RATE")"
[[ -z $AUDIT_RATE ]] || echo "target audit parse+reassemble $AUDIT_RATE records/s >= 200000: $(verdict le 200000 "$AUDIT_RATE")"
if [[ -n $ENRICH_MEDIAN ]]; then
  echo "target enrichment median $ENRICH_MEDIAN ns <= 1000 ns (p99 $ENRICH_P99 ns): $(verdict le "$ENRICH_MEDIAN" 1000)"
  echo "enrichment median / decode-like build median: ${ENRICH_RATIO}x (reported, no target)"
  echo "process table per 10k live processes: $TABLE_MIB_EXEC MiB exec'd, $TABLE_MIB_FORK MiB forked (reported, no target)"
fi
if [[ -n $RULES_MEDIAN ]]; then
  echo "target rule evaluation median $RULES_MEDIAN ns <= 2000 ns (p99 $RULES_P99 ns): $(verdict le "$RULES_MEDIAN" 2000)"
else
  echo "target rule evaluation not measured ($RULES_SKIP): MISS"
fi
if [[ -z $DEFAULT_RULES_SKIP ]]; then
  echo "open/close loop with the default rule set: ${K_RATIO[1r]}x (without rules: ${K_RATIO[1]}x)"
else
  echo "open/close loop with the default rule set: not measured ($DEFAULT_RULES_SKIP) (without rules: ${K_RATIO[1]}x)"
fi
for w in 1 2 3; do
  echo "target ($w) ktraild ${K_RATIO[$w]}x <= ${TARGETS[$w]}x: $(verdict le "${K_RATIO[$w]}" "${TARGETS[$w]}")"
done
for w in 1 2 3; do
  read -r d x c r <<<"${K_STATS[$w]}"
  echo "target ($w) ktraild dropped $x == 0: $(verdict test "$x" = 0)"
  echo "target ($w) ktraild peak RSS ${r} MiB <= 64 MiB: $(verdict le "$r" 64)"
done
