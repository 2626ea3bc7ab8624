"""SMTP smuggling: a bare CR or LF in DATA is refused and the connection closed,
so that no message (neither the outer one nor one hidden in it) is queued."""

import time

import pytest

from postern_harness import ConnectionClosed, expect

SMUGGLED = (b"MAIL FROM:<admin@victim.example>\r\n"
            b"RCPT TO:<target@example.net>\r\n"
            b"DATA\r\n"
            b"From: admin@victim.example\r\n"
            b"Subject: smuggled\r\n\r\n"
            b"smuggled body\r\n"
            b".\r\n")

HEAD = b"From: <sender@example.org>\r\nSubject: outer\r\n\r\nouter body"

# (name, end-of-data look-alike)
VARIANTS = [
    ("lf-dot-lf", b"\n.\n"),
    ("lf-dot-crlf", b"\n.\r\n"),
    ("cr-dot-cr", b"\r.\r"),
    ("crlf-dot-lf", b"\r\n.\n"),
    ("crlf-dot-cr", b"\r\n.\r"),
    ("lf-dot-cr", b"\n.\r"),
    ("cr-dot-crlf", b"\r.\r\n"),
    ("crlf-dot-cr-cr-lf", b"\r\n.\r\r\n"),
]


def start_data(server):
    c = server.connect()
    c.ehlo()
    expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354)
    return c


def read_refusal_and_close(c):
    try:
        reply = c.read_reply()
    except ConnectionClosed as e:
        raise AssertionError(f"connection closed without a 554 5.6.0: {e}")
    expect(reply, 554, "5.6.0", text="(?i)bare")
    c.expect_closed()


@pytest.mark.parametrize("ending", [v[1] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_smuggled_message_in_one_write(server, ending):
    c = start_data(server)
    with c:
        try:
            c.send(HEAD + ending + SMUGGLED + b"more outer\r\n.\r\nQUIT\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        read_refusal_and_close(c)
    time.sleep(0.2)
    assert server.queue.list() == [], "a message was queued from a smuggling attempt"
    assert server.queue.files("msg") == []


@pytest.mark.parametrize("ending", [v[1] for v in VARIANTS[:4]], ids=[v[0] for v in VARIANTS[:4]])
def test_smuggled_message_split_across_writes(server, ending):
    """The bare CR/LF arrives at the end of one TCP segment and the dot in the next."""
    c = start_data(server)
    with c:
        try:
            c.send(HEAD + ending[:1])
            time.sleep(0.05)
            c.send(ending[1:] + SMUGGLED)
            time.sleep(0.05)
            c.send(b"\r\n.\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        read_refusal_and_close(c)
    time.sleep(0.2)
    assert server.queue.list() == []


@pytest.mark.parametrize("body", [
    b"Subject: cr\r\n\r\nhello\rworld\r\n",
    b"Subject: lf\r\n\r\nhello\nworld\r\n",
    b"Subject: lf-in-header\nX: y\r\n\r\nbody\r\n",
    b"Subject: trailing cr\r\n\r\nbody\r\r\n",
], ids=["bare-cr-mid-line", "bare-lf-mid-line", "bare-lf-in-header", "cr-cr-lf"])
def test_bare_cr_or_lf_anywhere(server, body):
    c = start_data(server)
    with c:
        try:
            c.send(body + b".\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        read_refusal_and_close(c)
    time.sleep(0.2)
    assert server.queue.list() == []
