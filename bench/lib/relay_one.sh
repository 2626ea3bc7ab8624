# shellcheck shell=bash
# One Postern relaying to one smtp-sink, for the profiling scripts
# (callgrind.sh, budget.sh). Source after lib/postfix.sh; functions only.
#
#   ro_start DIR [WRAPPER...]   smtp-sink + Postern (under WRAPPER, e.g. valgrind)
#                               relaying example.net to it; sets RO_PORT RO_PID
#                               RO_LOG SINK_LOG
#   ro_send N SESSIONS SIZE     smtp-source N messages; waits until the sink has
#                               them all (plus any sent before) and the
#                               queue is empty again
#   ro_stop                     SIGTERM Postern (waits for it), stop the sink
#
# The configuration is relay.sh's: syncfs, 32 workers, 16 per destination,
# the DNS server a closed loopback port, a bracketed loopback route.

RO_SENT=0

ro_start() {
	local dir=$1 closed sink
	shift
	RO_DIR=$dir
	mkdir -p "$dir/queue"
	sink=$(bench_free_port) closed=$(bench_free_port) RO_PORT=$(bench_free_port)
	pf_sink_start "$sink" || { bench_log "smtp-sink did not start"; return 1; }
	SINK_LOG=$PF_SINK_LOG
	cat >"$dir/postern.toml" <<-EOF
		[limits]
		max_connections_per_ip = 1000
		[queue]
		sync = "${POSTERN_SYNC:-syncfs}"
		${POSTERN_JOURNAL:+journal_size_mb = $POSTERN_JOURNAL}
		[delivery]
		enabled = true
		workers = 32
		per_destination = 16
		[delivery.routes]
		"example.net" = "[127.0.0.1]:$sink"
		[dns]
		servers = ["127.0.0.1:$closed"]
	EOF
	RO_LOG=$dir/postern.log
	( exec "$@" "$POSTERN" serve --config "$dir/postern.toml" --listen "127.0.0.1:$RO_PORT" \
		--queue-dir "$dir/queue" ) >"$RO_LOG" 2>&1 &
	RO_PID=$! POSTERN_PID=$!
	RO_SENT=0
	if ! bench_wait_smtp "$RO_PORT" "${RO_START_TIMEOUT:-60}" "$RO_PID"; then
		bench_log "postern did not start; log:"; tail -20 "$RO_LOG" >&2
		return 1
	fi
}

# ro_send N SESSIONS SIZE: one connection per message, as relay.sh.
ro_send() {
	local n=$1 sessions=$2 size=$3
	(( n > 0 )) || return 0
	bench_source_options
	timeout "${RUN_TIMEOUT:-1800}" smtp-source "${SRC_OPTS[@]}" -s "$sessions" -m "$n" -l "$size" \
		"127.0.0.1:$RO_PORT" >>"$(dirname "$RO_LOG")/smtp-source.log" 2>&1 || {
		bench_log "smtp-source failed"; return 1; }
	RO_SENT=$(( RO_SENT + n ))
	bench_sink_wait "$SINK_LOG" "$RO_SENT" "${DRAIN_TIMEOUT:-600}" >/dev/null || {
		bench_log "the sink has $(pf_sink_count "$SINK_LOG") of $RO_SENT messages"; return 1; }
	ro_wait_empty
}

# ro_wait_empty: until every delivered message has left the queue (msg/*.msg, *.env).
ro_wait_empty() {
	local i
	for (( i = 0; i < ${DRAIN_TIMEOUT:-600} * 10; i++ )); do
		(( $(bench_queue_count "$RO_DIR/queue/msg") == 0 )) && return 0
		sleep 0.1
	done
	bench_log "warning: the queue still holds messages"
}

ro_stop() {
	bench_kill_wait "$RO_PID" TERM "${RO_STOP_TIMEOUT:-60}"
	POSTERN_PID=
	pf_sink_stop
}
