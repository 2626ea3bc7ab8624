# shellcheck shell=bash
# Shared helpers for the Postern benchmarks. Source this file; it defines
# functions only and does not change shell options or traps.
#
#   bench_log MSG...                 timestamped message on stderr
#   bench_free_port                  print a free TCP port on 127.0.0.1
#   bench_wait_smtp PORT [SECS] [PID]  wait for a "220" greeting on 127.0.0.1:PORT
#   bench_cpu_begin NAME             make a CPU-accounting group (sets BENCH_CG)
#   bench_cpu_exec CG CMD...         exec CMD inside accounting group CG (use in a subshell)
#   bench_cpu_ns CG PID              CPU nanoseconds used so far by the server
#   bench_cpu_settle CG PID [SECS]   wait until the server stops using CPU
#   bench_cpu_end CG                 remove the accounting group
#   bench_sink_wait LOG N [SECS]     wait until smtp-sink's -c counter in LOG reaches N
#   bench_netns SELF ARGS...         as root, re-run SELF in a loopback-only network namespace
#   bench_netns_label                "private (loopback only)" or "host"
#
# CPU accounting: if the cgroup-v1 "cpuacct" controller is mounted and
# writable (as root on this machine), each server is started inside its own
# cgroup and cpuacct.usage gives the CPU time of every process that ever ran
# in it, including processes that have already exited (Postfix's smtpd and
# cleanup processes come and go). Otherwise (BENCH_NO_CGROUP=1, not root, no
# cpuacct) we fall back to /proc: the server's top process and its live
# descendants, plus the CPU of the children they have reaped (cutime+cstime).
# For Postfix the top process is the master, which reaps all its daemons, so
# both methods count the same processes (they agreed within 1 % here).

: "${BENCH_CGROOT:=/sys/fs/cgroup/cpuacct}"
BENCH_CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# bench_netns SELF ARGS...: as root, re-run SELF (exec) in a network
# namespace of its own where only loopback exists, so no process the
# benchmark starts can reach another host; inside it, bring lo up.
# BENCH_NETNS=0 never does this, =1 insists on it.
bench_netns() {
	local self=$1; shift
	if [[ ${BENCH_NETNS:-auto} != 0 && -z ${BENCH_IN_NETNS:-} ]]; then
		if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null && command -v ip >/dev/null \
			&& unshare -n true 2>/dev/null; then
			export BENCH_IN_NETNS=1
			exec unshare -n -- "$BASH" "$self" "$@"
		elif [[ ${BENCH_NETNS:-auto} == 1 ]]; then
			echo "BENCH_NETNS=1 but cannot create a network namespace" >&2
			exit 1
		fi
	fi
	if [[ -n ${BENCH_IN_NETNS:-} ]]; then
		ip link set lo up || { echo "cannot bring up lo in the namespace" >&2; exit 1; }
	fi
}

# bench_netns_label: where the benchmark runs, for its report.
bench_netns_label() {
	if [[ -n ${BENCH_IN_NETNS:-} ]]; then echo "private (loopback only)"; else echo host; fi
}

bench_log() {
	printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

bench_free_port() {
	python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# bench_wait_smtp PORT [TIMEOUT_SECONDS] [PID]
# Polls 127.0.0.1:PORT with bash's /dev/tcp until the server sends a 220
# greeting, then says QUIT. Fails early if PID is given and has exited.
bench_wait_smtp() {
	local port=$1 timeout=${2:-30} pid=${3:-} deadline line fd
	deadline=$(( ${EPOCHSECONDS} + timeout ))
	while (( EPOCHSECONDS < deadline )); do
		if [[ -n $pid ]] && ! _bench_alive "$pid"; then
			bench_log "process $pid exited before 127.0.0.1:$port was ready"
			return 1
		fi
		if { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
			line=
			IFS= read -r -t 5 -u "$fd" line || true
			printf 'QUIT\r\n' >&"$fd" 2>/dev/null || true
			IFS= read -r -t 2 -u "$fd" _ 2>/dev/null || true
			exec {fd}>&-
			if [[ $line == 220* ]]; then
				return 0
			fi
		fi
		sleep 0.1
	done
	bench_log "timed out waiting for an SMTP greeting on 127.0.0.1:$port"
	return 1
}

# --- CPU accounting -------------------------------------------------------

bench_cpu_method() {
	if [[ -n ${BENCH_NO_CGROUP:-} ]]; then echo proc; return; fi
	if [[ -d $BENCH_CGROOT && -w $BENCH_CGROOT && -r $BENCH_CGROOT/cpuacct.usage ]]; then
		echo cgroup
	else
		echo proc
	fi
}

# bench_cpu_begin NAME -> sets BENCH_CG to a new cgroup path, or "" (use /proc).
bench_cpu_begin() {
	BENCH_CG=
	[[ $(bench_cpu_method) == cgroup ]] || return 0
	local cg="$BENCH_CGROOT/postern-bench.$$.$1"
	if mkdir "$cg" 2>/dev/null; then
		BENCH_CG=$cg
		BENCH_CGS_CREATED+=("$cg")
	fi
	return 0
}

# bench_cpu_exec CG CMD... : move the current (sub)shell into CG, then exec CMD.
# Call it as: ( bench_cpu_exec "$BENCH_CG" server args ) &
bench_cpu_exec() {
	local cg=$1; shift
	if [[ -n $cg ]]; then
		echo "$BASHPID" >"$cg/cgroup.procs" || bench_log "warning: could not join $cg"
	fi
	exec "$@"
}

# /proc fallback: CPU nanoseconds of PID and, recursively, its live children,
# plus the CPU of the children they have reaped (cutime+cstime, which the
# kernel accumulates exactly). For a live process, utime+stime in
# /proc/PID/stat are truncated to whole clock ticks (10 ms), which loses about
# 5 ms per process: with ~50 live Postfix daemons that was a 30 % error here.
# So live processes are counted from /proc/PID/task/*/schedstat (nanoseconds,
# per thread), or from utime+stime if that is larger (threads that exited).
_bench_proc_tree_ns() {
	local root=$1 sys=${2:-0}
	# cat/grep -s skip processes that vanish meanwhile (mawk aborts on them)
	{
		cat /proc/[0-9]*/stat 2>/dev/null
		grep -s -H . /proc/[0-9]*/task/[0-9]*/schedstat
	} | awk -v root="$root" -v tck="$BENCH_CLK_TCK" -v sys="$sys" '
		/^\/proc\// {                # /proc/PID/task/TID/schedstat:RUN_NS WAIT_NS SLICES
			split($0, a, "/"); split($0, b, ":"); split(b[2], r, " ")
			sched[a[3]] += r[1]
			next
		}
		{
			line = $0
			pid = $1
			sub(/^.*\) /, "", line)     # drop "pid (comm) "; comm may hold spaces
			split(line, f, " ")
			# f[1]=state f[2]=ppid ... f[12]=utime f[13]=stime f[14]=cutime f[15]=cstime
			ppid[pid] = f[2]
			own[pid] = (sys ? f[13] : f[12] + f[13]) * 1e9 / tck
			dead[pid] = (sys ? f[15] : f[14] + f[15]) * 1e9 / tck
		}
		END {
			total = 0
			stack[1] = root; sp = 1
			while (sp > 0) {
				p = stack[sp--]
				if (!(p in own)) continue
				total += dead[p] + (!sys && sched[p] > own[p] ? sched[p] : own[p])
				for (k in ppid) if (ppid[k] == p) stack[++sp] = k
			}
			printf "%.0f\n", total
		}'
}

# bench_start_postern PORT LOG ARGS... : run "$POSTERN serve ARGS..." in a
# cgroup of its own with its output in LOG and wait for its greeting on
# 127.0.0.1:PORT. Sets SRV_CG, SRV_PID and POSTERN_PID; on failure shows the
# log's end, kills it and returns 1.
bench_start_postern() {
	local port=$1 log=$2
	shift 2
	bench_cpu_begin "postern-$port"
	SRV_CG=$BENCH_CG
	( bench_cpu_exec "$SRV_CG" "$POSTERN" serve "$@" ) >"$log" 2>&1 &
	SRV_PID=$! POSTERN_PID=$!
	if ! bench_wait_smtp "$port" 30 "$SRV_PID"; then
		bench_log "postern did not start; log:"; tail -20 "$log" >&2
		bench_kill_wait "$SRV_PID" KILL 5; POSTERN_PID=
		bench_cpu_end "$SRV_CG"
		return 1
	fi
}

# bench_cpu_ns CG PID : CPU time (ns) used so far by the server.
bench_cpu_ns() {
	local cg=$1 pid=$2
	if [[ -n $cg ]]; then
		cat "$cg/cpuacct.usage"
	else
		_bench_proc_tree_ns "$pid"
	fi
}

# bench_cpu_sys_ns CG PID : the kernel's part of that CPU time (ns): the
# cgroup's "system" time in cpuacct.stat, or the process tree's stime from
# /proc (clock ticks; coarse, but a run takes seconds). System calls, the
# kernel's TCP and file work on the server's behalf, thread wake-ups.
bench_cpu_sys_ns() {
	local cg=$1 pid=$2
	if [[ -n $cg ]]; then
		awk -v tck="$BENCH_CLK_TCK" '$1 == "system" { printf "%.0f\n", $2 * 1e9 / tck }' "$cg/cpuacct.stat"
	else
		_bench_proc_tree_ns "$pid" 1
	fi
}

# bench_queue_count DIR : messages in a Postern queue's msg/ directory: one
# ID.msg each (with an ID.env beside it after a status change), or an older
# ID.env + ID.eml pair.
bench_queue_count() {
	find "$1" -maxdepth 1 \( -name '*.msg' -o -name '*.env' \) -printf '%f\n' 2>/dev/null |
		sed 's/\.[a-z]*$//' | sort -u | wc -l
}

# bench_floor_table FACTOR OTHER_COL RATE_COL SYS_COL : the floor under the
# goal of FACTOR times Postfix, from the results' columns of the others' CPU
# per message, of the msg/s and of Postern's kernel CPU per message: medians
# beside each server, the msg/s a server that cost nothing would leave on
# these cores, the server CPU per message FACTOR times Postfix's rate leaves
# room for, Postern's kernel time per message, and what the budget leaves
# Postern's user space once that kernel time is paid (negative: out of reach
# for this design even with user space free).
bench_floor_table() {
	local factor=$1 other=$2 rate=$3 sys=$4 c po fo fr ceil budget ks left fmt='%-11s %14s %14s %14s %14s %14s %14s\n'
	printf "$fmt" case "others ms/msg" "others ms/msg" "ceiling msg/s" "budget for ${factor}x" "Postern kernel" "budget left for"
	printf "$fmt" "" "beside Postern" "beside Postfix" "" "ms/msg" "ms/msg" "user space ms"
	for c in "${CASES[@]}"; do
		po=$(median "$c" postern "$other" %.2f); fo=$(median "$c" postfix "$other" %.2f)
		fr=$(median "$c" postfix "$rate" %.1f); ks=$(median "$c" postern "$sys" %.2f)
		ceil=$(awk -v a="$po" -v n="$(nproc)" 'BEGIN { if (a != "-" && a > 0) printf "%.0f", n * 1000 / a; else print "-" }')
		budget=$(awk -v a="$po" -v r="$fr" -v n="$(nproc)" -v f="$factor" \
			'BEGIN { if (a != "-" && r != "-" && r > 0) printf "%.2f", n * 1000 / (f * r) - a; else print "-" }')
		left=$(awk -v b="$budget" -v k="$ks" 'BEGIN { if (b != "-" && k != "-") printf "%.2f", b - k; else print "-" }')
		printf "$fmt" "$c" "$po" "$fo" "$ceil" "$budget" "$ks" "$left"
	done
}

# bench_machine_busy_ns : CPU time (ns) all cores have spent busy since boot
# (user + nice + system + irq + softirq + steal in /proc/stat). The difference
# over a run, less the server's own CPU, is what the load generator, the sink
# and the kernel's loopback work cost: the floor under any server's figure
# when everything shares the machine's cores.
bench_machine_busy_ns() {
	awk -v tck="$BENCH_CLK_TCK" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / tck; exit }' /proc/stat
}

# bench_cpu_settle CG PID [MAX_SECONDS]
# Waits until the server's CPU use over 0.5 s drops below 5 ms (i.e. it has
# finished any work left over after the last reply), at most MAX_SECONDS.
bench_cpu_settle() {
	local cg=$1 pid=$2 max=${3:-15} a b deadline
	deadline=$(( EPOCHSECONDS + max ))
	a=$(bench_cpu_ns "$cg" "$pid")
	while (( EPOCHSECONDS < deadline )); do
		sleep 0.5
		b=$(bench_cpu_ns "$cg" "$pid")
		(( b - a < 5000000 )) && return 0
		a=$b
	done
	bench_log "warning: server still busy after ${max}s; CPU figure may be low"
	return 0
}

# bench_cpu_end CG : remove the cgroup (waits briefly for it to empty).
bench_cpu_end() {
	local cg=$1 i
	[[ -n $cg && -d $cg ]] || return 0
	for i in {1..50}; do
		[[ -s $cg/cgroup.procs ]] || break
		sleep 0.1
	done
	rmdir "$cg" 2>/dev/null || bench_log "warning: could not remove cgroup $cg"
}

# Removes every cgroup this shell created (for traps).
bench_cpu_cleanup_all() {
	local cg
	for cg in "${BENCH_CGS_CREATED[@]}"; do
		[[ -d $cg ]] && rmdir "$cg" 2>/dev/null
	done
	BENCH_CGS_CREATED=()
	return 0
}

# True if PID exists and is not a zombie (an exited child not yet reaped
# still answers kill -0).
_bench_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ ${st:0:1} != Z ]]
}

# bench_kill_wait PID [SIGNAL] [SECONDS] : signal PID once and wait for it to
# exit; SIGKILL after SECONDS. Works for non-children too. Returns the exit
# status when PID is a child of this shell.
bench_kill_wait() {
	local pid=$1 sig=${2:-TERM} secs=${3:-20} i
	[[ -n $pid ]] || return 0
	kill -"$sig" "$pid" 2>/dev/null || return 0
	for (( i = 0; i < secs * 10; i++ )); do
		_bench_alive "$pid" || break
		sleep 0.1
	done
	if _bench_alive "$pid"; then
		bench_log "warning: $pid still running after ${secs}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	# exit status if PID is our child (127 otherwise)
	wait "$pid" 2>/dev/null
}

BENCH_CGS_CREATED=(${BENCH_CGS_CREATED[@]+"${BENCH_CGS_CREATED[@]}"})

# --- smtp-sink counter --------------------------------------------------------

# bench_sink_wait LOG N [TIMEOUT_SECONDS]
# Waits until the last "mesg=COUNT" that smtp-sink -c wrote to LOG is at least
# N. Prints "EPOCH COUNT": the wall-clock time (same clock as $EPOCHREALTIME)
# at which the count was first seen and the count itself. Returns 0 once N is
# reached, 1 on timeout (printing the time and the count at that point).
# One python3 process that reads only the end of LOG every 10 ms, so it can
# run in the background during a timed run at negligible CPU cost (calling
# pf_sink_count in a loop forks three processes per poll, about 15 ms of CPU
# each with a few thousand messages in the log).
bench_sink_wait() {
	python3 - "$1" "$2" "${3:-60}" <<'EOF'
import os, re, sys, time
path, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
# smtp-sink -c ends every counter line with \r; a match needs it, so a number
# caught in the middle of being written is never taken.
pat = re.compile(rb"mesg=(\d+)\r")
deadline = time.time() + timeout
count = 0
fd = None
while True:
    now = time.time()
    if fd is None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            fd = None
    if fd is not None:
        size = os.fstat(fd).st_size
        tail = os.pread(fd, 512, max(0, size - 512))
        found = pat.findall(tail)
        if found:
            count = int(found[-1])
    if count >= want:
        print("%.6f %d" % (now, count))
        sys.exit(0)
    if now >= deadline:
        print("%.6f %d" % (now, count))
        sys.exit(1)
    time.sleep(0.01)
EOF
}

# --- shared by accept.sh and relay.sh ----------------------------------------
# They read the caller's TARGETS, ORDER, RESULTS, POSTERN, SRV_DIR, KEEP_TMP,
# SIZES, SESSIONS, ROUNDS, WARMUP and BENCH_STATUS_COL (the TSV column holding
# a run's status), and call the caller's count_for and run_case.

has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

# check_targets: TARGETS names only postern and postfix, and the Postern
# binary exists (POSTERN becomes an absolute path).
check_targets() {
	local t
	for t in $TARGETS; do
		case $t in postern|postfix) ;; *) echo "unknown target '$t' (postern|postfix)" >&2; exit 2 ;; esac
	done
	if has_target postern; then
		if [[ ! -x $POSTERN ]]; then
			echo "Postern binary '$POSTERN' not found: run 'swift build -c release' first," >&2
			echo "set POSTERN=/path/to/postern, or run with TARGETS=postfix" >&2
			exit 1
		fi
		POSTERN=$(cd "$(dirname "$POSTERN")" && pwd)/$(basename "$POSTERN")
	fi
}

# server_discard TARGET: put its files out of the way of the next run. They
# are renamed into RUN_TMP/set-aside and deleted only when the script ends,
# not between runs: on ext4 without a journal (this machine's root file
# system) the inode allocator passes over every inode freed in the last
# 60 s, or 6 minutes while its inode table block is dirty (ext4's
# recently_deleted(), one buffer-cache lookup per freed inode), so deleting
# one run's thousands of files made the next server's file creations pay
# for them: Postern accepted 3,000 messages of 4 KiB at 940-1,070 msg/s right
# after 6,100 files were deleted and at 1,560-1,765 msg/s a minute later.
# With less than 4 GiB free the files are deleted as before. Then a sync,
# so that one run's writeback does not spill into the next.
server_discard() {
	if [[ -z ${KEEP_TMP:-} ]]; then
		case $1 in
		postern) bench_set_aside "$SRV_DIR" ;;
		postfix) [[ -n ${PF_KEEP:-} ]] || { bench_set_aside "$SRV_DIR"; pf_forget "$SRV_DIR"; } ;;
		esac
	fi
	sync
}

# bench_set_aside DIR: rename DIR into RUN_TMP/set-aside (see server_discard),
# or delete it when the disk has less than 4 GiB free.
bench_set_aside() {
	[[ -d $1 ]] || return 0
	if (( $(df -Pk "$RUN_TMP" | awk 'NR == 2 { print $4 }') > 4 * 1024 * 1024 )); then
		mkdir -p "$RUN_TMP/set-aside"
		mv "$1" "$(mktemp -d "$RUN_TMP/set-aside/XXXXXX")/"
	else
		rm -rf "$1"
	fi
}

# count_for SIZE: messages per timed run for a body of SIZE octets.
count_for() { if (( $1 <= 16384 )); then echo "$COUNT_4K"; else echo "$COUNT_100K"; fi; }

# bench_source_options: smtp-source's options into SRC_OPTS. HELO (it cannot
# send EHLO), no pipelining, one connection per message unless REUSE=1. -N
# gives every recipient a unique local part (1rcpt@example.net, …); the
# domain stays example.net.
bench_source_options() {
	SRC_OPTS=(-4 -M bench-client.example.test -f sender@example.test -t rcpt@example.net -N)
	if [[ ${REUSE:-0} == 1 ]]; then SRC_OPTS+=(-d); fi
}

# send PORT SESSIONS COUNT SIZE LOGFILE -> 0 on success; sets SEND_SECONDS
send() {
	local port=$1 sessions=$2 count=$3 size=$4 log=$5 t0 rc
	t0=$EPOCHREALTIME
	timeout "$RUN_TIMEOUT" smtp-source "${SRC_OPTS[@]}" -s "$sessions" -m "$count" -l "$size" \
		"127.0.0.1:$port" >>"$log" 2>&1
	rc=$?
	SEND_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	if (( rc != 0 )); then
		bench_log "smtp-source exited with status $rc; last lines of $log:"
		tail -5 "$log" >&2
	fi
	return $rc
}

# run_all_cases: every size x sessions case, ROUNDS rounds each, the targets
# of a round in round_order; fills CASES with the case names.
run_all_cases() {
	local size sessions case_name count round target
	CASES=()
	for size in $SIZES; do
		for sessions in $SESSIONS; do
			case_name="$(size_label "$size")x$sessions"
			CASES+=("$case_name")
			count=$(count_for "$size")
			WARMUP_N=${WARMUP:-$sessions}
			for (( round = 1; round <= ROUNDS; round++ )); do
				for target in $(round_order "$round"); do
					run_case "$target" "$case_name" "$round" "$size" "$sessions" "$count"
				done
			done
		done
	done
}

# size_label BYTES: "4KiB", "100KiB", or "NNNB".
size_label() {
	local s=$1
	if (( s % 1024 == 0 )); then echo "$(( s / 1024 ))KiB"; else echo "${s}B"; fi
}

# round_order ROUND: the targets in run order. With ORDER=alternate (default)
# the order flips every round (A B, B A, ...) so that neither server always
# runs right after the other one's disk activity; ORDER=fixed keeps TARGETS.
round_order() {
	local r=$1 t out=()
	for t in $TARGETS; do out+=("$t"); done
	if [[ ${ORDER:-alternate} == alternate ]] && (( r % 2 == 0 )); then
		local i rev=()
		for (( i = ${#out[@]} - 1; i >= 0; i-- )); do rev+=("${out[$i]}"); done
		out=("${rev[@]}")
	fi
	echo "${out[@]}"
}

# median CASE TARGET COL FORMAT: median of column COL over the successful runs.
median() {
	awk -F'\t' -v s="$BENCH_STATUS_COL" -v c="$1" -v t="$2" -v col="$3" \
		'NR > 1 && $1 == c && $2 == t && $s == "ok" && $col != "n/a" { print $col }' "$RESULTS" |
		sort -g | awk -v fmt="$4" '{ v[NR] = $1 } END {
			if (NR == 0) { print "-"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf fmt "\n", m }'
}
# runs_ok CASE TARGET: "ok runs/all runs".
runs_ok() {
	awk -F'\t' -v s="$BENCH_STATUS_COL" -v c="$1" -v t="$2" 'NR > 1 && $1 == c && $2 == t { n++; if ($s == "ok") k++ }
		END { if (n == 0) print "-"; else printf "%d/%d", k, n }' "$RESULTS"
}
