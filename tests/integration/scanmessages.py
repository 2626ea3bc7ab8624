"""Test messages for the content scanners: the EICAR virus test string in the places a
virus hides in mail, the GTUBE spam test string, a clean message, and a large message
generated block by block. All use CRLF line ends and are ready for DATA (no line starts
with "."), so `RawSMTP.transaction(..., body)` and the scanners' raw protocols take them
as they are.

- EICAR: https://www.eicar.org/download-anti-malware-testfile/ (68 bytes).
  clamd with tests/fixtures/clamav/test.ndb reports it as `Test.EICAR.NDB.UNOFFICIAL`.
- GTUBE: https://spamassassin.apache.org/gtube/ — SpamAssassin scores it 1000,
  rspamd answers "reject".
"""

from __future__ import annotations

import base64
import io
import zipfile

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR_NAME = "Test.EICAR.NDB.UNOFFICIAL"  # what clamd reports with tests/fixtures/clamav

DATE = "Sun, 06 Dec 2026 12:00:00 +0000"
BOUNDARY = "=_postern_test_boundary_0"

assert len(EICAR) == 68


def headers(subject: str, *, sender: str = "sender@example.org", to: str = "someone@example.net",
            msgid: str | None = None, extra: list[str] | None = None) -> bytes:
    lines = [f"From: <{sender}>", f"To: <{to}>", f"Subject: {subject}", f"Date: {DATE}",
             f"Message-ID: <{msgid or subject.lower().replace(' ', '-')}@client.example>", *(extra or [])]
    return ("\r\n".join(lines) + "\r\n").encode()


def crlf_base64(data: bytes) -> bytes:
    """Base64 in 76-character lines ended by CRLF (RFC 2045 §6.8)."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def multipart(subject: str, text: bytes, attachment_headers: list[str], attachment_body: bytes,
              **kw) -> bytes:
    """A multipart/mixed message: a text part, then one attachment."""
    head = headers(subject, extra=["MIME-Version: 1.0",
                                   f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"'], **kw)
    return (head + b"\r\n"
            + b"This is a multi-part message in MIME format.\r\n"
            + f"\r\n--{BOUNDARY}\r\n".encode()
            + b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text
            + f"\r\n--{BOUNDARY}\r\n".encode()
            + ("\r\n".join(attachment_headers) + "\r\n\r\n").encode() + attachment_body
            + f"\r\n--{BOUNDARY}--\r\n".encode())


def clean_message(subject: str = "Clean test message", **kw) -> bytes:
    """Plain text with nothing for any scanner to find."""
    return headers(subject, **kw) + b"\r\nHello,\r\n\r\nthe quarterly figures are attached in the shared folder.\r\n"


def eicar_attachment(**kw) -> bytes:
    """EICAR as a base64 application/octet-stream attachment."""
    return multipart("EICAR attachment", b"See the attached file.\r\n",
                     ["Content-Type: application/octet-stream; name=\"eicar.com\"",
                      "Content-Transfer-Encoding: base64",
                      "Content-Disposition: attachment; filename=\"eicar.com\""],
                     crlf_base64(EICAR), **kw)


def eicar_zip_bytes() -> bytes:
    """A zip archive (built in memory) holding eicar.com."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("eicar.com", EICAR)
    return buffer.getvalue()


def eicar_zip(**kw) -> bytes:
    """EICAR inside a zip, as a base64 application/zip attachment."""
    return multipart("EICAR in a zip", b"See the attached archive.\r\n",
                     ["Content-Type: application/zip; name=\"eicar.zip\"",
                      "Content-Transfer-Encoding: base64",
                      "Content-Disposition: attachment; filename=\"eicar.zip\""],
                     crlf_base64(eicar_zip_bytes()), **kw)


def eicar_forwarded(**kw) -> bytes:
    """A forwarded message (message/rfc822) whose own attachment is EICAR."""
    inner = eicar_attachment(sender="original@example.com")
    return multipart("Fwd: EICAR attachment", b"Forwarding this one.\r\n",
                     ["Content-Type: message/rfc822", "Content-Disposition: inline"],
                     inner.replace(BOUNDARY.encode(), b"=_inner_boundary_1"), **kw)


EICAR_MESSAGES = {
    "attachment": eicar_attachment,
    "zip": eicar_zip,
    "forwarded": eicar_forwarded,
}


def gtube_message(**kw) -> bytes:
    """The GTUBE string in a plain text body."""
    return (headers("GTUBE test", **kw)
            + b"\r\nThis is the GTUBE, the Generic Test for Unsolicited Bulk Email.\r\n\r\n"
            + GTUBE + b"\r\n\r\nIt should be classified as spam.\r\n")


def padded_message(size: int, subject: str = "Padded test message", **kw) -> bytes:
    """A clean message of exactly `size` octets (at least ~300): text lines of 78 characters."""
    head = headers(subject, **kw) + b"\r\n"
    assert size > len(head) + 2, f"size {size} is smaller than the header section"
    line = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n"
    room = size - len(head)
    body = line * (room // len(line))
    rest = room - len(body)
    if rest:
        body += b"x" * (rest - 2) + b"\r\n" if rest >= 2 else b""
        if len(head) + len(body) < size:  # rest == 1: widen the last line by one
            body = body[:-2] + b"x\r\n"
    assert len(head) + len(body) == size
    return head + body


def large_message_blocks(total: int = 50 * 1024 * 1024, *, virus: bool = False,
                         subject: str = "Large test message"):
    """A message of exactly `total` octets, yielded in blocks of about 64 KiB and never held
    whole: the header, then numbered 510-character lines. With virus=True the last line is
    EICAR (the .ndb signature matches at any offset, so clamd finds it at the very end)."""
    head = headers(subject) + b"\r\n"
    tail = EICAR + b"\r\n" if virus else b""
    body = total - len(head) - len(tail)
    assert body >= 4, f"total {total} is too small"
    yield head
    line_len, lines_per_block = 512, 128
    full, rest = divmod(body, line_len)
    if rest == 1:  # no 1-octet line: make the last two lines 256 + 257 octets
        full, rest = full - 1, line_len + 1
    sizes = [line_len] * full + ([rest] if rest <= line_len else [256, rest - 256])
    if rest == 0:
        sizes = [line_len] * full
    for start in range(0, len(sizes), lines_per_block):
        block = bytearray()
        for i, size in enumerate(sizes[start:start + lines_per_block]):
            tag = f"{start // lines_per_block:06d}:{i:03d} ".encode()[: size - 2]
            block += tag + b"m" * (size - 2 - len(tag)) + b"\r\n"
        yield bytes(block)
    if tail:
        yield tail
