#!/usr/bin/env python3
"""Scan cost per message of the network scanners: clamd, spamd and rspamd.

For each scanner and message size, one client sends N messages, one after the other,
each on a new connection, with the scanner's raw protocol (clamd zINSTREAM, spamd
SYMBOLS, rspamd POST /checkv2), after a few untimed warm-up messages. It reports the
wall time per message (mean, median, 95th percentile) and the scanner's CPU time per
message: every process of the scanner (its process group), from /proc/PID/stat
(utime + stime, plus cutime + cstime for the children it reaped, e.g. spamd's recycled
children) read before and after the timed messages.

The scanners are the test suite's (tests/integration/scanners.py): private configs,
loopback and Unix sockets only, EICAR-only ClamAV database, spamd -L, rspamd with no
network modules and a loopback DNS server.

    python3 bench/scan_cost.py [--scanners clamd,spamd,rspamd] [--sizes 4096,1048576]
                               [--count-small 300] [--count-large 30] [--tsv FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from scanmessages import padded_message  # noqa: E402
from scanners import (Clamd, Rspamd, Spamd, clamd_instream, group_pids, rspamd_check,  # noqa: E402
                      spamd_request)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process of group `pgid`, plus what they have reaped."""
    total = 0
    for pid in group_pids(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after "pid (comm)": state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
        total += sum(int(f) for f in fields[11:15])
    return total / CLK_TCK


def scan_once(name: str, scanner, message: bytes) -> str:
    if name == "clamd":
        reply = clamd_instream(scanner, message, tcp=True)
        assert reply == "stream: OK", reply
    elif name == "spamd":
        status, headers, _ = spamd_request(scanner, "SYMBOLS", message, tcp=True)
        assert status.endswith("EX_OK"), status
        reply = headers.get("spam", "")
    else:
        result = rspamd_check(scanner, message, headers={"IP": "127.0.0.2", "From": "sender@example.org",
                                                          "Rcpt": "someone@example.net"})
        reply = result["action"]
    return reply


def measure(name: str, scanner, size: int, count: int, warmup: int) -> dict:
    message = padded_message(size)
    for _ in range(warmup):
        scan_once(name, scanner, message)
    times = []
    cpu0 = group_cpu_seconds(scanner.pid)
    began = time.monotonic()
    for _ in range(count):
        t = time.monotonic()
        reply = scan_once(name, scanner, message)
        times.append(time.monotonic() - t)
    wall = time.monotonic() - began
    # let the scanner finish anything it still does after the last reply
    time.sleep(0.2)
    cpu = group_cpu_seconds(scanner.pid) - cpu0
    times.sort()
    return {
        "scanner": name, "size": size, "count": count, "reply": reply,
        "mean_ms": wall / count * 1000,
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": times[min(len(times) - 1, int(len(times) * 0.95))] * 1000,
        "cpu_ms": cpu / count * 1000,
    }


def measure_inprocess(postern: str, database: str, size: int, count: int, workdir: Path) -> dict:
    """The in-process row: `postern scan --repeat N` with libclamav on the same
    message file. ms/msg is postern's own mean over the N scans; CPU ms/msg is
    the process's user+system time for N scans minus one run of a single scan
    (start-up and engine load), divided by N-1."""
    message = workdir / f"msg-{size}.eml"
    message.write_bytes(padded_message(size))
    policy = workdir / "clamav-policy.toml"
    policy.write_text(f'[[scan]]\nbackend = "clamav"\ndatabase = "{database}"\nthreads = 1\n')

    def run(repeat: int) -> tuple[dict, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([postern, "scan", "--policy", str(policy), "--repeat", str(repeat), "--json", str(message)],
                             capture_output=True, check=True, text=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return json.loads(out.splitlines()[0]), cpu

    run(1)  # warm the page cache
    _, base_cpu = run(1)
    result, cpu = run(count + 1)
    return {"scanner": "libclamav", "size": size, "count": count, "reply": result["result"],
            "mean_ms": result["milliseconds"], "p50_ms": None, "p95_ms": None,
            "cpu_ms": max(0.0, cpu - base_cpu) / count * 1000}


def size_label(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scanners", default="clamd,spamd,rspamd")
    ap.add_argument("--sizes", default="4096,1048576")
    ap.add_argument("--count-small", type=int, default=300, help="messages per run up to 64 KiB")
    ap.add_argument("--count-large", type=int, default=30, help="messages per run above 64 KiB")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--tsv", help="also write the rows here")
    ap.add_argument("--postern", help="postern binary: adds the in-process libclamav row (postern scan --repeat)")
    ap.add_argument("--database", default=str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "clamav"),
                    help="ClamAV database directory for the in-process row")
    ap.add_argument("--write-messages", metavar="DIR",
                    help="write the test messages to DIR/msg-SIZE.eml (for the in-process row)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.write_messages:
        os.makedirs(args.write_messages, exist_ok=True)
        for size in sizes:
            Path(args.write_messages, f"msg-{size}.eml").write_bytes(padded_message(size))
    classes = {"clamd": Clamd, "spamd": Spamd, "rspamd": Rspamd}
    rows = []
    for name in args.scanners.split(","):
        scanner = classes[name]()
        try:
            scanner.start()
        except Exception as e:  # noqa: BLE001 - report and go on with the others
            print(f"{name}: could not start: {e}", file=sys.stderr)
            scanner.close()
            continue
        print(f"{name}: ready {scanner.start_seconds:.2f} s after exec (pid {scanner.pid})", file=sys.stderr)
        try:
            for size in sizes:
                count = args.count_small if size <= 65536 else args.count_large
                row = measure(name, scanner, size, count, args.warmup)
                rows.append(row)
                print(f"{name:7s} {size_label(size):>7s}: {count} msgs, {row['mean_ms']:.2f} ms/msg, "
                      f"CPU {row['cpu_ms']:.2f} ms/msg (reply: {row['reply']})", file=sys.stderr)
        finally:
            scanner.close()

    if args.postern:
        with tempfile.TemporaryDirectory() as workdir:
            for size in sizes:
                count = args.count_small if size <= 65536 else args.count_large
                row = measure_inprocess(args.postern, args.database, size, count, Path(workdir))
                rows.append(row)
                print(f"libclamav {size_label(size):>7s}: {count} msgs, {row['mean_ms']:.2f} ms/msg, "
                      f"CPU {row['cpu_ms']:.2f} ms/msg (reply: {row['reply']})", file=sys.stderr)

    sys.stderr.flush()
    print()
    fmt = "{:<22s} {:>8s} {:>6s} {:>10s} {:>10s} {:>10s} {:>12s}"
    print(fmt.format("scanner", "size", "msgs", "ms/msg", "p50 ms", "p95 ms", "CPU ms/msg"))
    def ms(value):
        return "-" if value is None else f"{value:.2f}"
    for r in rows:
        where = " (in-process)" if r["scanner"] == "libclamav" else " (network)"
        print(fmt.format(r["scanner"] + where, size_label(r["size"]), str(r["count"]),
                         ms(r["mean_ms"]), ms(r["p50_ms"]), ms(r["p95_ms"]), ms(r["cpu_ms"])))
    if args.tsv:
        with open(args.tsv, "w") as f:
            f.write("scanner\tsize\tcount\tmean_ms\tp50_ms\tp95_ms\tcpu_ms_per_msg\n")
            for r in rows:
                f.write(f"{r['scanner']}\t{r['size']}\t{r['count']}\t{r['mean_ms']:.3f}\t{ms(r['p50_ms'])}\t"
                        f"{ms(r['p95_ms'])}\t{r['cpu_ms']:.3f}\n")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
