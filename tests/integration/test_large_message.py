"""A 50 MiB message is spooled to disk as it arrives, never held whole in memory."""

import hashlib
import time

from postern_harness import expect, queued_id, record_body_size, split_received

MIB = 1024 * 1024
BODY_SIZE = 50 * MIB
RSS_GROWTH_BOUND = 40 * MIB


def body_blocks(total: int):
    """The body in 64 KiB blocks of 510-character lines: `total` octets, never all at once."""
    line_len = 512  # including CRLF
    lines_per_block = 65536 // line_len
    assert total % 65536 == 0
    for n in range(total // 65536):
        block = bytearray()
        for i in range(lines_per_block):
            tag = f"{n:06d}:{i:03d} ".encode()
            block += tag + b"m" * (line_len - 2 - len(tag)) + b"\r\n"
        yield bytes(block)


def test_fifty_mebibyte_message(start_postern, figures):
    srv = start_postern(limits={"max_message_size": 60 * MIB, "data_timeout": 600})
    headers = (b"From: <sender@example.org>\r\nTo: <someone@example.net>\r\nSubject: big\r\n"
               b"Date: Fri, 27 Nov 2026 21:00:00 +0000\r\nMessage-ID: <big@client.example>\r\n\r\n")
    digest = hashlib.sha256(headers)
    with srv.connect(timeout=300) as c:
        c.ehlo()
        expect(c.cmd(f"MAIL FROM:<sender@example.org> SIZE={len(headers) + BODY_SIZE}"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        rss_before = srv.proc_status("VmRSS")
        hwm_before = srv.proc_status("VmHWM")
        started = time.monotonic()
        c.send(headers)
        for block in body_blocks(BODY_SIZE):  # no line starts with ".", so no stuffing
            digest.update(block)
            c.send(block)
        c.send(b".\r\n")
        queue_id = queued_id(c.read_reply())
        elapsed = time.monotonic() - started
        hwm_after = srv.proc_status("VmHWM")
        expect(c.cmd("QUIT"), 221, "2.0.0")

    growth = hwm_after - rss_before
    figures(f"50 MiB message in {elapsed:.1f}s; RSS before {rss_before / MIB:.1f} MiB, "
          f"peak before {hwm_before / MIB:.1f} MiB, peak after {hwm_after / MIB:.1f} MiB, "
          f"growth {growth / MIB:.1f} MiB (bound {RSS_GROWTH_BOUND / MIB:.0f} MiB)")
    assert growth < RSS_GROWTH_BOUND, f"peak RSS grew by {growth / MIB:.1f} MiB while receiving 50 MiB"

    # The record: body, then its envelope and trailer (postern_harness.split_record).
    stored_path = srv.queue_dir / "msg" / f"{queue_id}.msg"
    body_size = record_body_size(stored_path)
    with open(stored_path, "rb") as f:
        head = f.read(4096)
        received, rest = split_received(head)
        stored_digest = hashlib.sha256(rest)
        left = body_size - len(head)
        while left > 0 and (chunk := f.read(min(1 << 20, left))):
            stored_digest.update(chunk)
            left -= len(chunk)
    assert body_size == len(received.encode()) + len(headers) + BODY_SIZE
    assert stored_digest.hexdigest() == digest.hexdigest(), "stored body differs from what was sent"
    entry = srv.queue.entry(queue_id)
    assert entry["size"] == body_size
