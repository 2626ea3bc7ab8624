#!/usr/bin/env bash
# Soak test: Postern for DURATION seconds under normal senders, slow-drip
# clients, pipelining flooders that never read, garbage senders and mail to
# a next hop that never answers; reports throughput, latency, peak RSS, and
# fails (exit 1) if a message that got a 250 was lost. The work is done by
# bench/soak.py; see its docstring for what runs.
#
#   bench/soak.sh                                   # release build, 300 s
#   DURATION=60 POSTERN=/path/to/postern bench/soak.sh
#
# Environment (all optional):
#   POSTERN       binary to test; unset: `make release`
#                 and use .build/release/postern
#   DURATION      seconds of load (default 300)
#   SENDERS       normal sender threads (8); SENDER_PAUSE seconds between their messages (0.05)
#   SILENT_EVERY  every Nth message of a sender goes to the silent next hop (10; 0 = none)
#   DRIPS         slow-drip connections (200)
#   FLOODERS      NOOP flooders that never read (4); FLOOD_RATE bytes/s each (262144)
#   GARBAGE       garbage-sending threads (4)
#   DRAIN         seconds to wait after the load for healthy mail to be delivered (60)
#   RSS_CAP_MB    the flooders stop if the daemon's RSS passes this (2048)
#   SOAK_LIMITS   extra [limits] for the daemon, k=v,k=v (TOML values)
#   KEEP_TMP=1    keep the work directory (config, queue, logs, sink)
#   BENCH_NETNS   auto (default): as root, run inside a loopback-only network
#                 namespace (unshare -n); 0 = never
#
# Needs python3 with aiosmtpd (the sink is tests/delivery/sink.py).

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"

# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

# Build first (SwiftPM may need its package cache), then isolate.
if [[ -z ${POSTERN:-} ]]; then
	bench_log "building the release binary"
	(cd "$REPO" && make release) || { bench_log "make release failed"; exit 1; }
	POSTERN=$REPO/.build/release/postern
fi
if [[ ! -x $POSTERN ]]; then
	echo "Postern binary '$POSTERN' not found or not executable" >&2
	exit 1
fi
POSTERN=$(cd "$(dirname "$POSTERN")" && pwd)/$(basename "$POSTERN")
export POSTERN

if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
	echo "python3 module aiosmtpd is missing (pip install aiosmtpd, or scripts/deps.sh)" >&2
	exit 1
fi

# Only loopback: the daemon's resolver points at a closed loopback port and
# every route is a bracketed 127.0.0.1; as root we also run in a network
# namespace of our own where nothing but lo exists.
bench_netns "$SELF" "$@"

bench_log "soak: $(nproc) CPUs, $(uname -sr); network namespace: $(bench_netns_label)"
exec python3 "$BENCH_DIR/soak.py" --postern "$POSTERN" "$@"
