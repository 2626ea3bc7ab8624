#!/usr/bin/env bash
# DKIM signing cost: microseconds per signature through the streaming signer
# (`postern dkim bench`: the same generated message signed COUNT times, fed
# in 64 KiB chunks as the spool is read), for Ed25519 and RSA-2048 keys and
# 4 KiB and 1 MiB bodies; then, unless RELAY=0, the relay benchmark
# (bench/relay.sh) with Postern signing every message beside Postfix (which
# does not sign).
#
#   make release && bench/dkim.sh
#
# Environment (all optional):
#   POSTERN      Postern binary (default .build/release/postern)
#   COUNT_4K     signatures per 4 KiB case (default 2000)
#   COUNT_1M     signatures per 1 MiB case (default 100)
#   RUNS         repetitions of each case; the median is reported (default 3)
#   RELAY=0      skip the relay part
#   DKIM_TYPES   key types for the relay part (default "ed25519 rsa")
#   Everything bench/relay.sh reads (SIZES, SESSIONS, ROUNDS, COUNT, …) is
#   passed on; the defaults here are SIZES=4096 SESSIONS=10 ROUNDS=3 COUNT=2000.

set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$BENCH_DIR/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=lib/postfix.sh
source "$BENCH_DIR/lib/postfix.sh"
# Nothing here needs a network: run where only loopback exists (as relay.sh).
bench_isolate "$SELF" "$@"
exec 2>&1

POSTERN=${POSTERN:-.build/release/postern}
COUNT_4K=${COUNT_4K:-2000}
COUNT_1M=${COUNT_1M:-100}
RUNS=${RUNS:-3}
[[ -x $POSTERN ]] || { echo "dkim.sh: no $POSTERN (make release)"; exit 1; }

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "network: $(bench_netns_label)"
printf '%-16s %9s %7s %16s\n' algorithm body count us_per_signature
for type in ed25519 rsa; do
	for size in 4096 1048576; do
		count=$COUNT_4K
		(( size > 16384 )) && count=$COUNT_1M
		result=$(for _ in $(seq "$RUNS"); do
			"$POSTERN" dkim bench --type "$type" --bits 2048 --size "$size" --count "$count" \
				| sed -n 's/.*us_per_signature=\([0-9.]*\).*/\1/p'
		done | median)
		printf '%-16s %9s %7s %16s\n' "$type" "$size" "$count" "$result"
	done
done

[[ ${RELAY:-1} == 0 ]] && exit 0
for type in ${DKIM_TYPES:-ed25519 rsa}; do
	echo
	echo "== relay with Postern signing ($type) beside Postfix (unsigned)"
	POSTERN=$POSTERN POSTERN_DKIM=$type SIZES=${SIZES:-4096} SESSIONS=${SESSIONS:-10} ROUNDS=${ROUNDS:-3} \
		COUNT=${COUNT:-2000} "$BENCH_DIR/relay.sh"
done
