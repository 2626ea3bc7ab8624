"""Delivery end to end on loopback: Postern relays to a recording aiosmtpd sink
(tests/delivery/sink.py), looks up MX records in a loopback DNS server
(tests/spf/zoneserver.py), retries, and bounces with RFC 3464 DSNs."""

import json
import smtplib
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from pathlib import Path

import pytest

from postern_harness import free_port, split_received

ROOT = Path(__file__).resolve().parents[2]
SINK = ROOT / "tests" / "delivery" / "sink.py"


class Sink:
    """A recording SMTP server: every message lands in DIR as N.eml + N.json."""

    def __init__(self, directory: Path, *args: str, port: int = 0):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(SINK), "--dir", str(directory), "--port", str(port), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY "), f"sink did not start: {line!r}"
        self.port = int(line.split()[1])

    def messages(self) -> list[tuple[dict, bytes]]:
        out = []
        for meta in sorted(self.dir.glob("*.json"), key=lambda p: int(p.stem)):
            eml = meta.with_suffix(".eml")
            if eml.exists():
                out.append((json.loads(meta.read_text()), eml.read_bytes()))
        return out

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"sink has {len(self.messages())} messages, expected {count}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def sinks(tmp_path):
    started = []

    def start(*args: str, name: str = "sink", port: int = 0) -> Sink:
        sink = Sink(tmp_path / f"{name}{len(started)}", *args, port=port)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


def delivery_config(*, routes: dict | None = None, relayhost: str | None = None, port: int = 25,
                    dns_port: int | None = None, extra: str = "") -> str:
    # A loopback DNS server is always named, so no lookup can leave the machine.
    lines = ["[delivery]", "retry_min = 1", "retry_max = 2", "timeout = 10", f"port = {port}"]
    if relayhost:
        lines.append(f'relayhost = "{relayhost}"')
    lines += extra.splitlines()
    if routes:
        lines.append("[delivery.routes]")
        lines += [f'"{domain}" = "{target}"' for domain, target in routes.items()]
    lines += ["[dns]", f'servers = ["127.0.0.1:{dns_port or closed_dns_port()}"]', "timeout = 1", ""]
    return "\n".join(lines)


_closed = []


def closed_dns_port() -> int:
    if not _closed:
        _closed.append(free_port())
    return _closed[0]


def send(port: int, sender: str, recipients: list[str], subject: str, body: str = "Hello.\r\n") -> bytes:
    message = (f"From: <{sender or 'mailer-daemon@relay.test'}>\r\nTo: <{recipients[0]}>\r\n"
               f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@test>\r\n"
               f"Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n{body}").encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(sender, recipients, message)
    return message


def wait_queue_empty(server, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.queue.list():
            return
        time.sleep(0.1)
    raise AssertionError(f"queue not empty: {server.queue.list()}")


def test_thousand_messages_arrive_identical(start_postern, sinks):
    sink = sinks()
    server = start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}))
    sent: dict[str, bytes] = {}
    lock = threading.Lock()

    def worker(n0: int):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            for n in range(n0, 1000, 10):
                subject = f"bulk {n}"
                msg = (f"From: <a@example.org>\r\nTo: <b{n}@example.net>\r\nSubject: {subject}\r\n"
                       f"Message-ID: <bulk.{n}@test>\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n" + ("line %d\r\n" % n) * (1 + n % 50)
                       # Every other one plain, sent on without dot-stuffing; the rest need it.
                       + (".dot\r\n" if n % 2 else "")).encode()
                client.sendmail("a@example.org", [f"b{n}@example.net"], msg)
                with lock:
                    sent[f"b{n}@example.net"] = msg

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sink.wait_for(1000, timeout=120)
    assert len(got) == 1000
    seen = set()
    for meta, data in got:
        rcpt = meta["rcpt_tos"][0]
        seen.add(rcpt)
        received, rest = split_received(data)
        assert received.startswith("Received: from ")
        assert rest == sent[rcpt], f"body for {rcpt} differs"
    assert seen == set(sent)
    wait_queue_empty(server)


def test_first_mx_down_falls_over_to_second(start_postern, sinks, zone_server):
    sink = sinks()
    dns = zone_server({
        "mx.example.net": [{"MX": [10, "mx1.example.net"]}, {"MX": [20, "mx2.example.net"]}],
        "mx1.example.net": [{"A": "127.0.0.2"}],   # nothing listens on 127.0.0.2
        "mx2.example.net": [{"A": "127.0.0.1"}],
    })
    server = start_postern(delivery=delivery_config(port=sink.port, dns_port=dns))
    message = send(server.port, "a@example.org", ["user@mx.example.net"], "mx fallover")
    (meta, data), = sink.wait_for(1)
    assert meta["rcpt_tos"] == ["user@mx.example.net"]
    assert split_received(data)[1] == message
    wait_queue_empty(server)


def test_tempfail_then_delivered_on_retry(start_postern, sinks):
    sink = sinks("--tempfail-first", "1")
    server = start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}))
    send(server.port, "a@example.org", ["b@example.net"], "retry me")
    # After the first attempt the message waits, with the 451 recorded.
    deadline = time.monotonic() + 20
    seen_deferred = False
    while time.monotonic() < deadline and not seen_deferred:
        for entry in server.queue.list():
            if entry["attempts"] >= 1 and entry["recipients"][0]["status"] == "deferred":
                seen_deferred = "451" in entry["recipients"][0].get("last_reply", "")
                show = subprocess.run([server.binary, "queue", "show", entry["id"], "--queue-dir", str(server.queue_dir)],
                                      capture_output=True, text=True)
                assert "attempts: 1" in show.stdout
                # The attempt is in the envelope's history, with the next hop and its reply.
                history = [line for line in show.stdout.splitlines() if line.startswith("attempt: ")]
                assert len(history) == 1 and " deferred via 127.0.0.1 <b@example.net>: " in history[0], show.stdout
                assert "451" in history[0]
                assert entry["history"][0]["result"] == "deferred" and entry["history"][0]["recipients"] == ["b@example.net"]
        time.sleep(0.02)
    assert seen_deferred, "never saw the deferred state with the 451 reply"
    sink.wait_for(1, timeout=30)
    wait_queue_empty(server)


def test_one_recipient_refused_gets_a_dsn(start_postern, sinks):
    sink = sinks("--refuse", "gone@example.net")
    server = start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}",
                                                            "example.org": f"[127.0.0.1]:{sink.port}"}))
    send(server.port, "alice@example.org", ["ok@example.net", "gone@example.net"], "partial")
    got = sink.wait_for(2, timeout=30)
    delivered = [m for m, _ in got if m["mail_from"] not in ("", "<>")]
    bounces = [(m, d) for m, d in got if m["mail_from"] in ("", "<>")]
    assert [m["rcpt_tos"] for m in delivered] == [["ok@example.net"]]
    assert len(bounces) == 1
    meta, data = bounces[0]
    assert meta["rcpt_tos"] == ["alice@example.org"]
    report = message_from_bytes(split_received(data)[1])
    assert report.get_content_type() == "multipart/report"
    status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
    text = status.as_string()
    assert "Final-Recipient: rfc822; gone@example.net" in text
    assert "Action: failed" in text
    assert "Status: 5." in text
    assert "550" in text  # the remote reply is quoted
    wait_queue_empty(server)


def test_null_sender_failure_gets_no_dsn(start_postern, sinks):
    sink = sinks("--refuse", "gone@example.net")
    server = start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}))
    send(server.port, "", ["gone@example.net"], "bounce of a bounce")
    wait_queue_empty(server)
    time.sleep(1)
    assert sink.messages() == []
    assert "failed" in server.stderr_text()


def test_expired_lifetime_bounces(start_postern, sinks):
    closed = free_port()
    bounce_sink = sinks()
    server = start_postern(delivery=delivery_config(
        routes={"down.example": f"[127.0.0.1]:{closed}", "example.org": f"[127.0.0.1]:{bounce_sink.port}"},
        extra="lifetime = 2\ndelay_warning = 0"))
    send(server.port, "alice@example.org", ["user@down.example"], "never arrives")
    (meta, data), = bounce_sink.wait_for(1, timeout=30)
    assert meta["mail_from"] in ("", "<>") and meta["rcpt_tos"] == ["alice@example.org"]
    text = split_received(data)[1].decode()
    assert "Final-Recipient: rfc822; user@down.example" in text
    assert "Action: failed" in text
    wait_queue_empty(server)


def test_relayhost_with_auth(start_postern, sinks):
    sink = sinks("--auth", "relayuser:s3cret", "--auth-required", "--auth-plaintext")
    server = start_postern(delivery=delivery_config(
        relayhost=f"[127.0.0.1]:{sink.port}",
        extra='relay_user = "relayuser"\nrelay_password = "s3cret"\nrelay_tls = "none"'))
    send(server.port, "a@example.org", ["anyone@elsewhere.example"], "via relayhost")
    (meta, _), = sink.wait_for(1)
    assert meta["auth_user"] == "relayuser"
    wait_queue_empty(server)
    assert "s3cret" not in server.stderr_text()


def test_delay_warning_then_delivery(start_postern, sinks):
    """A destination that is down for a while: after delay_warning the sender
    gets an RFC 3464 'delayed' report, and the message still goes out later."""
    bounce_sink = sinks()
    down_port = free_port()
    server = start_postern(delivery=delivery_config(
        routes={"slow.example": f"[127.0.0.1]:{down_port}", "example.org": f"[127.0.0.1]:{bounce_sink.port}"},
        extra="delay_warning = 1\nlifetime = 600"))
    send(server.port, "alice@example.org", ["user@slow.example"], "slow one")
    (meta, data), = bounce_sink.wait_for(1, timeout=30)
    assert meta["mail_from"] in ("", "<>") and meta["rcpt_tos"] == ["alice@example.org"]
    text = split_received(data)[1].decode()
    assert "Action: delayed" in text
    assert "Will-Retry-Until:" in text
    # Only one warning, however many retries follow.
    time.sleep(3)
    assert len(bounce_sink.messages()) == 1
    # The destination comes up: the message is delivered and leaves the queue.
    late = Sink(bounce_sink.dir.parent / "late", port=down_port)
    try:
        (meta, _), = late.wait_for(1, timeout=30)
        assert meta["rcpt_tos"] == ["user@slow.example"]
        wait_queue_empty(server)
    finally:
        late.stop()
