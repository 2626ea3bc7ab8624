#!/usr/bin/env bash
# A throw-away Postfix for the interop tests, built on bench/lib/postfix.sh.
#   postfix_peer.sh start PORT RELAYPORT   relays everything to 127.0.0.1:RELAYPORT;
#                                          prints the instance directory
#   postfix_peer.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../bench/lib/postfix.sh
source "$here/../../bench/lib/postfix.sh"
case ${1:-} in
start)
	pf_ensure_installed >&2
	pf_start relay "$2" "$3" >&2
	echo "$PF_DIR"
	;;
stop)
	pf_stop "$2"
	rm -rf "$2"
	;;
*)
	echo "usage: $0 start PORT RELAYPORT | stop DIR" >&2
	exit 2
	;;
esac
