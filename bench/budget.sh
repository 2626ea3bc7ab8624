#!/usr/bin/env bash
# Per-message cost budget of a relayed message (issue #15 item 1): CPU time,
# context switches (thread hand-offs) and system calls by kind, for one
# release-build Postern relaying smtp-source -> Postern -> smtp-sink.
#
#   make release && bench/budget.sh
#
# One daemon, three phases after a warm-up:
#   1. COUNT messages untraced: CPU µs per message (the daemon's threads'
#      schedstat nanoseconds, until it is idle again) and voluntary /
#      involuntary context switches per message (/proc/PID/task/*/status).
#      The user/system split comes from utime/stime in /proc/PID/stat.
#   2. STRACE_COUNT messages under `strace -f -c` attached to every thread:
#      system calls per message by kind (strace slows the daemon; counts only).
#   3. (PERF=1, the default when perf works) COUNT messages under
#      `perf record -e cpu-clock -g`: the share of the daemon's CPU samples
#      per shared object (kernel, Swift runtime, libc, postern) and the top
#      symbols.
# Instructions per stage come from bench/callgrind.sh.
#
# Environment (all optional):
#   POSTERN       Postern binary (default .build/release/postern)
#   COUNT         messages in the CPU phase (default 2000)
#   STRACE_COUNT  messages in the strace phase (default 500)
#   SESSIONS      concurrent smtp-source sessions (default 10)
#   SIZE          body size in bytes (default 4096)
#   POSTERN_JOURNAL  [queue] journal_size_mb (default: Postern's own; 0: off)
#   BENCH_NETNS   auto (default): as root, re-run in a loopback-only namespace; 0 = never

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=lib/postfix.sh
source "$BENCH_DIR/lib/postfix.sh"
# shellcheck source=lib/relay_one.sh
source "$BENCH_DIR/lib/relay_one.sh"
bench_isolate "$SELF" "$@"
exec 2>&1

POSTERN=${POSTERN:-.build/release/postern}
TARGETS=postern
COUNT=${COUNT:-2000}
STRACE_COUNT=${STRACE_COUNT:-500}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-4096}
# what phase 3 samples; sched:sched_switch shows where threads go to sleep
PERF_EVENT=${PERF_EVENT:-cpu-clock}
# keep phase 3's perf.data here, for perf report
PERF_KEEP=${PERF_KEEP:-}
if [[ -z ${PERF:-} ]]; then
	if perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then PERF=1; else PERF=0; fi
fi
check_targets
command -v strace >/dev/null || { bench_log "strace is not installed (apt-get install strace)"; exit 1; }

bench_run_tmp budget
STRACE_PID=
stop_tracer() {
	if [[ -n $STRACE_PID ]]; then kill -INT "$STRACE_PID" 2>/dev/null; wait "$STRACE_PID" 2>/dev/null; STRACE_PID=; fi
}
BENCH_ON_EXIT=stop_tracer

# ticks PID: "UTIME STIME" in clock ticks (threads that exited included).
# per_thread PID: "TID NAME RUN_NS VOLUNTARY" per live thread.
per_thread() {
	local t
	for t in /proc/"$1"/task/*; do
		printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' _ < "$t/comm")" "$(cut -d' ' -f1 "$t/schedstat")" \
			"$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status")"
	done 2>/dev/null
}

ticks() { sed 's/^.*) //' /proc/"$1"/stat | awk '{ print $12, $13 }'; }

# switches PID: "VOLUNTARY INVOLUNTARY" summed over the live threads.
switches() {
	awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }' \
		/proc/"$1"/task/*/status 2>/dev/null
}

ro_start "$RUN_TMP/postern" || exit 1
ro_send "$SESSIONS" "$SESSIONS" "$SIZE" || exit 1
bench_cpu_settle "" "$RO_PID" 10

# 1. CPU and context switches
c0=$(bench_cpu_ns "" "$RO_PID"); read -r v0 n0 < <(switches "$RO_PID"); read -r u0 s0 < <(ticks "$RO_PID")
per_thread "$RO_PID" > "$RUN_TMP/threads0"
t0=$EPOCHREALTIME
ro_send "$COUNT" "$SESSIONS" "$SIZE" || exit 1
t1=$EPOCHREALTIME
bench_cpu_settle "" "$RO_PID" 30
c1=$(bench_cpu_ns "" "$RO_PID"); read -r v1 n1 < <(switches "$RO_PID"); read -r u1 s1 < <(ticks "$RO_PID")
per_thread "$RO_PID" > "$RUN_TMP/threads1"
threads=$(ls /proc/"$RO_PID"/task | wc -l)

# 2. system calls
tids=()
for t in /proc/"$RO_PID"/task/*; do tids+=(-p "${t##*/}"); done
strace -f -qq -c -o "$RUN_TMP/strace.txt" "${tids[@]}" 2>/dev/null &
STRACE_PID=$!
sleep 1
ro_send "$STRACE_COUNT" "$SESSIONS" "$SIZE" || exit 1
bench_cpu_settle "" "$RO_PID" 30
stop_tracer

# 3. where the CPU goes
if [[ $PERF == 1 ]]; then
	perf record -q -e "$PERF_EVENT" -g -p "$RO_PID" -o "$RUN_TMP/perf.data" >/dev/null 2>&1 &
	STRACE_PID=$!
	sleep 1
	ro_send "$COUNT" "$SESSIONS" "$SIZE" || exit 1
	bench_cpu_settle "" "$RO_PID" 30
	stop_tracer
	[[ -n $PERF_KEEP ]] && cp "$RUN_TMP/perf.data" "$PERF_KEEP"
fi
ro_stop
stats=$(grep 'msg="queue commit stats"' "$RO_LOG" | tail -n 1 | grep -o 'messages=[0-9]* sync_calls=[0-9]*')

echo
echo "Postern cost budget: $SIZE-byte bodies, $SESSIONS sessions, one connection per message, relayed to smtp-sink"
echo "binary: $POSTERN ($(stat -c %y "$POSTERN" | cut -d. -f1)); $(nproc) CPUs; $(uname -r)"
awk -v c="$(( c1 - c0 ))" -v n="$COUNT" -v a="$t0" -v b="$t1" -v v="$(( v1 - v0 ))" -v i="$(( n1 - n0 ))" -v th="$threads" \
	-v ut="$(( u1 - u0 ))" -v st="$(( s1 - s0 ))" 'BEGIN {
	printf "phase 1, %d messages untraced in %.1f s (%.0f msg/s end to end):\n", n, b - a, n / (b - a)
	printf "  CPU per message:               %7.0f µs  (threads: schedstat run time, until idle)\n", c / n / 1000
	printf "  context switches per message:  %7.1f voluntary, %.1f involuntary  (%d threads)\n", v / n, i / n, th
	if (ut + st > 0) printf "  user / system split:           %7.0f %% user, %.0f %% system  (utime/stime ticks)\n", 100 * ut / (ut + st), 100 * st / (ut + st) }'
echo "  queue commit stats (whole run): ${stats:-n/a}"
echo "  by thread (name: CPU µs, voluntary switches per message; threads under 1 µs left out):"
awk -v n="$COUNT" 'NR == FNR { run[$1] = $3; vol[$1] = $4; next }
	{ name[$2] = $2; c[$2] += ($3 - run[$1]) / 1000 / n; w[$2] += ($4 - vol[$1]) / n; k[$2]++ }
	END { for (x in name) if (c[x] >= 1) printf "    %-24s %6.0f µs  %5.1f switches  (%d threads)\n", x, c[x], w[x], k[x] | "sort -k2,2nr"
		close("sort -k2,2nr") }' "$RUN_TMP/threads0" "$RUN_TMP/threads1"
echo
echo "phase 2, $STRACE_COUNT messages under strace -f -c: system calls per message"
awk -v n="$STRACE_COUNT" '
	$1 ~ /^-+$/ { next }
	$NF == "syscall" || $NF == "total" { next }
	NF >= 5 && $4 ~ /^[0-9]+$/ { calls[$NF] = $4; errs[$NF] = (NF == 6 ? $5 : 0); us[$NF] = $3 }
	END {
		for (s in calls) { total += calls[s]; printf "%8.2f  %-20s %s\n", calls[s] / n, s, (errs[s] ? sprintf("(%.2f errors)", errs[s] / n) : "") | "sort -k1,1nr" }
		close("sort -k1,1nr")
		printf "%8.2f  total\n", total / n
	}' "$RUN_TMP/strace.txt"

if [[ $PERF == 1 && -s $RUN_TMP/perf.data ]]; then
	echo
	echo "phase 3, $COUNT messages under perf record -e $PERF_EVENT: share of the daemon's CPU samples"
	perf report -i "$RUN_TMP/perf.data" --no-children --sort dso --stdio 2>/dev/null |
		awk '/^ +[0-9.]+%/ { printf "  %7s  %s\n", $1, $2; if (++k == 8) exit }'
	echo "  top symbols (self):"
	perf report -i "$RUN_TMP/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
		awk '/^ +[0-9.]+%/ { p = $1; $1 = ""; sub(/^ +/, ""); printf "  %7s  %s\n", p, substr($0, 1, 110); if (++k == 15) exit }' |
		"$(command -v swift-demangle || echo cat)" --simplified 2>/dev/null
fi
