"""Issue #10 item 6: `[attachments] block_extensions` against a sender who
tries every way to get an .exe past it that a mail reader would still show
as an attachment. Each message goes through a running Postern and must be
refused after the final dot (554 5.7.1): by the file's name, or as an
"Ambiguous MIME structure" when Postern refuses to guess how a reader
splits the message. Harmless lookalikes are queued.

EVASIONS (each was queued before this rule was hardened): a
transfer-encoded message/rfc822 (base64, quoted-printable, nested);
repeated Content-Disposition / Content-Type / Content-Transfer-Encoding
fields; repeated or gapped RFC 2231 sections; filename on Content-Type,
name on Content-Disposition; two boundaries, no boundary, a base64
multipart; too many parameters; uuencode and yEnc in text; x-uuencode; TNEF
winmail.dat (attAttachTitle, PR_ATTACH_LONG_FILENAME); a name of thousands
of characters; bidi overrides and zero-width spaces inside an extension.
KNOWN: name tricks already refused before (repeated parameter, NUL,
trailing dots and spaces, U+202E before the extension, RFC 2047 and 2231
names), kept so that they stay refused.
"""

from __future__ import annotations

import base64
import re
import struct

import pytest

from postern_harness import RawSMTP, expect, make_message, queued_id

CLIENT = "127.0.0.2"

POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]

[attachments]
block_extensions = ["exe"]
"""


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def b64(data: bytes | str) -> str:
    raw = crlf(data) if isinstance(data, str) else data
    encoded = base64.b64encode(raw).decode()
    return "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def mixed(headers: str, body: str = "TVqQAAMAAAAEAAAA") -> bytes:
    """multipart/mixed: a text part, then a part with `headers` and `body`."""
    return crlf("From: a@example.org\nTo: user@local.test\nSubject: files\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
                "--b1\nContent-Type: text/plain\n\nsee attached\n"
                f"--b1\n{headers}\n\n{body}\n--b1--\n")


def inner(filename: str = "evil.exe") -> str:
    """A forwarded message whose attachment is `filename`."""
    return ("From: b@example.org\nSubject: inner\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=in\n\n"
            "--in\nContent-Type: text/plain\n\nhi\n"
            f"--in\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"{filename}\"\n"
            "Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n--in--\n")


def tnef_attribute(level: int, ident: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, ident, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef(title: str, long_name: str | None = None) -> bytes:
    """winmail.dat (MS-OXTNEF): attAttachTitle, file data, attAttachment with PR_ATTACH_LONG_FILENAME."""
    out = struct.pack("<IH", 0x223E9F78, 0) + tnef_attribute(1, 0x00089006, struct.pack("<I", 0x00010000))
    out += tnef_attribute(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + bytes(8))
    out += tnef_attribute(2, 0x00018010, title.encode() + b"\0")
    out += tnef_attribute(2, 0x0006800F, b"MZ\x90\x00" * 64)
    if long_name is not None:
        raw = long_name.encode("utf-16-le") + b"\0\0"
        prop = struct.pack("<HHII", 0x001F, 0x3707, 1, len(raw)) + raw + bytes(-len(raw) % 4)
        out += tnef_attribute(2, 0x00069005, struct.pack("<I", 2) + struct.pack("<HHI", 0x0003, 0x0E21, 0) + prop)
    return out


UUENCODED = "begin 644 evil.exe\nM35J0``,````$````__\\``+@```````````````````````````````````\n`\nend"
LONG_NAME = "a" * 3000 + ".exe." + "b" * 40 + ".txt"


def folded(value: str, width: int = 900) -> str:
    """A long quoted value folded onto lines shorter than SMTP's 1000 octets."""
    return "\n ".join(value[i:i + width] for i in range(0, len(value), width))


def exe(label: str = "evil.exe") -> str:
    return "^" + re.escape(f'5.7.1 Attachment "{label}" refused: .exe files are not accepted') + "$"


def ambiguous(what: str) -> str:
    return "^" + re.escape(f"5.7.1 Ambiguous MIME structure: {what}") + "$"


OCTET = "Content-Type: application/octet-stream\n"

EVASIONS = {
    # 1. A transfer-encoded message/rfc822 (RFC 2046 §5.2.1 forbids it; readers decode it).
    "base64-rfc822": (mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64", b64(inner())), exe()),
    "qp-rfc822": (mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable",
                        inner("ev=\nil.exe").replace("filename=", "filename=3D")), exe()),
    "base64-in-base64-rfc822": (mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64",
                                      b64("From: c@example.org\nContent-Type: message/rfc822\n"
                                          "Content-Transfer-Encoding: base64\n\n" + b64(inner()))), exe()),
    # 2. Ambiguous fields and parameters.
    "two-dispositions": (mixed(OCTET + "Content-Disposition: attachment; filename=notes.txt\n"
                               "Content-Disposition: attachment; filename=evil.exe"), exe()),
    "two-content-types": (mixed("Content-Type: text/plain; name=notes.txt\nContent-Type: application/octet-stream; "
                                "name=evil.exe"),
                          ambiguous("Content-Type given twice with different values in part 1.2")),
    "two-encodings": (mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n"
                            "Content-Transfer-Encoding: base64", b64(inner())),
                      ambiguous("Content-Transfer-Encoding given twice with different values in part 1.2")),
    "rfc2231-section-twice": (mixed(OCTET + 'Content-Disposition: attachment; filename*0="a.txt"; filename*0="evil.exe"'),
                              exe()),
    "rfc2231-gap": (mixed(OCTET + 'Content-Disposition: attachment; filename*0="evil"; filename*1=".exe"; '
                          'filename*3=".txt"'), exe()),
    "filename-on-content-type": (mixed('Content-Type: application/octet-stream; filename="evil.exe"\n'
                                       "Content-Disposition: attachment"), exe()),
    "name-on-disposition": (mixed(OCTET + 'Content-Disposition: attachment; name="evil.exe"'), exe()),
    "two-boundaries": (crlf("Content-Type: multipart/mixed; boundary=\"a\"; boundary=\"b\"\n\n--b\n"
                            "Content-Type: application/octet-stream; name=evil.exe\n\nMZ\n--b--\n"),
                       ambiguous('conflicting values for parameter "boundary" in part 1')),
    "too-many-parameters": (mixed(OCTET + "Content-Disposition: attachment; "
                                  + ";\n ".join(f"x{i}=1" for i in range(70)) + ";\n filename=evil.exe"),
                            ambiguous("more parameters than are checked in part 1.2")),
    # 3. A multipart split differently by different readers.
    "no-boundary": (crlf("Content-Type: multipart/mixed\n\n--x\nContent-Type: application/octet-stream; name=evil.exe\n\n"
                         "MZ\n--x--\n"), ambiguous("multipart without boundary parameter in part 1")),
    "base64-multipart": (mixed("Content-Type: multipart/mixed; boundary=in\nContent-Transfer-Encoding: base64",
                               b64("--in\nContent-Type: application/octet-stream; name=evil.exe\n\nMZ\n--in--\n")),
                         ambiguous('container with transfer encoding "base64" in part 1.2')),
    # 4. Files inline in text.
    "uuencode-in-text": (mixed("Content-Type: text/plain", "see below\n\n" + UUENCODED), exe()),
    "uuencode-without-mime": (crlf("From: a@example.org\nSubject: old style\n\nhere it is\n" + UUENCODED + "\n"), exe()),
    "uuencode-in-qp-text": (mixed("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable",
                                  "see below\n\nbegin 644 ev=\nil.exe\n`\nend"), exe()),
    "yenc-in-text": (mixed("Content-Type: text/plain", "=ybegin line=128 size=4 name=evil.exe\nxxxx\n=yend size=4"),
                     exe()),
    "x-uuencode": (mixed(OCTET + "Content-Transfer-Encoding: x-uuencode", UUENCODED), exe()),
    # 5. TNEF.
    "tnef-title": (mixed("Content-Type: application/ms-tnef; name=winmail.dat\nContent-Transfer-Encoding: base64",
                         b64(tnef("evil.exe"))), exe()),
    "tnef-long-filename": (mixed("Content-Type: application/vnd.ms-tnef\nContent-Disposition: attachment; "
                                 "filename=winmail.dat\nContent-Transfer-Encoding: base64",
                                 b64(tnef("README.TXT", "invoice.exe"))), exe("invoice.exe")),
    "tnef-by-name-only": (mixed(OCTET + "Content-Disposition: attachment; filename=WINMAIL.DAT\n"
                                "Content-Transfer-Encoding: base64", b64(tnef("evil.exe"))), exe()),
    # 6. Names.
    "long-name": (mixed(OCTET + f'Content-Disposition: attachment; filename="{folded(LONG_NAME)}"'),
                  exe("a" * 80 + "...")),
    "bidi-inside-extension": (mixed(OCTET + "Content-Disposition: attachment; filename*=utf-8''evil.e%E2%80%AExe"),
                              exe("evil.e?xe")),
    "zero-width-inside-extension": (mixed('Content-Type: application/octet-stream; name="=?utf-8?q?evil=2Ee=E2=80=8Bxe?="'),
                                    exe("evil.e?xe")),
}


# Tricks the rule already refused before these evasions were handled; kept so
# that they stay refused.
KNOWN = {
    "filename-twice": (mixed(OCTET + 'Content-Disposition: attachment; filename="a.txt"; filename="evil.exe"'), exe()),
    "rfc2231-encoded": (mixed(OCTET + "Content-Disposition: attachment; filename*=utf-8''a%2Eexe"), exe("a.exe")),
    "rfc2231-beside-plain": (mixed(OCTET + "Content-Disposition: attachment; filename*=utf-8''a.txt; filename=evil.exe"),
                             exe()),
    "name-and-filename-disagree": (mixed("Content-Type: application/octet-stream; name=evil.exe\n"
                                         "Content-Disposition: attachment; filename=notes.txt"), exe()),
    "trailing-dot": (mixed(OCTET + 'Content-Disposition: attachment; filename="evil.exe."'), exe("evil.exe.")),
    "trailing-space": (mixed(OCTET + 'Content-Disposition: attachment; filename="evil.exe "'), exe("evil.exe ")),
    "nul": (mixed(OCTET + "Content-Disposition: attachment; filename*=utf-8''evil.exe%00.txt"), exe("evil.exe?.txt")),
    "rtl-override": (mixed(OCTET + "Content-Disposition: attachment; filename*=utf-8''evil%E2%80%AEtxt.exe"),
                     exe("evil?txt.exe")),
    "encoded-word": (mixed(OCTET + 'Content-Disposition: attachment; filename="=?utf-8?b?ZXZpbC5leGU=?="'), exe()),
    "unquoted-encoded-word": (mixed(OCTET + "Content-Disposition: attachment; filename==?utf-8?b?ZXZpbC5leGU=?="), exe()),
}

HARMLESS = {
    "base64-rfc822-pdf": mixed("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64", b64(inner("report.pdf"))),
    "same-content-type-twice": mixed("Content-Type: application/pdf; name=a.pdf\nContent-Type: application/pdf; name=a.pdf"),
    "prose-like-uuencode": mixed("Content-Type: text/plain", "begin 644 notes.txt\nbegin at 9 with evil.exe\n"),
    "tnef-text-file": mixed("Content-Type: application/ms-tnef; name=winmail.dat\nContent-Transfer-Encoding: base64",
                            b64(tnef("notes.txt", "notes.txt"))),
}


def send(server, body: bytes):
    """One message from an untrusted client to a local domain; the end-of-data reply."""
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<user@local.test>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(body + b".\r\n")
        reply = c.read_reply()
        # The session goes on after a refusal: a clean message is taken next.
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<user@local.test>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("clean") + b".\r\n")
        queued_id(c.read_reply())
        return reply


@pytest.fixture(scope="module")
def server(tmp_path_factory, postern_bin):
    from postern_harness import PosternServer, stop_servers
    instance = PosternServer(postern_bin, tmp_path_factory.mktemp("evasion"), name="evasion", policy=POLICY)
    instance.extra_config = ""
    instance.start()
    yield instance
    bad = stop_servers([instance])
    assert not bad, bad


@pytest.mark.parametrize("name", sorted(EVASIONS))
def test_evasion_is_refused(server, name):
    body, refusal = EVASIONS[name]
    assert all(len(line) <= 998 for line in body.split(b"\r\n")), "a line longer than SMTP allows"
    before = set(server.queue.ids())
    expect(send(server, body), 554, "5.7.1", refusal)
    assert len(set(server.queue.ids()) - before) == 1  # only the clean message


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_trick_stays_refused(server, name):
    body, refusal = KNOWN[name]
    expect(send(server, body), 554, "5.7.1", refusal)


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_lookalike_is_queued(server, name):
    before = set(server.queue.ids())
    queued_id(send(server, HARMLESS[name]))
    assert len(set(server.queue.ids()) - before) == 2
