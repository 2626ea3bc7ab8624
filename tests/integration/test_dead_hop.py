"""Dead next hops end to end: one silent or refusing destination must not
stall delivery to the others; it is marked dead for a while (its messages
deferred together, without an attempt), probed once the cool-down is over,
and revived when the probe gets through. Also: lines longer than 998 octets
reach a strict next hop, broken with CRLF SP (RFC 5322 §2.1.1)."""

import re
import smtplib
import socket
import threading
import time

import pytest

from postern_harness import free_port, split_received
from test_delivery import delivery_config, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never says a word."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.accepted.append(conn)

    @property
    def connections(self) -> int:
        with self.lock:
            return len(self.accepted)

    def stop(self):
        """Closes the listener (later connects are refused) and every connection."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for conn in self.accepted:
                conn.close()
            self.accepted.clear()


@pytest.fixture
def silent(start_postern):
    # Depends on start_postern so that it is torn down first: the daemon's
    # sessions to it end before the daemon gets SIGTERM.
    servers = []

    def start() -> SilentServer:
        server = SilentServer()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def with_timeout(config: str, timeout: int) -> str:
    """delivery_config's text with another `[delivery] timeout` (it sets 10 s)."""
    assert "\ntimeout = 10\n" in config
    return config.replace("\ntimeout = 10\n", f"\ntimeout = {timeout}\n", 1)


def message(sender: str, recipient: str, subject: str, body: str = "Hello.\r\n") -> bytes:
    return (f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@test>\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n"
            f"{body}").encode()


def submit(port: int, mails: list[tuple[str, str, bytes]]):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for sender, recipient, data in mails:
            client.sendmail(sender, [recipient], data)


def wait_for_log(server, pattern: str, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, server.stderr_text())
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no log line matching /{pattern}/ within {timeout}s")


def dead_line(port: int) -> str:
    return rf'msg="destination dead" [^\n]*destination=127\.0\.0\.1:{port}\b[^\n]*'


def test_silent_next_hop_does_not_stall_the_others(start_postern, sinks, silent, figures):
    hole = silent()
    sink = sinks()
    # A 60 s timeout: the old agent kept all 16 workers waiting on the silent
    # host for that long, and the healthy messages behind them.
    server = start_postern(delivery=with_timeout(delivery_config(
        routes={"silent.example": f"[127.0.0.1]:{hole.port}", "healthy.example": f"[127.0.0.1]:{sink.port}"}),
        timeout=60))
    submit(server.port, [("a@example.org", f"u{n}@silent.example", message("a@example.org", f"u{n}@silent.example",
                                                                           f"silent {n}")) for n in range(30)])
    started = time.monotonic()
    submit(server.port, [("a@example.org", f"u{n}@healthy.example", message("a@example.org", f"u{n}@healthy.example",
                                                                            f"healthy {n}")) for n in range(10)])
    got = sink.wait_for(10, timeout=30)
    elapsed = time.monotonic() - started
    figures(f"10 healthy messages delivered {elapsed:.2f}s after queuing, behind 30 to a silent host")
    assert elapsed < 10, f"the healthy destination waited {elapsed:.1f}s behind the silent one"
    assert sorted(m["rcpt_tos"][0] for m, _ in got) == sorted(f"u{n}@healthy.example" for n in range(10))
    # Only per_destination (8) sessions ever went to the silent host.
    assert 1 <= hole.connections <= 8

    # The silent host goes away altogether: its sessions break, it is marked
    # dead, and every one of its messages is deferred, none lost.
    hole.stop()
    wait_for_log(server, dead_line(hole.port), timeout=20)
    deadline = time.monotonic() + 20
    while True:
        entries = server.queue.list()
        waiting = [e for e in entries if e["recipients"][0]["status"] == "deferred"]
        if len(waiting) == 30 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(entries) == 30, f"{len(entries)} messages left in the queue, expected the 30 to the silent host"
    assert len(waiting) == 30
    replies = [e["recipients"][0].get("last_reply", "") for e in waiting]
    assert any("delivery temporarily suspended" in r for r in replies), replies[:5]
    assert all(r.startswith("4.") for r in replies), replies[:5]


def test_timeouts_mark_a_destination_dead(start_postern, silent):
    hole = silent()
    server = start_postern(delivery=with_timeout(delivery_config(routes={"silent.example": f"[127.0.0.1]:{hole.port}"},
                                                                 extra="per_destination = 2\ndead_time = 60"),
                                                 timeout=1))
    submit(server.port, [("a@example.org", f"u{n}@silent.example", message("a@example.org", f"u{n}@silent.example",
                                                                           f"slow {n}")) for n in range(10)])
    line = wait_for_log(server, dead_line(hole.port), timeout=20).group(0)
    assert "timed out" in line
    # Marked dead after the first greeting timeouts: the waiting messages are
    # deferred together, and no further connection is made while it is dead.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = server.queue.list()
        if len(entries) == 10 and all(e["attempts"] >= 1 for e in entries):
            break
        time.sleep(0.1)
    assert len(entries) == 10 and all(e["attempts"] >= 1 for e in entries)
    suspended = [e for e in entries if "delivery temporarily suspended" in e["recipients"][0].get("last_reply", "")]
    assert len(suspended) >= 8, [e["recipients"][0].get("last_reply") for e in entries]
    connections = hole.connections
    time.sleep(3)  # retries fall due (retry_max = 2), but the host is dead for 60 s
    assert hole.connections == connections <= 2


def test_refusing_next_hop_recovers_after_the_dead_time(start_postern, sinks):
    down = free_port()
    server = start_postern(delivery=delivery_config(routes={"down.example": f"[127.0.0.1]:{down}"},
                                                    extra="dead_time = 4\nlifetime = 600\ndelay_warning = 0"))
    submit(server.port, [("a@example.org", f"u{n}@down.example", message("a@example.org", f"u{n}@down.example",
                                                                         f"down {n}")) for n in range(3)])
    line = wait_for_log(server, dead_line(down), timeout=20).group(0)
    marked = time.monotonic()
    assert "connect to 127.0.0.1" in line
    # Retries while it is dead cost no connection attempt.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        replies = [e["recipients"][0].get("last_reply", "") for e in server.queue.list()]
        if sum("delivery temporarily suspended" in r for r in replies) == 3:
            break
        time.sleep(0.1)
    assert sum("delivery temporarily suspended" in r for r in replies) == 3, replies
    assert all(r.startswith("4.4.1 ") for r in replies), replies
    late = sinks(port=down)
    got = late.wait_for(3, timeout=30)
    arrived = time.monotonic()
    assert arrived - marked >= 3, f"delivered {arrived - marked:.1f}s after the mark, before the dead time (4 s)"
    assert sorted(m["rcpt_tos"][0] for m, _ in got) == [f"u{n}@down.example" for n in range(3)]
    wait_queue_empty(server)
    assert re.search(rf'msg="destination revived" [^\n]*destination=127\.0\.0\.1:{down}\b', server.stderr_text())
    # One probe, then the rest: exactly one "revived".
    assert server.stderr_text().count('msg="destination revived"') == 1


def test_long_lines_are_broken_for_a_strict_next_hop(start_postern, sinks):
    # aiosmtpd answers 500 at the end of DATA to a line longer than 1001
    # octets with its CRLF (RFC 5321 §4.5.3.1.6).
    sink = sinks()
    server = start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}))
    long_subject = "S" * 1500
    body = ("x" * 3000 + "\r\n" + "." + "y" * 1200 + "\r\n" + "z" * 998 + "\r\n" + "w" * 999 + "\r\n"
            + "--" + "b" * 2000 + "\r\nend\r\n")
    sent = (f"From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: {long_subject}\r\n"
            f"Message-ID: <long.lines@test>\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n{body}").encode()
    submit(server.port, [("a@example.org", "b@example.net", sent)])
    (meta, data), = sink.wait_for(1, timeout=30)
    received = split_received(data)[1]
    lines = received.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    assert b"z" * 998 + b"\r\n" in received  # exactly 998: left alone
    assert b"w" * 998 + b"\r\n w\r\n" in received  # 999: one break
    assert received.replace(b"\r\n ", b"") == sent.replace(b"\r\n ", b"")
    # Subject 1509 octets: 1 break; 3000: 3; "."+1200: 1; 999: 1; 2002: 2.
    assert sent.count(b"\r\n ") == 0 and received.count(b"\r\n ") == 8
    wait_queue_empty(server)
