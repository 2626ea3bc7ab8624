#!/usr/bin/env bash
# Many idle sessions (issue #15 item 4): hold IDLE_COUNT concurrent idle SMTP
# sessions open against a release-build Postern and measure its memory and how
# fast a new client is greeted meanwhile. Postfix beside it, with fewer
# sessions (one smtpd process per session; see bench/README.md).
#
#   make release && bench/idle.sh
#   TARGETS=postern IDLE_COUNT=2000 bench/idle.sh     # quick
#
# Environment (all optional):
#   POSTERN      Postern binary (default .build/release/postern)
#   TARGETS      "postern postfix" (default), or one of them
#   IDLE_COUNT   idle sessions held against Postern (default 10000)
#   PF_IDLE_COUNT  idle sessions held against Postfix (default 1000: each is
#                an smtpd process)
#   PROBE        sequential new clients timed before and while holding (200)
#   EHLO=1       held sessions send EHLO after the greeting (default: greeting only)
#   SOURCES      last octets of the client addresses 127.0.0.X (default 2-50)
#   BENCH_NETNS  auto (default): as root, re-run in a loopback-only network
#                namespace (unshare -n); 0 = never
#   KEEP_TMP=1   keep logs and JSON results
#
# Prints a table; the driver's JSON per target goes to bench/results/idle-DATE-TARGET.json.

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=lib/postfix.sh
source "$BENCH_DIR/lib/postfix.sh"
bench_isolate "$SELF" "$@"
exec 2>&1

POSTERN=${POSTERN:-.build/release/postern}
TARGETS=${TARGETS:-"postern postfix"}
IDLE_COUNT=${IDLE_COUNT:-10000}
PF_IDLE_COUNT=${PF_IDLE_COUNT:-1000}
PROBE=${PROBE:-200}
SOURCES=${SOURCES:-2-50}
if [[ ${EHLO:-0} == 1 ]]; then EHLO_ARG=(--ehlo); else EHLO_ARG=(); fi
check_targets

# The driver holds one descriptor per session; Postern raises its own soft
# limit to the hard one at start.
ulimit -n "$(ulimit -Hn)" || true
need=$(( IDLE_COUNT + 200 ))
if (( $(ulimit -n) < need )); then
	bench_log "ulimit -n is $(ulimit -n); $need descriptors are needed (raise the hard limit)"
	exit 1
fi
# The accept backlog is capped at somaxconn (4096 in a fresh network
# namespace); raised there only, never on the host.
if [[ -n ${BENCH_IN_NETNS:-} ]]; then sysctl -qw net.core.somaxconn=65535 2>/dev/null || true; fi

bench_run_tmp idle
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$BENCH_DIR/results"

# run_postern: one daemon with room for the sessions; stress mode off (at
# 80 % of max_connections it would cut idle sessions to 10 s, as Postfix does).
run_postern() {
	local port dir closed
	port=$(bench_free_port) closed=$(bench_free_port)
	dir=$RUN_TMP/postern
	mkdir -p "$dir/queue"
	cat >"$dir/postern.toml" <<-EOF
		[limits]
		max_connections = $(( IDLE_COUNT + 1000 ))
		max_connections_per_ip = $(( IDLE_COUNT + 1000 ))
		stress_threshold = 100
		[queue]
		sync = "syncfs"
		[delivery]
		enabled = false
		[dns]
		servers = ["127.0.0.1:$closed"]
	EOF
	bench_start_postern "$port" "$dir/postern.log" --config "$dir/postern.toml" \
		--listen "127.0.0.1:$port" --queue-dir "$dir/queue" || return 1
	python3 "$BENCH_DIR/idle_driver.py" --port "$port" --count "$IDLE_COUNT" --pids "$POSTERN_PID" \
		--sources "$SOURCES" --probe "$PROBE" "${EHLO_ARG[@]}" --label postern \
		--json "$BENCH_DIR/results/idle-$STAMP-postern.json" >/dev/null
	bench_kill_wait "$POSTERN_PID" TERM 30
	POSTERN_PID=
	bench_cpu_end "$SRV_CG"
	grep -E 'level=(warning|error|critical)' "$dir/postern.log" | head -5
}

# run_postfix: smtpd's process limit raised to the session count (by default
# 100 sessions and then new clients wait for a free smtpd).
run_postfix() {
	local port
	port=$(bench_free_port)
	PF_MAIN_EXTRA="default_process_limit = $(( PF_IDLE_COUNT + 50 ))
smtpd_client_connection_count_limit = 0" pf_start accept "$port" || return 1
	python3 "$BENCH_DIR/idle_driver.py" --port "$port" --count "$PF_IDLE_COUNT" --pids "$PF_MASTER_PID" \
		--sources "$SOURCES" --probe "$PROBE" "${EHLO_ARG[@]}" --label postfix \
		--json "$BENCH_DIR/results/idle-$STAMP-postfix.json" >/dev/null
	pf_stop
	pf_discard
}

echo "Idle sessions benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) CPUs, $(uname -sr)"
echo "network namespace: $(bench_netns_label);" \
	"clients from 127.0.0.$SOURCES; EHLO: ${EHLO:-0}; probe: $PROBE sequential greetings from 127.0.0.1"
for t in $TARGETS; do
	bench_log "$t: holding $( [[ $t == postern ]] && echo "$IDLE_COUNT" || echo "$PF_IDLE_COUNT") idle sessions"
	"run_$t" || bench_log "$t failed"
done

python3 - "$BENCH_DIR/results" "$STAMP" $TARGETS <<'EOF'
import json, os, sys
d, stamp, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
fmt = "%-8s %6s %6s %8s %9s %9s %9s %9s %15s %15s %7s"
print()
print(fmt % ("server", "held", "failed", "open s", "RSS MB", "HWM MB", "Pss MB", "kB/sess",
             "greet idle ms", "greet held ms", "alive"))
print(fmt % ("", "", "", "", "held", "peak", "held", "(Pss)", "p50/p99/max", "p50/p99/max", ""))
for t in targets:
    p = os.path.join(d, "idle-%s-%s.json" % (stamp, t))
    if not os.path.exists(p):
        print("%-8s no result" % t); continue
    r = json.load(open(p))
    m0, m1 = r["mem_start"], r["mem_held"]
    per = (m1["pss_kb"] - m0["pss_kb"]) / max(1, r["held"])
    g = lambda s: "%s/%s/%s" % (s.get("p50_ms", "-"), s.get("p99_ms", "-"), s.get("max_ms", "-"))
    print(fmt % (t, r["held"], r["open_failures"], r["open_seconds"], "%.0f" % (m1["rss_kb"] / 1024),
                 "%.0f" % (r["mem_after_probe"]["hwm_kb"] / 1024), "%.0f" % (m1["pss_kb"] / 1024),
                 "%.1f" % per, g(r["probe_idle"]), g(r["probe_held"]), r["still_open"]))
    print("%-8s processes %d, threads %d; RSS at start %.0f MB, after closing all %.0f MB; probe failures %d/%d"
          % ("", m1["processes"], m1["threads"], m0["rss_kb"] / 1024, r["mem_closed"]["rss_kb"] / 1024,
             r["probe_idle_failures"], r["probe_held_failures"]))
    if r["open_failure_examples"]:
        print("%-8s open failures e.g. %s" % ("", r["open_failure_examples"][:2]))
print()
print("goal (Postern, 10,000 sessions): RSS < 1 GB and new greetings < 100 ms")
EOF
