"""Misbehaving SMTP clients for the hostile-client tests (test_hostile.py) and the
soak benchmark (bench/soak.py): a pipelining flooder that never reads its replies,
a crowd of slow-drip connections driven by one selector, and an RSS sampler.

Everything here talks to loopback only, and every loop is bounded in count and time.
"""

from __future__ import annotations

import errno
import resource
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


def raise_nofile(want: int | None = None) -> int:
    """Raises this process's RLIMIT_NOFILE soft limit (to `want`, or the hard limit).
    Children started afterwards (the daemon) inherit it. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if want is None or hard == resource.RLIM_INFINITY else min(want, hard)
    if hard == resource.RLIM_INFINITY and want is None:
        target = max(soft, 65536)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_kib(pid: int, key: str) -> int | None:
    """A kB figure of /proc/PID/status (VmRSS, VmHWM), in bytes; None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread; `peak` is the largest seen."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid = pid
        self.interval = interval
        self.peak = proc_kib(pid, "VmRSS") or 0
        self.last = self.peak
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = proc_kib(self.pid, "VmRSS")
            if rss is None:
                return
            self.last = rss
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RssSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------
# Pipelining flooder


class Flooder:
    """One connection that sends `line` over and over (after reading the greeting and,
    optionally, an EHLO exchange) and never reads another byte.

    Sends are non-blocking, so the thread notices when the server stops reading:
    `stalled_for()` is how long no byte has been accepted by the kernel. It stops by
    itself after `total` bytes, after `max_seconds`, when the connection fails, or on
    `stop()`. A `rate` (bytes/s) limits how fast it sends; 0 means as fast as it can.
    The socket stays open until `close()`, so the server keeps its side of it.
    """

    def __init__(self, port: int, line: bytes, total: int, *, host: str = "127.0.0.1",
                 source: str | None = None, max_seconds: float = 60.0, rate: int = 0, ehlo: bool = True):
        self.port, self.host, self.source = port, host, source
        self.line = line
        self.total = total
        self.max_seconds = max_seconds
        self.rate = rate
        self.ehlo = ehlo
        self.sent = 0
        self.error: str | None = None
        self.finished = threading.Event()
        self.last_progress = time.monotonic()
        self.started_at = 0.0
        self.sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flooder", daemon=True)

    def start(self) -> "Flooder":
        self.sock = socket.create_connection((self.host, self.port), timeout=15,
                                             source_address=(self.source, 0) if self.source else None)
        # Greeting (and EHLO) read the ordinary way; after that we never read again.
        buf = b""
        while b"\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed before the greeting: {buf!r}")
            buf += chunk
        if not buf.startswith(b"220"):
            raise ConnectionError(f"flooder not greeted: {buf!r}")
        if self.ehlo:
            self.sock.sendall(b"EHLO flooder.example\r\n")
            buf = b""
            while not any(line.startswith(b"250 ") for line in buf.split(b"\r\n")):
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError(f"closed after EHLO: {buf!r}")
                buf += chunk
        self.sock.setblocking(False)
        self.started_at = self.last_progress = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        import select
        block = self.line * max(1, 65536 // len(self.line))
        offset = 0  # position inside `block`, so the stream stays whole lines
        deadline = self.started_at + self.max_seconds
        try:
            while self.sent < self.total and not self._stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if self.rate and self.sent > self.rate * (now - self.started_at):
                    time.sleep(0.01)
                    continue
                _, writable, _ = select.select([], [self.sock], [], 0.2)
                if not writable:
                    continue
                want = min(len(block) - offset, self.total - self.sent)
                try:
                    n = self.sock.send(block[offset:offset + want])
                except BlockingIOError:
                    continue
                if n > 0:
                    self.sent += n
                    offset = (offset + n) % len(block)
                    self.last_progress = time.monotonic()
        except OSError as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.finished.set()

    def stalled_for(self) -> float:
        return 0.0 if self.finished.is_set() and self.sent >= self.total else time.monotonic() - self.last_progress

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def close(self) -> None:
        self.stop()
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# Slow-drip crowd


@dataclass
class DripConnection:
    index: int
    source: str
    sock: socket.socket
    payload: bytes
    state: str = "connecting"  # connecting, greeting, dripping, closed
    connected_at: float = 0.0
    greeted_at: float | None = None
    first_byte_at: float | None = None
    closed_at: float | None = None
    next_send_at: float = 0.0
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)
    close_reason: str = ""

    @property
    def greeting_ok(self) -> bool:
        return self.received.startswith(b"220")

    def cut_reply(self) -> bytes | None:
        """The last reply line the server sent before closing, if any after the greeting."""
        lines = [l for l in bytes(self.received).split(b"\r\n") if l]
        return lines[-1] if len(lines) > 1 else None

    def lifetime(self, now: float) -> float | None:
        """Seconds from the first dripped byte to the close (or to `now` if still open)."""
        if self.first_byte_at is None:
            return None
        return (self.closed_at or now) - self.first_byte_at


class DripCrowd:
    """Many connections, one thread: each connects (from one of `sources`), waits for
    the 220 greeting, then sends `payload` one byte every `interval` seconds and never
    finishes the line (unless the payload ends in CRLF). Records when each connection
    sent its first byte and when the server closed it, and everything it received.

    With `reconnect=True` a connection the server closed is replaced by a new one
    (for the soak test); `cuts` counts the closes seen.
    """

    def __init__(self, port: int, count: int, sources: list[str], *, payload: bytes = b"",
                 interval: float = 2.0, host: str = "127.0.0.1", connect_rate: float = 400.0,
                 reconnect: bool = False):
        self.port, self.host = port, host
        self.count = count
        self.sources = sources
        self.payload = payload or (b"EHLO " + b"slow-drip-" * 60)
        self.interval = interval
        self.connect_rate = connect_rate  # new connections per second at most
        self.reconnect = reconnect
        self.conns: list[DripConnection] = []
        self.retired: list[DripConnection] = []  # closed and replaced (reconnect mode)
        self.cuts = 0
        self.connect_errors = 0
        self.errors: list[str] = []
        self.sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._opened = 0

    # -- public
    def start(self) -> "DripCrowd":
        self._thread = threading.Thread(target=self._run, name="drip-crowd", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=timeout)

    def snapshot(self) -> list[DripConnection]:
        with self._lock:
            return list(self.conns)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.snapshot():
            out[c.state] = out.get(c.state, 0) + 1
        return out

    # -- the loop
    def _open(self, index: int) -> None:
        source = self.sources[index % len(self.sources)]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((source, 0))
            err = s.connect_ex((self.host, self.port))
        except OSError as e:
            s.close()
            self.connect_errors += 1
            self.errors.append(f"connect from {source}: {e}")
            return
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.connect_errors += 1
            self.errors.append(f"connect from {source}: {errno.errorcode.get(err, err)}")
            return
        conn = DripConnection(index, source, s, self.payload, connected_at=time.monotonic())
        with self._lock:
            self.conns.append(conn)
        self.sel.register(s, selectors.EVENT_WRITE, conn)

    def _close(self, conn: DripConnection, reason: str) -> None:
        if conn.state == "closed":
            return
        try:
            self.sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        conn.state = "closed"
        conn.closed_at = time.monotonic()
        conn.close_reason = reason
        self.cuts += 1
        if self.reconnect and not self._stop.is_set():
            with self._lock:
                self.conns.remove(conn)
                if len(self.retired) < 100_000:
                    self.retired.append(conn)
            self._pending_reopen.append(conn.index)

    def _run(self) -> None:
        self._pending_reopen: list[int] = []
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                # open new connections at no more than connect_rate per second
                allowed = int((now - started) * self.connect_rate) + 1
                while self._opened < self.count and self._opened < allowed:
                    self._open(self._opened)
                    self._opened += 1
                while self._pending_reopen and not self._stop.is_set():
                    self._open(self._pending_reopen.pop())
                # drip
                next_due = now + 0.25
                for conn in self.snapshot():
                    if conn.state != "dripping":
                        continue
                    if conn.next_send_at <= now:
                        self._drip(conn, now)
                    if conn.state == "dripping":
                        next_due = min(next_due, conn.next_send_at)
                timeout = max(0.0, min(0.25, next_due - time.monotonic()))
                if not self.sel.get_map():
                    time.sleep(timeout)
                    continue
                for key, events in self.sel.select(timeout):
                    conn: DripConnection = key.data
                    if conn.state == "connecting":
                        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            self.connect_errors += 1
                            self._close(conn, f"connect: {errno.errorcode.get(err, err)}")
                            continue
                        conn.state = "greeting"
                        self.sel.modify(conn.sock, selectors.EVENT_READ, conn)
                        continue
                    self._read(conn)
        except Exception as e:  # recorded for the test to report, never swallowed silently
            self.errors.append(f"drip loop: {type(e).__name__}: {e}")
        finally:
            for conn in self.snapshot():
                if conn.state != "closed":
                    try:
                        self.sel.unregister(conn.sock)
                    except (KeyError, ValueError):
                        pass
                    conn.sock.close()
            self.sel.close()

    def _read(self, conn: DripConnection) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self._close(conn, f"recv: {type(e).__name__}")
            return
        if not data:
            self._close(conn, "eof")
            return
        if len(conn.received) < 65536:
            conn.received += data
        if conn.state == "greeting" and b"\r\n" in conn.received:
            conn.greeted_at = time.monotonic()
            if conn.received.startswith(b"220"):
                conn.state = "dripping"
                conn.next_send_at = conn.greeted_at  # first byte right away
            else:
                # refused at connect (421 too many connections): keep reading to the close
                conn.state = "refused"

    def _drip(self, conn: DripConnection, now: float) -> None:
        if conn.sent >= len(conn.payload):
            conn.next_send_at = now + 3600
            return
        try:
            n = conn.sock.send(conn.payload[conn.sent:conn.sent + 1])
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._close(conn, f"send: {type(e).__name__}")
            return
        if n:
            if conn.first_byte_at is None:
                conn.first_byte_at = now
            conn.sent += n
        conn.next_send_at = now + self.interval
