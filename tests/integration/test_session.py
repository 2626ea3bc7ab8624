"""Session behaviour around the transaction: HELO vs EHLO, IPv6 clients, timeouts, aborts."""

import socket
import time

import pytest

from postern_harness import CI, RECEIVED_RE, RawSMTP, check_received, expect, make_message, queued_id, split_received


def test_helo_client_is_received_with_smtp(server):
    with server.connect() as c:
        expect(c.cmd("HELO old.example"), 250)
        body = make_message("helo")
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], body))
    stored = server.queue.body(queue_id)
    check_received(stored, helo="old.example", queue_id=queue_id, proto="SMTP", recipient="someone@example.net")
    assert split_received(stored)[1] == body
    assert server.queue.entry(queue_id)["protocol"] == "SMTP"


def test_rset_forgets_the_transaction(server):
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<first@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<first@example.net>"), 250, "2.1.5")
        expect(c.cmd("RSET"), 250, "2.0.0")
        expect(c.cmd("DATA"), 503, "5.5.1")
        queue_id = queued_id(c.transaction("second@example.org", ["second@example.net"], make_message("after rset")))
    entry = server.queue.entry(queue_id)
    assert entry["sender"] == "second@example.org"
    assert [r["address"] for r in entry["recipients"]] == ["second@example.net"]


def test_ipv6_loopback_client(start_postern):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as e:
        if CI:
            pytest.fail(f"no IPv6 loopback: {e}", pytrace=False)
        pytest.skip(f"no IPv6 loopback: {e}")
    srv = start_postern(ipv6=True)
    with RawSMTP(srv.port, host="::1") as c:
        expect(c.greeting, 220)
        c.ehlo()
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("v6")))
    field, _ = split_received(srv.queue.body(queue_id))
    assert "[IPv6:::1]" in field, field
    assert RECEIVED_RE.fullmatch(field), field
    assert srv.queue.entry(queue_id)["client"] == "::1"


def test_command_timeout(start_postern):
    srv = start_postern(limits={"command_timeout": 1})
    with srv.connect() as c:
        c.ehlo()
        started = time.monotonic()
        c.sock.settimeout(10)
        expect(c.read_reply(), 421, "4.4.2")
        c.expect_closed()
        took = time.monotonic() - started
    assert 0.5 < took < 5, f"closed after {took:.1f}s with command_timeout = 1"


def test_data_timeout_queues_nothing(start_postern):
    srv = start_postern(limits={"data_timeout": 1, "command_timeout": 30})
    with srv.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(b"Subject: stalled\r\n\r\nhalf a message\r\n")
        c.sock.settimeout(10)
        expect(c.read_reply(), 421, "4.4.2")
        c.expect_closed()
    time.sleep(0.2)
    assert srv.queue.list() == []
    assert srv.queue.files("incoming") == [], "spool file of the timed-out message left in incoming/"


def test_client_vanishing_mid_data_queues_nothing(server):
    c = server.connect()
    c.ehlo()
    expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354)
    c.send(b"Subject: cut\r\n\r\n" + b"x" * 70 + b"\r\n" * 1000)
    c.close()
    # The server is still fine, and the aborted message is nowhere.
    with server.connect() as d:
        d.ehlo()
        queue_id = queued_id(d.transaction("sender@example.org", ["someone@example.net"], make_message("next")))
    time.sleep(0.3)
    assert server.queue.ids() == [queue_id]
    assert server.queue.files("incoming") == [], "spool file of the aborted message left in incoming/"
