#!/usr/bin/env bash
# IMAP FETCH benchmark: Postern beside Dovecot on one quarantine Maildir of
# 1,000 messages and one 10 MiB message; FETCH 1:* (BODY.PEEK[HEADER]) and
# the 10 MiB body (BODY.PEEK[]), rounds interleaved, wall time and the CPU
# time of each server's processes, printed as a table. The work is done by
# bench/imap.py; see its docstring for what is measured.
#
#   make release && bench/imap.sh
#   TARGETS=dovecot ROUNDS=3 bench/imap.sh          # Dovecot only, no build
#
# Environment (all optional):
#   POSTERN      binary to test; unset: `make release`
#                (unless TARGETS has no postern) and use .build/release/postern
#   TARGETS      "dovecot postern" (default) or one of them; the Postern arm is
#                skipped with a message while the binary has no [imap] support
#   ROUNDS       timed rounds (default 5), after one untimed warm-up round
#   MESSAGES     small messages in the Maildir (default 1000)
#   LARGE_MIB    size of the large message in MiB (default 10)
#   TLS=1        imaps instead of plaintext imap (measures TLS too)
#   RESULTS      per-run TSV (default bench/results/imap-DATE.tsv)
#   KEEP_TMP=1   keep the work directory (Maildir, configs, logs)
#   BENCH_NETNS  auto (default): as root, run inside a loopback-only network
#                namespace (unshare -n); 0 = never
#
# Needs Dovecot (dovecot-imapd; scripts/deps.sh installs it) and openssl.

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"

# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

TARGETS=${TARGETS:-"dovecot postern"}

# Build first (SwiftPM may need its package cache), then isolate.
if [[ -z ${POSTERN:-} ]]; then
	POSTERN=$REPO/.build/release/postern
	if [[ " $TARGETS " == *" postern "* ]]; then
		bench_log "building the release binary"
		(cd "$REPO" && make release) || { bench_log "make release failed"; exit 1; }
	fi
fi
POSTERN=$(cd "$(dirname "$POSTERN")" 2>/dev/null && pwd)/$(basename "$POSTERN")
export POSTERN TARGETS

if ! command -v dovecot >/dev/null && [[ ! -x /usr/sbin/dovecot ]]; then
	echo "dovecot is not installed (apt-get install dovecot-imapd, or scripts/deps.sh)" >&2
	exit 1
fi

# Only loopback: both servers listen on 127.0.0.1, Postern's resolver points
# at a closed loopback port; as root we also run in a network namespace of our
# own where nothing but lo exists.
bench_netns "$SELF" "$@"

bench_log "imap: $(nproc) CPUs, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg); network namespace: $(bench_netns_label)"

args=(--postern "$POSTERN" --targets "$TARGETS" --rounds "${ROUNDS:-5}" --messages "${MESSAGES:-1000}"
	--large-mib "${LARGE_MIB:-10}")
[[ ${TLS:-0} == 1 ]] && args+=(--tls)
[[ -n ${RESULTS:-} ]] && args+=(--results "$RESULTS")
[[ -n ${KEEP_TMP:-} ]] && args+=(--keep)
exec python3 "$BENCH_DIR/imap.py" "${args[@]}" "$@"
