"""IMAP access to the quarantine, end to end with Python's imaplib and raw sockets.

Mail is quarantined by SPF (a loopback DNS zone says fail.test fails, the policy says
quarantine), addressed to bob@local.test and carol@local.test. bob logs in with his address,
carol with a name whose [users.carol] senders give her carol@local.test, postmaster is an
administrator. Each sees only their held mail; MOVE/COPY to Release delivers to a sink once and
only to the mover's recipients; EXPUNGE drops for that user only; IDLE reports new arrivals;
hostile input gets BAD/NO or a close, never a crash.
"""

from __future__ import annotations

import email.utils
import imaplib
import re
import socket
import ssl
import time

import pytest

from postern_harness import RawSMTP, add_user, expect, free_port, queued_id
from test_delivery import delivery_config, sinks  # noqa: F401 (sinks is a fixture)
from test_quarantine import CLIENT, HELO, ZONE
from test_quarantine import POLICY as QUARANTINE_POLICY

PASSWORDS = {"bob@local.test": "bob-secret-1", "carol": "carol-secret-2", "postmaster": "pm-secret-3",
             "dave@home.test": "dave-secret-4"}
POLICY = QUARANTINE_POLICY.replace('local_domains = ["local.test"]', 'local_domains = ["local.test", "home.test"]') + """
[auth]
enabled = true
passwd_file = "passwd"
max_failures = 3

[users.carol]
senders = ["carol@local.test"]
"""


class Held:
    """A daemon that quarantines SPF failures and serves them over IMAP."""

    def __init__(self, server, sink, imap_port: int, imaps_port: int, tls_cert):
        self.server, self.sink = server, sink
        self.imap_port, self.imaps_port = imap_port, imaps_port
        self.tls_cert = tls_cert

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.tls_cert[0])

    def login(self, user: str, tls: bool = True) -> imaplib.IMAP4:
        if tls:
            client = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=self.context(), timeout=15)
        else:
            client = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=15)
        typ, _ = client.login(user, PASSWORDS[user])
        assert typ == "OK"
        return client

    def hold(self, recipients: list[str], subject: str) -> str:
        """Sends a message that SPF quarantines; returns its queue (quarantine) ID once it is held."""
        body = (f"From: <a@fail.test>\r\nTo: <bob@local.test>\r\nSubject: {subject}\r\n"
                f"Message-ID: <{time.time_ns()}@client.test>\r\nDate: {email.utils.formatdate()}\r\n\r\n"
                f"Body of {subject}.\r\n").encode()
        with RawSMTP(self.server.port, source=CLIENT) as c:
            c.ehlo(HELO)
            expect(c.cmd("MAIL FROM:<a@fail.test>"), 250)
            for rcpt in recipients:
                expect(c.cmd(f"RCPT TO:<{rcpt}>"), 250)
            expect(c.cmd("DATA"), 354)
            c.send(body + b".\r\n")
            qid = queued_id(c.read_reply())
        self.server.quarantine.wait_for(qid)
        return qid


@pytest.fixture
def held(start_postern, zone_server, sinks, tls_cert, tmp_path, postern_bin):  # noqa: F811
    def start(allow_plaintext: bool = True, limits: dict | None = None, more: str = "", imap_more: str = "") -> Held:
        name = f"imap{len(list(tmp_path.glob('imap*')))}"
        (tmp_path / name).mkdir()
        for user, password in PASSWORDS.items():
            add_user(postern_bin, tmp_path / name / "passwd", user, password)
        dns = zone_server(ZONE)
        sink = sinks()
        imap_port, imaps_port = free_port(), free_port()
        extra = (f'[imap]\nlisten = ["127.0.0.1:{imap_port}"]\nlisten_tls = ["127.0.0.1:{imaps_port}"]\n'
                 f"allow_plaintext_auth = {'true' if allow_plaintext else 'false'}\n{imap_more}\n"
                 '[quarantine]\nadmins = ["postmaster"]\n' + more)
        server = start_postern(policy=POLICY, tls=tls_cert, name=name, extra=extra, limits=limits,
                               delivery=delivery_config(routes={"local.test": f"[127.0.0.1]:{sink.port}",
                                                                "home.test": f"maildir:{tmp_path / name}/mail/%d/%u"},
                                                        dns_port=dns))
        held = Held(server, sink, imap_port, imaps_port, tls_cert)
        held.mail = tmp_path / name / "mail"
        return held
    return start


def subjects(client: imaplib.IMAP4, mailbox: str = "INBOX") -> list[str]:
    typ, _ = client.select(mailbox)
    assert typ == "OK"
    typ, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    return sorted(part[1].decode().strip().removeprefix("Subject: ") for part in data if isinstance(part, tuple))


def test_each_user_sees_only_mail_held_for_them(held):
    h = held()
    h.hold(["bob@local.test"], "for bob")
    h.hold(["carol@local.test"], "for carol")
    h.hold(["bob@local.test", "carol@local.test"], "for both")
    assert subjects(h.login("bob@local.test")) == ["for bob", "for both"]
    assert subjects(h.login("carol")) == ["for both", "for carol"]
    assert subjects(h.login("postmaster")) == ["for bob", "for both", "for carol"]
    client = h.login("bob@local.test", tls=False)
    typ, data = client.list()
    assert typ == "OK"
    assert [line.decode() for line in data] == ['(\\HasNoChildren) "/" INBOX', '(\\HasNoChildren) "/" Release']


def test_fetch_search_store_and_stable_uids(held):
    h = held()
    qid = h.hold(["bob@local.test"], "first one")
    h.hold(["bob@local.test"], "second one")
    client = h.login("bob@local.test")
    typ, data = client.select("INBOX")
    assert (typ, data) == ("OK", [b"2"])
    validity = client.untagged_responses.get("UIDVALIDITY", [None])[0]
    typ, data = client.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    fetched = [part for part in data if isinstance(part, tuple)]
    assert len(fetched) == 2
    uids = [int(re.search(rb"UID (\d+)", part[0]).group(1)) for part in fetched]
    assert uids == sorted(uids)
    stored = h.server.quarantine.files(qid)[0].read_bytes()
    assert fetched[0][1] == stored, "BODY[] is the quarantine file as it is"
    size = int(re.search(rb"RFC822.SIZE (\d+)", fetched[0][0]).group(1))
    assert size == len(stored)
    assert b"\\Seen" not in fetched[0][0], "BODY.PEEK leaves \\Seen alone"
    typ, data = client.search(None, "SUBJECT", '"second"')
    assert (typ, data) == ("OK", [b"2"])
    typ, data = client.search(None, "UNSEEN")
    assert (typ, data) == ("OK", [b"1 2"])
    typ, data = client.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    assert typ == "OK"
    client.logout()

    again = h.login("bob@local.test")
    again.select("INBOX")
    assert again.untagged_responses.get("UIDVALIDITY", [None])[0] == validity
    typ, data = again.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK"
    text = b" ".join(data)
    assert re.search(rb"UID %d FLAGS \(\\Flagged \\Seen\)|FLAGS \(\\Flagged \\Seen\) UID %d" % (uids[0], uids[0]), text), text
    typ, data = again.uid("SEARCH", None, "SEEN")
    assert (typ, data) == ("OK", [str(uids[0]).encode()])
    # A non-peek fetch sets \Seen and says so.
    typ, data = again.fetch("2", "(BODY[TEXT])")
    assert typ == "OK"
    assert b"\\Seen" in b" ".join(part[0] if isinstance(part, tuple) else part for part in data)


def test_move_to_release_delivers_once_to_the_users_recipients_only(held):
    h = held()
    qid = h.hold(["bob@local.test", "carol@local.test"], "shared")
    bob = h.login("bob@local.test")
    bob.select("INBOX")
    typ, data = bob._simple_command("MOVE", "1", "Release")
    assert typ == "OK", data
    delivered = h.sink.wait_for(1)
    assert delivered[0][0]["rcpt_tos"] == ["bob@local.test"]
    assert b"Subject: shared" in delivered[0][1]
    typ, data = bob.select("INBOX")
    assert data == [b"0"], "released mail leaves bob's view"
    # carol still has it, and releases her copy with COPY.
    carol = h.login("carol")
    carol.select("INBOX")
    typ, data = carol.copy("1", "Release")
    assert typ == "OK", data
    delivered = h.sink.wait_for(2)
    assert sorted(d[0]["rcpt_tos"][0] for d in delivered) == ["bob@local.test", "carol@local.test"]
    assert h.server.quarantine.ids() == [], f"{qid} left the quarantine with its last recipient"
    time.sleep(1)
    assert len(h.sink.messages()) == 2, "each release delivers once"
    log = h.server.stderr_text()
    assert re.search(rf'released from the quarantine.*quarantine_id={qid}.*user=bob@local.test|'
                     rf'released from the quarantine.*user=bob@local.test.*quarantine_id={qid}', log) or \
        ("released from the quarantine" in log and "user=bob@local.test" in log), log[-2000:]


def test_another_user_cannot_see_or_release(held):
    h = held()
    h.hold(["bob@local.test"], "bob only")
    bob = h.login("bob@local.test")
    bob.select("INBOX")
    typ, data = bob.uid("FETCH", "1:*", "(UID)")
    uid = re.search(rb"UID (\d+)", data[0]).group(1).decode()
    carol = h.login("carol")
    typ, data = carol.select("INBOX")
    assert data == [b"0"]
    typ, data = carol.uid("MOVE", uid, "Release")
    assert typ == "OK"
    typ, data = carol.uid("FETCH", uid, "(BODY[])")
    assert typ == "OK" and data == [None]
    time.sleep(1)
    assert h.sink.messages() == []
    assert len(h.server.quarantine.ids()) == 1


def test_expunge_drops_for_that_user_only(held):
    h = held()
    qid = h.hold(["bob@local.test", "carol@local.test"], "shared")
    bob = h.login("bob@local.test")
    bob.select("INBOX")
    bob.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = bob.expunge()
    assert (typ, data) == ("OK", [b"1"])
    assert bob.select("INBOX")[1] == [b"0"]
    carol = h.login("carol")
    assert carol.select("INBOX")[1] == [b"1"]
    stored = h.server.quarantine.files(qid)[0].read_bytes()
    assert b"X-Postern-Recipient: <carol@local.test>" in stored
    assert b"X-Postern-Recipient: <bob@local.test>" not in stored
    assert h.sink.messages() == []


class RawIMAP:
    def __init__(self, port: int, context: ssl.SSLContext | None = None, source: str | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15,
                                             source_address=(source, 0) if source else None)
        if context:
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.buffer = b""
        self.greeting = self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def command(self, tag: str, text: str) -> list[bytes]:
        self.send(f"{tag} {text}\r\n".encode())
        return self.until_tagged(tag.encode())

    def closed(self, timeout: float = 10) -> bool:
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False


def test_idle_reports_new_held_mail(held):
    h = held()
    h.hold(["bob@local.test"], "before idle")
    c = RawIMAP(h.imap_port)
    assert c.command("a", f"LOGIN bob@local.test {PASSWORDS['bob@local.test']}")[-1].startswith(b"a OK")
    assert b"* 1 EXISTS" in c.command("b", "SELECT INBOX")
    c.send(b"c IDLE\r\n")
    assert c.line().startswith(b"+ ")
    h.hold(["bob@local.test"], "during idle")
    deadline = time.monotonic() + 20
    seen = []
    while time.monotonic() < deadline and b"* 2 EXISTS" not in seen:
        seen.append(c.line())
    assert b"* 2 EXISTS" in seen
    c.send(b"DONE\r\n")
    assert c.until_tagged(b"c")[-1].startswith(b"c OK")


def test_plaintext_login_needs_starttls_unless_allowed(held):
    h = held(allow_plaintext=False)
    client = imaplib.IMAP4("127.0.0.1", h.imap_port, timeout=15)
    assert "LOGINDISABLED" in client.capabilities and "STARTTLS" in client.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED|STARTTLS"):
        client.login("carol", PASSWORDS["carol"])
    client.starttls(ssl_context=h.context())
    assert "AUTH=PLAIN" in client.capabilities and "LOGINDISABLED" not in client.capabilities
    assert client.login("carol", PASSWORDS["carol"])[0] == "OK"
    # Plaintext pipelined after STARTTLS is refused: it would be read as if protected.
    c = RawIMAP(h.imap_port)
    c.send(b"a STARTTLS\r\nb LOGIN carol x\r\n")
    assert c.until_tagged(b"a")[-1].startswith(b"a BAD")
    assert c.closed()


def test_authenticate_plain_and_throttled_wrong_passwords(held):
    h = held()
    import base64
    c = RawIMAP(h.imaps_port, h.context())
    token = base64.b64encode(b"\0carol\0" + PASSWORDS["carol"].encode()).decode()
    assert c.command("a", f"AUTHENTICATE PLAIN {token}")[-1].startswith(b"a OK")
    c = RawIMAP(h.imaps_port, h.context())
    c.send(b"a AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(token.encode() + b"\r\n")
    assert c.until_tagged(b"a")[-1].startswith(b"a OK")
    # max_failures = 3: after three wrong passwords even the right one is refused for a while.
    c = RawIMAP(h.imap_port)
    for n in range(3):
        assert c.command(f"w{n}", "LOGIN carol wrong")[-1].startswith(f"w{n} NO".encode())
    assert c.command("r", f"LOGIN carol {PASSWORDS['carol']}")[-1].startswith(b"r NO [AUTHENTICATIONFAILED]")


def test_bad_input_gets_bad_or_a_close_never_a_crash(held):
    h = held()
    h.hold(["bob@local.test"], "still served")
    c = RawIMAP(h.imap_port)
    assert c.command("a", "SELECT INBOX")[-1].startswith(b"a BAD")  # before login
    assert c.command("b", "FOO BAR")[-1].startswith(b"b BAD")
    assert c.command("c", "LOGIN {4294967295}")[-1].startswith(b"c NO [TOOBIG]")
    c.send(b"d LOGIN " + b"x" * 10000 + b"\r\n")
    assert c.line().startswith(b"* BAD")
    assert c.closed()

    c = RawIMAP(h.imap_port)
    assert c.command("a", f"LOGIN bob@local.test {PASSWORDS['bob@local.test']}")[-1].startswith(b"a OK")
    c.command("b", "SELECT INBOX")
    assert c.command("c", "SEARCH " + "(" * 200 + "ALL" + ")" * 200)[-1].startswith(b"c BAD")
    assert c.command("d", "SEARCH " + "NOT " * 200 + "ALL")[-1].startswith(b"d BAD")
    assert c.command("e", "FETCH 1:* (BODY[1.2.3.4.5.HEADER.FIELDS (A B C)]<0.10>)")[-1].startswith(b"e OK")
    assert c.command("f", "FETCH 0 FLAGS")[-1].startswith(b"f BAD")
    # An unterminated literal, then the client goes away.
    c.send(b"g LOGIN {10}\r\n")
    assert c.line().startswith(b"+ ")
    c.send(b"abc")
    c.sock.close()
    # Ten garbage lines in a row end the session.
    c = RawIMAP(h.imap_port)
    for n in range(10):
        c.send(f"x{n} NONSENSE\r\n".encode())
    assert c.closed()
    # And the server still serves.
    assert subjects(h.login("bob@local.test")) == ["still served"]


def test_shutdown_says_bye_to_idle_sessions(held):
    h = held()
    c = RawIMAP(h.imap_port)
    assert c.command("a", f"LOGIN carol {PASSWORDS['carol']}")[-1].startswith(b"a OK")
    c.command("b", "SELECT INBOX")
    c.send(b"c IDLE\r\n")
    assert c.line().startswith(b"+ ")
    assert h.server.terminate() == 0
    assert c.line().startswith(b"* BYE")
    assert c.closed()


def test_a_local_maildir_is_the_inbox_and_held_mail_is_in_quarantine(held):
    """Postern as the final MTA: mail for home.test is delivered to a Maildir
    (a maildir: route) and read over IMAP; held mail for the same user is in
    the Quarantine mailbox."""
    import smtplib
    h = held()
    with smtplib.SMTP("127.0.0.1", h.server.port, timeout=30) as client:
        client.sendmail("friend@local.test", ["dave@home.test"],
                        b"From: friend@local.test\r\nTo: dave@home.test\r\nSubject: delivered locally\r\n\r\nHi.\r\n")
    maildir = h.mail / "home.test" / "dave" / "new"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (maildir.exists() and list(maildir.iterdir())):
        time.sleep(0.05)
    h.hold(["dave@home.test"], "held for dave")
    client = h.login("dave@home.test")
    typ, data = client.list()
    assert [line.decode() for line in data] == [
        '(\\HasNoChildren) "/" INBOX', '(\\HasNoChildren \\Junk) "/" Quarantine', '(\\HasNoChildren) "/" Release']
    assert subjects(client) == ["delivered locally"]
    assert subjects(client, "Quarantine") == ["held for dave"]
    client.select("INBOX")
    typ, data = client.fetch("1", "(BODY[])")
    assert data[0][1].startswith(b"Return-Path: <friend@local.test>\r\nDelivered-To: dave@home.test\r\n")
    client.store("1", "+FLAGS", "(\\Deleted)")
    assert client.expunge() == ("OK", [b"1"])
    assert [p for sub in ("new", "cur") for p in (h.mail / "home.test" / "dave" / sub).iterdir()] == []
    # Local mail cannot be "released": only held mail goes to Release.
    client.select("Quarantine")
    typ, data = client.copy("1", "INBOX")
    assert typ == "NO"


def test_imap_and_pop3_sessions_count_towards_the_connection_limits(held):
    """[limits] max_connections covers every protocol: IMAP and POP3 sessions
    take places as SMTP ones do, a client over the limit is refused with a BYE
    (RFC 3501 §7.1.5) or -ERR greeting and closed, and a place comes back when
    its session ends."""
    pop3_port = free_port()
    h = held(limits={"max_connections": 3}, more=f'\n[pop3]\nlisten = ["127.0.0.1:{pop3_port}"]\n')
    first, second = RawIMAP(h.imap_port), RawIMAP(h.imaps_port, h.context())
    assert first.greeting.startswith(b"* OK") and second.greeting.startswith(b"* OK")
    pop = socket.create_connection(("127.0.0.1", pop3_port), timeout=15)
    assert pop.recv(512).startswith(b"+OK")
    # Three places taken: each protocol is refused now.
    over = RawIMAP(h.imap_port)
    assert over.greeting == b"* BYE Too many connections, try again later"
    with pytest.raises(EOFError):
        over.line()
    assert RawIMAP(h.imaps_port, h.context()).greeting.startswith(b"* BYE Too many connections")
    # A refused client that never starts its TLS handshake is not kept waiting for ever.
    silent = socket.create_connection(("127.0.0.1", h.imaps_port), timeout=20)
    started = time.monotonic()
    assert silent.recv(512) == b""
    assert 5 < time.monotonic() - started < 15
    refused = socket.create_connection(("127.0.0.1", pop3_port), timeout=15)
    assert refused.recv(512).startswith(b"-ERR [SYS/TEMP] Too many connections")
    with RawSMTP(h.server.port) as smtp:
        assert smtp.greeting.code == 421 and smtp.greeting.enhanced == "4.7.0"
    # Logging out gives the place back.
    assert first.command("z", "LOGOUT")[-1].startswith(b"z OK")
    deadline = time.monotonic() + 10
    while True:
        again = RawIMAP(h.imap_port)
        if again.greeting.startswith(b"* OK") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert again.greeting.startswith(b"* OK")
    assert again.command("a", f"LOGIN carol {PASSWORDS['carol']}")[-1].startswith(b"a OK")
    log = h.server.stderr_text()
    assert "imap connection refused" in log and "pop3 connection refused" in log


def test_trusted_networks_are_exempt_from_the_per_address_limit(held):
    """As for SMTP (and Postfix's mynetworks): clients in the trusted networks of the
    policy whose passwords IMAP and POP3 use may open more than max_connections_per_ip;
    others may not."""
    pop3_port = free_port()
    h = held(limits={"max_connections_per_ip": 1}, more=f'\n[pop3]\nlisten = ["127.0.0.1:{pop3_port}"]\n')

    def greeting(port: int, source: str) -> tuple[socket.socket, bytes]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))
        return sock, sock.recv(512)

    held_open = []
    # 127.0.0.1 is in the policy's trusted_networks.
    for port in (h.imap_port, h.imap_port, pop3_port, h.imap_port):
        sock, line = greeting(port, "127.0.0.1")
        held_open.append(sock)
        assert line.startswith((b"* OK", b"+OK")), line
    # 127.0.0.2 is not: one session, then BYE / -ERR.
    sock, line = greeting(h.imap_port, CLIENT)
    held_open.append(sock)
    assert line.startswith(b"* OK"), line
    assert greeting(h.imap_port, CLIENT)[1] == b"* BYE Too many connections, try again later\r\n"
    assert greeting(pop3_port, CLIENT)[1].startswith(b"-ERR [SYS/TEMP] Too many connections")
    for sock in held_open:
        sock.close()


def test_logged_in_sessions_per_user_and_address_are_limited(held):
    """[imap] max_connections_per_user_ip (Dovecot's mail_max_userip_connections): a
    user's logins from one address beyond the limit are told NO [UNAVAILABLE]
    (RFC 5530) and stay unauthenticated; plain and TLS sessions count together,
    other users and other addresses have their own count, and a session that
    ends gives its place back."""
    h = held(imap_more="max_connections_per_user_ip = 2")
    first = h.login("carol")
    second = h.login("carol", tls=False)
    over = imaplib.IMAP4_SSL("127.0.0.1", h.imaps_port, ssl_context=h.context(), timeout=15)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\] Maximum number of connections from user\+IP exceeded"):
        over.login("carol", PASSWORDS["carol"])
    assert over.state == "NONAUTH"
    # Another user, and the same user from another address, are not held back.
    h.login("dave@home.test").logout()
    other = RawIMAP(h.imap_port, source=CLIENT)
    assert other.command("a", f"LOGIN carol {PASSWORDS['carol']}")[-1].startswith(b"a OK")
    first.logout()
    deadline = time.monotonic() + 10
    while True:
        try:
            typ, _ = over.login("carol", PASSWORDS["carol"])
            break
        except imaplib.IMAP4.error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert typ == "OK"
    assert over.select("INBOX")[0] == "OK"
    for client in (second, over):
        client.logout()
    assert "login refused: too many sessions for this user from this address" in h.server.stderr_text()


def test_under_stress_sessions_not_logged_in_get_the_stress_timeout(held):
    """SMTP's stress mode reaches IMAP's login timeout: with the connection table nearly
    full, a session that has not logged in is closed after stress_timeout, not the usual
    minute; a logged-in session keeps its idle timeout (RFC 3501 §5.4)."""
    h = held(limits={"max_connections": 10, "stress_threshold": 20, "stress_timeout": 2})
    calm = RawIMAP(h.imap_port)  # one place taken: below the threshold of two
    logged_in = RawIMAP(h.imap_port)
    assert logged_in.command("a", f"LOGIN carol {PASSWORDS['carol']}")[-1].startswith(b"a OK")
    started = time.monotonic()
    stressed = RawIMAP(h.imap_port)
    assert stressed.greeting.startswith(b"* OK")
    assert stressed.line() == b"* BYE Autologout; idle for too long"
    assert 1 < time.monotonic() - started < 10
    time.sleep(1)
    assert logged_in.command("b", "NOOP")[-1].startswith(b"b OK")
    assert calm.command("c", "NOOP")[-1].startswith(b"c OK")
    assert "stress mode on" in h.server.stderr_text()
