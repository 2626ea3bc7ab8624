"""SIGTERM: stop accepting, finish sessions, exit 0 with the queue intact."""

import re
import signal
import socket
import time

from postern_harness import expect, make_message, queued_id

STATS_RE = re.compile(r'msg="queue commit stats" (?=.*\bmessages=(\d+)\b)(?=.*\bsync_calls=(\d+)\b)'
                      r'(?=.*\bbatches=(\d+)\b)(?=.*\bfailures=(\d+)\b)')


def stop(srv, timeout: float) -> tuple[int | None, float]:
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=timeout)
    except Exception:
        srv.kill()
        rc = None
    return rc, time.monotonic() - started


def test_sigterm_while_idle(server, figures):
    rc, took = stop(server, timeout=5)
    assert rc == 0, f"exit status {rc} after SIGTERM ({took:.1f}s)"
    figures(f"idle shutdown took {took:.2f}s")
    m = STATS_RE.search(server.stderr_text())
    assert m, "no commit stats line: " + server.stderr_text()
    assert (m.group(1), m.group(4)) == ("0", "0"), m.group(0)


def test_sigterm_after_mail_reports_stats(server):
    with server.connect() as c:
        c.ehlo()
        queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("one")))
        queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("two")))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    rc, took = stop(server, timeout=5)
    assert rc == 0, f"exit status {rc} after SIGTERM ({took:.1f}s)"
    m = STATS_RE.search(server.stderr_text())
    assert m, "no commit stats line: " + server.stderr_text()
    messages, sync_calls, batches, failures = map(int, m.groups())
    assert (messages, failures) == (2, 0), m.group(0)
    assert 1 <= batches <= 2 and sync_calls >= batches, m.group(0)
    assert len(server.queue.list()) == 2


def test_sigterm_finishes_open_session_within_grace(start_postern):
    srv = start_postern(limits={"shutdown_grace": 2})
    with srv.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # No new sessions while shutting down: refused, closed, or 421.
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as s:
                s.settimeout(3)
                first = s.recv(100)
                assert first == b"" or first.startswith(b"421"), f"still accepting: {first!r}"
        except (ConnectionRefusedError, ConnectionResetError):
            pass
        # The session in flight may finish its transaction.
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("during shutdown") + b".\r\n")
        queue_id = queued_id(c.read_reply())
        started = time.monotonic()
        rc = srv.proc.wait(timeout=10)
        took = time.monotonic() - started
    assert rc == 0, f"exit status {rc}"
    assert took < 5, f"took {took:.1f}s to exit with an idle session and shutdown_grace=2"
    assert [e["id"] for e in srv.queue.list()] == [queue_id]


def test_idle_session_gets_421_when_grace_ends(start_postern):
    """RFC 5321 §3.8: the server closes a session only after QUIT, a timeout, or a 421."""
    srv = start_postern(limits={"shutdown_grace": 1})
    with srv.connect() as c:
        c.ehlo()
        srv.proc.send_signal(signal.SIGTERM)
        c.sock.settimeout(10)
        expect(c.read_reply(), 421, "4.3.2")
        c.expect_closed()
    assert srv.proc.wait(timeout=10) == 0


def test_sigterm_under_load_keeps_every_acknowledged_message(start_postern):
    """Eight senders keep going while SIGTERM arrives: every 250 is in the queue afterwards."""
    import threading
    srv = start_postern(limits={"shutdown_grace": 3})
    acknowledged: list[str] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        for i in range(1000):
            try:
                with srv.connect(timeout=5) as c:
                    c.ehlo()
                    queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"],
                                                       make_message(f"load {n} {i}")))
                with lock:
                    acknowledged.append(queue_id)
            except Exception:  # noqa: BLE001 - refused or cut off by the shutdown: not acknowledged
                return

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    rc, _ = stop(srv, timeout=15)
    for t in threads:
        t.join(timeout=30)
    assert rc == 0
    assert len(acknowledged) > 10, "too little traffic before the shutdown to say anything"
    queued = set(srv.queue.ids())
    missing = [q for q in acknowledged if q not in queued]
    assert not missing, f"{len(missing)} acknowledged messages are not in the queue: {missing[:5]}"


def test_sigterm_as_soon_as_greeted_stops_cleanly(start_postern):
    """The signal is trapped before the first client is greeted: a SIGTERM that comes while the
    daemon is still finishing its start (control socket, service group) stops it gracefully instead
    of killing it with the default action."""
    for _ in range(5):
        server = start_postern()  # returns once a client got the 220 greeting
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0, server.stderr_text()[-2000:]
