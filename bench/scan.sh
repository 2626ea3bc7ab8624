#!/usr/bin/env bash
# Scanning benchmarks (see bench/README.md, "Virus and spam scanning"):
#
#  (a) cost: scan cost per message of the network scanners, clamd vs spamd vs
#      rspamd, 4 KiB and 1 MiB messages, measured by bench/scan_cost.py with
#      their raw protocols; plus the in-process libclamav row (postern scan
#      --repeat with the same database).
#  (b) accept: accept throughput with virus scanning on, Postern + clamd vs
#      Postfix + clamav-milter + the same clamd, smtp-source as the load,
#      interleaved like bench/accept.sh.
#
#   make release && bench/scan.sh
#   PARTS=cost bench/scan.sh                                       # (a) only, ~4 min
#   PARTS=accept TARGETS=postfix ROUNDS=1 COUNT_4K=300 COUNT_100K=150 bench/scan.sh
#
# Environment (all optional):
#   PARTS        "cost accept" (default) or one of them
#   --- (a) cost
#   SCANNERS     clamd,spamd,rspamd (default)
#   COST_SIZES   4096,1048576 (default)
#   COST_COUNT_SMALL  messages per run up to 64 KiB (default 300)
#   COST_COUNT_LARGE  messages per run above (default 20; spamd takes seconds per 1 MiB)
#   --- (b) accept: the knobs of bench/accept.sh, same defaults:
#   POSTERN TARGETS ROUNDS SIZES SESSIONS COUNT_4K COUNT_100K COUNT WARMUP ORDER
#   REUSE PF_ACCEPT_STYLE BENCH_NETNS BENCH_NO_CGROUP RUN_TIMEOUT KEEP_TMP
#   POSTERN_SCAN   clamd (default) or clamav: Postern scans in process instead
#   CLAMD_THREADS  clamd MaxThreads (default 20: Postern's max_in_flight 10,
#                  clamav-milter's connections, with room to spare)
#   RESULTS_DIR  where the TSVs go (default bench/results)

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"

# shellcheck source=lib/postfix.sh
source "$BENCH_DIR/lib/postfix.sh"

# As root: re-run in a network namespace where only loopback exists (and
# install Postfix first if it is missing). The scanners' own configs keep them
# on loopback too (spamd -L, rspamd's DNS on a loopback server, clamd has no DNS).
bench_isolate "$SELF" "$@"
exec 2>&1

PARTS=${PARTS:-"cost accept"}
POSTERN=${POSTERN:-.build/release/postern}
CLAMAV_DB=${CLAMAV_DB:-$BENCH_DIR/../tests/fixtures/clamav}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS_DIR"
export PATH=$PATH:/usr/sbin:/sbin

RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/postern-bench-scan.XXXXXX")
chmod 755 "$RUN_TMP"
export PF_TMPDIR=$RUN_TMP

CLAMD_PID= MILTER_PID= POSTERN_PID= CLAMD_CG= MILTER_CG=
cleanup() {
	trap - EXIT INT TERM
	if [[ -n $POSTERN_PID ]]; then bench_kill_wait "$POSTERN_PID" TERM 10; fi
	pf_cleanup
	if [[ -n $MILTER_PID ]]; then bench_kill_wait "$MILTER_PID" TERM 10; bench_cpu_end "$MILTER_CG"; fi
	if [[ -n $CLAMD_PID ]]; then bench_kill_wait "$CLAMD_PID" TERM 10; bench_cpu_end "$CLAMD_CG"; fi
	bench_cpu_cleanup_all
	if [[ -z ${KEEP_TMP:-} ]]; then rm -rf "$RUN_TMP"; else bench_log "kept $RUN_TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

has_part() { [[ " $PARTS " == *" $1 "* ]]; }

echo "Postern scanning benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host: $(nproc) CPUs, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg);" \
	"network namespace: $([[ -n ${BENCH_IN_NETNS:-} ]] && echo "private (loopback only)" || echo "host")"
echo "scanners: $(clamd --version 2>/dev/null), $(spamd --version 2>/dev/null | head -n 1), $(rspamd --version 2>/dev/null | head -n 1)"
echo

# =============================================================================
# (a) scan cost per message
# =============================================================================
cost_status=0
if has_part cost; then
	echo "== (a) scan cost per message (one client, one message at a time, a new connection each)"
	python3 -u "$BENCH_DIR/scan_cost.py" --scanners "${SCANNERS:-clamd,spamd,rspamd}" \
		--sizes "${COST_SIZES:-4096,1048576}" --count-small "${COST_COUNT_SMALL:-300}" \
		--count-large "${COST_COUNT_LARGE:-20}" --write-messages "$RUN_TMP/messages" \
		--postern "$POSTERN" --database "$CLAMAV_DB" \
		--tsv "$RESULTS_DIR/scan-cost-$STAMP.tsv" || cost_status=1

	echo
fi

# =============================================================================
# (b) accept throughput with virus scanning on
# =============================================================================
accept_status=0
if has_part accept; then
	TARGETS=${TARGETS:-"postern postfix"}
	ROUNDS=${ROUNDS:-3}
	SIZES=${SIZES:-"4096 102400"}
	SESSIONS=${SESSIONS:-"10 100"}
	COUNT_4K=${COUNT:-${COUNT_4K:-3000}}
	COUNT_100K=${COUNT:-${COUNT_100K:-1200}}
	REUSE=${REUSE:-0}
	RUN_TIMEOUT=${RUN_TIMEOUT:-900}
	CLAMD_THREADS=${CLAMD_THREADS:-20}
	export PF_ACCEPT_STYLE=${PF_ACCEPT_STYLE:-hold}
	if [[ -n ${KEEP_TMP:-} ]]; then export PF_KEEP=1; fi
	check_targets

	RESULTS=$RESULTS_DIR/scan-accept-$STAMP.tsv
	BENCH_STATUS_COL=11
	printf 'case\ttarget\tround\tmessages\tseconds\tmsg_per_s\tserver_cpu_ms_per_msg\tclamd_cpu_ms_per_msg\tqueued\texpected\tstatus\teicar\n' >"$RESULTS"

	# --- the shared clamd -----------------------------------------------------
	CLAMD_DIR=$RUN_TMP/clamd
	mkdir -p "$CLAMD_DIR"
	chmod 755 "$CLAMD_DIR"
	CLAMD_SOCK=$CLAMD_DIR/clamd.sock
	# The database is copied under the temp dir: Ubuntu's AppArmor profile for
	# clamd reads /tmp, $HOME and /var/lib/clamav, not any checkout.
	cp -r "$REPO/tests/fixtures/clamav" "$CLAMD_DIR/db"
	cat >"$CLAMD_DIR/clamd.conf" <<-EOF
		DatabaseDirectory $CLAMD_DIR/db
		LocalSocket $CLAMD_SOCK
		LocalSocketMode 666
		Foreground yes
		LogFile $CLAMD_DIR/clamd-file.log
		PidFile $CLAMD_DIR/clamd.pid
		TemporaryDirectory $CLAMD_DIR
		SelfCheck 0
		StreamMaxLength 100M
		MaxThreads $CLAMD_THREADS
		MaxQueue 200
	EOF
	bench_cpu_begin clamd
	CLAMD_CG=$BENCH_CG
	( bench_cpu_exec "$CLAMD_CG" clamd -c "$CLAMD_DIR/clamd.conf" ) >"$CLAMD_DIR/clamd.log" 2>&1 &
	CLAMD_PID=$!

	# clamd_wait SECONDS: until zPING answers PONG on the socket
	clamd_wait() {
		python3 - "$CLAMD_SOCK" "$1" <<-'EOF'
			import socket, sys, time
			deadline = time.time() + float(sys.argv[2])
			while time.time() < deadline:
			    try:
			        s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
			        s.sendall(b"zPING\0")
			        if s.recv(16) == b"PONG\0":
			            sys.exit(0)
			    except OSError:
			        pass
			    time.sleep(0.05)
			sys.exit(1)
		EOF
	}
	if ! clamd_wait 60; then
		bench_log "clamd did not start; log:"; tail -20 "$CLAMD_DIR/clamd.log"
		exit 1
	fi

	# --- clamav-milter for Postfix, on the same clamd ----------------------------
	MILTER_DIR=$RUN_TMP/milter
	mkdir -p "$MILTER_DIR"
	chmod 755 "$MILTER_DIR"
	MILTER_SOCK=$MILTER_DIR/clamav-milter.sock
	if has_target postfix; then
		# OnInfected Reject: 550 at end of DATA, as Postern's virus = "reject".
		# OnFail Defer: a 4xx when clamd cannot be reached, as on_error = "tempfail".
		# AddHeader No: Postern's [[scan]] adds no header either.
		# MaxFileSize 100M: scan everything (the default skips mail over 25M).
		cat >"$MILTER_DIR/clamav-milter.conf" <<-EOF
			MilterSocket $MILTER_SOCK
			MilterSocketMode 666
			FixStaleSocket yes
			Foreground yes
			PidFile $MILTER_DIR/clamav-milter.pid
			ClamdSocket unix:$CLAMD_SOCK
			OnClean Accept
			OnInfected Reject
			OnFail Defer
			AddHeader No
			LogFile $MILTER_DIR/clamav-milter-file.log
			LogInfected Basic
			LogClean Off
			MaxFileSize 100M
			ReadTimeout 120
			TemporaryDirectory $MILTER_DIR
		EOF
		bench_cpu_begin milter
		MILTER_CG=$BENCH_CG
		( bench_cpu_exec "$MILTER_CG" clamav-milter -c "$MILTER_DIR/clamav-milter.conf" ) \
			>"$MILTER_DIR/clamav-milter.log" 2>&1 &
		MILTER_PID=$!
		for _ in $(seq 100); do [[ -S $MILTER_SOCK ]] && break; sleep 0.1; done
		if [[ ! -S $MILTER_SOCK ]]; then
			bench_log "clamav-milter did not start; log:"; tail -20 "$MILTER_DIR/clamav-milter.log"
			exit 1
		fi
		# smtpd talks to the milter at end of DATA; if it cannot, tempfail
		# (as Postern's on_error = "tempfail").
		export PF_MAIN_EXTRA="smtpd_milters = unix:$MILTER_SOCK
milter_protocol = 6
milter_default_action = tempfail
milter_content_timeout = 300s"
	fi

	bench_source_options

	# eicar_check PORT: send one EICAR message; prints the end-of-data reply
	# code. It must be refused (5xx): then it is not queued either.
	eicar_check() {
		python3 - "$1" "$REPO/tests/integration" <<-'EOF'
			import smtplib, sys
			sys.path.insert(0, sys.argv[2])
			from scanmessages import eicar_attachment
			try:
			    with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as s:
			        s.sendmail("sender@example.test", ["rcpt@example.net"], eicar_attachment())
			    print(250)
			except smtplib.SMTPDataError as e:
			    print(e.smtp_code)
			except smtplib.SMTPResponseException as e:
			    print(e.smtp_code)
			except Exception as e:
			    print("error:" + type(e).__name__)
		EOF
	}

	# Postern's [[scan]]: clamd (the comparison with clamav-milter), or with
	# POSTERN_SCAN=clamav libclamav in process on the same database.
	postern_scan_table() {
		if [[ ${POSTERN_SCAN:-clamd} == clamav ]]; then
			printf '[[scan]]\nbackend = "clamav"\ndatabase = "%s"\ntimeout = "30s"\nvirus = "reject"\n' "$CLAMD_DIR/db"
		else
			printf '[[scan]]\nbackend = "clamd"\naddress = "%s"\ntimeout = "30s"\nvirus = "reject"\non_error = "tempfail"\nmax_in_flight = 10\n' "$CLAMD_SOCK"
		fi
	}

	# --- servers ----------------------------------------------------------------
	SRV_SEQ=0
	server_start() {
		local target=$1
		SRV_PORT=$(bench_free_port) SRV_PID= SRV_CG= SRV_DIR=
		case $target in
		postern)
			SRV_SEQ=$(( SRV_SEQ + 1 ))
			SRV_DIR=$RUN_TMP/postern.$SRV_SEQ
			mkdir -p "$SRV_DIR/queue"
			# As bench/accept.sh, plus the listener's policy with the scan.
			cat >"$SRV_DIR/postern.toml" <<-EOF
				[[listener]]
				address = "127.0.0.1:$SRV_PORT"
				policy = "$SRV_DIR/policy.toml"
				[limits]
				max_connections_per_ip = 1000
				[queue]
				directory = "$SRV_DIR/queue"
				sync = "${POSTERN_SYNC:-syncfs}"
				[delivery]
				enabled = false
				[dns]
				servers = ["127.0.0.1:1"]
			EOF
			cat >"$SRV_DIR/policy.toml" <<-EOF
				[relay]
				trusted_networks = ["127.0.0.0/8"]

				$(postern_scan_table)
			EOF
			bench_start_postern "$SRV_PORT" "$SRV_DIR/postern.log" --config "$SRV_DIR/postern.toml" || return 1
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

	server_stop() {
		local target=$1
		case $target in
		postern)
			bench_kill_wait "$SRV_PID" TERM 30
			POSTERN_PID=
			bench_cpu_end "$SRV_CG"
			SRV_QUEUED=$(bench_queue_count "$SRV_DIR/queue/msg")
			;;
		postfix)
			pf_stop "$SRV_DIR"
			SRV_QUEUED=$(pf_queue_count "$SRV_DIR/queue")
			;;
		esac
	}

	# CPU of the server side: Postern, or Postfix plus clamav-milter.
	server_cpu_ns() {
		local target=$1 a b=0
		a=$(bench_cpu_ns "$SRV_CG" "$SRV_PID")
		if [[ $target == postfix ]]; then b=$(bench_cpu_ns "$MILTER_CG" "$MILTER_PID"); fi
		echo $(( a + b ))
	}

	run_case() {
		local target=$1 case=$2 round=$3 size=$4 sessions=$5 count=$6 status=ok expected eicar
		local c0 c1 k0 k1 log
		expected=$(( count + WARMUP_N ))
		if ! server_start "$target"; then
			record "$case" "$target" "$round" "$count" 0 0 0 0 "$expected" START_FAILED -
			return
		fi
		log=$SRV_DIR/smtp-source.log
		# A virus must be refused (and so not queued) before anything is timed.
		eicar=$(eicar_check "$SRV_PORT")
		if [[ $eicar != 5* ]]; then status=EICAR_NOT_REFUSED; fi
		SEND_OK=1
		if (( WARMUP_N > 0 )); then send "$SRV_PORT" "$sessions" "$WARMUP_N" "$size" "$log" || SEND_OK=0; fi
		bench_cpu_settle "$SRV_CG" "$SRV_PID" 10
		c0=$(server_cpu_ns "$target"); k0=$(bench_cpu_ns "$CLAMD_CG" "$CLAMD_PID")
		send "$SRV_PORT" "$sessions" "$count" "$size" "$log" || SEND_OK=0
		bench_cpu_settle "$SRV_CG" "$SRV_PID" 60
		c1=$(server_cpu_ns "$target"); k1=$(bench_cpu_ns "$CLAMD_CG" "$CLAMD_PID")
		server_stop "$target"
		if (( ! SEND_OK )); then [[ $status == ok ]] && status=SEND_FAILED || status+=,SEND_FAILED; fi
		if (( SRV_QUEUED != expected )); then
			[[ $status == ok ]] && status=COUNT_MISMATCH || status+=,COUNT_MISMATCH
		fi
		record "$case" "$target" "$round" "$count" "$SEND_SECONDS" $(( c1 - c0 )) $(( k1 - k0 )) \
			"$SRV_QUEUED" "$expected" "$status" "$eicar"
		server_discard "$target"
	}

	# record CASE TARGET ROUND COUNT SECONDS SERVER_CPU_NS CLAMD_CPU_NS QUEUED EXPECTED STATUS EICAR
	record() {
		local case=$1 target=$2 round=$3 count=$4 secs=$5 cpu=$6 kcpu=$7 queued=$8 expected=$9
		local status=${10} eicar=${11} rate cpums kms
		rate=$(awk -v n="$count" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f", n / s; else print 0 }')
		cpums=$(awk -v c="$cpu" -v n="$count" 'BEGIN { printf "%.2f", c / n / 1e6 }')
		kms=$(awk -v c="$kcpu" -v n="$count" 'BEGIN { printf "%.2f", c / n / 1e6 }')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$target" "$round" "$count" \
			"$secs" "$rate" "$cpums" "$kms" "$queued" "$expected" "$status" "$eicar" >>"$RESULTS"
		bench_log "$(printf '%-7s %-10s round %s/%s: %5s msgs in %6ss = %6s msg/s, server CPU %5s ms/msg, clamd CPU %5s ms/msg, EICAR -> %s, queued %s/%s %s' \
			"$target" "$case" "$round" "$ROUNDS" "$count" "$secs" "$rate" "$cpums" "$kms" "$eicar" "$queued" "$expected" "$status")"
	}

	echo "== (b) accept throughput with virus scanning on"
	echo "targets: $TARGETS; rounds: $ROUNDS; sizes: $SIZES; sessions: $SESSIONS;" \
		"messages/run: $COUNT_4K (<=16KiB), $COUNT_100K (larger)"
	echo "client: smtp-source ${SRC_OPTS[*]}"
	has_target postern && echo "postern: $POSTERN, [[scan]] $([[ ${POSTERN_SCAN:-clamd} == clamav ]] && echo "clamav in process" || echo "clamd at $CLAMD_SOCK, max_in_flight 10")"
	has_target postfix && echo "postfix: $(postconf -d -h mail_version 2>/dev/null) ($PF_ACCEPT_STYLE) + clamav-milter at $MILTER_SOCK"
	echo "clamd: MaxThreads $CLAMD_THREADS, database tests/fixtures/clamav (EICAR only); CPU accounting: $(bench_cpu_method)"
	echo "per-run results: $RESULTS"
	echo

	run_all_cases

	echo
	echo "Medians over $ROUNDS round(s); msg/s = messages / wall time of smtp-source;"
	echo "server CPU = Postern, or Postfix + clamav-milter, per message; clamd CPU per message separately."
	fmt='%-11s %10s %10s %6s %11s %11s %11s %11s %8s %8s\n'
	printf "$fmt" case Postern Postfix ratio "Postern CPU" "Postfix+mil" "clamd CPU" "clamd CPU" Postern Postfix
	printf "$fmt" "" "msg/s" "msg/s" "" "ms/msg" "CPU ms/msg" "(Postern)" "(Postfix)" "runs ok" "runs ok"
	for c in "${CASES[@]}"; do
		pr=$(median "$c" postern 6 %.1f); fr=$(median "$c" postfix 6 %.1f)
		pc=$(median "$c" postern 7 %.2f); fc=$(median "$c" postfix 7 %.2f)
		pk=$(median "$c" postern 8 %.2f); fk=$(median "$c" postfix 8 %.2f)
		ratio=$(awk -v a="$pr" -v b="$fr" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2f", a / b; else print "-" }')
		printf "$fmt" "$c" "$pr" "$fr" "$ratio" "$pc" "$fc" "$pk" "$fk" "$(runs_ok "$c" postern)" "$(runs_ok "$c" postfix)"
	done
	echo
	echo "runs ok = smtp-source succeeded, one EICAR message was refused with a 5xx first,"
	echo "and the queue held exactly the messages sent."
	if awk -F'\t' 'NR > 1 && $11 != "ok" { bad = 1 } END { exit !bad }' "$RESULTS"; then
		echo "WARNING: some runs failed; see $RESULTS"
		accept_status=1
	fi
fi

exit $(( cost_status | accept_status ))
