#!/usr/bin/env python3
"""Soak test: Postern under a mix of good and hostile clients for DURATION seconds.

Started by bench/soak.sh (which builds the release binary); can be run alone:

    python3 bench/soak.py --postern .build/release/postern --duration 60

The daemon is started through the integration harness (tests/integration/
postern_harness.py) with delivery on, `[dns] servers` on a closed loopback port,
and two routes: healthy.test to a recording aiosmtpd sink (tests/delivery/sink.py)
and silent.test to a next hop that accepts TCP and never says a word. Then, at
the same time, for DURATION seconds:

  normal senders   threads sending 4 KiB messages, one connection each, in a loop;
                   one in ten (--silent-every) goes to silent.test, the rest to healthy.test
  slow drips       connections that drip a command line one byte every 2 s and
                   reconnect when cut
  flooders         connections pipelining NOOP without ever reading a reply
                   (rate-limited; they stop if the daemon's RSS passes --rss-cap-mb)
  garbage          random bytes, bare CR / LF, over-long lines, NULs, HTTP

Then it waits (at most --drain seconds) for the healthy mail to be delivered,
stops the daemon with SIGTERM and checks that nothing acknowledged was lost:
every queue ID that got a 250 is at the sink or still in the queue directory.
Exit status: 0 fine, 1 a lost message, no message accepted, or the daemon died.
Every socket is on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import selectors
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# POSTERN_HARNESS_DIR: another copy of tests/integration (e.g. an older commit's
# harness, to soak an older binary whose configuration it matches).
sys.path.insert(0, os.environ.get("POSTERN_HARNESS_DIR") or str(ROOT / "tests" / "integration"))

from hostile_clients import MIB, DripCrowd, Flooder, RssSampler, proc_kib, raise_nofile  # noqa: E402
from postern_harness import PosternServer, free_port  # noqa: E402

SINK = ROOT / "tests" / "delivery" / "sink.py"
QUEUED_RE = re.compile(rb"queued as ([0-9A-F]{16})")
RECEIVED_ID_RE = re.compile(rb"\A(?:Received:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)", re.S)


# --------------------------------------------------------------------------
# the two next hops


class Sink:
    """tests/delivery/sink.py on loopback: every delivered message becomes N.eml."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(SINK), "--dir", str(directory), "--port", "0",
                                      "--pipelining"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            raise SystemExit(f"sink did not start: {line!r}")
        self.port = int(line.split()[1])

    def queue_ids(self) -> dict[str, int]:
        """Postern queue ID (from our Received field) -> how many times it arrived."""
        out: dict[str, int] = {}
        for path in self.dir.glob("*.eml"):
            with open(path, "rb") as f:
                head = f.read(4096)
            m = RECEIVED_ID_RE.match(head)
            field = m.group(0) if m else head[:1000]
            idm = re.search(rb"\bid\s+([0-9A-F]{16})\b", field)
            if idm:
                key = idm.group(1).decode()
                out[key] = out.get(key, 0) + 1
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class SilentHop:
    """Accepts TCP connections on loopback, reads and discards, never answers."""

    def __init__(self, max_held: int = 400):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.max_held = max_held
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="silent-hop", daemon=True)

    def start(self) -> "SilentHop":
        self._thread.start()
        return self

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        self.listener.setblocking(False)
        sel.register(self.listener, selectors.EVENT_READ)
        held: list[socket.socket] = []
        while not self._stop.is_set():
            for key, _ in sel.select(0.2):
                if key.fileobj is self.listener:
                    try:
                        conn, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    self.accepted += 1
                    held.append(conn)
                    sel.register(conn, selectors.EVENT_READ)
                    if len(held) > self.max_held:
                        old = held.pop(0)
                        sel.unregister(old)
                        old.close()
                else:
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(key.fileobj)
                        held.remove(key.fileobj)
                        key.fileobj.close()
        for conn in held:
            conn.close()
        sel.close()
        self.listener.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        else:
            self.listener.close()


# --------------------------------------------------------------------------
# load generators, each in its own process (the GIL would otherwise turn the
# drip loop and the flooders into latency for the normal senders)


def message(n: int, worker: int, rcpt: str) -> bytes:
    head = (f"From: <soak{worker}@client.test>\r\nTo: <{rcpt}>\r\nSubject: soak {worker}/{n}\r\n"
            f"Message-ID: <soak.{worker}.{n}.{time.time_ns()}@client.test>\r\n"
            f"Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n\r\n").encode()
    line = (b"%08d " % n) + b"s" * 70 + b"\r\n"
    return head + line * ((4096 - len(head)) // len(line) + 1)


def run_senders(port: int, threads: int, until: float, pause: float, silent_every: int, out: mp.Queue) -> None:
    lock = threading.Lock()
    acked: list[tuple[str, str]] = []  # (queue id, domain)
    latencies: list[float] = []
    failures: dict[str, int] = {}

    def worker(w: int) -> None:
        n = 0
        while time.time() < until:
            n += 1
            domain = "silent.test" if silent_every and n % silent_every == 0 else "healthy.test"
            rcpt = f"user{w}.{n}@{domain}"
            t0 = time.monotonic()
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
                    s.ehlo("soak-sender.example")
                    code, text = s.mail(f"soak{w}@client.test")
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, text)
                    code, text = s.rcpt(rcpt)
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, text)
                    code, text = s.data(message(n, w, rcpt))
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, text)
                    m = QUEUED_RE.search(text)
                    with lock:
                        if m:
                            acked.append((m.group(1).decode(), domain))
                        else:
                            failures["250 without queue ID"] = failures.get("250 without queue ID", 0) + 1
                    try:
                        s.quit()
                    except smtplib.SMTPException:
                        pass
                with lock:
                    latencies.append(time.monotonic() - t0)
            except (smtplib.SMTPException, OSError) as e:
                key = f"{type(e).__name__} {getattr(e, 'smtp_code', '')}".strip()
                with lock:
                    failures[key] = failures.get(key, 0) + 1
                time.sleep(0.2)
            time.sleep(pause)

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(("senders", {"acked": acked, "latencies": latencies, "failures": failures}))


def run_drips(port: int, count: int, until: float, out: mp.Queue) -> None:
    raise_nofile()
    sources = [f"127.0.0.{n}" for n in range(20, 28)]
    crowd = DripCrowd(port, count, sources, interval=2.0, connect_rate=100, reconnect=True).start()
    while time.time() < until:
        time.sleep(0.5)
    crowd.stop()
    now = time.monotonic()
    conns = crowd.snapshot() + crowd.retired
    lives = [c.lifetime(now) for c in conns if c.first_byte_at is not None]
    cut = [c for c in crowd.retired if c.first_byte_at is not None]
    out.put(("drips", {"connections": len(conns), "cuts": len(cut),
                       "cut_421": sum(1 for c in cut if (c.cut_reply() or b"").startswith(b"421")),
                       "longest_life": max(lives, default=0.0),
                       "open_at_end": sum(1 for c in crowd.snapshot() if c.state != "closed"),
                       "refused": sum(1 for c in conns if c.received and not c.greeting_ok),
                       "errors": crowd.errors[:5]}))


def run_flooders(port: int, count: int, until: float, rate: int, pause_flag, out: mp.Queue) -> None:
    lock = threading.Lock()
    stats = {"bytes": 0, "connections": 0, "stalls": 0, "paused": False, "errors": {}}

    def worker(w: int) -> None:
        while time.time() < until and not pause_flag.is_set():
            try:
                f = Flooder(port, b"NOOP\r\n", 64 * MIB, source=f"127.0.0.{40 + w}",
                            max_seconds=max(1.0, until - time.time()), rate=rate).start()
            except OSError as e:
                with lock:
                    stats["errors"][type(e).__name__] = stats["errors"].get(type(e).__name__, 0) + 1
                time.sleep(1)
                continue
            stalled = False
            while not f.finished.is_set() and time.time() < until and not pause_flag.is_set():
                if f.stalled_for() > 5:
                    stalled = True
                    break
                time.sleep(0.2)
            f.close()
            with lock:
                stats["bytes"] += f.sent
                stats["connections"] += 1
                stats["stalls"] += stalled
                if f.error:
                    key = f.error.split(":")[0]
                    stats["errors"][key] = stats["errors"].get(key, 0) + 1
        if pause_flag.is_set():
            stats["paused"] = True

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(("flooders", stats))


GARBAGE = [
    lambda r: r.randbytes(4096),
    lambda r: b"EHLO bare-cr.example\rMAIL FROM:<a@b.test>\r\n",
    lambda r: b"EHLO bare-lf.example\nNOOP\n\n\r\rQUIT\r\n",
    lambda r: b"A" * 5000 + b"\r\n" + b"NOOP\r\n",
    lambda r: b"NOOP " + b"x" * 200_000,
    lambda r: b"EHLO nul\x00.example\r\nMAIL FROM:<\x00@b.test>\r\n",
    lambda r: b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    lambda r: b"EHLO x\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<b@healthy.test>\r\nDATA\r\n"
              b"Subject: smuggle\r\n\r\nhi\n.\nMAIL FROM:<evil@x.test>\r\n",
    lambda r: b"",  # connect and leave
]


def run_garbage(port: int, threads: int, until: float, out: mp.Queue) -> None:
    lock = threading.Lock()
    stats = {"connections": 0, "closed_by_server": 0, "codes": {}}

    def worker(w: int) -> None:
        r = random.Random(w)
        while time.time() < until:
            payload = r.choice(GARBAGE)(r)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5,
                                              source_address=(f"127.0.0.{50 + w}", 0)) as s:
                    if payload:
                        s.sendall(payload)
                    s.settimeout(2)
                    data = b""
                    closed = False
                    t_end = time.monotonic() + 2
                    while time.monotonic() < t_end and len(data) < 65536:
                        try:
                            chunk = s.recv(65536)
                        except socket.timeout:
                            break
                        except ConnectionResetError:
                            closed = True
                            break
                        if not chunk:
                            closed = True
                            break
                        data += chunk
                with lock:
                    stats["connections"] += 1
                    stats["closed_by_server"] += closed
                    for code in re.findall(rb"(?m)^([2-5]\d\d) ", data):
                        k = code.decode()
                        stats["codes"][k] = stats["codes"].get(k, 0) + 1
            except OSError:
                pass
            time.sleep(0.05)

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(("garbage", stats))


# --------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postern", default=os.environ.get("POSTERN", str(ROOT / ".build" / "release" / "postern")))
    ap.add_argument("--duration", type=float, default=float(os.environ.get("DURATION", 300)))
    ap.add_argument("--senders", type=int, default=int(os.environ.get("SENDERS", 8)))
    ap.add_argument("--sender-pause", type=float, default=float(os.environ.get("SENDER_PAUSE", 0.05)))
    ap.add_argument("--silent-every", type=int, default=int(os.environ.get("SILENT_EVERY", 10)),
                    help="every Nth message of a sender goes to silent.test (0: none)")
    ap.add_argument("--drips", type=int, default=int(os.environ.get("DRIPS", 200)))
    ap.add_argument("--flooders", type=int, default=int(os.environ.get("FLOODERS", 4)))
    ap.add_argument("--flood-rate", type=int, default=int(os.environ.get("FLOOD_RATE", 256 * 1024)),
                    help="bytes/s per flooder")
    ap.add_argument("--garbage", type=int, default=int(os.environ.get("GARBAGE", 4)))
    ap.add_argument("--drain", type=float, default=float(os.environ.get("DRAIN", 60)))
    ap.add_argument("--rss-cap-mb", type=int, default=int(os.environ.get("RSS_CAP_MB", 2048)),
                    help="stop the flooders if the daemon's RSS passes this")
    ap.add_argument("--limits", default=os.environ.get("SOAK_LIMITS", ""),
                    help="extra [limits] as k=v,k=v (values in TOML syntax)")
    ap.add_argument("--keep", action="store_true", default=bool(os.environ.get("KEEP_TMP")))
    args = ap.parse_args()

    if not os.access(args.postern, os.X_OK):
        print(f"postern binary not found: {args.postern}", file=sys.stderr)
        return 2
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="postern-soak."))
    limits = dict(kv.split("=", 1) for kv in args.limits.split(",") if kv) or None

    sink = Sink(tmp / "sink")
    silent = SilentHop()
    dead_dns = free_port()
    delivery = "\n".join([
        "[delivery]", "retry_min = 5", "retry_max = 20", "timeout = 10",
        "[delivery.routes]",
        f'"healthy.test" = "[127.0.0.1]:{sink.port}"',
        f'"silent.test" = "[127.0.0.1]:{silent.port}"',
        "[dns]", f'servers = ["127.0.0.1:{dead_dns}"]', "timeout = 1", ""])
    server = PosternServer(args.postern, tmp / "postern", limits=limits, delivery=delivery, name="soak")
    status = 1
    procs: list[mp.Process] = []
    sampler = None
    try:
        server.start()
        rss_start = server.proc_status("VmRSS")
        print(f"soak: postern {args.postern} pid {server.pid} on 127.0.0.1:{server.port}; sink :{sink.port}, "
              f"silent hop :{silent.port}; {args.duration:.0f}s; work dir {tmp}", flush=True)
        until = time.time() + args.duration
        ctx = mp.get_context("fork")  # before any thread of ours starts
        out = ctx.Queue()
        pause_flag = ctx.Event()
        procs = [
            ctx.Process(target=run_senders,
                        args=(server.port, args.senders, until, args.sender_pause, args.silent_every, out)),
            ctx.Process(target=run_drips, args=(server.port, args.drips, until, out)),
            ctx.Process(target=run_flooders,
                        args=(server.port, args.flooders, until, args.flood_rate, pause_flag, out)),
            ctx.Process(target=run_garbage, args=(server.port, args.garbage, until, out)),
        ]
        for p in procs:
            p.start()
        silent.start()
        sampler = RssSampler(server.pid, interval=0.5).start()
        results: dict[str, dict] = {}
        next_report = time.time() + 15
        while len(results) < len(procs) and time.time() < until + 90:
            if sampler.last > args.rss_cap_mb * MIB and not pause_flag.is_set():
                print(f"soak: daemon RSS {sampler.last / MIB:.0f} MiB > cap {args.rss_cap_mb} MiB: "
                      f"stopping the flooders", flush=True)
                pause_flag.set()
            if not server.running():
                print("soak: THE DAEMON EXITED", flush=True)
                pause_flag.set()
            if time.time() > next_report and time.time() < until:
                print(f"soak: {until - time.time():4.0f}s left, daemon RSS {sampler.last / MIB:.1f} MiB "
                      f"(peak {sampler.peak / MIB:.1f}), delivered {len(list(sink.dir.glob('*.eml')))}", flush=True)
                next_report = time.time() + 15
            try:
                name, data = out.get(timeout=0.5)
                results[name] = data
            except Exception:
                pass
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        daemon_alive = server.running()

        senders = results.get("senders", {"acked": [], "latencies": [], "failures": {"no result": 1}})
        acked = senders["acked"]
        healthy_ids = {q for q, d in acked if d == "healthy.test"}
        # drain: the healthy mail should all reach the sink
        drain_start = time.monotonic()
        delivered = sink.queue_ids()
        while daemon_alive and time.monotonic() - drain_start < args.drain and not healthy_ids <= set(delivered):
            time.sleep(1)
            delivered = sink.queue_ids()
        drain_time = time.monotonic() - drain_start
        sampler.stop()
        hwm = proc_kib(server.pid, "VmHWM") or 0
        peak = max(sampler.peak, hwm)
        rss_end = proc_kib(server.pid, "VmRSS") or 0
        exit_status = server.terminate(timeout=30)
        delivered = sink.queue_ids()
        queued = {p.stem for p in (server.queue_dir / "msg").glob("*.env")}
        acked_ids = {q for q, _ in acked}
        lost = sorted(acked_ids - set(delivered) - queued)
        duplicates = sum(n - 1 for n in delivered.values() if n > 1)
        unknown = set(delivered) - acked_ids  # bounces or mail whose 250 the client missed
        log = server.stderr_text()
        stress_lines = sum(1 for l in log.splitlines() if "stress" in l.lower())
        problems = sum(1 for l in log.splitlines() if re.search(r"level=(warning|error|critical)", l))

        lat = [x * 1000 for x in senders["latencies"]]
        drips = results.get("drips", {})
        flood = results.get("flooders", {})
        garbage = results.get("garbage", {})
        rows = [
            ("duration", f"{args.duration:.0f} s load + {drain_time:.0f} s drain"),
            ("normal messages accepted (250)", f"{len(acked)} (healthy {len(healthy_ids)}, "
                                               f"silent {len(acked_ids) - len(healthy_ids)})"),
            ("normal sender failures", ", ".join(f"{k}: {v}" for k, v in senders["failures"].items()) or "0"),
            ("transaction latency p50 / p99 / max", f"{percentile(lat, 50):.1f} / {percentile(lat, 99):.1f} / "
                                                    f"{max(lat, default=float('nan')):.1f} ms"),
            ("delivered to the healthy sink", f"{len(delivered)} ({len(healthy_ids & set(delivered))} of "
                                              f"{len(healthy_ids)} healthy acked; {duplicates} duplicates, "
                                              f"{len(unknown)} not acked by us)"),
            ("still in the queue at the end", f"{len(queued)}"),
            ("LOST (acked, not delivered, not queued)", f"{len(lost)}" + (f" e.g. {lost[:5]}" if lost else "")),
            ("daemon RSS start / peak / end", f"{rss_start / MIB:.1f} / {peak / MIB:.1f} / {rss_end / MIB:.1f} MiB"),
            ("daemon exit on SIGTERM", "ok" if exit_status == 0 else
             ("DIED DURING THE RUN" if not daemon_alive else f"status {exit_status}")),
            ("slow drips: connections / cut (421) / longest life",
             f"{drips.get('connections', '-')} / {drips.get('cuts', '-')} ({drips.get('cut_421', '-')}) / "
             f"{drips.get('longest_life', 0):.0f} s; open at end {drips.get('open_at_end', '-')}, "
             f"refused {drips.get('refused', '-')}"),
            ("flooders: MiB sent / connections / stalled",
             f"{flood.get('bytes', 0) / MIB:.1f} / {flood.get('connections', '-')} / {flood.get('stalls', '-')}"
             + (" (STOPPED AT RSS CAP)" if flood.get("paused") else "")),
            ("garbage: connections / closed by server", f"{garbage.get('connections', '-')} / "
                                                        f"{garbage.get('closed_by_server', '-')}; replies "
                                                        f"{dict(sorted(garbage.get('codes', {}).items()))}"),
            ("silent hop connections", f"{silent.accepted}"),
            ("daemon log: warning+ lines / 'stress' lines", f"{problems} / {stress_lines}"),
        ]
        width = max(len(k) for k, _ in rows)
        print()
        for k, v in rows:
            print(f"{k:<{width}}  {v}")
        print()
        if lost:
            print(f"FAIL: {len(lost)} acknowledged message(s) lost", flush=True)
            status = 1
        elif not acked:
            print("FAIL: no message was accepted", flush=True)
            status = 1
        elif not daemon_alive:
            print("FAIL: the daemon died during the run", flush=True)
            status = 1
        else:
            status = 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        if sampler:
            sampler.stop()
        server.terminate(timeout=15)
        silent.stop()
        sink.stop()
        if args.keep or status != 0:
            print(f"soak: files kept in {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)])
        control_dir = getattr(server, "control_dir", None)  # the harness's socket directory, if it has one
        if control_dir:
            subprocess.run(["rm", "-rf", str(control_dir)])
    return status


if __name__ == "__main__":
    sys.exit(main())
