#!/usr/bin/env python3
"""IMAP FETCH benchmark: Postern beside Dovecot on one quarantine Maildir.

Started by bench/imap.sh (which builds the release binary and isolates the network); can
be run alone:

    python3 bench/imap.py --postern .build/release/postern --rounds 3

One Maildir holds --messages small messages (a few KiB each, in Postern's quarantine file
format, tests/integration/mailaccess.py) and one message of --large-mib MiB. Dovecot
(a private instance: tests/integration/mailaccess.Dovecot) and Postern (its [imap]
listener, the administrator's view) serve that same directory. Each round opens a new
plaintext IMAP connection to each server (LOGIN and EXAMINE INBOX untimed), then times

  headers   FETCH 1:* (BODY.PEEK[HEADER])     every message's header section
  large     UID FETCH <large> (BODY.PEEK[])   the large message whole

as wall time (command sent to tagged OK read) and the server's CPU time over the same
span: utime+stime of the server's process tree (/proc/PID/stat; the running threads from
/proc/PID/task/*/schedstat, in nanoseconds), plus what its exited children used
(cutime+cstime): Dovecot's master, its imap and login processes; Postern's one process.
The order of the two servers flips every round. One untimed round first warms both (and
checks every octet of the large message and the count of headers). The client is a small
raw IMAP reader (no parsing beyond literals), the same for both.

Without an IMAP server in the Postern binary (`postern config check` calls [imap] an unknown
key) the Postern arm is skipped with a message. Every socket is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from mailaccess import (ADMIN, USERS, Dovecot, PosternMail, ServerError, bench_messages,  # noqa: E402
                        large_message, postern_has_imap)

CLK_TCK = os.sysconf("SC_CLK_TCK")
LITERAL = re.compile(rb"\{(\d+)\}$")


# --------------------------------------------------------------------------
# CPU of a process tree


def tree_cpu_ns(root: int) -> int:
    """CPU nanoseconds used so far by `root` and its descendants, living and reaped."""
    parent: dict[int, int] = {}
    used: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime (clock ticks)
        parent[pid] = int(fields[1])
        ticks_ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLK_TCK
        scheduled = 0
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                scheduled += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass
        # Live threads in ns (ticks lose up to 10 ms each); ticks cover threads that exited.
        used[pid] = max(ticks_ns, scheduled) + (int(fields[13]) + int(fields[14])) * 1_000_000_000 // CLK_TCK
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += used.get(pid, 0)
        stack += [child for child, p in parent.items() if p == pid]
    return total


# --------------------------------------------------------------------------
# A raw IMAP client: reads responses, skipping literals, nothing more


@dataclass
class Response:
    octets: int
    literals: list[int]
    digest: str | None  # sha256 of the literals, when asked for
    lines: list[bytes]  # the untagged lines (without literals), when asked for


class RawIMAP:
    def __init__(self, port: int, context: ssl.SSLContext | None = None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock = context.wrap_socket(sock, server_hostname="localhost") if context else sock
        self.buf = bytearray()
        self.pos = 0
        self.count = 0
        self.octets = 0
        greeting = self.readline()
        assert greeting.startswith(b"* OK"), greeting

    def _fill(self) -> None:
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.octets += len(chunk)
        self.buf += chunk

    def readline(self) -> bytes:
        while (end := self.buf.find(b"\r\n", self.pos)) < 0:
            self._fill()
        line = bytes(self.buf[self.pos:end])
        self.pos = end + 2
        return line

    def skip(self, size: int, digest) -> None:
        while size:
            if self.pos == len(self.buf):
                self._fill()
            take = min(size, len(self.buf) - self.pos)
            if digest is not None:
                digest.update(memoryview(self.buf)[self.pos:self.pos + take])
            self.pos += take
            size -= take

    def command(self, text: str, hash_literals: bool = False, keep_lines: bool = False) -> Response:
        self.count += 1
        tag = f"b{self.count}".encode()
        start = self.octets - (len(self.buf) - self.pos)
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        literals: list[int] = []
        digest = hashlib.sha256() if hash_literals else None
        lines: list[bytes] = []
        while True:
            line = self.readline()
            while (m := LITERAL.search(line)):
                literals.append(int(m.group(1)))
                self.skip(int(m.group(1)), digest)
                line = self.readline()  # the rest of the response after the literal
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text!r}: {line!r}")
                octets = self.octets - (len(self.buf) - self.pos) - start
                return Response(octets, literals, digest.hexdigest() if digest else None, lines)
            if keep_lines:
                lines.append(line)

    def close(self) -> None:
        try:
            self.command("LOGOUT")
        except (OSError, RuntimeError, ConnectionError):
            pass
        self.sock.close()


# --------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    pid: int
    context: ssl.SSLContext | None


def session(target: Target) -> RawIMAP:
    client = RawIMAP(target.port, target.context)
    client.command(f'LOGIN {ADMIN} "{USERS[ADMIN]}"')
    client.command("EXAMINE INBOX")
    return client


def timed(target: Target, client: RawIMAP, command: str) -> tuple[float, float, Response]:
    cpu0 = tree_cpu_ns(target.pid)
    t0 = time.perf_counter()
    response = client.command(command)
    wall = time.perf_counter() - t0
    cpu = (tree_cpu_ns(target.pid) - cpu0) / 1e9
    return wall, cpu, response


def make_cert(directory: Path) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "2", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], capture_output=True, check=True, timeout=60)
    return str(cert), str(key)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--postern", default=str(ROOT / ".build" / "release" / "postern"))
    ap.add_argument("--targets", default="dovecot postern")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--large-mib", type=int, default=10)
    ap.add_argument("--tls", action="store_true", help="imaps instead of plaintext imap")
    ap.add_argument("--results", help="per-run TSV (default bench/results/imap-DATE.tsv)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    wanted = args.targets.split()

    work = Path(tempfile.mkdtemp(prefix="postern-bench-imap-"))
    results = Path(args.results or ROOT / "bench" / "results" / time.strftime("imap-%Y%m%d-%H%M%S.tsv"))
    results.parent.mkdir(parents=True, exist_ok=True)
    tls = make_cert(work)
    context = ssl.create_default_context(cafile=tls[0]) if args.tls else None

    small = bench_messages(args.messages)
    large = large_message(small[-1].when + 60, args.large_mib * 1024 * 1024)
    print(f"IMAP FETCH benchmark: {len(small)} messages of {min(len(m.contents) for m in small)}–"
          f"{max(len(m.contents) for m in small)} octets and one of {len(large.contents):,} octets, "
          f"{args.rounds} rounds, {'imaps' if args.tls else 'plaintext imap'} on 127.0.0.1")

    servers, targets = [], []
    try:
        dovecot = Dovecot(tls)
        servers.append(dovecot)
        dovecot.fill(small + [large])
        dovecot.start()
        print(f"dovecot {subprocess.run([dovecot.binary, '--version'], capture_output=True, text=True).stdout.strip()}"
              f", Maildir {dovecot.maildir}")
        if "dovecot" in wanted:
            targets.append(Target("dovecot", dovecot.ports["imaps" if args.tls else "imap"], dovecot.pid, context))
        # A first SELECT lets Dovecot move new/ to cur/ before Postern looks at the directory.
        warm = RawIMAP(dovecot.ports["imap"])
        warm.command(f'LOGIN {ADMIN} "{USERS[ADMIN]}"')
        warm.command("SELECT INBOX")
        warm.close()
        if "postern" in wanted:
            if not os.access(args.postern, os.X_OK):
                print(f"postern: skipped, no binary at {args.postern} (swift build -c release)")
            elif not postern_has_imap(args.postern):
                print(f"postern: skipped, {args.postern} has no IMAP server yet "
                      "(`postern config check` calls [imap] an unknown key)")
            else:
                postern = PosternMail(args.postern, work / "postern", tls, maildir=dovecot.maildir)
                servers.append(postern)
                postern.start()
                targets.append(Target("postern", postern.ports["imaps" if args.tls else "imap"], postern.pid,
                                      context))
        if not targets:
            print("nothing to measure")
            return 1

        header_cmd = "FETCH 1:* (BODY.PEEK[HEADER])"
        want_digest = hashlib.sha256(large.contents).hexdigest()
        large_uid: dict[str, int] = {}
        for target in targets:  # untimed: warm caches, check what comes back
            client = session(target)
            headers = client.command(header_cmd)
            assert len(headers.literals) == len(small) + 1, (target.name, len(headers.literals))
            found = client.command("UID SEARCH LARGER 1000000", keep_lines=True).lines
            uids = [int(n) for line in found if line.startswith(b"* SEARCH") for n in line.split()[2:]]
            assert len(uids) == 1, (target.name, found)
            large_uid[target.name] = uids[0]
            body = client.command(f"UID FETCH {uids[0]} (BODY.PEEK[])", hash_literals=True)
            assert body.literals == [len(large.contents)] and body.digest == want_digest, (target.name, body)
            client.close()

        rows = []
        for round_number in range(1, args.rounds + 1):
            order = targets if round_number % 2 else list(reversed(targets))
            for target in order:
                client = session(target)
                for op, command in (("headers", header_cmd),
                                    ("large", f"UID FETCH {large_uid[target.name]} (BODY.PEEK[])")):
                    wall, cpu, response = timed(target, client, command)
                    rows.append((round_number, target.name, op, wall, cpu, response.octets))
                    print(f"round {round_number} {target.name:8} {op:8} wall {wall:7.3f} s  "
                          f"server CPU {cpu:7.3f} s  {response.octets:>11,} octets", flush=True)
                client.close()
        with results.open("w") as out:
            out.write("round\tserver\top\twall_s\tcpu_s\toctets\n")
            for row in rows:
                out.write("\t".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in row) + "\n")
        print_table(rows, targets, header_cmd)
        print(f"\nper-run figures: {results}")
        return 0
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        for server in reversed(servers):
            server.close()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_table(rows, targets, header_cmd) -> None:
    print("\nmedians over the rounds (min in brackets); server CPU = the server's processes only")
    print(f"{'operation':34} {'server':8} {'wall s':>16} {'server CPU s':>16} {'octets':>12} {'MB/s':>8}")
    for op, label in (("headers", header_cmd), ("large", "UID FETCH n (BODY.PEEK[])")):
        for target in targets:
            mine = [r for r in rows if r[1] == target.name and r[2] == op]
            walls, cpus = [r[3] for r in mine], [r[4] for r in mine]
            octets = mine[-1][5]
            print(f"{label:34} {target.name:8} {statistics.median(walls):8.3f} ({min(walls):.3f}) "
                  f"{statistics.median(cpus):8.3f} ({min(cpus):.3f}) {octets:>12,} "
                  f"{octets / statistics.median(walls) / 1e6:8.1f}")


if __name__ == "__main__":
    sys.exit(main())
