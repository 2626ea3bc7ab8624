"""The metrics endpoint end to end: a daemon with `[metrics] address`, real SMTP
traffic (messages queued, refused, delivered to an aiosmtpd sink, deferred to a
dead next hop), then /metrics is scraped and every counter must have moved by
exactly what was sent; /healthz, /readyz and the HTTP edges are checked, and
`promtool check metrics` lints the scrape."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from postern_harness import CI, RawSMTP, expect, free_port, make_message, queued_id, require_tool
from test_delivery import delivery_config, sinks  # noqa: F401 (sinks is a fixture)

UNTRUSTED = "127.0.0.2"
POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]
"""
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics_config(port: int) -> str:
    return f'[metrics]\naddress = "127.0.0.1:{port}"\n'


def http(port: int, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Scrape:
    """One /metrics scrape, parsed: (name, labels) -> value."""

    def __init__(self, port: int):
        status, headers, body = http(port, "/metrics")
        assert status == 200, f"/metrics answered {status}: {body[:300]!r}"
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
        self.text = body.decode()
        self.samples: dict[tuple[str, frozenset], float] = {}
        for line in self.text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = SAMPLE_RE.match(line)
            assert m, f"unparsable sample line: {line!r}"
            labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def value(self, name: str, **labels: str) -> float:
        """The sum over the series of `name` whose labels include `labels` (0 when none)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def has(self, name: str, **labels: str) -> bool:
        wanted = set(labels.items())
        return any(n == name and wanted <= ls for (n, ls) in self.samples)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def wait_for(port: int, condition, what: str, timeout: float = 60) -> Scrape:
    deadline = time.monotonic() + timeout
    while True:
        scrape = Scrape(port)
        if condition(scrape):
            return scrape
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{scrape.text}")
        time.sleep(0.2)


class CountingSMTP(RawSMTP):
    """RawSMTP that counts the octets it sends and receives (the server's view, reversed)."""

    sent = 0
    received = 0

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        CountingSMTP.sent += len(data)
        super().send(data)

    def _fill(self) -> None:
        before = len(self.buffer)
        super()._fill()
        CountingSMTP.received += len(self.buffer) - before


def test_counters_follow_the_traffic(start_postern, sinks):
    sink = sinks()
    dead = free_port()  # nothing listens: connections are refused, the hop is marked dead
    mport = free_port()
    server = start_postern(
        limits={"max_message_size": 4096},
        policy=POLICY,
        delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}",
                                         "dead.example": f"[127.0.0.1]:{dead}"},
                                 extra="dead_time = 600"),
        extra=metrics_config(mport))
    listener = f"127.0.0.1:{server.port}"
    before = Scrape(mport)
    CountingSMTP.sent = CountingSMTP.received = 0

    # One session: three messages queued (one for the sink, two for the dead hop), one too large.
    with CountingSMTP(server.port) as client:
        client.ehlo()
        ids = [queued_id(client.transaction("a@example.org", ["b@example.net"], make_message("to sink")))]
        for n in range(2):
            ids.append(queued_id(client.transaction("a@example.org", [f"c{n}@dead.example"], make_message(f"dead {n}"))))
        too_big = client.transaction("a@example.org", ["b@example.net"], make_message("big", "x" * 5000 + "\r\n"))
        expect(too_big, 552, "5.3.4")
        client.cmd("NOOP")
        expect(client.cmd("QUIT"), 221)
    # A second session from an untrusted address: the relay filter refuses its recipient.
    with CountingSMTP(server.port, source=UNTRUSTED) as client:
        client.ehlo()
        expect(client.cmd("MAIL FROM:<a@example.org>"), 250, "2.1.0")
        refused = client.cmd("RCPT TO:<x@elsewhere.example>")
        assert refused.code in (550, 554), refused
        expect(client.cmd("QUIT"), 221)

    sink.wait_for(1)
    after = wait_for(mport, lambda s: s.value("postern_delivery_recipients_total", result="delivered") >= 1
                     and s.value("postern_queue_messages", state="deferred") == 2
                     and s.value("postern_smtp_connections_open", listener=listener) == 0,
                     "the delivery, two deferred messages and no open connection")

    # Connections and bytes, exactly as the clients saw them.
    assert delta(before, after, "postern_smtp_connections_total", listener=listener) == 2
    assert delta(before, after, "postern_smtp_received_bytes_total") == CountingSMTP.sent
    assert delta(before, after, "postern_smtp_sent_bytes_total") == CountingSMTP.received
    # Commands by verb.
    for verb, count in {"ehlo": 2, "mail": 5, "rcpt": 5, "data": 4, "noop": 1, "quit": 2, "helo": 0}.items():
        assert delta(before, after, "postern_smtp_commands_total", verb=verb) == count, verb
    # Replies by class and enhanced code.
    assert delta(before, after, "postern_smtp_replies_total", **{"class": "2xx", "enhanced": "2.1.0"}) == 5
    assert delta(before, after, "postern_smtp_replies_total", **{"class": "2xx", "enhanced": "2.1.5"}) == 4
    assert delta(before, after, "postern_smtp_replies_total", **{"class": "2xx", "enhanced": "2.0.0"}) >= 3
    assert delta(before, after, "postern_smtp_replies_total", **{"class": "5xx", "enhanced": "5.3.4"}) == 1
    assert delta(before, after, "postern_smtp_replies_total", **{"class": "5xx", "enhanced": refused.enhanced}) == 1
    assert delta(before, after, "postern_smtp_replies_total", **{"class": "4xx"}) == 0
    # Messages accepted and refused, by phase, filter and class.
    assert delta(before, after, "postern_smtp_messages_accepted_total", disposition="queued") == 3
    assert delta(before, after, "postern_smtp_messages_accepted_total", disposition="quarantined") == 0
    assert delta(before, after, "postern_smtp_messages_refused_total",
                 phase="data", filter="smtp", **{"class": "permanent"}) == 1
    assert delta(before, after, "postern_smtp_messages_refused_total",
                 phase="rcpt", filter="relay", **{"class": "permanent"}) == 1
    assert delta(before, after, "postern_smtp_messages_refused_total") == 2
    # The queue: three messages in group commits, one delivered and removed, two deferred.
    assert delta(before, after, "postern_queue_commit_batch_messages_sum") == 3
    assert delta(before, after, "postern_queue_commit_batch_messages_count") >= 1
    # At least one sync a commit (one fdatasync of the journal for these small ones).
    assert delta(before, after, "postern_queue_commit_syncs_sum") >= delta(before, after, "postern_queue_commit_batch_messages_count")
    assert after.value("postern_queue_journal_checkpoints_total") == 0
    assert after.value("postern_queue_commit_failures_total") == 0
    assert after.value("postern_queue_messages", state="ready") == 0
    assert after.value("postern_queue_messages", state="hold") == 0
    assert 0 <= after.value("postern_queue_oldest_message_age_seconds") < 300
    # Delivery: one delivered on a new connection, the dead hop deferred and marked dead.
    assert after.value("postern_delivery_recipients_total", result="delivered") == 1
    assert after.value("postern_delivery_recipients_total", result="deferred") >= 2
    assert after.value("postern_delivery_recipients_total", result="failed") == 0
    assert after.value("postern_delivery_attempts_total") >= 3
    assert after.value("postern_delivery_connections_opened_total") >= 1
    assert after.value("postern_delivery_duration_seconds_count") >= 3
    assert after.value("postern_delivery_bounces_total") == 0
    assert after.value("postern_delivery_dead_destinations") == 1
    # Series that exist from the start, at zero.
    assert after.value("postern_smtp_stress_mode") == 0
    assert after.has("postern_smtp_auth_attempts_total", result="failure")
    assert after.value("postern_smtp_auth_attempts_total") == 0
    assert after.has("postern_spf_results_total", result="pass", identity="mailfrom")
    # No label ever carries an address, a domain or a queue ID.
    for (name, labels) in after.samples:
        for key, value in labels:
            assert "@" not in value and "example" not in value and value not in ids, (name, key, value)

    # The queue gauges follow an operator's hold.
    assert server.queue.control("hold", ids[1]).returncode == 0
    wait_for(mport, lambda s: s.value("postern_queue_messages", state="hold") == 1, "one held message")


def test_tls_handshakes_are_counted(start_postern, tls_cert):
    mport = free_port()
    server = start_postern(tls=tls_cert, extra=metrics_config(mport))
    before = Scrape(mport)
    with RawSMTP(server.port) as client:
        client.ehlo()
        expect(client.cmd("STARTTLS"), 220)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.sock = context.wrap_socket(client.sock, server_hostname="localhost")
        version = client.sock.version()
        client.ehlo()
        expect(client.cmd("QUIT"), 221)
    with RawSMTP(server.port) as client:
        client.ehlo()
        expect(client.cmd("STARTTLS"), 220)
        client.send(b"\x16\x03\x01\x00\x05hello this is no TLS record\r\n")
        try:
            client.sock.recv(4096)
        except OSError:
            pass
    expected = {"TLSv1.3": "1.3", "TLSv1.2": "1.2"}[version]
    after = wait_for(mport, lambda s: s.value("postern_smtp_tls_handshakes_total", result="failure") >= 1,
                     "the failed handshake")
    assert delta(before, after, "postern_smtp_tls_handshakes_total", result="success", version=expected) == 1
    assert delta(before, after, "postern_smtp_tls_handshakes_total", result="success") == 1
    assert delta(before, after, "postern_smtp_tls_handshakes_total", result="failure") == 1
    assert delta(before, after, "postern_smtp_commands_total", verb="starttls") == 2


def test_health_readiness_and_http_edges(start_postern):
    mport = free_port()
    server = start_postern(extra=metrics_config(mport))
    status, _, body = http(mport, "/healthz")
    assert (status, body) == (200, b"ok\n")
    status, _, body = http(mport, "/readyz")
    assert (status, body) == (200, b"ready\n")
    status, headers, body = http(mport, "/metrics", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000
    assert http(mport, "/nothing")[0] == 404
    status, headers, _ = http(mport, "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    # A request with a body is refused and the connection closed.
    request = urllib.request.Request(f"http://127.0.0.1:{mport}/metrics", data=b"x" * 5000, method="GET")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a request body was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 413
    except (ConnectionError, urllib.error.URLError):
        pass  # closed before the whole body was sent: as good
    # The daemon still serves SMTP and metrics after all that.
    with server.connect() as client:
        client.ehlo()
    assert http(mport, "/healthz")[0] == 200


def test_readyz_fails_while_the_queue_is_read_only(start_postern):
    """The queue directory bind-mounted read-only under the running daemon: 503 with the reason, then 200 again."""
    if os.geteuid() != 0:
        if CI:
            pytest.fail("the read-only queue test needs root to bind-mount", pytrace=False)
        pytest.skip("needs root to bind-mount the queue read-only")
    mport = free_port()
    server = start_postern(extra=metrics_config(mport))
    queue = str(server.queue_dir)
    subprocess.run(["mount", "--bind", "-o", "ro", queue, queue], check=True, capture_output=True)
    try:
        status, _, body = http(mport, "/readyz")
    finally:
        subprocess.run(["umount", "-l", queue], check=False, capture_output=True)
    assert status == 503, body
    assert re.match(rb"not ready: queue (directory .* is not writable|filesystem is read-only)", body), body
    assert http(mport, "/healthz")[0] == 200
    status, _, body = http(mport, "/readyz")
    assert (status, body) == (200, b"ready\n")


def test_scrape_passes_promtool(start_postern, sinks, tmp_path):
    promtool = require_tool("promtool")
    sink = sinks()
    mport = free_port()
    server = start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}),
                           extra=metrics_config(mport))
    with server.connect() as client:
        client.ehlo()
        queued_id(client.transaction("a@example.org", ["b@example.net"], make_message("lint")))
        expect(client.cmd("QUIT"), 221)
    sink.wait_for(1)
    scrape = wait_for(mport, lambda s: s.value("postern_delivery_recipients_total", result="delivered") == 1,
                      "the delivery")
    assert scrape.text.count("# HELP ") == scrape.text.count("# TYPE "), "every metric has help text"
    p = subprocess.run([promtool, "check", "metrics"], input=scrape.text.encode(), capture_output=True, timeout=60)
    assert p.returncode == 0, f"promtool check metrics:\n{p.stdout.decode()}{p.stderr.decode()}\n{scrape.text}"
