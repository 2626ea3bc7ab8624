"""RFC 3207 STARTTLS, with smtplib, swaks and a raw socket."""

import re
import ssl
import subprocess

import pytest

from postern_harness import (RawSMTP, RecordingSMTP, as_reply, check_received, expect, make_message, queued_id,
                             require_swaks_tls, split_received)


@pytest.fixture
def tls_server(start_postern, tls_cert):
    return start_postern(tls=tls_cert)


def trusting_context(tls_cert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls_cert[0])
    ctx.check_hostname = True
    return ctx


def test_ehlo_offers_starttls(tls_server):
    with tls_server.connect() as c:
        assert "STARTTLS" in c.ehlo()


def test_smtplib_starttls(tls_server, tls_cert):
    body = make_message("over tls")
    with RecordingSMTP("127.0.0.1", tls_server.port, local_hostname="client.example", timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        code, text = smtp.starttls(context=trusting_context(tls_cert))
        assert (code, text.split(b" ")[0]) == (220, b"2.0.0"), (code, text)
        assert smtp.sock.version() in ("TLSv1.2", "TLSv1.3")
        smtp.ehlo()
        assert not smtp.has_extn("starttls"), "STARTTLS offered again after TLS (RFC 3207 §4.2)"
        assert smtp.sendmail("sender@example.org", ["someone@example.net"], body) == {}
        queue_id = queued_id(as_reply(smtp.last_data_reply))
    stored = tls_server.queue.body(queue_id)
    check_received(stored, helo="client.example", queue_id=queue_id, proto="ESMTPS",
                   recipient="someone@example.net")
    assert split_received(stored)[1] == body
    assert tls_server.queue.entry(queue_id)["protocol"] == "ESMTPS"


def test_swaks_tls(tls_server):
    swaks = require_swaks_tls()
    p = subprocess.run([swaks, "--server", f"127.0.0.1:{tls_server.port}", "--tls", "--to", "someone@example.net",
                        "--from", "sender@example.org", "--helo", "client.example", "--timeout", "30"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"swaks exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    assert re.search(r"^<-  220 2\.0\.0", p.stdout, re.M), p.stdout
    m = re.search(r"^<~  250 2\.0\.0 Ok: queued as ([0-9A-F]{16})$", p.stdout, re.M)
    assert m, p.stdout
    queue_id = m.group(1)
    check_received(tls_server.queue.body(queue_id), helo="client.example", queue_id=queue_id, proto="ESMTPS",
                   recipient="someone@example.net")


def raw_starttls(server, tls_cert) -> tuple[RawSMTP, ssl.SSLSocket]:
    c = server.connect()
    c.ehlo()
    expect(c.cmd("STARTTLS"), 220, "2.0.0")
    assert not c.buffer, f"bytes after the 220 to STARTTLS: {bytes(c.buffer)!r}"
    c.sock = trusting_context(tls_cert).wrap_socket(c.sock, server_hostname="localhost")
    return c, c.sock


def test_mail_before_second_ehlo_is_refused(tls_server, tls_cert):
    c, _ = raw_starttls(tls_server, tls_cert)
    with c:
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 503, "5.5.1")
        ext = c.ehlo()
        assert "STARTTLS" not in ext
        expect(c.cmd("STARTTLS"), 503, "5.5.1")
        queue_id = c.transaction("sender@example.org", ["someone@example.net"], make_message("after re-ehlo"))
        queue_id = queued_id(queue_id)
    assert tls_server.queue.entry(queue_id)["protocol"] == "ESMTPS"


def test_transaction_before_starttls_is_forgotten(tls_server, tls_cert):
    c = tls_server.connect()
    with c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        reply = c.cmd("STARTTLS")
        if reply.code == 503:  # refusing STARTTLS inside a transaction is allowed too
            expect(reply, 503, "5.5.1")
            return
        expect(reply, 220, "2.0.0")
        c.sock = trusting_context(tls_cert).wrap_socket(c.sock, server_hostname="localhost")
        c.ehlo()
        # RFC 3207 §4.2: the session is back in its initial state, the transaction gone.
        expect(c.cmd("RCPT TO:<other@example.net>"), 503, "5.5.1")
        expect(c.cmd("DATA"), 503, "5.5.1")


def test_plaintext_pipelined_after_starttls_is_refused(tls_server):
    with tls_server.connect() as c:
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        expect(c.read_reply(), 554, "5.5.1")
        c.expect_closed()
    assert tls_server.queue.list() == []
