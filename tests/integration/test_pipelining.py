"""RFC 2920 PIPELINING: a group of commands in one write, replies in order."""

from postern_harness import dot_stuff, expect, make_message, queued_id, split_received


def test_ehlo_advertises_extensions(server):
    with server.connect() as c:
        expect(c.greeting, 220)
        assert c.greeting.lines[0].startswith("relay.test "), c.greeting
        ext = c.ehlo()
        for keyword in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"):
            assert keyword in ext, ext
        assert ext["SIZE"] == str(50 * 1024 * 1024), ext
        assert "STARTTLS" not in ext, ext
        expect(c.cmd("QUIT"), 221, "2.0.0")
        c.expect_closed()


def test_pipelined_transaction(server):
    body = make_message("pipelined", body=".leading dot\r\n..two\r\n.\r\nend\r\n")
    with server.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<sender@example.org>\r\n"
               b"RCPT TO:<one@example.net>\r\n"
               b"RCPT TO:<two@example.net>\r\n"
               b"DATA\r\n")
        expect(c.read_reply(), 250, "2.1.0")
        expect(c.read_reply(), 250, "2.1.5")
        expect(c.read_reply(), 250, "2.1.5")
        expect(c.read_reply(), 354)
        c.send(dot_stuff(body) + b".\r\n")
        queue_id = queued_id(c.read_reply())
        expect(c.cmd("QUIT"), 221, "2.0.0")
    entry = server.queue.entry(queue_id)
    assert [r["address"] for r in entry["recipients"]] == ["one@example.net", "two@example.net"]
    assert split_received(server.queue.body(queue_id))[1] == body


def test_two_transactions_in_one_write(server):
    """Everything after EHLO, both messages and QUIT, in a single send."""
    first, second = make_message("first"), make_message("second")
    with server.connect() as c:
        c.ehlo()
        wire = b""
        for body in (first, second):
            wire += b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<someone@example.net>\r\nDATA\r\n"
            wire += dot_stuff(body) + b".\r\n"
        c.send(wire + b"QUIT\r\n")
        ids = []
        for _ in range(2):
            expect(c.read_reply(), 250, "2.1.0")
            expect(c.read_reply(), 250, "2.1.5")
            expect(c.read_reply(), 354)
            ids.append(queued_id(c.read_reply()))
        expect(c.read_reply(), 221, "2.0.0")
        c.expect_closed()
    assert ids[0] != ids[1]
    assert split_received(server.queue.body(ids[0]))[1] == first
    assert split_received(server.queue.body(ids[1]))[1] == second


def test_pipelined_data_without_valid_recipient(server):
    with server.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<sender@example.org>\r\n"
               b"RCPT TO:<not an address>\r\n"
               b"DATA\r\n")
        expect(c.read_reply(), 250, "2.1.0")
        expect(c.read_reply(), 501, "5.1.3")
        expect(c.read_reply(), 554, "5.5.1")
        # DATA was refused, so what follows is a command again.
        expect(c.cmd("RSET"), 250, "2.0.0")
        expect(c.cmd("NOOP"), 250, "2.0.0")
    assert server.queue.list() == []
