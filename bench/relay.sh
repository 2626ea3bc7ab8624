#!/usr/bin/env bash
# End-to-end relay benchmark: smtp-source -> server -> smtp-sink, Postern vs
# Postfix, interleaved.
#
#   make release && bench/relay.sh
#   TARGETS=postfix ROUNDS=1 COUNT_4K=300 COUNT_100K=100 bench/relay.sh   # quick, Postfix only
#
# For each case (message size x concurrent sessions) it runs ROUNDS rounds of
# "Postern, Postfix" (order flipped every other round). Each run starts a
# fresh smtp-sink and a fresh server with an empty queue that relays
# everything to that sink, sends the messages with smtp-source, and stops the
# clock when the sink has counted all of them. It reports the median of the
# rounds. See bench/README.md for what is measured and how; the accept-only
# sibling is bench/accept.sh.
#
# Environment (all optional):
#   POSTERN      Postern binary (default .build/release/postern, relative to the
#                current directory)
#   TARGETS      "postern postfix" (default), or just one of them
#   ROUNDS       rounds per case (default 3)
#   SIZES        message body sizes in bytes (default "4096 102400")
#   SESSIONS     concurrent sessions (default "10 100")
#   COUNT_4K     messages per timed run for sizes <= 16 KiB (default 3000)
#   COUNT_100K   messages per timed run for larger sizes (default 1200)
#   COUNT        overrides both
#   WARMUP       untimed messages sent (and relayed) first in each run
#                (default: one per session)
#   ORDER        alternate (default): the order of the targets flips every
#                round; fixed: always the TARGETS order
#   REUSE=1      keep client connections open (smtp-source -d); default one
#                connection per message
#   POSTERN_SYNC           Postern [queue] sync (default syncfs)
#   POSTERN_COMMIT_DELAY   Postern [queue] commit_delay_ms (default: Postern's own)
#   POSTERN_JOURNAL        Postern [queue] journal_size_mb (default: Postern's own; 0: off)
#   POSTERN_WORKERS        Postern [delivery] workers (default 32)
#   POSTERN_PER_DEST       Postern [delivery] per_destination (default 16)
#   POSTERN_DKIM           ed25519 or rsa: Postern signs every message with a
#                [[dkim.sign]] key for smtp-source's example.test (a 2048-bit
#                key for rsa, made once per run by `postern dkim keygen`);
#                Postfix does not sign
#                Postfix keeps its defaults (default_destination_concurrency_limit 20)
#   DIRECT=0     skip the load generator's own runs (smtp-source straight into
#                smtp-sink, once per case and round after the servers' runs;
#                default on): the rate no relay between them is measured above
#   BENCH_NETNS  auto (default): as root, re-run inside a private network
#                namespace (unshare -n) where only loopback exists; 0 = never
#   BENCH_NO_CGROUP=1  measure CPU from /proc instead of a cpuacct cgroup
#   RESULTS      where to write the per-run TSV (default bench/results/relay-DATE.tsv);
#                warnings and errors from the servers' logs go next to it,
#                in relay-DATE.problems.txt (only if there are any)
#   RUN_TIMEOUT  seconds before a single smtp-source run is killed (default 900)
#   DRAIN_TIMEOUT  seconds to wait, after smtp-source has finished, for the
#                sink to have every message (default 120); a run that takes
#                longer is marked DRAIN_TIMEOUT
#   KEEP_TMP=1   keep queue directories and logs

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"

# shellcheck source=lib/postfix.sh
source "$BENCH_DIR/lib/postfix.sh"

# --- isolation: only loopback --------------------------------------------
# Both servers relay to a bracketed loopback address (no MX lookup), Postfix
# runs with DNS lookups off, Postern's resolver points at a closed loopback
# port, and everything runs in a loopback-only network namespace when we can
# (see bench_isolate).
bench_isolate "$SELF" "$@"

# Progress, warnings and the final table all go to stdout, in order, so that
# "bench/relay.sh | tee run.txt" keeps everything.
exec 2>&1

POSTERN=${POSTERN:-.build/release/postern}
TARGETS=${TARGETS:-"postern postfix"}
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-"4096 102400"}
SESSIONS=${SESSIONS:-"10 100"}
COUNT_4K=${COUNT:-${COUNT_4K:-3000}}
COUNT_100K=${COUNT:-${COUNT_100K:-1200}}
REUSE=${REUSE:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
POSTERN_SYNC=${POSTERN_SYNC:-syncfs}
POSTERN_WORKERS=${POSTERN_WORKERS:-32}
POSTERN_PER_DEST=${POSTERN_PER_DEST:-16}
POSTERN_DKIM=${POSTERN_DKIM:-}
if [[ -n ${KEEP_TMP:-} ]]; then export PF_KEEP=1; fi

check_targets
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/postern-bench-relay.XXXXXX")
chmod 755 "$RUN_TMP"
if [[ -n $POSTERN_DKIM ]]; then
	"$POSTERN" dkim keygen --domain example.test --selector bench --type "$POSTERN_DKIM" \
		--out "$RUN_TMP/dkim.key" >/dev/null || exit 1
	printf '[[dkim.sign]]\ndomain = "example.test"\nselector = "bench"\nkey = "%s"\n' "$RUN_TMP/dkim.key" \
		>"$RUN_TMP/dkim-policy.toml"
fi
export PF_TMPDIR=$RUN_TMP
BENCH_STATUS_COL=14
RESULTS=${RESULTS:-$BENCH_DIR/results/relay-$(date +%Y%m%d-%H%M%S).tsv}
PROBLEMS=${RESULTS%.tsv}.problems.txt
mkdir -p "$(dirname "$RESULTS")"
rm -f "$PROBLEMS"
printf 'case\ttarget\tround\tmessages\tsend_seconds\tseconds\tmsg_per_s\taccept_msg_per_s\tcpu_ms_per_msg\tsyncs_per_msg\tsunk\texpected\tqueue_left\tstatus\tbusy_after_s\tlog_problems\tother_cpu_ms_per_msg\tsys_cpu_ms_per_msg\n' >"$RESULTS"

POSTERN_PID=
WAITER_PID=
cleanup() {
	trap - EXIT INT TERM
	if [[ -n $WAITER_PID ]]; then kill "$WAITER_PID" 2>/dev/null; wait "$WAITER_PID" 2>/dev/null; fi
	if [[ -n $POSTERN_PID ]]; then bench_kill_wait "$POSTERN_PID" TERM 10; fi
	pf_cleanup
	if [[ -z ${KEEP_TMP:-} ]]; then rm -rf "$RUN_TMP"; else bench_log "kept $RUN_TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
bench_source_options

# waiter_start N: watch the sink's counter in the background until it reaches N
# (bench_sink_wait); waiter_finish then collects "EPOCH COUNT".
waiter_start() {
	bench_sink_wait "$SINK_LOG" "$1" $(( RUN_TIMEOUT + DRAIN_TIMEOUT )) >"$RUN_TMP/waiter.out" &
	WAITER_PID=$!
}
# waiter_finish: wait at most DRAIN_TIMEOUT seconds for the waiter.
# Returns 0 if the sink reached its target; sets SINK_AT (epoch) and SINK_SEEN.
waiter_finish() {
	local deadline=$(( EPOCHSECONDS + DRAIN_TIMEOUT )) rc
	while kill -0 "$WAITER_PID" 2>/dev/null && (( EPOCHSECONDS < deadline )); do
		sleep 0.05
	done
	if kill -0 "$WAITER_PID" 2>/dev/null; then
		kill "$WAITER_PID" 2>/dev/null
		wait "$WAITER_PID" 2>/dev/null
		WAITER_PID=
		SINK_AT=$EPOCHREALTIME SINK_SEEN=$(pf_sink_count "$SINK_LOG")
		return 1
	fi
	wait "$WAITER_PID"; rc=$?
	WAITER_PID=
	read -r SINK_AT SINK_SEEN <"$RUN_TMP/waiter.out"
	: "${SINK_AT:=$EPOCHREALTIME}" "${SINK_SEEN:=0}"
	return $rc
}

# --- sink and servers ------------------------------------------------------------
# sink_start: a fresh smtp-sink on a free port. Sets SINK_PORT SINK_PID SINK_LOG SINK_DIR.
sink_start() {
	SINK_PORT=$(bench_free_port)
	if ! pf_sink_start "$SINK_PORT"; then
		bench_log "smtp-sink did not start; log:"; tail -5 "$PF_SINK_LOG" >&2
		pf_sink_stop "$PF_SINK_PID"
		return 1
	fi
	SINK_PID=$PF_SINK_PID SINK_LOG=$PF_SINK_LOG SINK_DIR=$PF_SINK_DIR
}
sink_stop() {
	pf_sink_stop "$SINK_PID"
	[[ -z ${KEEP_TMP:-} ]] && rm -rf "$SINK_DIR"
	SINK_PID=
}

# server_start TARGET: start a fresh server with an empty queue on a free port,
# relaying example.net to 127.0.0.1:SINK_PORT.
# Sets SRV_PORT SRV_PID (postern, or Postfix's master) SRV_CG SRV_DIR SRV_LOG.
SRV_SEQ=0
server_start() {
	local target=$1 closed
	SRV_PORT=$(bench_free_port) SRV_PID= SRV_CG= SRV_DIR= SRV_LOG=
	case $target in
	postern)
		SRV_SEQ=$(( SRV_SEQ + 1 ))
		SRV_DIR=$RUN_TMP/postern.$SRV_SEQ
		SRV_LOG=$SRV_DIR/postern.log
		mkdir -p "$SRV_DIR/queue"
		# A loopback port nobody listens on, as the DNS server: a bracketed
		# route needs no lookup, and if anything did look up, it would fail
		# at once, on loopback.
		closed=$(bench_free_port)
		# Like Postfix's mynetworks clients, the load generator is not held
		# to the per-address connection limit (default 100, and smtp-source's
		# 100 sessions overlap it while connections close).
		: >"$SRV_DIR/postern.toml"
		if [[ -n $POSTERN_DKIM ]]; then
			# --listen keeps the first listener's policy: the signing one.
			printf '[[listener]]\naddress = "127.0.0.1:%s"\npolicy = "%s"\n' "$SRV_PORT" "$RUN_TMP/dkim-policy.toml" \
				>"$SRV_DIR/postern.toml"
		fi
		cat >>"$SRV_DIR/postern.toml" <<-EOF
			[limits]
			max_connections_per_ip = 1000
			[queue]
			sync = "$POSTERN_SYNC"
			${POSTERN_COMMIT_DELAY:+commit_delay_ms = $POSTERN_COMMIT_DELAY}
			${POSTERN_JOURNAL:+journal_size_mb = $POSTERN_JOURNAL}
			[delivery]
			enabled = true
			workers = $POSTERN_WORKERS
			per_destination = $POSTERN_PER_DEST
			[delivery.routes]
			"example.net" = "[127.0.0.1]:$SINK_PORT"
			[dns]
			servers = ["127.0.0.1:$closed"]
		EOF
		bench_start_postern "$SRV_PORT" "$SRV_LOG" --config "$SRV_DIR/postern.toml" \
			--listen "127.0.0.1:$SRV_PORT" --queue-dir "$SRV_DIR/queue" || return 1
		;;
	postfix)
		if ! pf_start relay "$SRV_PORT" "$SINK_PORT"; then
			pf_stop; pf_discard
			return 1
		fi
		SRV_DIR=$PF_DIR SRV_PID=$PF_MASTER_PID SRV_CG=$PF_CG SRV_LOG=$PF_LOG
		;;
	esac
	return 0
}

# server_stop TARGET: stop it and look at what it left.
# Sets SRV_LEFT (messages still in the queue), SRV_SYNCS (Postern's own count
# of sync calls per committed message, or n/a) and SRV_STRAY (Postern: other
# files left in msg/ and incoming/).
server_stop() {
	local target=$1 rc stats m s
	SRV_SYNCS=n/a SRV_STRAY=0
	case $target in
	postern)
		# Postern logs `msg="queue commit stats" batches=B failures=F
		# messages=N sync_calls=M` when it gets SIGTERM. messages counts every
		# committed message (warm-up included).
		bench_kill_wait "$SRV_PID" TERM 30; rc=$?
		POSTERN_PID=
		bench_cpu_end "$SRV_CG"
		if (( rc != 0 && rc != 143 )); then bench_log "postern exited with status $rc"; fi
		stats=$(grep 'msg="queue commit stats"' "$SRV_LOG" | tail -n 1 | grep -o 'messages=[0-9]* sync_calls=[0-9]*')
		if [[ -n $stats ]]; then
			m=${stats#*messages=}; m=${m%% *}
			s=${stats#*sync_calls=}
			if (( m > 0 )); then SRV_SYNCS=$(awk -v s="$s" -v m="$m" 'BEGIN { printf "%.3f", s / m }'); fi
		fi
		# A message is removed from msg/ once delivered.
		SRV_LEFT=$(bench_queue_count "$SRV_DIR/queue/msg")
		SRV_STRAY=$(find "$SRV_DIR/queue/msg" "$SRV_DIR/queue/incoming" -type f ! -name '*.env' ! -name '*.msg' 2>/dev/null | wc -l)
		;;
	postfix)
		pf_stop "$SRV_DIR"
		SRV_LEFT=$(pf_queue_count "$SRV_DIR/queue")
		;;
	esac
}

# log_problems TARGET LOG: print the lines of the server's log that report
# trouble (Postern: level notice and above, and deferrals; Postfix: warnings,
# errors, deferrals and bounces).
log_problems() {
	case $1 in
	postern) grep -E 'level=(notice|warning|error|critical)|msg=deferred|msg=failed' "$2" 2>/dev/null ;;
	postfix) grep -E '(warning|error|fatal|panic): |status=(deferred|bounced)' "$2" 2>/dev/null ;;
	esac
	return 0
}

# measure PORT PID CG SESSIONS COUNT SIZE LOG
# Warm-up (sent and relayed, untimed), then the timed part: from the start of
# smtp-source until the sink has counted warm-up + COUNT messages.
# Sets SEND_OK DRAIN_OK SEND_SECONDS TOTAL_SECONDS CPU_NS SETTLE_SECONDS, and
# OTHER_NS: the CPU everything else on the machine used meanwhile.
measure() {
	local port=$1 pid=$2 cg=$3 sessions=$4 count=$5 size=$6 log=$7 c0 c1 m0 m1 t0 ts k0
	SEND_OK=1 DRAIN_OK=1 TOTAL_SECONDS=0 CPU_NS=0 SEND_SECONDS=0 OTHER_NS=0
	if (( WARMUP_N > 0 )); then
		waiter_start "$WARMUP_N"
		send "$port" "$sessions" "$WARMUP_N" "$size" "$log" || SEND_OK=0
		if ! waiter_finish; then
			bench_log "warm-up: the sink has $SINK_SEEN of $WARMUP_N messages after ${DRAIN_TIMEOUT}s"
			DRAIN_OK=0 SEND_SECONDS=0
			return
		fi
	fi
	# The waiter starts before the server settles, so that its own start-up
	# is over before the clock starts.
	waiter_start $(( WARMUP_N + count ))
	bench_cpu_settle "$cg" "$pid" 10
	c0=$(bench_cpu_ns "$cg" "$pid") m0=$(bench_machine_busy_ns) k0=$(bench_cpu_sys_ns "$cg" "$pid")
	t0=$EPOCHREALTIME
	send "$port" "$sessions" "$count" "$size" "$log" || SEND_OK=0
	waiter_finish || DRAIN_OK=0
	TOTAL_SECONDS=$(elapsed "$t0" "$SINK_AT")
	# The machine's busy time up to the sink's last message, less the
	# server's over the same span: client, sink, waiter and kernel.
	m1=$(bench_machine_busy_ns)
	OTHER_NS=$(( m1 - m0 - ($(bench_cpu_ns "$cg" "$pid") - c0) ))
	# Count the work the server still does after the sink has everything
	# (removing queue files, closing cached connections, ...), up to when it
	# goes idle.
	ts=$EPOCHREALTIME
	bench_cpu_settle "$cg" "$pid" 60
	c1=$(bench_cpu_ns "$cg" "$pid")
	CPU_NS=$(( c1 - c0 )) SYS_NS=$(( $(bench_cpu_sys_ns "$cg" "$pid") - k0 ))
	SETTLE_SECONDS=$(awk -v a="$ts" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
}

# run_case TARGET CASE ROUND SIZE SESSIONS COUNT
run_case() {
	local target=$1 case=$2 round=$3 size=$4 sessions=$5 count=$6 status=ok expected sunk probs nprobs
	expected=$(( count + WARMUP_N ))
	SETTLE_SECONDS=0
	if ! sink_start; then
		record "$case" "$target" "$round" "$count" 0 0 0 n/a 0 "$expected" 0 SINK_FAILED 0
		return
	fi
	if ! server_start "$target"; then
		sink_stop
		record "$case" "$target" "$round" "$count" 0 0 0 n/a 0 "$expected" 0 START_FAILED 0
		return
	fi
	measure "$SRV_PORT" "$SRV_PID" "$SRV_CG" "$sessions" "$count" "$size" "$SRV_DIR/smtp-source.log"
	server_stop "$target"
	# Counted again now that the server has gone: catches duplicates that
	# arrived after the target was reached.
	sunk=$(pf_sink_count "$SINK_LOG"); sunk=${sunk:-0}
	sink_stop
	(( SEND_OK )) || status=SEND_FAILED
	(( DRAIN_OK )) || status=$( [[ $status == ok ]] && echo DRAIN_TIMEOUT || echo "$status,DRAIN_TIMEOUT")
	if (( sunk != expected )); then
		[[ $status == ok ]] && status=SINK_MISMATCH || status+=,SINK_MISMATCH
	fi
	if (( SRV_LEFT != 0 )); then
		[[ $status == ok ]] && status=QUEUE_NOT_EMPTY || status+=,QUEUE_NOT_EMPTY
	fi
	if (( SRV_STRAY != 0 )); then
		bench_log "warning: $SRV_STRAY file(s) other than envelopes left in Postern's msg/ and incoming/"
	fi
	probs=$(log_problems "$target" "$SRV_LOG")
	nprobs=0
	if [[ -n $probs ]]; then
		nprobs=$(printf '%s\n' "$probs" | wc -l)
		printf '%s\n' "$probs" | sed "s/^/$case $target round $round: /" >>"$PROBLEMS"
		bench_log "$nprobs warning/error line(s) in the $target log, e.g.:"
		printf '%s\n' "$probs" | head -3 | sed 's/^/    /'
	fi
	record "$case" "$target" "$round" "$count" "$SEND_SECONDS" "$TOTAL_SECONDS" "$CPU_NS" \
		"$SRV_SYNCS" "$sunk" "$expected" "$SRV_LEFT" "$status" "$nprobs"
	server_discard "$target"
}

# run_direct CASE ROUND SIZE SESSIONS COUNT: the load generator alone, smtp-source
# straight into smtp-sink with the same options, as target "direct". No relay
# can be measured faster than this pair on the same cores unless it makes the
# client's or the sink's work cheaper: it bounds what the ratio can be.
run_direct() {
	local case=$1 round=$2 size=$3 sessions=$4 count=$5 status=ok m0 t0 sunk log=$RUN_TMP/direct-source.log
	SETTLE_SECONDS=0 SEND_SECONDS=0
	sink_start || { record "$case" direct "$round" "$count" 0 0 0 n/a 0 0 0 SINK_FAILED 0; return; }
	if (( WARMUP_N > 0 )); then
		waiter_start "$WARMUP_N"
		send "$SINK_PORT" "$sessions" "$WARMUP_N" "$size" "$log" || status=SEND_FAILED
		waiter_finish || status=DRAIN_TIMEOUT
	fi
	waiter_start $(( WARMUP_N + count ))
	m0=$(bench_machine_busy_ns)
	t0=$EPOCHREALTIME
	send "$SINK_PORT" "$sessions" "$count" "$size" "$log" || status=SEND_FAILED
	waiter_finish || status=DRAIN_TIMEOUT
	OTHER_NS=$(( $(bench_machine_busy_ns) - m0 ))
	sunk=$(pf_sink_count "$SINK_LOG"); sunk=${sunk:-0}
	sink_stop
	(( sunk == WARMUP_N + count )) || [[ $status != ok ]] || status=SINK_MISMATCH
	record "$case" direct "$round" "$count" "$SEND_SECONDS" "$(elapsed "$t0" "$SINK_AT")" 0 n/a "$sunk" \
		$(( WARMUP_N + count )) 0 "$status" 0
}

# record CASE TARGET ROUND COUNT SEND_S TOTAL_S CPU_NS SYNCS SUNK EXPECTED LEFT STATUS NPROBS
record() {
	local case=$1 target=$2 round=$3 count=$4 send=$5 secs=$6 cpu=$7 syncs=$8 sunk=$9 expected=${10}
	local left=${11} status=${12} nprobs=${13} rate arate cpums otherms sysms
	rate=$(awk -v n="$count" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f", n / s; else print 0 }')
	arate=$(awk -v n="$count" -v s="$send" 'BEGIN { if (s > 0) printf "%.1f", n / s; else print 0 }')
	cpums=$(awk -v c="$cpu" -v n="$count" 'BEGIN { if (n > 0) printf "%.2f", c / n / 1e6; else print 0 }')
	otherms=$(awk -v c="${OTHER_NS:-0}" -v n="$count" 'BEGIN { if (n > 0) printf "%.2f", c / n / 1e6; else print 0 }')
	sysms=$(awk -v c="${SYS_NS:-0}" -v n="$count" 'BEGIN { if (n > 0) printf "%.2f", c / n / 1e6; else print 0 }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$target" "$round" \
		"$count" "$send" "$secs" "$rate" "$arate" "$cpums" "$syncs" "$sunk" "$expected" "$left" \
		"$status" "$SETTLE_SECONDS" "$nprobs" "$otherms" "$sysms" >>"$RESULTS"
	OTHER_NS=0 SYS_NS=0
	bench_log "$(printf '%-7s %-10s round %s/%s: %5s msgs relayed in %6ss = %6s msg/s (accepted in %ss), CPU %5s ms/msg (busy %ss after), syncs/msg %s, sink %s/%s, left in queue %s %s' \
		"$target" "$case" "$round" "$ROUNDS" "$count" "$secs" "$rate" "$send" "$cpums" "$SETTLE_SECONDS" \
		"$syncs" "$sunk" "$expected" "$left" "$status")"
	SETTLE_SECONDS=0
}

# --- header ----------------------------------------------------------------
{
	echo "Postern end-to-end relay benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(nproc) CPUs, $(uname -sr); temp dir $RUN_TMP on $(df -PT "$RUN_TMP" | awk 'NR==2 { print $2 " (" $1 ")" }')"
	echo "targets: $TARGETS; rounds: $ROUNDS; sizes: $SIZES; sessions: $SESSIONS;" \
		"messages/run: $COUNT_4K (<=16KiB), $COUNT_100K (larger)"
	echo "client: smtp-source ${SRC_OPTS[*]} ($( [[ $REUSE == 1 ]] && echo "connections reused" || echo "one connection per message"))"
	echo "sink: smtp-sink -c, a fresh one per run"
	has_target postern && echo "postern: $POSTERN (sync $POSTERN_SYNC${POSTERN_COMMIT_DELAY:+, commit delay $POSTERN_COMMIT_DELAY ms}${POSTERN_JOURNAL:+, journal $POSTERN_JOURNAL MiB}, workers $POSTERN_WORKERS, per_destination $POSTERN_PER_DEST)"
	has_target postfix && echo "postfix: $(postconf -d -h mail_version 2>/dev/null), relayhost = [127.0.0.1]:SINKPORT, default durability and concurrency"
	echo "CPU accounting: $(bench_cpu_method); network namespace: $([[ -n ${BENCH_IN_NETNS:-} ]] && echo "private (loopback only)" || echo "host")"
	echo "per-run results: $RESULTS"
	echo
} >&2

# --- runs --------------------------------------------------------------------

run_all_cases
if [[ ${DIRECT:-1} == 1 ]]; then
	for size in $SIZES; do
		for sessions in $SESSIONS; do
			WARMUP_N=${WARMUP:-$sessions}
			for (( round = 1; round <= ROUNDS; round++ )); do
				run_direct "$(size_label "$size")x$sessions" "$round" "$size" "$sessions" "$(count_for "$size")"
			done
		done
	done
fi

# --- summary -----------------------------------------------------------------
# TSV columns: 1 case, 2 target, 7 msg_per_s, 8 accept_msg_per_s,
# 9 cpu_ms_per_msg, 10 syncs_per_msg, 14 status.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2f", a / b; else print "-" }'; }

echo
echo "Medians over $ROUNDS round(s); msg/s = messages / time from the start of smtp-source"
echo "until the sink has them all; CPU = server CPU (all its processes) per relayed message,"
echo "until it is idle again; ratio = Postern / Postfix msg/s."
fmt='%-11s %10s %10s %6s %11s %11s %10s %8s %8s\n'
printf "$fmt" case Postern Postfix ratio "Postern CPU" "Postfix CPU" Postern Postern Postfix
printf "$fmt" "" "msg/s" "msg/s" "" "ms/msg" "ms/msg" "syncs/msg" "runs ok" "runs ok"
for c in "${CASES[@]}"; do
	pr=$(median "$c" postern 7 %.1f); fr=$(median "$c" postfix 7 %.1f)
	pc=$(median "$c" postern 9 %.2f); fc=$(median "$c" postfix 9 %.2f)
	psy=$(median "$c" postern 10 %.2f)
	if has_target postern && [[ $psy == - && $(runs_ok "$c" postern) != 0/* ]]; then psy=n/a; fi
	printf "$fmt" "$c" "$pr" "$fr" "$(ratio "$pr" "$fr")" "$pc" "$fc" "$psy" "$(runs_ok "$c" postern)" "$(runs_ok "$c" postfix)"
done
echo "(goal: ratio >= 4 and Postern CPU < 1 ms/msg)"
echo
echo "The floor: CPU the rest of the machine used per message in the same runs (client,"
echo "sink, waiter, loopback networking; medians), and the msg/s that leaves for a server"
echo "that cost nothing on $(nproc) cores, and the server CPU per message 4x Postfix's msg/s"
echo "would leave room for (negative: out of reach on this machine whatever the server does);"
echo "then Postern's kernel time per message (system calls, TCP and file work, wake-ups) and"
echo "what the budget leaves its user space after that (negative: out of reach even if"
echo "Postern's own code cost nothing, unless it makes the kernel do less):"
# TSV columns: 17 other_cpu_ms_per_msg, 7 msg_per_s, 18 sys_cpu_ms_per_msg.
bench_floor_table 4 17 7 18
if [[ ${DIRECT:-1} == 1 ]]; then
	echo
	echo "The load generator alone: smtp-source straight into smtp-sink, same options and"
	echo "counts (no relay between them; machine CPU per message), against the rate the goal asks:"
	fmt3='%-11s %14s %14s %14s\n'
	printf "$fmt3" case "direct msg/s" "4x Postfix" "machine ms/msg"
	for c in "${CASES[@]}"; do
		dr=$(median "$c" direct 7 %.1f); fr=$(median "$c" postfix 7 %.1f)
		printf "$fmt3" "$c" "$dr" "$(awk -v r="$fr" 'BEGIN { if (r != "-") printf "%.1f", 4 * r; else print "-" }')" \
			"$(median "$c" direct 17 %.2f)"
	done
fi
echo
echo "Accept side of the same runs (messages / smtp-source's own wall time), medians:"
fmt2='%-11s %10s %10s %6s\n'
printf "$fmt2" case Postern Postfix ratio
for c in "${CASES[@]}"; do
	pa=$(median "$c" postern 8 %.1f); fa=$(median "$c" postfix 8 %.1f)
	printf "$fmt2" "$c" "$pa" "$fa" "$(ratio "$pa" "$fa")"
done
echo
echo "Spread of end-to-end msg/s over the rounds (min - max):"
for c in "${CASES[@]}"; do
	line=$(printf '%-11s' "$c")
	for t in $TARGETS $([[ ${DIRECT:-1} == 1 ]] && echo direct); do
		line+=$(awk -F'\t' -v c="$c" -v t="$t" 'NR > 1 && $1 == c && $2 == t && $14 == "ok" {
				if (n == 0 || $7 < lo) lo = $7; if (n == 0 || $7 > hi) hi = $7; n++ }
			END { if (n) printf "  %s %s - %s", t, lo, hi; else printf "  %s -", t }' "$RESULTS")
	done
	echo "$line"
done
echo
echo "runs ok = runs where smtp-source succeeded, the sink got exactly the messages sent"
echo "(warm-up included) within DRAIN_TIMEOUT, and the server's queue was empty afterwards."
busy=$(awk -F'\t' 'NR > 1 && $15 >= 59 { n++ } END { print n + 0 }' "$RESULTS")
if (( busy > 0 )); then
	echo "NOTE: in $busy run(s) the server was still using CPU 60 s after the sink had everything"
	echo "(busy_after_s in $RESULTS); their CPU figures are lower bounds."
fi
if [[ -s $PROBLEMS ]]; then
	echo "Warnings/errors from the servers' logs: $(wc -l <"$PROBLEMS") line(s), in $PROBLEMS"
fi
if awk -F'\t' 'NR > 1 && $14 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS"; then
	echo "WARNING: some runs failed; see $RESULTS" >&2
	exit 1
fi
exit 0
