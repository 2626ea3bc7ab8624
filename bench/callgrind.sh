#!/usr/bin/env bash
# Instructions per relayed message (issue #15 "Done means"), counted by
# valgrind's callgrind: repeatable on a noisy shared machine, unlike seconds.
#
#   make release && bench/callgrind.sh
#   CG_COUNTS="50 250" bench/callgrind.sh        # quicker
#
# Two runs of the release daemon under `valgrind --tool=callgrind`, each
# relaying N messages (smtp-source -> Postern -> smtp-sink, one connection per
# message, SESSIONS at once) from start to SIGTERM. The per-message figure is
# (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, shutdown and first-use costs cancel
# out. Then the top functions by inclusive cost in the N2 run, and the
# per-message instructions of each stage (the same subtraction per function).
#
# User space only: instructions spent in the kernel (syscalls) are not counted;
# see bench/budget.sh for syscalls and CPU time.
#
# Environment (all optional):
#   POSTERN     Postern binary (default .build/release/postern)
#   CG_COUNTS   "N1 N2" messages relayed in the two runs (default "100 600")
#   SESSIONS    concurrent smtp-source sessions (default 10)
#   SIZE        body size in bytes (default 4096)
#   TOP         functions listed (default 15)
#   CG_FILES    "OUT1 OUT2": analyse two callgrind.out files of an earlier run
#               (with its CG_COUNTS) instead of profiling
#   KEEP_TMP=1  keep the callgrind.out files (for kcachegrind / callgrind_annotate)
#   BENCH_NETNS auto (default): as root, re-run in a loopback-only namespace; 0 = never

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
read -r N1 N2 <<<"${CG_COUNTS:-100 600}"
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-4096}
TOP=${TOP:-15}
check_targets
command -v valgrind >/dev/null || { bench_log "valgrind is not installed (apt-get install valgrind)"; exit 1; }
DEMANGLE=$(command -v swift-demangle || echo cat)

bench_run_tmp callgrind
# valgrind 3.19 (Debian 12) cannot read the DWARF 5 that Swift 6's clang
# writes ("unhandled dwarf2 abbrev form"): profile a copy without debug
# sections; the symbol table still names every function.
objcopy --strip-debug "$POSTERN" "$RUN_TMP/postern" || { bench_log "objcopy failed"; exit 1; }
PROFILED=$POSTERN POSTERN=$RUN_TMP/postern
SHIM=$RUN_TMP/sigsuspend_shim.so
gcc -O2 -shared -fPIC -o "$SHIM" "$BENCH_DIR/lib/sigsuspend_shim.c" || { bench_log "cannot build the shim"; exit 1; }

# profile N: one daemon under callgrind relaying N messages; prints the
# callgrind.out path.
profile() {
	local n=$1 dir=$RUN_TMP/run-$1 t0
	mkdir -p "$dir"
	t0=$EPOCHSECONDS
	RO_START_TIMEOUT=300 RO_STOP_TIMEOUT=300 ro_start "$dir" \
		env LD_PRELOAD="$SHIM" valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" --dump-instr=no \
		--separate-threads=no || return 1
	ro_send "$n" "$SESSIONS" "$SIZE" || return 1
	RO_STOP_TIMEOUT=300 ro_stop
	bench_log "run N=$n took $(( EPOCHSECONDS - t0 ))s under callgrind"
	echo "$dir/callgrind.out"
}

# total_ir FILE: the profile's total instruction count.
total_ir() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# costs FILE yes|no: "IR<TAB>function [object]" per function, inclusive or
# self, Swift names demangled and simplified, objects by their base name.
costs() {
	callgrind_annotate --inclusive="$2" --threshold=100 "$1" 2>/dev/null |
		awk '$1 ~ /^[0-9,]+$/ && $2 != "(100.0%)" { ir = $1; gsub(",", "", ir); $1 = ""; sub(/^ +/, "");
			sub(/^\([ 0-9.]+%\) +/, ""); sub(/^[^:]*:/, ""); print ir "\t" $0 }' |
		"$DEMANGLE" --simplified 2>/dev/null | sed -E 's# \[/[^]]*/([^]/]+)\]$# [\1]#'
}

# per_message A B: the per-message difference of two cost lists, largest first.
per_message() {
	awk -F'\t' -v n1="$N1" -v n2="$N2" 'NR == FNR { a[$2] += $1; next } { b[$2] += $1 }
		END { for (f in b) { d = (b[f] - a[f]) / (n2 - n1); if (d >= 1) printf "%.0f\t%s\n", d, f } }' "$1" "$2" |
		sort -t$'\t' -k1,1nr
}

show() { head -n "$TOP" "$1" | awk -F'\t' '{ f = $2; if (length(f) > 140) f = substr(f, 1, 137) "..."; printf "%12s  %s\n", $1, f }'; }

bench_log "callgrind: relaying $N1 and $N2 messages of $SIZE bytes over $SESSIONS sessions"
if [[ -n ${CG_FILES:-} ]]; then
	read -r OUT1 OUT2 <<<"$CG_FILES"
else
	OUT1=$(profile "$N1" | tail -n 1) && OUT2=$(profile "$N2" | tail -n 1) || { bench_log "a run failed"; exit 1; }
fi
[[ -s $OUT1 && -s $OUT2 ]] || { bench_log "no callgrind output"; exit 1; }
IR1=$(total_ir "$OUT1") IR2=$(total_ir "$OUT2")
for kind in yes no; do
	costs "$OUT1" "$kind" >"$RUN_TMP/cost1-$kind.tsv"
	costs "$OUT2" "$kind" >"$RUN_TMP/cost2-$kind.tsv"
	per_message "$RUN_TMP/cost1-$kind.tsv" "$RUN_TMP/cost2-$kind.tsv" >"$RUN_TMP/per-$kind.tsv"
done

echo
echo "Postern under callgrind: $N1 and $N2 messages of $SIZE bytes, $SESSIONS sessions, one connection per message"
echo "binary: $PROFILED ($(stat -c %y "$PROFILED" | cut -d. -f1), debug sections stripped); valgrind $(valgrind --version)"
printf 'total Ir: N=%s %s, N=%s %s\n' "$N1" "$IR1" "$N2" "$IR2"
awk -v a="$IR1" -v b="$IR2" -v n1="$N1" -v n2="$N2" \
	'BEGIN { printf "instructions per relayed message: %.0f  (= (Ir(N2) - Ir(N1)) / (N2 - N1))\n", (b - a) / (n2 - n1) }'
echo
echo "Top $TOP functions by inclusive Ir per message (difference of the two runs; async frames and"
echo "thread entry points include everything run on their threads):"
show "$RUN_TMP/per-yes.tsv"
echo
echo "Top $TOP functions by self Ir per message:"
show "$RUN_TMP/per-no.tsv"
echo
echo "Per stage: inclusive Ir per message of the functions that do each stage (rows overlap where one"
echo "calls another, e.g. log lines inside delivery; work resumed after a thread hop or an await is"
echo "counted under the function it resumes in):"
stage_rows() {
	cat <<-'EOF'
		accept	ServerBootstrap.AcceptHandler.channelRead(context:data:)
		session	SMTPServerHandler.channelActive(context:)
		session	SMTPServerHandler.channelRead(context:data:)
		session	SMTPFrameDecoder.next(_:)
		session	specialized closure #1 in SMTPServerHandler.check<A>(context:_:abandoned:then:)
		spool	closure #1 in MessageBodyWriter.append(_:)
		spool	MessageBodyWriter.writeHeaders(blockLength:)
		commit	GroupCommitter.run()
		commit	SMTPServerHandler.commitFinished(_:envelope:body:quarantine:scan:context:)
		schedule	closure #1 in DeliveryAgent.run()
		schedule	DeliveryScheduler.takeDue(now:)
		deliver	DeliveryAgent.deliver(_:)
		deliver	specialized static EnvelopeCodec.decode(_:)
		deliver	specialized static FileIO.readAll(_:offset:limit:)
		deliver	SMTPClientHandler.channelRead(context:data:)
		deliver	SMTPClientHandler.writeBodyChunk(_:end:context:)
		deliver	DotStuffer.stuff(_:into:)
		remove	MailQueue.remove(_:sidecar:)
		remove	QueueFiles.remove(_:in:sidecar:)
		logging	specialized PosternLogHandler.log(event:)
	EOF
}
awk -F'\t' 'FILENAME == "-" { order[++n] = $2; stage[$2] = $1; next }
	{ f = $2; sub(/ \[[^]]*\]$/, "", f); if (f in stage) ir[f] += $1 }
	END { for (i = 1; i <= n; i++) { f = order[i]; printf "  %-9s %10s  %s\n", stage[f], (f in ir) ? ir[f] : "-", f } }' \
	- "$RUN_TMP/per-yes.tsv" < <(stage_rows)
awk -F'\t' '{ f = $2; sub(/ \[[^]]*\]$/, "", f) }
	f ~ /^(swift_retain|swift_release|swift_retain_n|swift_release_n|swift_bridgeObjectRetain|swift_bridgeObjectRelease)(\x272)?$/ { rc += $1 }
	f ~ /^(malloc|free|_int_malloc|_int_free|malloc_consolidate|swift_allocObject|swift_deallocObject|swift_slowAlloc|swift_slowDealloc|swift_deallocClassInstance)(\x272)?$/ { al += $1 }
	f ~ /^(swift_beginAccess|swift_endAccess|swift::runtime::AccessSet)/ { ex += $1 }
	f ~ /Metadata|swift_getGenericMetadata|getCache|swift_getAssociated|swift_conformsToProtocol|tryCast|swift_dynamicCast/ { md += $1 }
	END { printf "  self Ir per message in the runtime: retain/release %d, malloc/free %d, exclusivity checks %d, generic metadata and casts %d\n", rc, al, ex, md }' \
	"$RUN_TMP/per-no.tsv"
if [[ -n ${KEEP_TMP:-} ]]; then
	stamp=$(date +%Y%m%d-%H%M%S)
	cp "$RUN_TMP/per-yes.tsv" "$BENCH_DIR/results/callgrind-$stamp-inclusive.tsv"
	cp "$RUN_TMP/per-no.tsv" "$BENCH_DIR/results/callgrind-$stamp-self.tsv"
fi
