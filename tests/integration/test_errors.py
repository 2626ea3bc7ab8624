"""Protocol errors, over-long lines, HTTP on the SMTP port, and connection limits."""

import time

import pytest

from postern_harness import RawSMTP, expect, make_message, queued_id


def test_overlong_command_line(server):
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("NOOP " + "a" * 1995), 500, "5.5.6")  # 2000 octets + CRLF
        # Usable, and no stray reply left from the rest of the long line.
        expect(c.cmd("NOOP"), 250, "2.0.0")
        expect(c.cmd("MAIL FROM:<" + "b" * 1990 + "@example.org>"), 500, "5.5.6")
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("after")))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert [e["id"] for e in server.queue.list()] == [queue_id]


def test_overlong_line_arriving_in_pieces(server):
    with server.connect() as c:
        c.ehlo()
        for _ in range(4):
            c.send(b"z" * 500)
            time.sleep(0.02)
        c.send(b"\r\n")
        expect(c.read_reply(), 500, "5.5.6")
        expect(c.cmd("NOOP"), 250, "2.0.0")


def test_three_errors_then_421(server):
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("FOO"), 500, "5.5.2")
        expect(c.cmd("BAR baz"), 500, "5.5.2")
        expect(c.cmd("XYZZY"), 500, "5.5.2")
        expect(c.read_reply(), 421, "4.7.0", text="Too many errors")
        c.expect_closed()


def test_mixed_errors_count(server):
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("RCPT TO:<someone@example.net>"), 503, "5.5.1")
        expect(c.cmd("MAIL FROM:<bad address>"), 501, "5.1.7")
        expect(c.cmd("NOOP"), 250, "2.0.0")
        expect(c.cmd("DATA"), 503, "5.5.1")
        expect(c.read_reply(), 421, "4.7.0")
        c.expect_closed()


@pytest.mark.parametrize("request_line", [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    b"CONNECT 127.0.0.1:25 HTTP/1.1\r\n\r\n",
    b"HEAD / HTTP/1.0\r\n\r\n",
])
def test_http_request_closes_silently(server, request_line):
    with server.connect() as c:
        c.send(request_line)
        c.expect_closed()


def test_http_request_after_ehlo_closes_silently(server):
    with server.connect() as c:
        c.ehlo()
        c.send(b"GET / HTTP/1.1\r\n")
        c.expect_closed()


def test_unknown_mail_and_rcpt_parameters(server):
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org> FROBNICATE=yes"), 555, "5.5.4")
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net> NOTIFY=NEVER XFOO"), 555, "5.5.4")


def test_syntax_errors(start_postern):
    srv = start_postern(limits={"max_errors": 100})
    with srv.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL"), 501, "5.5.4")
        expect(c.cmd("MAIL TO:<sender@example.org>"), 501, "5.5.4")
        expect(c.cmd("MAIL FROM:sender@example.org"), 501, "5.1.7")
        expect(c.cmd("MAIL FROM:<sender@@example.org>"), 501, "5.1.7")
        expect(c.cmd("MAIL FROM:<sender@example.org> SIZE=abc"), 501, "5.5.4")
        expect(c.cmd("MAIL FROM:<sender@example.org> SIZE=" + "9" * 21), 501, "5.5.4")  # RFC 1870: 1*20DIGIT
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT"), 501, "5.5.4")
        expect(c.cmd("RCPT TO:<no-domain>"), 501, "5.1.3")
        expect(c.cmd("RCPT TO:<a@b@example.net>"), 501, "5.1.3")
        expect(c.cmd("RCPT TO:<Postmaster>"), 250, "2.1.5")  # RFC 5321 §4.5.1
        expect(c.cmd("RSET now"), 501, "5.5.4")
        expect(c.cmd("EHLO"), 501, "5.5.4")


def test_rcpt_before_mail(server):
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("RCPT TO:<someone@example.net>"), 503, "5.5.1")
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")


def test_mail_before_ehlo(server):
    with server.connect() as c:
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 503, "5.5.1")


def test_max_recipients(start_postern):
    srv = start_postern(limits={"max_recipients": 3})
    with srv.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        for i in range(3):
            expect(c.cmd(f"RCPT TO:<r{i}@example.net>"), 250, "2.1.5")
        expect(c.cmd("RCPT TO:<r3@example.net>"), 452, "4.5.3")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("three") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    entry = srv.queue.entry(queue_id)
    assert [r["address"] for r in entry["recipients"]] == ["r0@example.net", "r1@example.net", "r2@example.net"]


def _open(port: int, source: str | None = None) -> RawSMTP:
    return RawSMTP(port, greet=False, source=source)


def _eventually_greeted(port: int, timeout: float = 5.0, source: str | None = None) -> RawSMTP:
    """A slot freed by a QUIT may take a moment to be seen; retry a 421 briefly."""
    deadline = time.monotonic() + timeout
    while True:
        c = _open(port, source)
        reply = c.read_reply()
        if reply.code == 220 or time.monotonic() > deadline:
            expect(reply, 220)
            return c
        c.close()
        time.sleep(0.1)


@pytest.mark.parametrize("limit_key", ["max_connections_per_ip", "max_connections"])
def test_connection_limit(start_postern, limit_key):
    # Trusted networks are exempt from the per-address limit (test_limits.py):
    # the client comes from 127.0.0.2, outside them.
    policy = '[relay]\ntrusted_networks = ["127.0.0.1/32"]\n'
    srv = start_postern(limits={limit_key: 2}, policy=policy)
    first = _eventually_greeted(srv.port, source="127.0.0.2")
    second = _eventually_greeted(srv.port, source="127.0.0.2")
    try:
        with _open(srv.port, "127.0.0.2") as third:
            expect(third.read_reply(), 421, "4.7.0")
            third.expect_closed()
        # The two admitted sessions work normally.
        for c in (first, second):
            expect(c.cmd("EHLO client.example"), 250)
        expect(first.cmd("QUIT"), 221, "2.0.0")
        first.expect_closed()
        first.close()
        # The freed slot is available again.
        with _eventually_greeted(srv.port, source="127.0.0.2") as again:
            expect(again.cmd("NOOP"), 250, "2.0.0")
    finally:
        first.close()
        second.close()


def test_command_line_length_boundary(server):
    """RFC 5321 §4.5.3.1.4 as extended here: 1000 octets with CRLF are fine, 1001 are not."""
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("NOOP " + "a" * 993), 250, "2.0.0")
        expect(c.cmd("NOOP " + "a" * 994), 500, "5.5.6")
        expect(c.cmd("NOOP"), 250, "2.0.0")
