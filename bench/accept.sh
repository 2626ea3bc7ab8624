#!/usr/bin/env bash
# Accept-throughput benchmark: Postern vs Postfix, interleaved.
#
#   make release && bench/accept.sh
#   TARGETS=postfix ROUNDS=1 COUNT_4K=300 COUNT_100K=100 bench/accept.sh   # quick, Postfix only
#
# For each case (message size x concurrent sessions) it runs ROUNDS rounds of
# "Postern, Postfix" (order flipped every other round), each run against a
# freshly started server with an empty queue, sends the messages with
# smtp-source, and reports the median of the rounds. See bench/README.md for
# what is measured and how.
#
# Environment (all optional):
#   POSTERN      Postern binary (default .build/release/postern, relative to the
#                current directory)
#   TARGETS      "postern postfix" (default), or just one of them
#   POSTERN_JOURNAL  Postern [queue] journal_size_mb (default: Postern's own; 0: off)
#   ROUNDS       rounds per case (default 3)
#   SIZES        message body sizes in bytes (default "4096 102400")
#   SESSIONS     concurrent sessions (default "10 100")
#   COUNT_4K     messages per timed run for sizes <= 16 KiB (default 3000)
#   COUNT_100K   messages per timed run for larger sizes (default 1200)
#   COUNT        overrides both
#   WARMUP       untimed messages sent first in each run (default: one per session)
#   ORDER        alternate (default): the order of the targets flips every
#                round; fixed: always the TARGETS order
#   REUSE=1      keep connections open (smtp-source -d); default one connection
#                per message
#   PF_ACCEPT_STYLE  hold (default) | defer: how Postfix is kept from delivering;
#                see bench/lib/postfix.sh
#   BENCH_NETNS  auto (default): as root, re-run inside a private network
#                namespace (unshare -n) where only loopback exists; 0 = never
#   BENCH_NO_CGROUP=1  measure CPU from /proc instead of a cpuacct cgroup
#   RESULTS      where to write the per-run TSV (default bench/results/accept-DATE.tsv)
#   FSYNC_PROBE  1 (default when strace is installed): after the timed runs, one
#                extra untimed run per target under strace -c, counting fsync,
#                fdatasync, sync_file_range, syncfs, sync and msync calls per
#                message; 0 = skip
#   PROBE_COUNT  messages in that probe run (default 300)
#   RUN_TIMEOUT  seconds before a single smtp-source run is killed (default 900)
#   KEEP_TMP=1   keep queue directories and logs

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"

# shellcheck source=lib/postfix.sh
source "$BENCH_DIR/lib/postfix.sh"

# --- isolation: only loopback --------------------------------------------
# Postfix runs with DNS lookups off, and everything runs in a loopback-only
# network namespace when we can (see bench_isolate).
bench_isolate "$SELF" "$@"

# Progress, warnings and the final table all go to stdout, in order, so that
# "bench/accept.sh | tee run.txt" keeps everything.
exec 2>&1

POSTERN=${POSTERN:-.build/release/postern}
TARGETS=${TARGETS:-"postern postfix"}
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-"4096 102400"}
SESSIONS=${SESSIONS:-"10 100"}
COUNT_4K=${COUNT:-${COUNT_4K:-3000}}
COUNT_100K=${COUNT:-${COUNT_100K:-1200}}
REUSE=${REUSE:-0}
PROBE_COUNT=${PROBE_COUNT:-300}
if [[ -z ${FSYNC_PROBE:-} ]]; then
	if command -v strace >/dev/null; then FSYNC_PROBE=1; else FSYNC_PROBE=0; fi
fi
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
export PF_ACCEPT_STYLE=${PF_ACCEPT_STYLE:-hold}
if [[ -n ${KEEP_TMP:-} ]]; then export PF_KEEP=1; fi

check_targets
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/postern-bench-accept.XXXXXX")
chmod 755 "$RUN_TMP"
export PF_TMPDIR=$RUN_TMP
BENCH_STATUS_COL=11
RESULTS=${RESULTS:-$BENCH_DIR/results/accept-$(date +%Y%m%d-%H%M%S).tsv}
mkdir -p "$(dirname "$RESULTS")"
printf 'case\ttarget\tround\tmessages\tseconds\tmsg_per_s\tcpu_ms_per_msg\tfsyncs_per_msg\tqueued\texpected\tstatus\tbusy_after_s\tother_cpu_ms_per_msg\tsys_cpu_ms_per_msg\n' >"$RESULTS"
SETTLE_SECONDS=0

POSTERN_PID=
cleanup() {
	trap - EXIT INT TERM
	if [[ -n $POSTERN_PID ]]; then bench_kill_wait "$POSTERN_PID" TERM 10; fi
	pf_cleanup
	if [[ -z ${KEEP_TMP:-} ]]; then rm -rf "$RUN_TMP"; else bench_log "kept $RUN_TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_source_options

# --- servers -------------------------------------------------------------------
# server_start TARGET: start a fresh server with an empty queue on a free port.
# Sets SRV_PORT SRV_PID (postern, or Postfix's master) SRV_CG SRV_DIR.
SRV_SEQ=0
server_start() {
	local target=$1
	SRV_PORT=$(bench_free_port) SRV_PID= SRV_CG= SRV_DIR=
	case $target in
	postern)
		SRV_SEQ=$(( SRV_SEQ + 1 ))
		SRV_DIR=$RUN_TMP/postern.$SRV_SEQ
		mkdir -p "$SRV_DIR/queue"
		# Like Postfix's mynetworks clients, the load generator is not held
		# to the per-address connection limit (default 100, and smtp-source's
		# 100 sessions overlap it while connections close).
		cat >"$SRV_DIR/postern.toml" <<-EOF
			[limits]
			max_connections_per_ip = 1000
			[queue]
			sync = "${POSTERN_SYNC:-syncfs}"
			${POSTERN_JOURNAL:+journal_size_mb = $POSTERN_JOURNAL}
			[delivery]
			enabled = false
		EOF
		bench_start_postern "$SRV_PORT" "$SRV_DIR/postern.log" --config "$SRV_DIR/postern.toml" \
			--listen "127.0.0.1:$SRV_PORT" --queue-dir "$SRV_DIR/queue" || return 1
		;;
	postfix)
		if ! pf_start accept "$SRV_PORT"; then
			pf_stop; pf_discard
			return 1
		fi
		SRV_DIR=$PF_DIR SRV_PID=$PF_MASTER_PID SRV_CG=$PF_CG
		;;
	esac
	return 0
}

# server_stop TARGET: stop it and look at what it left.
# Sets SRV_QUEUED (messages in the queue) and SRV_FSYNCS (Postern's own
# count of sync calls per message, or n/a).
server_stop() {
	local target=$1 rc stats m s
	SRV_FSYNCS=n/a
	case $target in
	postern)
		# Postern logs `msg="queue commit stats" batches=B failures=F
		# messages=N sync_calls=M` on stderr when it gets SIGTERM.
		bench_kill_wait "$SRV_PID" TERM 30; rc=$?
		POSTERN_PID=
		bench_cpu_end "$SRV_CG"
		if (( rc != 0 && rc != 143 )); then bench_log "postern exited with status $rc"; fi
		stats=$(grep 'msg="queue commit stats"' "$SRV_DIR/postern.log" | tail -n 1 | grep -o 'messages=[0-9]* sync_calls=[0-9]*')
		if [[ -n $stats ]]; then
			m=${stats#*messages=}; m=${m%% *}
			s=${stats#*sync_calls=}
			if (( m > 0 )); then SRV_FSYNCS=$(awk -v s="$s" -v m="$m" 'BEGIN { printf "%.3f", s / m }'); fi
		fi
		SRV_QUEUED=$(bench_queue_count "$SRV_DIR/queue/msg")
		;;
	postfix)
		pf_stop "$SRV_DIR"
		SRV_QUEUED=$(pf_queue_count "$SRV_DIR/queue")
		;;
	esac
}

# measure PORT PID CG SESSIONS COUNT SIZE LOG: warm-up, timed send, CPU.
# Sets SEND_OK SEND_SECONDS CPU_NS SETTLE_SECONDS.
measure() {
	local port=$1 pid=$2 cg=$3 sessions=$4 count=$5 size=$6 log=$7 c0 c1 m0 m1 ts k0
	SEND_OK=1 OTHER_NS=0
	if (( WARMUP_N > 0 )); then
		send "$port" "$sessions" "$WARMUP_N" "$size" "$log" || SEND_OK=0
	fi
	bench_cpu_settle "$cg" "$pid" 10
	c0=$(bench_cpu_ns "$cg" "$pid") m0=$(bench_machine_busy_ns) k0=$(bench_cpu_sys_ns "$cg" "$pid")
	send "$port" "$sessions" "$count" "$size" "$log" || SEND_OK=0
	# The machine's busy time while smtp-source ran, less the server's:
	# the client and the kernel's loopback work (see relay.sh's floor).
	m1=$(bench_machine_busy_ns)
	OTHER_NS=$(( m1 - m0 - ($(bench_cpu_ns "$cg" "$pid") - c0) ))
	# Count the work the server still does after the last reply, up to when
	# it goes idle.
	ts=$EPOCHREALTIME
	bench_cpu_settle "$cg" "$pid" 60
	c1=$(bench_cpu_ns "$cg" "$pid")
	CPU_NS=$(( c1 - c0 )) SYS_NS=$(( $(bench_cpu_sys_ns "$cg" "$pid") - k0 ))
	SETTLE_SECONDS=$(awk -v a="$ts" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}

# run_case TARGET CASE ROUND SIZE SESSIONS COUNT
run_case() {
	local target=$1 case=$2 round=$3 size=$4 sessions=$5 count=$6 status=ok expected
	expected=$(( count + WARMUP_N ))
	if ! server_start "$target"; then
		SETTLE_SECONDS=0
		record "$case" "$target" "$round" "$count" 0 0 n/a 0 "$expected" START_FAILED
		return
	fi
	measure "$SRV_PORT" "$SRV_PID" "$SRV_CG" "$sessions" "$count" "$size" "$SRV_DIR/smtp-source.log"
	server_stop "$target"
	(( SEND_OK )) || status=SEND_FAILED
	if (( SRV_QUEUED != expected )); then
		[[ $status == ok ]] && status=COUNT_MISMATCH || status+=,COUNT_MISMATCH
	fi
	record "$case" "$target" "$round" "$count" "$SEND_SECONDS" "$CPU_NS" "$SRV_FSYNCS" \
		"$SRV_QUEUED" "$expected" "$status"
	server_discard "$target"
}

# record CASE TARGET ROUND COUNT SECONDS CPU_NS FSYNCS QUEUED EXPECTED STATUS
record() {
	local case=$1 target=$2 round=$3 count=$4 secs=$5 cpu=$6 fs=$7 queued=$8 expected=$9 status=${10}
	local rate cpums otherms sysms
	rate=$(awk -v n="$count" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f", n / s; else print 0 }')
	cpums=$(awk -v c="$cpu" -v n="$count" 'BEGIN { if (n > 0) printf "%.2f", c / n / 1e6; else print 0 }')
	otherms=$(awk -v c="${OTHER_NS:-0}" -v n="$count" 'BEGIN { if (n > 0) printf "%.2f", c / n / 1e6; else print 0 }')
	sysms=$(awk -v c="${SYS_NS:-0}" -v n="$count" 'BEGIN { if (n > 0) printf "%.2f", c / n / 1e6; else print 0 }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$target" "$round" "$count" \
		"$secs" "$rate" "$cpums" "$fs" "$queued" "$expected" "$status" "$SETTLE_SECONDS" "$otherms" "$sysms" >>"$RESULTS"
	OTHER_NS=0 SYS_NS=0
	bench_log "$(printf '%-7s %-10s round %s/%s: %5s msgs in %6ss = %6s msg/s, CPU %5s ms/msg (busy %ss after), fsyncs/msg %s, queued %s/%s %s' \
		"$target" "$case" "$round" "$ROUNDS" "$count" "$secs" "$rate" "$cpums" "$SETTLE_SECONDS" "$fs" "$queued" "$expected" "$status")"
	SETTLE_SECONDS=0
}

# fsync_probe TARGET: an extra, untimed run under strace that counts the
# server's fsync-family system calls per message (PROBE_COUNT messages of
# 4 KiB over 10 sessions). strace slows the server down a lot, which is why
# this is not done in the timed runs. Sets PROBE_RESULT[TARGET].
declare -A PROBE_RESULT=()
fsync_probe() {
	local target=$1 tids=() p t spid out calls
	PROBE_RESULT[$target]="failed"
	server_start "$target" || return
	out=$SRV_DIR/strace.txt
	send "$SRV_PORT" 10 10 4096 "$SRV_DIR/smtp-source.log"
	bench_cpu_settle "$SRV_CG" "$SRV_PID" 10
	# every thread of every process of the server (strace -f follows new ones)
	local procs
	if [[ -n $SRV_CG ]]; then procs=$(cat "$SRV_CG/cgroup.procs")
	else procs="$SRV_PID $(ps -o pid= --ppid "$SRV_PID")"; fi
	for p in $procs; do
		for t in /proc/"$p"/task/*; do [[ -e $t ]] && tids+=(-p "${t##*/}"); done
	done
	strace -f -qq -c -o "$out" -e trace=fsync,fdatasync,sync_file_range,syncfs,sync,msync \
		"${tids[@]}" 2>/dev/null &
	spid=$!
	sleep 1
	if send "$SRV_PORT" 10 "$PROBE_COUNT" 4096 "$SRV_DIR/smtp-source.log"; then
		bench_cpu_settle "$SRV_CG" "$SRV_PID" 30
		kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
		# strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall
		calls=$(awk '$NF ~ /^(fsync|fdatasync|sync_file_range|syncfs|sync|msync)$/ { n += $4 } END { print n + 0 }' "$out")
		PROBE_RESULT[$target]=$(awk -v c="$calls" -v n="$PROBE_COUNT" 'BEGIN { printf "%.2f", c / n }')
		bench_log "fsync probe $target: $calls fsync-family calls for $PROBE_COUNT messages: $(tr -s ' ' <"$out" | awk '$NF ~ /sync/ && $NF != "total" { printf "%s=%s ", $NF, $4 }')"
	else
		kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
	fi
	server_stop "$target"
	if [[ $target == postern ]]; then
		PROBE_RESULT[$target]+=" (Postern's own count: $SRV_FSYNCS)"
	fi
	server_discard "$target"
}

# --- header ----------------------------------------------------------------
{
	echo "Postern accept-throughput benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(nproc) CPUs, $(uname -sr); temp dir $RUN_TMP on $(df -PT "$RUN_TMP" | awk 'NR==2 { print $2 " (" $1 ")" }')"
	echo "targets: $TARGETS; rounds: $ROUNDS; sizes: $SIZES; sessions: $SESSIONS;" \
		"messages/run: $COUNT_4K (<=16KiB), $COUNT_100K (larger)"
	echo "client: smtp-source ${SRC_OPTS[*]} ($( [[ $REUSE == 1 ]] && echo "connections reused" || echo "one connection per message"))"
	has_target postern && echo "postern: $POSTERN"
	has_target postfix && echo "postfix: $(postconf -d -h mail_version 2>/dev/null), accept style: $PF_ACCEPT_STYLE"
	echo "CPU accounting: $(bench_cpu_method); network namespace: $([[ -n ${BENCH_IN_NETNS:-} ]] && echo "private (loopback only)" || echo "host")"
	echo "per-run results: $RESULTS"
	echo
} >&2

# --- runs --------------------------------------------------------------------
# Targets run in turn within each round, in round_order (lib/common.sh).

run_all_cases

if [[ $FSYNC_PROBE == 1 ]]; then
	for target in $TARGETS; do fsync_probe "$target"; done
fi

# --- summary -----------------------------------------------------------------

echo
echo "Medians over $ROUNDS round(s); msg/s = messages / wall time of smtp-source;"
echo "CPU = server CPU (all its processes) per message; ratio = Postern / Postfix msg/s."
fmt='%-11s %10s %10s %6s %11s %11s %11s %8s %8s\n'
printf "$fmt" case Postern Postfix ratio "Postern CPU" "Postfix CPU" Postern Postern Postfix
printf "$fmt" "" "msg/s" "msg/s" "" "ms/msg" "ms/msg" "fsyncs/msg" "runs ok" "runs ok"
for c in "${CASES[@]}"; do
	pr=$(median "$c" postern 6 %.1f); fr=$(median "$c" postfix 6 %.1f)
	pc=$(median "$c" postern 7 %.2f); fc=$(median "$c" postfix 7 %.2f)
	pfs=$(median "$c" postern 8 %.2f)
	if has_target postern && [[ $pfs == - && $(runs_ok "$c" postern) != 0/* ]]; then pfs=n/a; fi
	ratio=$(awk -v a="$pr" -v b="$fr" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2f", a / b; else print "-" }')
	printf "$fmt" "$c" "$pr" "$fr" "$ratio" "$pc" "$fc" "$pfs" "$(runs_ok "$c" postern)" "$(runs_ok "$c" postfix)"
done
echo "(goal: ratio >= 5)"
echo
echo "The floor: CPU the rest of the machine used per message while smtp-source ran"
echo "(the client and loopback networking; medians), the msg/s that leaves for a server"
echo "that cost nothing on $(nproc) cores, and the server CPU per message 5x Postfix's"
echo "msg/s would leave room for (negative: out of reach on this machine); then Postern's"
echo "kernel time per message and what the budget leaves its user space after that:"
# TSV columns: 13 other_cpu_ms_per_msg, 6 msg_per_s, 14 sys_cpu_ms_per_msg.
bench_floor_table 5 13 6 14
echo
echo "Spread of msg/s over the rounds (min - max):"
for c in "${CASES[@]}"; do
	line=$(printf '%-11s' "$c")
	for t in $TARGETS; do
		line+=$(awk -F'\t' -v c="$c" -v t="$t" 'NR > 1 && $1 == c && $2 == t && $11 == "ok" {
				if (n == 0 || $6 < lo) lo = $6; if (n == 0 || $6 > hi) hi = $6; n++ }
			END { if (n) printf "  %s %s - %s", t, lo, hi; else printf "  %s -", t }' "$RESULTS")
	done
	echo "$line"
done
if [[ $FSYNC_PROBE == 1 ]]; then
	echo
	echo "fsync-family calls per message, counted with strace in a separate untimed run"
	echo "($PROBE_COUNT messages of 4KiB, 10 sessions):"
	for t in $TARGETS; do echo "  $t: ${PROBE_RESULT[$t]:-not run}"; done
fi
echo
echo "runs ok = runs where smtp-source succeeded and the queue held exactly the messages sent."
if awk -F'\t' 'NR > 1 && $11 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS"; then
	echo "WARNING: some runs failed; see $RESULTS" >&2
	exit 1
fi
exit 0
