"""POP3 (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH PLAIN RFC 5034) end to end.

Mail gets into the quarantine as in test_quarantine.py: SPF `fail = "quarantine"`
against a loopback DNS server, the client on 127.0.0.2. Users are logins named like
their address (bob@local.test sees the held mail addressed to bob@local.test),
written with the real `postern passwd`. Then real clients read it: Python's poplib
(STLS, implicit TLS, USER/PASS, AUTH PLAIN), curl pop3:// and pop3s://, fetchmail,
and a raw socket for byte-exact and hostile input. Dovecot's pop3d, started on the
same Maildir with a private configuration, must give the same STAT, RETR bytes and
TOP output.
"""

from __future__ import annotations

import email.utils
import os
import poplib
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from mailaccess import start_dovecot
from postern_harness import add_user, auth_plain, free_port, require_tool
from test_delivery import delivery_config
from test_quarantine import POLICY as QUARANTINE_POLICY
from test_quarantine import ZONE, send

BOB, CAROL = "bob@local.test", "carol@local.test"
PASSWORD = "pop3 Secret-word"
# The quarantine tests' policy, with logins.
POLICY = QUARANTINE_POLICY + """
[auth]
enabled = true
passwd_file = "passwd"
max_failures = 4
failure_window = 60
"""


@pytest.fixture
def pop3(start_postern, zone_server, tls_cert, tmp_path, postern_bin):
    """pop3(plaintext=False) -> a daemon with [pop3] on two free ports (server.pop3_port
    with STLS, server.pop3s_port with implicit TLS), bob and carol in its passwd file."""
    def start(plaintext: bool = False):
        name = f"pop3-{len(list(tmp_path.glob('pop3-*')))}"
        (tmp_path / name).mkdir()
        for user in (BOB, CAROL):
            add_user(postern_bin, tmp_path / name / "passwd", user, PASSWORD)
        port, tls_port = free_port(), free_port()
        extra = (f'[pop3]\nlisten = ["127.0.0.1:{port}"]\nlisten_tls = ["127.0.0.1:{tls_port}"]\n'
                 f"allow_plaintext_auth = {str(plaintext).lower()}\n")
        server = start_postern(policy=POLICY, tls=tls_cert, extra=extra, name=name,
                               delivery=delivery_config(dns_port=zone_server(ZONE)))
        server.pop3_port, server.pop3s_port = port, tls_port
        return server
    return start


def message(n: int) -> bytes:
    return (f"From: <a@fail.test>\r\nTo: <{BOB}>\r\nSubject: pop3 test {n}\r\n"
            f"Message-ID: <p{n}.{time.time_ns()}@client.test>\r\nDate: {email.utils.formatdate()}\r\n\r\n"
            f"Line one of message {n}.\r\n.leading dot\r\n..two dots\r\n.\r\n"
            + "".join(f"body line {i}\r\n" for i in range(n * 40)) + "Last line.\r\n").encode()


def quarantine(server, count: int, recipients=(BOB,)) -> dict[str, bytes]:
    """Sends `count` messages that SPF quarantines; returns Message-ID -> the Maildir file."""
    for n in range(count):
        send(server, body=message(n), recipients=list(recipients))
    deadline = time.monotonic() + 20
    while len(files := maildir_files(server)) < count:
        assert time.monotonic() < deadline, f"{len(files)} of {count} messages reached the quarantine"
        time.sleep(0.05)
    return files


def maildir_files(server) -> dict[str, bytes]:
    files = {}
    for sub in ("new", "cur"):
        directory = server.queue_dir / "quarantine" / sub
        for path in directory.iterdir() if directory.exists() else []:
            data = path.read_bytes()
            files[message_id(data)] = data
    return files


def message_id(data: bytes) -> str:
    match = re.search(rb"^Message-ID: (<[^>]+>)", data, re.M | re.I)
    assert match, data[:400]
    return match.group(1).decode()


def context(tls_cert) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=tls_cert[0])


def login(server, tls_cert, user: str = BOB) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", server.pop3_port, timeout=15)
    client.stls(context(tls_cert))
    client.user(user)
    client.pass_(PASSWORD)
    return client


def retr(client: poplib.POP3, number: int) -> bytes:
    _, lines, _ = client.retr(number)
    return b"\r\n".join(lines) + b"\r\n"


class RawPOP3:
    """A byte-exact POP3 client from a chosen loopback address."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))
        self.buffer = b""
        assert self.line().startswith(b"+OK ")

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; unparsed {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def cmd(self, text: str) -> str:
        self.send(text + "\r\n")
        return self.line().decode()

    def multiline(self) -> list[bytes]:
        lines = [self.line()]
        while lines[-1] != b".":
            lines.append(self.line())
        return lines

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


def test_poplib_over_stls_reads_and_deletes(pop3, tls_cert):
    server = pop3()
    files = quarantine(server, 3, recipients=(BOB, CAROL))
    client = poplib.POP3("127.0.0.1", server.pop3_port, timeout=15)
    caps = client.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps, caps
    client.stls(context(tls_cert))
    caps = client.capa()
    assert {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER"} <= caps.keys(), caps
    assert caps["SASL"] == ["PLAIN"] and "STLS" not in caps
    client.user(BOB)
    assert client.pass_(PASSWORD).startswith(b"+OK Logged in, 3 messages")

    assert client.stat() == (3, sum(len(f) for f in files.values()))
    _, listing, _ = client.list()
    sizes = [int(line.split()[1]) for line in listing]
    _, uidls, _ = client.uidl()
    uids = [line.split()[1].decode() for line in uidls]
    names = {p.name.split(":2,")[0] for sub in ("new", "cur") for p in (server.queue_dir / "quarantine" / sub).iterdir()}
    assert set(uids) == names and len(set(uids)) == 3
    for number in (1, 2, 3):
        data = retr(client, number)
        assert data == files[message_id(data)], "RETR gives the Maildir file byte for byte"
        assert sizes[number - 1] == len(data)
        assert b"\r\n.leading dot\r\n..two dots\r\n.\r\n" in data, "byte-stuffing undone by the client"
        _, top, _ = client.top(number, 0)
        header = data.split(b"\r\n\r\n", 1)[0]
        assert b"\r\n".join(top) == header + b"\r\n", "TOP n 0: the header and the blank line"
        _, top, _ = client.top(number, 2)
        head, body = data.split(b"\r\n\r\n", 1)
        assert top == head.split(b"\r\n") + [b""] + body.split(b"\r\n")[:2], "TOP n 2: and two body lines"

    deleted = message_id(retr(client, 1))
    assert client.dele(1).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="already deleted"):
        client.retr(1)
    assert client.stat()[0] == 2
    client.rset()
    assert client.stat()[0] == 3
    client.dele(1)
    assert client.quit().startswith(b"+OK")

    again = login(server, tls_cert)
    assert again.stat()[0] == 2, "the deletion outlived the session"
    assert deleted not in {message_id(retr(again, n)) for n in (1, 2)}
    again.quit()
    assert len(maildir_files(server)) == 3, "carol still has the message: the file stays"

    carol = login(server, tls_cert, CAROL)
    assert carol.stat()[0] == 3
    number = next(n for n in (1, 2, 3) if message_id(retr(carol, n)) == deleted)
    carol.dele(number)
    carol.quit()
    assert deleted not in maildir_files(server), "no recipient left: the file is gone"
    assert len(maildir_files(server)) == 2

    log = server.stderr_text()
    assert "pop3 login" in log and "pop3 retr" in log and "pop3 top" in log and "pop3 deleted" in log
    deletions = [line for line in log.splitlines() if "pop3 deleted" in line]
    assert len(deletions) == 2 and all("bob@local.test" in d or "carol@local.test" in d for d in deletions), deletions
    assert all("id=" in d and "unique=" in d and "client=127.0.0.1" in d for d in deletions), deletions
    assert PASSWORD not in log and auth_plain(BOB, PASSWORD) not in log


def test_implicit_tls_and_sasl_plain(pop3, tls_cert):
    server = pop3()
    files = quarantine(server, 2)
    client = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, context=context(tls_cert), timeout=15)
    assert "STLS" not in client.capa()
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        client._shortcmd("AUTH PLAIN " + auth_plain(BOB, "wrong"))
    assert client._shortcmd("AUTH PLAIN " + auth_plain(BOB, PASSWORD)).startswith(b"+OK Logged in, 2 messages")
    assert sorted(message_id(retr(client, n)) for n in (1, 2)) == sorted(files)
    client.quit()

    # The continuation form, and "*" to cancel (RFC 5034 §4).
    client = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, context=context(tls_cert), timeout=15)
    client._putcmd("AUTH PLAIN")
    assert client._getline()[0] == b"+ "
    with pytest.raises(poplib.error_proto, match="cancelled"):
        client._shortcmd("*")
    client._putcmd("AUTH PLAIN")
    assert client._getline()[0] == b"+ "
    assert client._shortcmd(auth_plain(BOB, PASSWORD)).startswith(b"+OK Logged in")
    assert client.stat()[0] == 2
    client.quit()


def test_credentials_need_tls_unless_allowed(pop3, tls_cert):
    server = pop3()
    raw = RawPOP3(server.pop3_port)
    refused = "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections, use STLS"
    assert raw.cmd("USER " + BOB) == refused
    assert raw.cmd("PASS " + PASSWORD) == refused
    assert raw.cmd("AUTH PLAIN " + auth_plain(BOB, PASSWORD)) == refused
    # Lines pipelined after STLS would count as sent under TLS: refused, closed.
    raw.send("STLS\r\nUSER " + BOB + "\r\n")
    assert raw.line() == b"-ERR Commands pipelined after STLS refused"
    assert raw.closed()

    plain = pop3(plaintext=True)
    quarantine(plain, 1)
    client = poplib.POP3("127.0.0.1", plain.pop3_port, timeout=15)
    assert "USER" in client.capa()
    client.user(BOB)
    client.pass_(PASSWORD)
    assert client.stat()[0] == 1
    client.quit()


def test_wrong_passwords_are_delayed_and_throttled(pop3):
    server = pop3(plaintext=True)
    raw = RawPOP3(server.pop3_port, source="127.0.0.3")
    for attempt in range(3):
        assert raw.cmd("USER " + BOB) == "+OK Send PASS"
        started = time.monotonic()
        assert raw.cmd("PASS wrong") == "-ERR [AUTH] Authentication failed"
        assert time.monotonic() - started >= 0.9, "a failure waits a second for its answer"
    assert raw.closed(), "three failures close the session"

    # The fourth failure from the address reaches the policy's max_failures.
    raw = RawPOP3(server.pop3_port, source="127.0.0.3")
    raw.cmd("USER " + BOB)
    assert raw.cmd("PASS wrong") == "-ERR [AUTH] Authentication failed"
    assert raw.closed()
    # Now even the right password gets the same answer from there.
    raw = RawPOP3(server.pop3_port, source="127.0.0.3")
    assert raw.cmd("AUTH PLAIN " + auth_plain(BOB, PASSWORD)) == "-ERR [AUTH] Authentication failed"
    assert raw.closed()
    other = RawPOP3(server.pop3_port, source="127.0.0.4")
    other.cmd("USER " + BOB)
    assert other.cmd("PASS " + PASSWORD).startswith("+OK Logged in")
    assert other.cmd("QUIT").startswith("+OK")
    log = server.stderr_text()
    assert "pop3 login refused: too many failures" in log
    assert PASSWORD not in log


def test_bad_input(pop3):
    server = pop3(plaintext=True)
    quarantine(server, 2)
    raw = RawPOP3(server.pop3_port)
    assert raw.cmd("STAT") == "-ERR Not logged in"
    assert raw.cmd("RETR 1") == "-ERR Not logged in"
    assert raw.cmd("PASS " + PASSWORD) == "-ERR Send USER first"
    assert raw.cmd("FROB") == "-ERR Unknown command FROB"
    assert raw.cmd("APOP bob@local.test 0123456789abcdef0123456789abcdef") == "-ERR Unknown command APOP"
    assert raw.cmd("X" * 5000) == "-ERR Line too long"
    assert raw.cmd("") == "-ERR Empty command"
    assert raw.cmd("USER " + BOB) == "+OK Send PASS"
    assert raw.cmd("PASS " + PASSWORD).startswith("+OK Logged in, 2 messages")
    assert raw.cmd("DELE 1") == "+OK Message 1 deleted"
    assert raw.cmd("RETR 1") == "-ERR Message 1 already deleted"
    assert raw.cmd("TOP 1 0") == "-ERR Message 1 already deleted"
    assert raw.cmd("RETR 3") == "-ERR No such message"
    assert raw.cmd("RETR 0") == "-ERR Invalid message number"
    assert raw.cmd("TOP 2") == "-ERR Syntax: TOP msg lines"
    assert raw.cmd("USER " + BOB) == "-ERR Already logged in"
    # Pipelined commands are answered in order, a whole message between them.
    raw.send("LIST\r\nRETR 2\r\nNOOP\r\n")
    listing = raw.multiline()
    assert len(listing) == 3 and listing[0].startswith(b"+OK 1 messages (") and listing[1].startswith(b"2 "), listing
    retrieved = raw.multiline()
    assert retrieved[0].startswith(b"+OK ") and retrieved[-1] == b"."
    assert raw.line() == b"+OK"
    # Dropping the connection instead of QUIT deletes nothing (no UPDATE).
    raw.close()
    time.sleep(0.3)
    assert len(maildir_files(server)) == 2

    raw = RawPOP3(server.pop3_port)
    for _ in range(19):
        assert raw.cmd("FROB").startswith("-ERR")
    assert raw.cmd("FROB") == "-ERR Too many bad commands"
    assert raw.closed()



def curl(*args: str) -> bytes:
    p = subprocess.run([require_tool("curl"), "--silent", "--show-error", "--max-time", "20", *args],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, f"curl {' '.join(args)}: exit {p.returncode}: {p.stderr.decode(errors='replace')}"
    return p.stdout


def test_curl_pop3_with_stls_and_pop3s(pop3, tls_cert):
    server = pop3()
    files = quarantine(server, 2)
    user = ["--user", f"{BOB}:{PASSWORD}", "--cacert", tls_cert[0]]
    listing = curl(*user, "--ssl-reqd", f"pop3://127.0.0.1:{server.pop3_port}/")
    assert sorted(int(line.split()[1]) for line in listing.splitlines()) == sorted(len(f) for f in files.values())
    first = curl(*user, "--ssl-reqd", f"pop3://127.0.0.1:{server.pop3_port}/1")
    assert first == files[message_id(first)]
    second = curl(*user, f"pop3s://127.0.0.1:{server.pop3s_port}/2")
    assert second == files[message_id(second)] and second != first
    uidl = curl(*user, "--request", "UIDL", f"pop3s://127.0.0.1:{server.pop3s_port}/")
    assert len(uidl.splitlines()) == 2
    # SASL PLAIN is what curl picks when the server offers it.
    verbose = subprocess.run([require_tool("curl"), "-sv", *user, f"pop3s://127.0.0.1:{server.pop3s_port}/",
                              "-o", os.devnull], capture_output=True, timeout=30)
    assert verbose.returncode == 0 and "> AUTH PLAIN" in verbose.stderr.decode(), verbose.stderr.decode()[-2000:]
    without_tls = subprocess.run([require_tool("curl"), "-s", "--user", f"{BOB}:{PASSWORD}",
                                  f"pop3://127.0.0.1:{server.pop3_port}/"], capture_output=True, timeout=30)
    assert without_tls.returncode != 0, "no credentials in clear"


def test_fetchmail_fetches_and_deletes(pop3, tls_cert, tmp_path):
    fetchmail = require_tool("fetchmail")
    server = pop3()
    files = quarantine(server, 3)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    deliver = tmp_path / "deliver.sh"
    deliver.write_text(f'#!/bin/sh\nexec cat > "{inbox}/$(date +%s%N).$$"\n')
    deliver.chmod(0o700)
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f'poll 127.0.0.1 service {server.pop3_port} protocol pop3 uidl\n'
                  f'  user "{BOB}" password "{PASSWORD}" mda "{deliver}"\n'
                  f'  sslproto "tls1.2+" sslcertck sslcertfile "{tls_cert[0]}" sslcommonname "localhost"\n')
    rc.chmod(0o600)
    env = dict(os.environ, FETCHMAILHOME=str(tmp_path), HOME=str(tmp_path))
    p = subprocess.run([fetchmail, "--fetchmailrc", str(rc), "--nosyslog", "--nodetach"], capture_output=True,
                       timeout=60, env=env)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    fetched = [path.read_bytes() for path in inbox.iterdir()]
    assert len(fetched) == 3
    for data in fetched:
        original = files[message_id(data)]
        # fetchmail hands the MDA LF line ends and adds its own header fields.
        head, body = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)
        assert data.split(b"\n\n", 1)[1] == body
        assert all(line in data for line in head.split(b"\n") if line.startswith(b"X-Postern-")), data[:600]
    assert maildir_files(server) == {}, "fetchmail deleted what it fetched"
    assert p.returncode == 0 and b"3 messages" in p.stdout + p.stderr


DOVECOT_PASSWORD = "dovecot-pw"


@pytest.fixture
def dovecot(tls_cert):
    """dovecot(maildir) -> the POP3 port of a private Dovecot serving a copy of `maildir` to BOB
    (mailaccess.start_dovecot: loopback, its indexes outside the Maildir, UIDL = file name)."""
    started = []

    def start(maildir: Path) -> int:
        started.append(start_dovecot(tls_cert, {BOB: DOVECOT_PASSWORD}, copy_of=maildir))
        return started[-1].ports["pop3"]

    yield start
    for server in started:
        server.close()


def test_same_answers_as_dovecot(pop3, tls_cert, dovecot):
    server = pop3()
    quarantine(server, 4)
    ours = login(server, tls_cert)
    theirs = poplib.POP3("127.0.0.1", dovecot(server.queue_dir / "quarantine"), timeout=15)
    theirs.user(BOB)
    theirs.pass_(DOVECOT_PASSWORD)
    assert ours.stat() == theirs.stat()
    count = ours.stat()[0]
    by_id = {}
    for number in range(1, count + 1):
        data = retr(theirs, number)
        by_id[message_id(data)] = (number, data)
    for number in range(1, count + 1):
        data = retr(ours, number)
        their_number, their_data = by_id[message_id(data)]
        assert data == their_data, "RETR: the same bytes"
        assert ours.list(number).split()[2] == theirs.list(their_number).split()[2], "LIST: the same size"
        for lines in (0, 1, 3, 1000):
            assert ours.top(number, lines)[1] == theirs.top(their_number, lines)[1], f"TOP {number} {lines}"
    ours.quit()
    theirs.quit()


def test_shutdown_ends_sessions_without_update(pop3):
    server = pop3(plaintext=True)
    quarantine(server, 1)
    raw = RawPOP3(server.pop3_port)
    raw.cmd("USER " + BOB)
    assert raw.cmd("PASS " + PASSWORD).startswith("+OK Logged in, 1 messages")
    assert raw.cmd("DELE 1") == "+OK Message 1 deleted"
    started = time.monotonic()
    assert server.terminate() == 0
    assert time.monotonic() - started < 10, "an idle POP3 session does not hold up the shutdown"
    assert raw.line() == b"-ERR [SYS/TEMP] Server shutting down, try again later"
    assert raw.closed()
    assert len(maildir_files(server)) == 1, "no QUIT, no UPDATE: the message stays"


def test_large_message_is_streamed_whole(pop3, tls_cert):
    server = pop3()
    body = b"".join(b"%s line %d of a large message, long enough to matter\r\n" % (b"." if i % 7 == 0 else b"", i)
                    for i in range(60_000))
    big = (f"From: <a@fail.test>\r\nTo: <{BOB}>\r\nSubject: large\r\nMessage-ID: <large.{time.time_ns()}@client.test>\r\n"
           f"Date: {email.utils.formatdate()}\r\n\r\n").encode() + body
    send(server, body=big, recipients=[BOB])
    deadline = time.monotonic() + 20
    while not (files := maildir_files(server)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, context=context(tls_cert), timeout=30)
    client.user(BOB)
    client.pass_(PASSWORD)
    data = retr(client, 1)
    assert len(data) > 3_000_000 and data == next(iter(files.values()))
    assert client.noop().startswith(b"+OK"), "the session goes on after the message"
    client.quit()
