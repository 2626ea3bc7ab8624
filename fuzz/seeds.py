#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/<target>/ from real inputs in the tree.

    python3 fuzz/seeds.py            # from the repository root

- mime: the messages of the MIME, DSN and attachment tests (CRLF, as
  `messageBytes` sends them), and the same messages with bare LF;
- text: the same messages after a piece-size byte, some with dot lines and
  a line over 998 octets;
- header: their header sections, and the header texts of the RFC 2047 and
  RFC 2231 tests;
- toml: policies/*.toml, deploy/*.toml, the documents and values of the
  TOML and loader tests;
- spf: every TXT and SPF string of the RFC 7208 conformance suite;
- dns: wire answers of tests/spf/zoneserver.py (its answering code called
  directly, no query leaves the process) for the suite's zones;
- reply: the reply parser's test inputs and a few real server dialogues;
- envelope: envelope files in the format EnvelopeCodec writes;
- journal: commit journals as CommitJournal writes them (header, commit
  and removal records, a torn last record, a record of an old generation);
- quarantine: quarantine files as QuarantineRecord writes them, with and without DSN fields;
- imapmessage: the IMAP rendering fixtures, tests/fixtures/imap/*.eml;
- dkim: the DKIM-Signature values and key records of RFC 6376 and RFC 8463
  (Tests/DKIMTests/RFCExampleTests.swift), tag-list edge cases, and a few
  header sections and bodies for the field splitter and the body hash;
- proxy: the v1 lines of the PROXY header tests, and v2 headers as HAProxy
  sends them (TCP over IPv4 and IPv6, TLVs, LOCAL, UNIX), each followed by
  an SMTP command.

Only the seed-* files are written or replaced; the regression-* inputs
(each once failed a target, see the README's Fuzzing section) and the smtp
corpus are left alone. Needs dnslib and
PyYAML (already test dependencies, see scripts/deps.sh).
"""

import glob
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFORMANCE = os.environ.get("SPF_SUITE", "/work/shared/conformance/spf/rfc7208-tests.yml")


def swift_literals(path):
    """The string literals of a Swift file, unescaped; interpolated ones are skipped."""
    text = open(path, encoding="utf-8").read()
    literals = []
    index = 0
    while index < len(text):
        if text.startswith("//", index):
            index = text.find("\n", index)
            if index < 0:
                break
            continue
        match = re.compile(r'(#*)("""|")').match(text, index)
        if not match:
            index += 1
            continue
        hashes, quote = match.group(1), match.group(2)
        closing = quote + hashes
        start = match.end()
        end = start
        while True:
            end = text.find(closing, end)
            if end < 0:
                return literals
            if hashes or not _escaped(text, end):
                break
            end += 1
        body = text[start:end]
        index = end + len(closing)
        if quote == '"""':
            body = _dedent(body)
        if "\\" + hashes + "(" in body:
            continue
        literals.append(_unescape(body, hashes))
    return literals


def _escaped(text, position):
    backslashes = 0
    while position > 0 and text[position - 1] == "\\":
        backslashes += 1
        position -= 1
    return backslashes % 2 == 1


def _dedent(body):
    lines = body.split("\n")
    indent = lines[-1]
    content = lines[1:-1]
    out = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in content)
    return out.replace("\\\n", "")


def _unescape(body, hashes):
    escape = "\\" + hashes
    out = []
    index = 0
    simple = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", '"': '"', "'": "'", "\\": "\\"}
    while index < len(body):
        if body.startswith(escape, index) and index + len(escape) < len(body):
            char = body[index + len(escape)]
            if char in simple:
                out.append(simple[char])
                index += len(escape) + 1
                continue
            if char == "u" and body[index + len(escape) + 1:index + len(escape) + 2] == "{":
                close = body.index("}", index)
                out.append(chr(int(body[index + len(escape) + 2:close], 16)))
                index = close + 1
                continue
        out.append(body[index])
        index += 1
    return "".join(out)


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def write(target, name, data):
    directory = os.path.join(ROOT, "fuzz", target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(directory, name), "wb") as handle:
        handle.write(data)


def unique(items):
    seen = set()
    for item in items:
        key = hashlib.sha1(item if isinstance(item, bytes) else item.encode("utf-8")).hexdigest()
        if key not in seen:
            seen.add(key)
            yield item


def looks_like_message(text):
    return re.match(r"^(From |[A-Za-z0-9-]+:)", text) is not None and "\n" in text


def mime_and_header_seeds():
    files = sorted(glob.glob(os.path.join(ROOT, "Tests/MailMessageTests/*.swift")))
    files.append(os.path.join(ROOT, "Tests/PolicyTests/AttachmentFilterTests.swift"))
    files.append(os.path.join(ROOT, "Tests/PolicyTests/HeaderRewriterTests.swift"))
    messages = [text for path in files for text in swift_literals(path) if looks_like_message(text)]
    count = 0
    for number, text in enumerate(unique(messages)):
        write("mime", f"seed-message-{number:02}.eml", crlf(text))
        write("mime", f"seed-message-{number:02}-lf.eml", text.replace("\r\n", "\n"))
        # text: a piece-size byte, then the message (CRLF, then with dot lines and a long line).
        write("text", f"seed-message-{number:02}.txt", bytes([number % 256]) + crlf(text).encode("utf-8"))
        if number % 4 == 0:
            dotted = crlf(text).replace("\r\n", "\r\n.", 2) + "x" * 1000 + "\r\n"
            write("text", f"seed-message-{number:02}-dots.txt", bytes([0x80 | number % 128]) + dotted.encode("utf-8"))
        head = crlf(text).split("\r\n\r\n", 1)[0] + "\r\n"
        write("header", f"seed-section-{number:02}.txt", head)
        count += 1
    fields = [text for path in files for text in swift_literals(path)
              if not looks_like_message(text) and ("=?" in text or "*=" in text or "*0" in text or ";" in text)]
    for number, text in enumerate(unique(fields)):
        write("header", f"seed-field-{number:02}.txt", "Content-Type: " + text + "\r\n"
              if not re.match(r"^[A-Za-z-]+:", text) else crlf(text))
    return count


def toml_seeds():
    for path in sorted(glob.glob(os.path.join(ROOT, "policies/*.toml")) + glob.glob(os.path.join(ROOT, "deploy/*.toml"))):
        write("toml", "seed-" + os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path),
              open(path, "rb").read())
    literals = []
    for name in ["TOMLParserTests.swift", "ConfigLoaderTests.swift", "PolicyLoaderTests.swift"]:
        literals += swift_literals(os.path.join(ROOT, "Tests/PosternDaemonTests", name))
    documents = [text for text in literals if "=" in text or text.startswith("[")]
    values = [text for text in literals if text not in documents and text.strip()]
    for number, text in enumerate(unique(documents)):
        write("toml", f"seed-test-document-{number:03}.toml", text)
    for number, text in enumerate(unique(values)):
        write("toml", f"seed-test-value-{number:03}.toml", "value = " + text + "\n")


def suite():
    import yaml
    with open(CONFORMANCE, encoding="utf-8") as handle:
        return [document for document in yaml.safe_load_all(handle) if document]


def spf_seeds(scenarios):
    strings = []
    for scenario in scenarios:
        for entries in (scenario.get("zonedata") or {}).values():
            for entry in entries or []:
                if isinstance(entry, dict):
                    for rtype in ("SPF", "TXT"):
                        value = entry.get(rtype)
                        if value is None or value == "NONE":
                            continue
                        parts = value if isinstance(value, list) else [value]
                        strings.append(b"".join(p.encode("utf-8") if isinstance(p, str) else bytes(p) for p in parts))
    for number, data in enumerate(unique(strings)):
        write("spf", f"seed-suite-{number:03}.txt", data)


def dns_seeds(scenarios):
    sys.path.insert(0, os.path.join(ROOT, "tests/spf"))
    from dnslib import QTYPE, DNSRecord
    import zoneserver

    answers = []
    for scenario in scenarios:
        zone = zoneserver.Zone(scenario.get("zonedata") or {})
        server = zoneserver.ZoneServer(zone)  # binds 127.0.0.1 only; never started
        try:
            for name in list((scenario.get("zonedata") or {}).keys())[:6]:
                for qtype in ("A", "AAAA", "MX", "TXT", "PTR"):
                    query = DNSRecord.question(str(name), qtype)
                    query.header.id = 4242
                    reply = server.respond(query.pack(), over_tcp=False)
                    if reply:
                        answers.append(bytes(reply))
            missing = DNSRecord.question("no-such-name.example", "TXT")
            missing.header.id = 4242
            answers.append(bytes(server.respond(missing.pack(), over_tcp=False)))
        finally:
            server.close()
    # Keep the corpus small: the first answer of each distinct shape.
    shapes = {}
    for data in unique(answers):
        record = DNSRecord.parse(data)
        shape = (record.header.rcode, QTYPE.get(record.q.qtype),
                 tuple(sorted({QTYPE.get(rr.rtype) for rr in record.rr})), len(record.rr) > 1, len(record.auth) > 0)
        shapes.setdefault(shape, []).append(data)
    number = 0
    for group in shapes.values():
        for data in group[:3]:
            write("dns", f"seed-zoneserver-{number:03}.bin", data)
            number += 1


def reply_seeds():
    literals = swift_literals(os.path.join(ROOT, "Tests/DeliveryTests/ReplyParserTests.swift"))
    replies = [text for text in literals if re.match(r"^[0-9]{3}", text)]
    replies += [
        "220 mx.example.net ESMTP Postfix (Debian/GNU)\r\n",
        "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n"
        "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4XYZ\r\n",
        "421 4.7.0 mx.example.net Error: too many connections\r\n",
        "550-5.7.1 Service unavailable; client [192.0.2.1] blocked\r\n550 5.7.1 using zen.spamhaus.org\r\n",
        "451 4.3.0 <bob@example.net>: Temporary lookup failure\r\n",
        "221 2.0.0 Bye\r\n",
    ]
    for number, text in enumerate(unique(replies)):
        write("reply", f"seed-reply-{number:02}.txt", text)


def envelope_seeds():
    envelopes = [
        "postern-envelope 1\nid 0006123456789ABC\ncreated 1764277000.250000\nsender alice@example.org\nsize 1234\n"
        "state deferred\nattempts 3\nnext-attempt 1764280000.000000\nlast-reply 451%204.3.0%20try%20later\n"
        "client ::1\nhelo client%20example\nprotocol ESMTPS\n8bitmime 1\nsmtputf8 1\n"
        "rcpt pending - bob@example.net\nrcpt deferred 451%204.3.0%20try%20later \"odd%20name\"@example.net\n"
        "rcpt failed 550%205.1.1%20100%25%20gone 用户@例子.广告\nend\n",
        "postern-envelope 1\nid 0005F1A2B3C4D5E6\ncreated 1764277000.123456\nsender %\nsize 0\nstate ready\n"
        "attempts 0\nclient 192.0.2.7\nprotocol ESMTP\n8bitmime 0\nsmtputf8 0\nrcpt pending - postmaster\nend\n",
        "postern-envelope 1\nid 0006000000000001\ncreated 1764277000.000001\nsender bounce@example.org\nsize 99\n"
        "state hold\nattempts 12\nclient 2001:db8::1\nhelo [192.0.2.1]\nprotocol ESMTPSA\n8bitmime 1\nsmtputf8 0\n"
        "delay-warned 1\nrcpt delivered 250%202.0.0%20ok a@example.net\nrcpt deferred - b@example.net\nend\n",
        "postern-envelope 1\nid 0006000000000002\ncreated 1764277000.5\nsender q@example.org\nsize 5\n"
        "state quarantine\nattempts 1\nclient 127.0.0.1\nprotocol SMTP\nrcpt pending - x@example.net\nend\n",
        "postern-envelope 2\nid 0006000000000003\ncreated 1764277000.5\nsender d@example.org\nsize 5\n"
        "state ready\nattempts 0\nclient 127.0.0.1\nprotocol ESMTP\ndsn-ret FULL\ndsn-envid abc+def%20x\n"
        "dsn-rcpt 0 SUCCESS,FAILURE rfc822;bob+40x\ndsn-rcpt 1 NEVER -\n"
        "rcpt pending - a@example.net\nrcpt pending - b@example.net\nend\n",
    ]
    for number, text in enumerate(envelopes):
        write("envelope", f"seed-envelope-{number:02}.txt", text)
    # Whole queue records (MessageRecord): body, version-4 envelope, trailer.
    for number, body in enumerate(["Subject: hi\r\n\r\nbody\r\n", ""]):
        size = len(body.encode())
        envelope = ("postern-envelope 4\nid 0006000000000004\ncreated 1764277000.5\nsender r@example.org\n"
                    f"size {size}\nstate ready\nattempts 0\nclient 127.0.0.1\nprotocol ESMTP\n8bitmime 0\n"
                    "smtputf8 0\nrcpt pending - a@example.net\nend\n")
        write("envelope", f"seed-record-{number:02}.txt", body + envelope + f"postern-record {size:016x}\n")


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def journal_seeds():
    """Journals in CommitJournal's layout: a 32-octet header padded to 4 KiB,
    then records (magic, kind, generation, queue ID, length, CRC-32C)."""
    import struct

    def header(generation):
        head = b"postern-journal\n" + struct.pack("<IQ", 1, generation)
        return (head + struct.pack("<I", crc32c(head))).ljust(4096, b"\0")

    def record(kind, queue_id, generation, payload=b""):
        head = b"PJR1" + bytes([kind, 0, 0, 0]) + struct.pack("<QQI", generation, queue_id, len(payload))
        return head + struct.pack("<I", crc32c(payload, crc32c(head))) + payload

    body = "Subject: hi\r\n\r\nbody\r\n"
    envelope = ("postern-envelope 4\nid 0006000000000004\ncreated 1764277000.5\nsender r@example.org\n"
                f"size {len(body)}\nstate ready\nattempts 0\nclient 127.0.0.1\nprotocol ESMTP\n8bitmime 0\n"
                "smtputf8 0\nrcpt pending - a@example.net\nend\n")
    message = (body + envelope + f"postern-record {len(body):016x}\n").encode()
    one = header(7) + record(1, 0x0006000000000004, 7, message)
    seeds = [
        header(1),
        one,
        one + record(2, 0x0006000000000004, 7) + record(1, 0x0006000000000005, 7, message),
        one + record(1, 0x0006000000000005, 7, message)[:-9],   # torn
        one + record(1, 0x0006000000000005, 6, message),        # an older generation's
        header(9) + record(2, 0x0006000000000001, 9) + record(2, 0x0006000000000002, 9),
    ]
    for number, seed in enumerate(seeds):
        write("journal", f"seed-journal-{number:02}.bin", seed)


def quarantine_seeds():
    """Quarantine files as QuarantineRecord writes them (with and without
    DSN fields), and the field lines the unit tests feed it."""
    top = ("Return-Path: <alice@fail.test>\r\nX-Postern-Quarantine-ID: 0005F1A2B3C4D5E6\r\n"
           "X-Postern-Sender: <alice@fail.test>\r\nX-Postern-Recipient: <bob@local.test>\r\n"
           "X-Postern-Recipient: <\"x> NOTIFY=NEVER <y\"@local.test>\r\n")
    tail = ("X-Postern-Client: 127.0.0.2 (client.test)\r\nX-Postern-Protocol: ESMTPS BODY=8BITMIME SMTPUTF8\r\n"
            "X-Postern-Reason: SPF fail: 127.0.0.2 is not allowed to send for\r\n fail.test\r\n"
            "X-Postern-Quarantined: Sat, 6 Dec 2025 05:46:40 +0000\r\n"
            "Received: from client.test\r\nSubject: hi\r\n\r\nbody\r\n")
    dsn = ("X-Postern-Recipient-DSN: 0 NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+20Smith@Local.test <bob@local.test>\r\n"
           "X-Postern-Recipient-DSN: 1 NOTIFY=NEVER <\"x> NOTIFY=NEVER <y\"@local.test>\r\n"
           "X-Postern-DSN: RET=FULL ENVID=QQ+20314+2B159+3D<x>\r\n")
    literals = swift_literals(os.path.join(ROOT, "Tests/MailQueueTests/QuarantineMaildirTests.swift"))
    fields = [text for text in literals if text.startswith("X-Postern-")]
    for number, middle in enumerate(["", dsn] + fields):
        write("quarantine", f"seed-quarantine-{number:02}.txt", top + middle + tail)


def imap_message_seeds():
    """The IMAP rendering fixtures (tests/fixtures/imap), as stored."""
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "imap", "*.eml"))):
        name = os.path.basename(path)[:-4]
        with open(path, "rb") as handle:
            write("imapmessage", f"seed-{name}", handle.read())


def proxy_seeds():
    literals = swift_literals(os.path.join(ROOT, "Tests/ProxyProtocolTests/ProxyHeaderV1Tests.swift"))
    headers = [text.encode("utf-8") for text in literals if text.startswith("PROXY")]
    signature = b"\r\n\r\n\x00\r\nQUIT\n"

    def v2(command, family, block):
        return signature + bytes([command, family]) + len(block).to_bytes(2, "big") + block

    def tlv(kind, value):
        return bytes([kind]) + len(value).to_bytes(2, "big") + value

    tcp4 = bytes([192, 0, 2, 7, 10, 0, 0, 1]) + (56068).to_bytes(2, "big") + (25).to_bytes(2, "big")
    tcp6 = (bytes.fromhex("20010db8000000000000000000000001") + bytes.fromhex("20010db8000000000000000000000002")
            + (1234).to_bytes(2, "big") + (587).to_bytes(2, "big"))
    headers += [
        v2(0x21, 0x11, tcp4),
        v2(0x21, 0x21, tcp6),
        v2(0x21, 0x11, tcp4 + tlv(0x01, b"smtp") + tlv(0x02, b"mx.example.net") + tlv(0x05, b"\x01" * 32)
           + tlv(0x20, b"\x07\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3"))),
        v2(0x20, 0x00, b""),
        v2(0x21, 0x31, b"/run/lb.sock".ljust(108, b"\x00") * 2),
    ]
    for number, header in enumerate(unique(headers)):
        write("proxy", f"seed-proxy-{number:02}.bin", header + b"EHLO client.example\r\n")


def dkim_seeds():
    text = open(os.path.join(ROOT, "Tests/DKIMTests/RFCExampleTests.swift"), encoding="utf-8").read()
    blocks = re.findall(r'"""\n(.*?)"""', text, re.S)
    seeds = []
    for block in blocks:
        lines = [line[8:] if line.startswith("        ") else line for line in block.split("\n")]
        message = "\r\n".join(lines).encode("utf-8")
        seeds.append(message)
        for field in re.findall(rb"DKIM-Signature:(.*?)\r\n(?=[^ \t])", message, re.S):
            seeds.append(field)
    seeds += [record.encode("utf-8") for record in re.findall(r'"(v=DKIM1;[^"]*)"', text)]
    seeds += [b"v=1; a=rsa-sha256; d=example.com; s=s1; h=From:To; bh=AAAA; b=AA AA; l=10; t=1; x=2; i=@example.com",
              b"k=ed25519; t=y:s; h=sha256; p=", b"a=1;", b" a = b c ;\r\n\tz=9",
              b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"]
    for number, seed in enumerate(unique(seeds)):
        write("dkim", f"seed-dkim-{number:02}.bin", seed)


def main():
    count = mime_and_header_seeds()
    toml_seeds()
    scenarios = suite()
    spf_seeds(scenarios)
    dns_seeds(scenarios)
    reply_seeds()
    envelope_seeds()
    journal_seeds()
    quarantine_seeds()
    imap_message_seeds()
    proxy_seeds()
    dkim_seeds()
    for target in ["text", "mime", "header", "toml", "spf", "dns", "reply", "envelope", "journal", "imapmessage", "proxy", "dkim"]:
        print(f"{target}: {len(os.listdir(os.path.join(ROOT, 'fuzz', target)))} files")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
