"""RFC 1870 SIZE: refused up front when declared, after the final dot when not."""

import pytest

from postern_harness import dot_stuff, expect, make_message, queued_id, split_received

LIMIT = 100_000


@pytest.fixture
def small_server(start_postern):
    return start_postern(limits={"max_message_size": LIMIT})


def test_size_is_advertised(small_server):
    with small_server.connect() as c:
        assert c.ehlo()["SIZE"] == str(LIMIT)


def test_declared_size_over_limit(small_server):
    with small_server.connect() as c:
        c.ehlo()
        expect(c.cmd(f"MAIL FROM:<sender@example.org> SIZE={LIMIT + 1}"), 552, "5.3.4")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 503, "5.5.1")
        expect(c.cmd(f"MAIL FROM:<sender@example.org> SIZE={LIMIT}"), 250, "2.1.0")
        expect(c.cmd("RSET"), 250, "2.0.0")
        # RFC 1870: size-value = 1*20DIGIT; a legal value too large for 64 bits is still just too big.
        expect(c.cmd("MAIL FROM:<sender@example.org> SIZE=" + "9" * 20), 552, "5.3.4")
    assert small_server.queue.list() == []


def test_message_over_limit_refused_after_final_dot(small_server):
    line = "x" * 98 + "\r\n"
    big = make_message("too big", body=line * (2 * LIMIT // 100))
    small = make_message("small")
    with small_server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(dot_stuff(big) + b".\r\n")
        expect(c.read_reply(), 552, "5.3.4")
        # Same connection, next message: the server read to the end of the big one.
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], small))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert [e["id"] for e in small_server.queue.list()] == [queue_id]
    assert split_received(small_server.queue.body(queue_id))[1] == small
    assert small_server.queue.files("incoming") == []


def test_bdat_message_over_limit(small_server):
    chunk = b"y" * 998 + b"\r\n"
    with small_server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        payload = chunk * 60
        c.send(f"BDAT {len(payload)}\r\n".encode() + payload)
        expect(c.read_reply(), 250, "2.0.0")
        c.send(f"BDAT {len(payload)} LAST\r\n".encode() + payload)
        expect(c.read_reply(), 552, "5.3.4")
        small = make_message("small after bdat")
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], small))
    assert [e["id"] for e in small_server.queue.list()] == [queue_id]


def test_size_limit_boundary(small_server):
    """A message of exactly max_message_size octets is taken; one more octet is not."""
    head = b"Subject: boundary\r\n\r\n"

    def message(size: int) -> bytes:
        return head + b"z" * (size - len(head) - 2) + b"\r\n"

    with small_server.connect() as c:
        c.ehlo()
        exact = message(LIMIT)
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], exact))
        over = c.transaction("sender@example.org", ["someone@example.net"], message(LIMIT + 1))
        expect(over, 552, "5.3.4")
    assert small_server.queue.ids() == [queue_id]
    stored = small_server.queue.body(queue_id)
    assert stored.endswith(exact[len(head):])
