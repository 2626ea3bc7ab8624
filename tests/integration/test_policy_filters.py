"""The policy filters other than relay control, AUTH and SPF, each with input
that passes and input that is refused or rewritten:

- senders: `[senders] block` (550 5.7.1) and `allowed` (553 5.7.1 "not allowed
  here"), `[[network]] senders` ("not allowed from your network"),
  `[users.NAME] senders` ("not owned by user …"), the null sender;
- recipients: `[recipients] block` (550 5.7.1) and `max_recipients` (452 4.5.3);
- size: the SIZE advertised and enforced per policy, network and user
  (552 5.3.4 at MAIL SIZE= and after the final dot);
- rate: messages and recipients per IP and per user (450 4.7.1);
- attachments: blocked extensions and content types, nested and RFC 2231
  names (554 5.7.1 after the final dot);
- headers: remove (name, /regex/), add, replace on an RFC 2047 Subject,
  masquerade of From and of the envelope sender, strip_received — checked in
  the queued bytes; untouched header sections stay byte for byte.

Clients connect from 127.0.0.2 / 127.0.0.3 (untrusted: trusted_networks is
127.0.0.1/32) unless the test is about something else; nothing is delivered.
"""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import email.utils
import re
import subprocess
from email.message import EmailMessage

import pytest

from postern_harness import (RawSMTP, add_user, auth_plain, expect, header_count, header_section, make_message,
                             queued_id, split_received)

CLIENT = "127.0.0.2"
BRANCH = "127.0.0.3"
PASSWORD = "filters-password"

RELAY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]
"""

AUTH = """\
[auth]
enabled = true
passwd_file = "passwd"
allow_plaintext = true
"""


def plain(user: str, password: str = PASSWORD) -> str:
    return auth_plain(user, password)


@pytest.fixture
def start_policy(start_postern, tmp_path, postern_bin):
    """start_policy(TOML, users=[...]) -> a server whose passwd file holds those users."""
    def start(policy: str, users: tuple[str, ...] = (), **kw):
        name = f"filters{len(list(tmp_path.glob('filters*')))}"
        (tmp_path / name).mkdir()
        for user in users:
            add_user(postern_bin, tmp_path / name / "passwd", user, PASSWORD)
        return start_postern(policy=policy, name=name, **kw)
    return start


def session(server, source: str | None = CLIENT, user: str | None = None) -> RawSMTP:
    c = RawSMTP(server.port, source=source)
    c.ehlo()
    if user:
        expect(c.cmd("AUTH PLAIN " + plain(user)), 235, "2.7.0")
    return c


def mail_from(server, sender: str, *, source: str | None = CLIENT, user: str | None = None):
    with session(server, source, user) as c:
        return c.cmd(f"MAIL FROM:<{sender}>")


def send(c: RawSMTP, body: bytes, sender: str = "someone@example.org", rcpt: str = "user@local.test"):
    """MAIL, RCPT, DATA, body; the end-of-data reply (whatever it is)."""
    expect(c.cmd(f"MAIL FROM:<{sender}>"), 250, "2.1.0")
    expect(c.cmd(f"RCPT TO:<{rcpt}>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354)
    c.send(body + b".\r\n")
    return c.read_reply()


def sized(total: int) -> bytes:
    """A message of about `total` octets (CRLF lines)."""
    head = make_message("size", body="")
    line = b"x" * 76 + b"\r\n"
    return head + line * max(0, (total - len(head)) // len(line))


# --------------------------------------------------------------------------
# Senders

SENDER_BLOCK = RELAY + """
[senders]
block = ["spammer@example.org", "@blocked.test", ".evil.test"]
"""

BLOCKED = r"^5\.7\.1 Sender address <{}> rejected: blocked by policy$"


@pytest.mark.parametrize("sender, blocked", [
    ("spammer@example.org", True),
    ("SPAMMER@Example.ORG", True),
    ("anyone@blocked.test", True),
    ("anyone@BLOCKED.TEST.", True),
    ("anyone@mail.evil.test", True),
    ("anyone@a.b.evil.test", True),
    ("friend@example.org", False),
    ("spammer@example.org.uk", False),
    ("anyone@notblocked.test", False),
    ("anyone@evil.test", False),          # ".evil.test" is its subdomains only
    ("", False),
])
def test_sender_block_list(start_policy, sender, blocked):
    server = start_policy(SENDER_BLOCK)
    reply = mail_from(server, sender)
    if blocked:
        rendered = re.sub(r"\.$", "", sender)
        expect(reply, 550, "5.7.1", BLOCKED.format(re.escape(rendered)))
    else:
        expect(reply, 250, "2.1.0")


def test_sender_block_applies_to_trusted_clients_and_the_null_sender(start_policy):
    server = start_policy(RELAY + '\n[senders]\nblock = ["<>", "@blocked.test"]\n')
    expect(mail_from(server, "", source=None), 550, "5.7.1", BLOCKED.format(""))
    expect(mail_from(server, "x@blocked.test", source=None), 550, "5.7.1", BLOCKED.format("x@blocked\\.test"))
    expect(mail_from(server, "x@example.org", source=None), 250)


SENDER_ALLOWED = RELAY + """
[senders]
allowed = ["@local.test", ".partner.test", "boss@hq.test"]
"""


@pytest.mark.parametrize("sender, allowed", [
    ("anyone@local.test", True),
    ("Anyone@LOCAL.test", True),
    ("x@mail.partner.test", True),
    ("boss@hq.test", True),
    ("", True),                          # bounces pass the allow lists
    ("x@partner.test", False),
    ("other@hq.test", False),
    ("x@example.org", False),
    ("x@sub.local.test", False),
])
def test_sender_allowed_list(start_policy, sender, allowed):
    server = start_policy(SENDER_ALLOWED)
    reply = mail_from(server, sender)
    if allowed:
        expect(reply, 250, "2.1.0")
    else:
        expect(reply, 553, "5.7.1", rf"^5\.7\.1 Sender address <{re.escape(sender)}> not allowed here$")


NETWORK_SENDERS = RELAY + """
[[network]]
networks = ["127.0.0.3/32"]
senders = ["@branch.test"]
"""


def test_network_senders(start_policy):
    server = start_policy(NETWORK_SENDERS)
    expect(mail_from(server, "a@branch.test", source=BRANCH), 250)
    expect(mail_from(server, "", source=BRANCH), 250)
    expect(mail_from(server, "a@local.test", source=BRANCH), 553, "5.7.1",
           r"^5\.7\.1 Sender address <a@local\.test> not allowed from your network$")
    expect(mail_from(server, "a@sub.branch.test", source=BRANCH), 553, "5.7.1")
    # Other networks are not bound by the rule.
    expect(mail_from(server, "a@local.test", source=CLIENT), 250)


USER_SENDERS = RELAY + AUTH + """
[senders]
allowed = ["@local.test"]

[[network]]
networks = ["127.0.0.2/32"]
senders = ["@branch.test"]

[users.alice]
senders = ["alice@local.test", "@team.test"]
"""


@pytest.mark.parametrize("user, sender, owned", [
    ("alice", "alice@local.test", True),
    ("alice", "ALICE@Local.Test", True),
    ("alice", "anyone@team.test", True),
    ("alice", "", True),
    ("alice", "bob@local.test", False),
    ("alice", "alice@branch.test", False),    # the network's grant is not the user's
    ("alice", "x@sub.team.test", False),
    ("bob@local.test", "bob@local.test", True),  # named like an address: may send as itself
    ("bob@local.test", "BOB@local.test", True),
    ("bob@local.test", "alice@local.test", False),
])
def test_user_sender_grants(start_policy, user, sender, owned):
    server = start_policy(USER_SENDERS, users=("alice", "bob@local.test"))
    reply = mail_from(server, sender, user=user)
    if owned:
        expect(reply, 250, "2.1.0")
    else:
        expect(reply, 553, "5.7.1",
               rf"^5\.7\.1 Sender address <{re.escape(sender)}> not owned by user {re.escape(user)}$")


def test_user_with_grants_can_relay_as_owned_sender(start_policy):
    server = start_policy(USER_SENDERS, users=("alice",))
    with session(server, user="alice") as c:
        queue_id = queued_id(send(c, make_message("as alice"), sender="x@team.test", rcpt="far@external.test"))
    assert server.queue.entry(queue_id)["sender"] == "x@team.test"


# --------------------------------------------------------------------------
# Recipients

RECIPIENTS = RELAY + """
[recipients]
block = ["ceo@local.test", "@blackhole.test"]
max_recipients = 3
"""


@pytest.mark.parametrize("rcpt, blocked", [
    ("ceo@local.test", True),
    ("CEO@Local.Test", True),
    ("x@blackhole.test", True),
    ("ceo2@local.test", False),
    ("x@sub.blackhole.test", False),
    ("x@example.net", False),
])
def test_recipient_block_list(start_policy, rcpt, blocked):
    server = start_policy(RECIPIENTS)
    with session(server, source=None) as c:  # trusted: only the block list can refuse
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
        reply = c.cmd(f"RCPT TO:<{rcpt}>")
    if blocked:
        expect(reply, 550, "5.7.1", rf"^5\.7\.1 Recipient address <{re.escape(rcpt)}> rejected: blocked by policy$")
    else:
        expect(reply, 250, "2.1.5")


def test_max_recipients(start_policy):
    server = start_policy(RECIPIENTS)
    with session(server) as c:
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
        expect(c.cmd("RCPT TO:<ceo@local.test>"), 550, "5.7.1")  # refused ones do not count
        for n in range(3):
            expect(c.cmd(f"RCPT TO:<user{n}@local.test>"), 250, "2.1.5")
        expect(c.cmd("RCPT TO:<user3@local.test>"), 452, "4.5.3", r"^4\.5\.3 Too many recipients$")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("three") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    addresses = [r["address"] for r in server.queue.entry(queue_id)["recipients"]]
    assert addresses == ["user0@local.test", "user1@local.test", "user2@local.test"]


# --------------------------------------------------------------------------
# Size

SIZE = RELAY + AUTH + """
[size]
max_message_size = "8K"

[[network]]
networks = ["127.0.0.3/32"]
max_message_size = 4096

[users.alice]
senders = ["@local.test"]
max_message_size = "2K"
"""


def too_big(limit: int) -> str:
    return rf"^5\.3\.4 Message size exceeds fixed maximum message size \({limit} octets\)$"


@pytest.mark.parametrize("source, user, limit", [(CLIENT, None, 8192), (BRANCH, None, 4096), (CLIENT, "alice", 2048)],
                         ids=["policy", "network", "user"])
def test_size_limit_advertised_and_enforced(start_policy, source, user, limit):
    server = start_policy(SIZE, users=("alice",))
    sender = "alice@local.test" if user else "someone@example.org"
    with session(server, source=source, user=user) as c:
        assert c.ehlo()["SIZE"] == str(limit)
        expect(c.cmd(f"MAIL FROM:<{sender}> SIZE={limit + 1}"), 552, "5.3.4", too_big(limit))
        expect(c.cmd(f"MAIL FROM:<{sender}> SIZE={limit - 100}"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<user@local.test>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(sized(limit + 2000) + b".\r\n")
        expect(c.read_reply(), 552, "5.3.4", too_big(limit))
        queue_id = queued_id(send(c, sized(limit - 600), sender=sender))
    assert server.queue.ids() == [queue_id]


def test_user_limit_applies_after_auth_in_the_same_session(start_policy):
    server = start_policy(SIZE, users=("alice",))
    with session(server) as c:
        assert c.ehlo()["SIZE"] == "8192"
        expect(c.cmd("AUTH PLAIN " + plain("alice")), 235)
        expect(c.cmd("MAIL FROM:<alice@local.test> SIZE=4000"), 552, "5.3.4", too_big(2048))


def test_policy_limit_never_exceeds_the_global_limit(start_policy):
    server = start_policy(RELAY + '\n[size]\nmax_message_size = "1M"\n', limits={"max_message_size": 20000})
    with session(server) as c:
        assert c.ehlo()["SIZE"] == "20000"
        expect(c.cmd("MAIL FROM:<a@example.org> SIZE=20001"), 552, "5.3.4", too_big(20000))


# --------------------------------------------------------------------------
# Rate limits


def rate_refusal(what: str, who: str) -> str:
    return rf"^4\.7\.1 Rate limit exceeded: too many {what} from {re.escape(who)}, try again later$"


def test_messages_per_ip(start_policy):
    server = start_policy(RELAY + '\n[senders]\nblock = ["@blocked.test"]\n\n[rate]\nwindow = "1h"\nmessages_per_ip = 2\n')
    with session(server) as c:
        expect(c.cmd("MAIL FROM:<x@blocked.test>"), 550)  # refused by another filter: not counted
        expect(c.cmd("MAIL FROM:<a@example.org>"), 250)
        expect(c.cmd("RSET"), 250)
        queued_id(send(c, make_message("second")))
        expect(c.cmd("MAIL FROM:<a@example.org>"), 450, "4.7.1", rate_refusal("messages", CLIENT))
    # Still refused in a new session from the same address…
    expect(mail_from(server, "a@example.org"), 450, "4.7.1", rate_refusal("messages", CLIENT))
    # …but not from another one.
    expect(mail_from(server, "a@example.org", source=BRANCH), 250)


def test_recipients_per_ip(start_policy):
    server = start_policy(RELAY + "\n[rate]\nrecipients_per_ip = 3\n")
    with session(server) as c:
        expect(c.cmd("MAIL FROM:<a@example.org>"), 250)
        expect(c.cmd("RCPT TO:<x@external.test>"), 554, "5.7.1")  # relay refusal: not counted
        for n in range(3):
            expect(c.cmd(f"RCPT TO:<u{n}@local.test>"), 250)
        expect(c.cmd("RCPT TO:<u3@local.test>"), 450, "4.7.1", rate_refusal("recipients", CLIENT))
        expect(c.cmd("DATA"), 354)
        c.send(make_message("three of four") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    assert len(server.queue.entry(queue_id)["recipients"]) == 3
    with session(server, source=BRANCH) as c:
        expect(c.cmd("MAIL FROM:<a@example.org>"), 250)
        expect(c.cmd("RCPT TO:<u@local.test>"), 250)


def test_messages_per_user(start_policy):
    policy = RELAY + AUTH + '\n[users.alice]\nsenders = ["@local.test"]\n\n[rate]\nmessages_per_user = 1\n'
    server = start_policy(policy, users=("alice",))
    with session(server, user="alice") as c:
        queued_id(send(c, make_message("one"), sender="alice@local.test"))
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 450, "4.7.1", rate_refusal("messages", "user alice"))
    # The count follows the user to another address; unauthenticated mail is not counted against it.
    expect(mail_from(server, "alice@local.test", source=BRANCH, user="alice"), 450, "4.7.1",
           rate_refusal("messages", "user alice"))
    expect(mail_from(server, "someone@example.org", source=BRANCH), 250)


def test_recipients_per_user(start_policy):
    policy = RELAY + AUTH + '\n[users.alice]\nsenders = ["@local.test"]\n\n[rate]\nrecipients_per_user = 2\n'
    server = start_policy(policy, users=("alice",))
    with session(server, user="alice") as c:
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250)
        expect(c.cmd("RCPT TO:<a@external.test>"), 250)
        expect(c.cmd("RCPT TO:<b@external.test>"), 250)
        expect(c.cmd("RCPT TO:<c@external.test>"), 450, "4.7.1", rate_refusal("recipients", "user alice"))
    with session(server, source=BRANCH, user="alice") as c:
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250)
        expect(c.cmd("RCPT TO:<d@external.test>"), 450, "4.7.1", rate_refusal("recipients", "user alice"))


# --------------------------------------------------------------------------
# Attachments

ATTACHMENTS = RELAY + """
[attachments]
block_extensions = ["exe", ".scr"]
block_content_types = ["application/x-msdownload"]
"""


def with_attachment(filename: str | tuple | None, content_type: str = "application/octet-stream",
                    nested: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "someone@example.org"
    msg["To"] = "user@local.test"
    msg["Subject"] = "attachment"
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = email.utils.make_msgid(domain="client.example")
    msg.set_content("See attached (evil.exe is only mentioned here).\n")
    maintype, subtype = content_type.split("/")
    part = EmailMessage()
    part.set_content(b"MZ\x90\x00" * 64, maintype=maintype, subtype=subtype, filename=filename)
    if nested:
        inner = EmailMessage()
        inner["Subject"] = "forwarded"
        inner.set_content("inner\n")
        inner.add_attachment(b"MZ\x90\x00" * 64, maintype=maintype, subtype=subtype, filename=filename)
        msg.add_attachment(inner)
    else:
        msg.add_attachment(b"MZ\x90\x00" * 64, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP)


def refused_attachment(label: str, reason: str) -> str:
    return "^" + re.escape(f'5.7.1 Attachment "{label}" refused: {reason}') + "$"


@pytest.mark.parametrize("filename, content_type, nested, refusal", [
    ("evil.exe", "application/octet-stream", False, ("evil.exe", ".exe files are not accepted")),
    ("EVIL.EXE", "application/octet-stream", False, ("EVIL.EXE", ".exe files are not accepted")),
    ("invoice.pdf.exe", "application/pdf", False, ("invoice.pdf.exe", ".exe files are not accepted")),
    ("screensaver.scr", "application/octet-stream", False, ("screensaver.scr", ".scr files are not accepted")),
    (("utf-8", "", "rechnung-ü.exe"), "application/octet-stream", False,
     ("rechnung-?.exe", ".exe files are not accepted")),
    ("evil.exe", "application/octet-stream", True, ("evil.exe", ".exe files are not accepted")),
    ("x", "application/x-msdownload", False, ("x", "application/x-msdownload is not accepted")),
    ("report.pdf", "application/pdf", False, None),
    ("evil.exe.txt", "text/plain", False, None),
    ("exe", "application/octet-stream", False, None),
    ("notes.scr.pdf", "application/pdf", True, None),
], ids=["exe", "upper-case", "double-extension", "scr-with-dot-in-config", "rfc2231-name", "nested-rfc822",
        "content-type", "pdf", "exe-then-txt", "bare-name-exe", "nested-pdf"])
def test_attachments(start_policy, filename, content_type, nested, refusal):
    server = start_policy(ATTACHMENTS)
    body = with_attachment(filename, content_type, nested)
    with session(server) as c:
        reply = send(c, body)
        if refusal:
            expect(reply, 554, "5.7.1", refused_attachment(*refusal))
            assert server.queue.ids() == []
            # The session goes on: a clean message is taken next.
            queued_id(send(c, make_message("clean")))
        else:
            queue_id = queued_id(reply)
            assert split_received(server.queue.body(queue_id))[1] == body


def test_attachments_in_bdat_chunks_and_in_large_messages(start_policy):
    server = start_policy(ATTACHMENTS)
    evil = with_attachment("evil.exe")
    with session(server) as c:
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
        expect(c.cmd("RCPT TO:<user@local.test>"), 250)
        half = len(evil) // 2
        c.send(f"BDAT {half}\r\n".encode() + evil[:half])
        expect(c.read_reply(), 250, "2.0.0")
        c.send(f"BDAT {len(evil) - half} LAST\r\n".encode() + evil[half:])
        expect(c.read_reply(), 554, "5.7.1", refused_attachment("evil.exe", ".exe files are not accepted"))
        # 4 MB of text before the attachment: the check reads the spooled file, not memory.
        big = evil.replace(b"See attached", b"See attached\r\n" + (b"y" * 998 + b"\r\n") * 4000, 1)
        expect(send(c, big), 554, "5.7.1", refused_attachment("evil.exe", ".exe files are not accepted"))
    assert server.queue.ids() == []


# --------------------------------------------------------------------------
# Header rules

HEADERS = RELAY + r"""
[headers]
remove = ["X-Secret", "/^X-Internal-/"]
strip_received = true

[[headers.replace]]
name = "Subject"
pattern = '^\[SECRET\] '
replacement = ""

[[headers.replace]]
name = "Subject"
pattern = '(?i)ticket #(\d+)'
replacement = "case $1"

[headers.masquerade]
domains = ["mail.corp.test", ".dept.corp.test"]
as = "corp.test"
"""


def encoded(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def message(*fields: str, body: str = "Body.\r\n") -> bytes:
    return ("\r\n".join(fields) + "\r\n\r\n" + body).encode()


def stored_fields(server, queue_id: str) -> tuple[list[tuple[str, str]], bytes]:
    """The header fields after our Received line (name, unfolded raw value after the colon), and the body."""
    _, rest = split_received(server.queue.body(queue_id))
    head = header_section(rest)
    unfolded = re.sub(rb"\r\n(?=[ \t])", b"", head).decode()
    fields = [tuple(line.split(":", 1)) for line in unfolded.split("\r\n") if line]
    return fields, rest[len(head) + 2:]


def decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


@pytest.fixture
def header_server(start_policy):
    return start_policy(HEADERS)


def relay_through(server, body: bytes, sender: str = "someone@example.org") -> str:
    with session(server, source=None) as c:
        return queued_id(send(c, body, sender=sender, rcpt="r@example.net"))


def test_untouched_header_section_is_kept_byte_for_byte(header_server):
    body = message("From: Someone <someone@example.org>", "To: r@example.net",
                   "Subject:   plain   subject,  ticket number 7", "X-Secretive: kept (not the exact name)",
                   "X-Not-Internal-Id: kept (regex anchored)", "Message-ID: <a@b>",
                   "Date: Mon, 1 Jan 2024 00:00:00 +0000", body="X-Secret: in the body\r\nReceived: too\r\n")
    queue_id = relay_through(header_server, body)
    assert split_received(header_server.queue.body(queue_id))[1] == body


def test_remove_by_name_and_by_regex(header_server):
    body = message("From: someone@example.org", "X-Secret: one", "x-secret: two", "X-Internal-Id: 3",
                   "x-internal-host: h", "X-Keep: yes", "X-Internal: no dash after", "Subject: s",
                   body="X-Secret: body lines are not headers\r\n")
    fields, rest = stored_fields(header_server, relay_through(header_server, body))
    names = [name for name, _ in fields]
    assert "X-Secret" not in names and "x-secret" not in names
    assert not [n for n in names if n.lower().startswith("x-internal-")], names
    assert ("X-Keep", " yes") in fields and ("X-Internal", " no dash after") in fields, fields
    assert rest == b"X-Secret: body lines are not headers\r\n"


def test_replace_on_encoded_subject(header_server):
    body = message("From: someone@example.org", "Subject: " + encoded("[SECRET] Grüße zu Ticket #42"))
    fields, _ = stored_fields(header_server, relay_through(header_server, body))
    subject = dict(fields)["Subject"]
    assert decoded(subject) == "Grüße zu case 42", subject
    assert subject.isascii(), f"the replaced Subject must be RFC 2047-encoded again: {subject!r}"

    # A Subject the patterns do not match keeps its encoded words as they were.
    original = encoded("Grüße, nichts Geheimes")
    fields, _ = stored_fields(header_server, relay_through(header_server, message("Subject: " + original)))
    assert dict(fields)["Subject"] == " " + original


def test_masquerade_from_and_envelope_sender(header_server):
    body = message('From: "alice@mail.corp.test" <alice@mail.corp.test>',
                   "Sender: helper@x.dept.corp.test",
                   "Reply-To: bob@a.dept.corp.test, carol@other.test",
                   "To: team@mail.corp.test", "Subject: about alice@mail.corp.test")
    queue_id = relay_through(header_server, body, sender="alice@x.dept.corp.test")
    fields = dict(stored_fields(header_server, queue_id)[0])
    assert fields["From"] == ' "alice@mail.corp.test" <alice@corp.test>'  # display name untouched
    assert fields["Sender"] == " helper@corp.test"
    assert fields["Reply-To"] == " bob@corp.test, carol@other.test"
    assert fields["To"] == " team@mail.corp.test", "only originator fields are masqueraded"
    assert fields["Subject"] == " about alice@mail.corp.test"
    assert header_server.queue.entry(queue_id)["sender"] == "alice@corp.test"
    show = subprocess.run([header_server.binary, "queue", "show", queue_id, "--queue-dir", str(header_server.queue_dir)],
                          capture_output=True, text=True, timeout=60)
    assert re.search(r"^sender: <alice@corp\.test>$", show.stdout, re.M), show.stdout


@pytest.mark.parametrize("sender, from_field", [
    ("alice@corp.test", "alice@corp.test"),            # already the target
    ("alice@dept.corp.test", "alice@dept.corp.test"),  # ".dept.corp.test" is subdomains only
    ("alice@other.test", "alice@mail.corp.test.example"),
    ("", "MAILER-DAEMON@other.test"),
])
def test_masquerade_leaves_other_addresses(header_server, sender, from_field):
    queue_id = relay_through(header_server, message(f"From: <{from_field}>", "Subject: s"), sender=sender)
    assert dict(stored_fields(header_server, queue_id)[0])["From"] == f" <{from_field}>"
    assert header_server.queue.entry(queue_id)["sender"] == sender


def test_strip_received(header_server):
    body = message("Received: from laptop by intranet; Mon, 1 Jan 2024 00:00:00 +0000",
                   "Received: from intranet\r\n\tby gateway; Mon, 1 Jan 2024 00:00:01 +0000",
                   "From: someone@example.org", "X-Original-Received: kept", "Subject: s",
                   body="Received: in the body stays\r\n")
    queue_id = relay_through(header_server, body)
    stored = header_server.queue.body(queue_id)
    assert header_count(stored, "Received") == 1, "only Postern's own Received line may remain"
    assert stored.startswith(b"Received: from client.example (localhost [127.0.0.1])")
    fields, rest = stored_fields(header_server, queue_id)
    assert ("X-Original-Received", " kept") in fields
    assert rest == b"Received: in the body stays\r\n"


def test_add_appends_a_field(start_policy):
    server = start_policy(RELAY + '\n[headers]\nadd = ["X-Relayed-By: postern gateway", "X-Policy: outbound"]\n')
    dated = ("Date: Mon, 1 Jan 2024 00:00:00 +0000", "Message-ID: <add@client.example>")
    for body in (message("From: someone@example.org", "Subject: s", *dated),
                 message("From: someone@example.org", "X-Relayed-By: the client", "Subject: s", *dated)):
        queue_id = relay_through(server, body)
        fields, rest = stored_fields(server, queue_id)
        assert fields[-2:] == [("X-Relayed-By", " postern gateway"), ("X-Policy", " outbound")], fields
        assert rest == b"Body.\r\n"
    assert header_count(server.queue.body(queue_id), "X-Relayed-By") == 2  # the client's one is kept
