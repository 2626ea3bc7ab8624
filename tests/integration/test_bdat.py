"""RFC 3030 CHUNKING: BDAT chunks are taken byte for byte, with no dot-stuffing."""

from postern_harness import expect, make_message, queued_id, split_received

# A body that would be mangled or cut short if BDAT content went through the DATA decoder.
TRICKY = (b".leading dot stays\r\n"
          b"..two dots stay two\r\n"
          b".\r\n"
          b"a lone dot above does not end anything\r\n"
          b"8bit: \xc3\xa9\xc3\xa0\xe2\x82\xac\r\n"
          b"MAIL FROM:<not-a-command@example.org>\r\n")


def start(c):
    c.ehlo()
    expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")


def bdat(c, chunk: bytes, last: bool = False):
    c.send(f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk)
    return c.read_reply()


def test_bdat_chunks_are_stored_byte_for_byte(server):
    message = make_message("chunks", body="") + TRICKY * 50
    # Cut the message so that one chunk ends between CR and LF of a line end.
    cut1 = message.index(b"\r\n", 300) + 1
    cut2 = len(message) // 2
    chunks = [message[:cut1], message[cut1:cut2], message[cut2:]]
    with server.connect() as c:
        start(c)
        expect(bdat(c, chunks[0]), 250, "2.0.0")
        expect(bdat(c, chunks[1]), 250, "2.0.0")
        queue_id = queued_id(bdat(c, chunks[2], last=True))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert split_received(server.queue.body(queue_id))[1] == message
    assert server.queue.entry(queue_id)["size"] == len(server.queue.body(queue_id))


def test_bdat_pipelined_in_one_write(server):
    message = make_message("pipelined bdat", body="") + TRICKY
    half = len(message) // 2
    with server.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<someone@example.net>\r\n"
               + f"BDAT {half}\r\n".encode() + message[:half]
               + f"BDAT {len(message) - half} LAST\r\n".encode() + message[half:]
               + b"QUIT\r\n")
        expect(c.read_reply(), 250, "2.1.0")
        expect(c.read_reply(), 250, "2.1.5")
        expect(c.read_reply(), 250, "2.0.0")
        queue_id = queued_id(c.read_reply())
        expect(c.read_reply(), 221, "2.0.0")
    assert split_received(server.queue.body(queue_id))[1] == message


def test_bdat_zero_last_ends_the_message(server):
    message = make_message("zero last", body="") + TRICKY
    with server.connect() as c:
        start(c)
        expect(bdat(c, message), 250, "2.0.0")
        queue_id = queued_id(bdat(c, b"", last=True))
    assert split_received(server.queue.body(queue_id))[1] == message


def test_bdat_zero_last_alone(server):
    """An empty message is still a message: queued, with Date and Message-ID added."""
    with server.connect() as c:
        start(c)
        queue_id = queued_id(c.cmd("BDAT 0 LAST"))
        expect(c.cmd("NOOP"), 250, "2.0.0")
    assert [e["id"] for e in server.queue.list()] == [queue_id]


def test_bdat_without_mail_skips_the_chunk(server):
    chunk = b"NOOP\r\nNOOP\r\nRSET\r\nQUIT\r\n"
    with server.connect() as c:
        c.ehlo()
        c.send(f"BDAT {len(chunk)}\r\n".encode() + chunk)
        expect(c.read_reply(), 503, "5.5.1")
        # The chunk's bytes were data, not commands: the next reply is this NOOP's.
        expect(c.cmd("NOOP"), 250, "2.0.0")
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        message = make_message("after skipped chunk")
        queue_id = queued_id(bdat(c, message, last=True))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert split_received(server.queue.body(queue_id))[1] == message


def test_bdat_without_recipient_skips_the_chunk(server):
    chunk = b"QUIT\r\n"
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        c.send(f"BDAT {len(chunk)} LAST\r\n".encode() + chunk)
        expect(c.read_reply(), 554, "5.5.1")
        expect(c.cmd("NOOP"), 250, "2.0.0")
    assert server.queue.list() == []


def test_bdat_bare_lf_refused_after_last_chunk(server):
    bad = b"Subject: bare lf\r\n\r\nline one\n.\nMAIL FROM:<evil@example.org>\r\n"
    with server.connect() as c:
        start(c)
        expect(bdat(c, bad), 250, "2.0.0")
        expect(bdat(c, b"more\r\n", last=True), 554, "5.6.0")
        # The connection stays open and usable.
        expect(c.cmd("NOOP"), 250, "2.0.0")
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        message = make_message("good after bad")
        queue_id = queued_id(bdat(c, message, last=True))
    assert [e["id"] for e in server.queue.list()] == [queue_id]


def test_data_after_bdat_is_refused(server):
    """RFC 3030 §3: DATA may not follow BDAT in the same transaction."""
    with server.connect() as c:
        start(c)
        expect(bdat(c, b"Subject: x\r\n"), 250, "2.0.0")
        expect(c.cmd("DATA"), 503, "5.5.1")
        expect(c.cmd("RSET"), 250, "2.0.0")
    assert server.queue.list() == []
