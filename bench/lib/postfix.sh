# shellcheck shell=bash
# Throw-away Postfix instances and smtp-sink for the Postern benchmarks.
# Source this file (it also sources common.sh). It defines functions only:
# the caller owns traps, and should call pf_cleanup from its EXIT trap.
#
#   pf_ensure_installed              install postfix non-interactively if missing
#   pf_start MODE PORT [SINKPORT]    start an instance listening on 127.0.0.1:PORT
#        MODE=accept  mail is queued, never delivered (see PF_ACCEPT_STYLE)
#        MODE=relay   relayhost = [127.0.0.1]:SINKPORT
#      sets PF_DIR PF_CONF PF_QUEUE PF_LOG PF_MASTER_PID PF_CG PF_PORT
#   pf_cpu_ns                        CPU ns used so far by the running instance
#   pf_queue_count [QUEUEDIR]        queue files in incoming+active+deferred+hold
#   pf_postqueue_count               requests listed by postqueue -p (instance running)
#   pf_stop [DIR]                    stop an instance and wait for its processes
#   pf_discard [DIR]                 remove a stopped instance's files (unless PF_KEEP=1)
#   pf_sink_start PORT               smtp-sink on 127.0.0.1:PORT; sets PF_SINK_PID PF_SINK_LOG
#   pf_sink_count                    messages the sink has received
#   pf_sink_stop
#   pf_cleanup                       stop everything started here (idempotent, trap-safe)
#   bench_isolate SELF ARGS...       install Postfix, then re-run SELF in a loopback-only netns
#
# Knobs (environment):
#   PF_ACCEPT_STYLE=hold|defer  how "accept" mode keeps mail from being delivered:
#       hold:  (default) smtpd tags every message HOLD (check_client_access
#              static:HOLD); cleanup writes and fsyncs the queue file as usual
#              and files it in the hold queue, which qmgr never scans. This is
#              Postfix's acceptance path and nothing else: 1 fsync/message.
#       defer: defer_transports = smtp, relay; qmgr still takes every message
#              (incoming -> active), trivial-rewrite resolves it, the error
#              agent defers it, the defer daemon writes and fsyncs a defer log,
#              and qmgr moves it to the deferred queue: 2 fsyncs/message and
#              about twice the CPU of "hold" on this machine, on the same cores
#              as smtpd. It is the stock pipeline minus the delivery attempt.
#       Both keep relayhost on a closed loopback port, so nothing is delivered
#       even if mail were released.
#   PF_TMPDIR      parent of instance directories (default: ${TMPDIR:-/tmp})
#   PF_MAIN_EXTRA  extra main.cf lines appended verbatim
#   PF_KEEP=1      keep instance directories (config, queue, log) after stop

_pf_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$_pf_lib_dir/common.sh"

PATH=$PATH:/usr/sbin:/sbin
PF_INSTANCES=(${PF_INSTANCES[@]+"${PF_INSTANCES[@]}"})
PF_SINK_PIDS=(${PF_SINK_PIDS[@]+"${PF_SINK_PIDS[@]}"})

pf_ensure_installed() {
	if command -v postfix >/dev/null && command -v smtp-source >/dev/null \
		&& command -v smtp-sink >/dev/null; then
		return 0
	fi
	if [[ $(id -u) != 0 ]]; then
		bench_log "postfix is not installed and we are not root: install the postfix package"
		return 1
	fi
	bench_log "installing postfix (non-interactive)"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix || {
		DEBIAN_FRONTEND=noninteractive apt-get update &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix
	} || return 1
	# The package may start the system instance (policy-rc.d usually prevents
	# it); the benchmark instances do not use it either way.
	command -v postfix >/dev/null
}

_pf_write_master_cf() {
	local conf=$1 port=$2
	# chroot "n" everywhere: a throw-away instance has no copies of /etc files
	# in its queue directory.
	cat >"$conf/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$port inet n  -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

_pf_write_main_cf() {
	local dir=$1 mode=$2 port=$3 sinkport=$4 style=$5
	local conf=$dir/etc relay defer restr=
	case $mode in
	accept)
		# A loopback port nobody listens on: even if something bypassed
		# defer_transports, delivery would fail at once, on loopback.
		relay="[127.0.0.1]:$sinkport"
		case $style in
		hold)  defer=""; restr="check_client_access static:HOLD" ;;
		defer) defer="smtp, relay" ;;
		*) bench_log "PF_ACCEPT_STYLE must be hold or defer, not '$style'"; return 1 ;;
		esac
		;;
	relay)
		relay="[127.0.0.1]:$sinkport"
		defer=""
		;;
	*) bench_log "pf_start: unknown mode '$mode' (accept|relay)"; return 1 ;;
	esac
	cat >"$conf/main.cf" <<EOF
# Throw-away Postfix instance for the Postern benchmarks (bench/lib/postfix.sh).
compatibility_level = 3.6
config_directory = $conf
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop

myhostname = postfix-bench.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
readme_directory = no
smtpd_banner = \$myhostname ESMTP

# Loopback only.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = $restr

# No DNS at all: the SMTP client does not look up MX/A records, resolves
# hosts with getaddrinfo (numeric IPs here), and smtpd does not look up the
# client's name (a reverse lookup would go through nsswitch, i.e. possibly DNS).
disable_dns_lookups = yes
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no

default_transport = smtp
relayhost = $relay
defer_transports = $defer

# Log to a file: there is no syslog here.
maillog_file = $dir/log/postfix.log
maillog_file_prefixes = /var, /dev/stdout, $dir/log
EOF
	if [[ -n ${PF_MAIN_EXTRA:-} ]]; then
		printf '%s\n' "$PF_MAIN_EXTRA" >>"$conf/main.cf"
	fi
}

# pf_start MODE PORT [SINKPORT]
pf_start() {
	local mode=$1 port=$2 sinkport=${3:-} style=${PF_ACCEPT_STYLE:-hold} dir
	if [[ -z $sinkport ]]; then
		if [[ $mode == relay ]]; then
			bench_log "pf_start relay PORT SINKPORT: SINKPORT is required"
			return 1
		fi
		sinkport=$(bench_free_port) || return 1 # nothing will listen there
	fi
	dir=$(mktemp -d "${PF_TMPDIR:-${TMPDIR:-/tmp}}/postern-bench-postfix.XXXXXX") || return 1
	# Postfix daemons run as the postfix user and must reach the queue dir.
	chmod 755 "$dir"
	mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/log"
	chown postfix: "$dir/data" && chmod 700 "$dir/data"
	chmod 755 "$dir/log"
	PF_INSTANCES+=("$dir")
	PF_DIR=$dir PF_CONF=$dir/etc PF_QUEUE=$dir/queue PF_LOG=$dir/log/postfix.log PF_PORT=$port
	PF_MASTER_PID=
	_pf_write_master_cf "$PF_CONF" "$port"
	_pf_write_main_cf "$dir" "$mode" "$port" "$sinkport" "$style" || return 1

	# postfix check also creates the queue subdirectories.
	if ! postfix -c "$PF_CONF" check >"$dir/check.log" 2>&1; then
		bench_log "postfix check failed:"; cat "$dir/check.log" >&2
		return 1
	fi
	if [[ -s $dir/check.log ]]; then
		bench_log "postfix check warnings:"; cat "$dir/check.log" >&2
	fi

	# We have just run "postfix check": let "postfix start" skip its own
	# copy of the same checks (postfix-script honours this one-shot file).
	touch "$PF_QUEUE/quick-start"

	bench_cpu_begin "postfix-$port"
	PF_CG=$BENCH_CG
	echo "$PF_CG" >"$dir/cgroup"
	if ! ( bench_cpu_exec "$PF_CG" postfix -c "$PF_CONF" start ) >"$dir/start.log" 2>&1; then
		bench_log "postfix start failed:"; cat "$dir/start.log" "$PF_LOG" >&2 2>/dev/null
		return 1
	fi
	PF_MASTER_PID=$(tr -d ' \n' <"$PF_QUEUE/pid/master.pid" 2>/dev/null)
	if ! bench_wait_smtp "$port" 30 "$PF_MASTER_PID"; then
		bench_log "postfix did not answer on 127.0.0.1:$port; log:"; tail -20 "$PF_LOG" >&2
		return 1
	fi
	return 0
}

pf_cpu_ns() {
	bench_cpu_ns "$PF_CG" "$PF_MASTER_PID"
}

# Files in the queues that hold accepted mail. (defer/ and bounce/ hold logs,
# not messages.) Count after pf_stop for a stable figure.
pf_queue_count() {
	local q=${1:-$PF_QUEUE} d n=0 c
	for d in incoming active deferred hold; do
		[[ -d $q/$d ]] || continue
		c=$(find "$q/$d" -type f | wc -l)
		n=$(( n + c ))
	done
	echo "$n"
}

# Number of requests in "postqueue -p" (instance must be running).
pf_postqueue_count() {
	local last
	last=$(postqueue -c "$PF_CONF" -p 2>/dev/null | tail -n 1)
	case $last in
	*"in "*" Request"*) last=${last##*in }; echo "${last%% *}" ;;
	*"Mail queue is empty"*) echo 0 ;;
	*) echo "?" ;;
	esac
}

# pf_stop [DIR]: stop the master as "postfix stop" does, then wait until every
# process of the instance has gone (so the queue can be counted and removed).
pf_stop() {
	local dir=${1:-$PF_DIR} conf master cg i pids= p
	[[ -n $dir && -d $dir ]] || return 0
	conf=$dir/etc
	master=$(tr -d ' \n' <"$dir/queue/pid/master.pid" 2>/dev/null)
	cg=$(cat "$dir/cgroup" 2>/dev/null)
	if [[ -n $master ]] && kill -0 "$master" 2>/dev/null; then
		# children of the master, for the no-cgroup case
		pids=$(ps -o pid= --ppid "$master" 2>/dev/null)
		# What "postfix stop" does (SIGTERM to the master, which stops its
		# daemons), without its 1-second polling.
		kill -TERM "$master" 2>/dev/null
		for (( i = 0; i < 150; i++ )); do
			kill -0 "$master" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$master" 2>/dev/null && kill -KILL "$master" 2>/dev/null
	fi
	if [[ -n $cg && -d $cg ]]; then
		pids=$(cat "$cg/cgroup.procs" 2>/dev/null)
	fi
	for (( i = 0; i < 100; i++ )); do
		local alive=
		for p in ${pids:-}; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
		pids=$alive
		[[ -z $pids ]] && break
		sleep 0.1
	done
	[[ -n $pids ]] && kill -KILL $pids 2>/dev/null
	bench_cpu_end "$cg"
	rm -f "$dir/cgroup"
	return 0
}

pf_discard() {
	local dir=${1:-$PF_DIR}
	[[ -n $dir && -d $dir ]] || return 0
	[[ -n ${PF_KEEP:-} ]] && return 0
	rm -rf "$dir"
	pf_forget "$dir"
}

# pf_forget DIR: a stopped instance's files are gone or moved; pf_cleanup
# leaves them alone.
pf_forget() {
	local i
	for i in "${!PF_INSTANCES[@]}"; do
		[[ ${PF_INSTANCES[$i]} == "$1" ]] && unset 'PF_INSTANCES[i]'
	done
	return 0
}

# --- smtp-sink -------------------------------------------------------------

# pf_sink_start PORT: smtp-sink on 127.0.0.1:PORT with its -c counter going
# to PF_SINK_LOG. Count with pf_sink_count (do not rely on -M N: smtp-sink
# exits before answering the Nth message, so a relay retries it).
pf_sink_start() {
	local port=$1 dir
	dir=$(mktemp -d "${PF_TMPDIR:-${TMPDIR:-/tmp}}/postern-bench-sink.XXXXXX") || return 1
	PF_SINK_DIR=$dir
	PF_SINK_LOG=$dir/sink.log
	local user=()
	[[ $(id -u) == 0 ]] && user=(-u nobody) # required when run as root
	smtp-sink "${user[@]}" -c 127.0.0.1:"$port" 1024 >"$PF_SINK_LOG" 2>&1 &
	PF_SINK_PID=$!
	PF_SINK_PIDS+=("$PF_SINK_PID")
	bench_wait_smtp "$port" 10 "$PF_SINK_PID"
}

# Messages received so far: the last "mesg=N" of the -c counter.
pf_sink_count() {
	local last
	last=$(tr '\r' '\n' <"${1:-$PF_SINK_LOG}" 2>/dev/null | grep -o 'mesg=[0-9]*' | tail -n 1)
	echo "${last#mesg=}"
}

pf_sink_stop() {
	local pid=${1:-$PF_SINK_PID} i
	[[ -n $pid ]] || return 0
	bench_kill_wait "$pid" TERM 5
	for i in "${!PF_SINK_PIDS[@]}"; do
		[[ ${PF_SINK_PIDS[$i]} == "$pid" ]] && unset 'PF_SINK_PIDS[i]'
	done
	return 0
}

# Stop every instance and sink started by this shell. Safe to call more than
# once and from an EXIT/INT/TERM trap.
pf_cleanup() {
	local d p
	for d in "${PF_INSTANCES[@]}"; do
		pf_stop "$d"
		pf_discard "$d"
	done
	for p in "${PF_SINK_PIDS[@]}"; do
		pf_sink_stop "$p"
	done
	if [[ -n ${PF_SINK_DIR:-} && -z ${PF_KEEP:-} ]]; then rm -rf "$PF_SINK_DIR"; fi
	PF_INSTANCES=() PF_SINK_PIDS=()
	bench_cpu_cleanup_all
	return 0
}

# bench_isolate SELF ARGS...: make sure Postfix (smtp-source, smtp-sink) is
# installed while the package mirror is still reachable, then re-run SELF
# in a network namespace of its own where only loopback exists, so no
# process started by the benchmark can reach the resolver in
# /etc/resolv.conf. BENCH_NETNS=0 skips the namespace, =1 insists on it.
bench_isolate() {
	local self=$1; shift
	if [[ -z ${BENCH_IN_NETNS:-} ]]; then
		pf_ensure_installed || exit 1
	fi
	bench_netns "$self" "$@"
}

# bench_run_tmp NAME: a temporary directory for this run in RUN_TMP (and
# PF_TMPDIR), and EXIT/INT/TERM traps that run the caller's BENCH_ON_EXIT
# (a function name) if set, stop Postern (POSTERN_PID), every Postfix
# instance and sink, and remove RUN_TMP unless KEEP_TMP is set.
bench_run_tmp() {
	RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/postern-bench-$1.XXXXXX") || exit 1
	chmod 755 "$RUN_TMP"
	export PF_TMPDIR=$RUN_TMP
	POSTERN_PID=
	trap _bench_run_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

_bench_run_cleanup() {
	trap - EXIT INT TERM
	if [[ -n ${BENCH_ON_EXIT:-} ]]; then "$BENCH_ON_EXIT"; fi
	if [[ -n ${POSTERN_PID:-} ]]; then bench_kill_wait "$POSTERN_PID" TERM 60; fi
	pf_cleanup
	if [[ -z ${KEEP_TMP:-} ]]; then rm -rf "$RUN_TMP"; else bench_log "kept $RUN_TMP"; fi
}
