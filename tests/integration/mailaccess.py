"""Mail access (issue #14): quarantine Maildirs written as Postern writes them, Dovecot on
loopback serving one, and Postern's IMAP/POP3 listeners serving another, so the same client
scripts (test_mailclients.py, bench/imap.sh) can run against both and compare what they see.

- `QuarantinedMessage` / `fill_maildir`: files named `<seconds>.<queue ID>_P<pid>.<host>,S=<size>`
  in new/ (or cur/ with a ":2,FLAGS" info part), each starting with QuarantineRecord's fields
  (Return-Path … X-Postern-Quarantined), mtime = the name's seconds (Dovecot's INTERNALDATE).
- `sample_messages()`: plain, multipart with an attachment, a forwarded message/rfc822,
  8-bit UTF-8, one already seen; `bench_messages()` and `large_message()` for the benchmark.
- `Dovecot`: a private instance (own base_dir, passwd-file, loopback ports, the suite's
  certificate); its index and uidlist files go elsewhere (INDEX=, CONTROL=), so the Maildir
  holds only messages, as Postern's does.
- `PosternMail`: `postern serve` with [imap], [pop3] and [quarantine] on the same kind of Maildir.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import email.utils
import grp
import imaplib
import os
import pwd
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from postern_harness import HOSTNAME, PosternServer, add_user, free_port, unavailable

# Users, as the Postern tests name them: an administrator, a user whose login is an address,
# and a user with granted addresses ([users.alice] senders).
ADMIN = "postmaster"
USERS = {
    ADMIN: "Adm1n-s3cret",
    "bob@local.test": "bobs-password",
    "alice": "Tr0ub4dor&3-s3cret",
}
ALICE_SENDERS = ["alice@local.test", "@team.local.test"]

# A fixed start so dates, queue IDs and names are the same in every Maildir made from one list.
BASE_TIME = 1_780_000_000  # 2026-05-28


# --------------------------------------------------------------------------
# Quarantine files


@dataclass
class QuarantinedMessage:
    """One quarantine file: QuarantineRecord's fields, then `message` as it was queued."""
    message: bytes
    when: int  # seconds since the epoch: the name's and X-Postern-Quarantined's time
    sender: str = "sender@example.org"
    recipients: list[str] = field(default_factory=lambda: ["bob@local.test"])
    reason: str = "SPF fail for mailfrom example.org"
    flags: str | None = None  # None: in new/; "" or "S", "FS"…: in cur/ with ":2,FLAGS"
    serial: int = 0  # keeps queue IDs of one second apart

    @property
    def queue_id(self) -> str:
        return f"{self.when * 1_000_000 + self.serial:016X}"

    @property
    def record(self) -> bytes:
        """QuarantineRecord.headerFields, in its order; X-Postern-Quarantined last."""
        lines = [f"Return-Path: <{self.sender}>", f"X-Postern-Quarantine-ID: {self.queue_id}",
                 f"X-Postern-Sender: <{self.sender}>"]
        lines += [f"X-Postern-Recipient: <{r}>" for r in self.recipients]
        lines += ["X-Postern-Client: 192.0.2.7 (mail.example.org)", "X-Postern-Protocol: ESMTPS BODY=8BITMIME",
                  f"X-Postern-Reason: {self.reason}",
                  f"X-Postern-Quarantined: {email.utils.formatdate(self.when)}"]
        return ("\r\n".join(lines) + "\r\n").encode()

    @property
    def contents(self) -> bytes:
        """The whole file: what IMAP BODY[] and POP3 RETR serve."""
        return self.record + self.message

    @property
    def message_id(self) -> str:
        for line in self.message.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                return line.split(b":", 1)[1].strip().decode()
        raise ValueError("message without Message-ID")

    @property
    def base_name(self) -> str:
        """`<seconds>.<queue ID>_P<pid>.<host>,S=<size>`: POP3's UIDL on both servers."""
        return f"{self.when}.{self.queue_id}_P4242.{HOSTNAME},S={len(self.contents)}"

    @property
    def file_name(self) -> str:
        return self.base_name if self.flags is None else f"{self.base_name}:2,{self.flags}"

    def write(self, maildir: Path) -> Path:
        """tmp/ then rename into new/ or cur/, as a Maildir delivery does."""
        temporary = maildir / "tmp" / self.base_name
        temporary.write_bytes(self.contents)
        os.utime(temporary, (self.when, self.when))
        target = maildir / ("new" if self.flags is None else "cur") / self.file_name
        os.rename(temporary, target)
        return target


def make_maildir(path: Path) -> Path:
    for sub in ("", "new", "cur", "tmp"):
        (path / sub).mkdir(mode=0o700, exist_ok=True)
    return path


def fill_maildir(path: Path, messages: list[QuarantinedMessage]) -> Path:
    make_maildir(path)
    for message in messages:
        message.write(path)
    return path


def maildir_state(path: Path) -> dict[str, str]:
    """Base name -> Maildir flags ("" for new/ or no flags) of every message file."""
    state = {}
    for sub in ("new", "cur"):
        for entry in (path / sub).iterdir():
            base, _, info = entry.name.partition(":")
            state[base] = info[2:] if info.startswith("2,") else ""
    return state


def _headers(sender: str, to: str, subject: str, when: int, msgid: str, extra: list[str] = ()) -> list[str]:
    return [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {email.utils.formatdate(when)}",
            f"Message-ID: <{msgid}@client.example>", "MIME-Version: 1.0", *extra]


def plain_message(n: int, when: int, sender: str = "Carl Sender <carl@example.org>",
                  to: str = "Bob <bob@local.test>", subject: str | None = None, lines: int = 5) -> bytes:
    head = _headers(sender, to, subject or f"Plain message {n}", when, f"plain{n}",
                    ["Content-Type: text/plain; charset=us-ascii"])
    body = [f"Line {i} of plain message {n}." for i in range(lines)] + [".a line starting with a dot", ""]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body)).encode()


def attachment_message(when: int) -> bytes:
    payload = base64.encodebytes(bytes(range(256)) * 12).decode().replace("\n", "\r\n")
    head = _headers('"Dora Docs" <dora@example.com>', "bob@local.test", "Quarterly report attached", when,
                    "attach1", ['Content-Type: multipart/mixed; boundary="=-outer-1"'])
    body = ["This is a multi-part message in MIME format.", "",
            "--=-outer-1", "Content-Type: text/plain; charset=us-ascii", "", "The report is attached.", "",
            "--=-outer-1", 'Content-Type: application/pdf; name="report.pdf"',
            'Content-Disposition: attachment; filename="report.pdf"', "Content-Transfer-Encoding: base64", "",
            payload.rstrip("\r\n"), "--=-outer-1--", ""]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body)).encode()


def forwarded_message(when: int) -> bytes:
    inner = "\r\n".join([
        "From: Erin <erin@example.net>", "To: dora@example.com", "Subject: the original",
        "Date: " + email.utils.formatdate(when - 3600), "Message-ID: <inner1@example.net>", "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="alt-2"', "",
        "--alt-2", "Content-Type: text/plain; charset=us-ascii", "", "Plain original.", "",
        "--alt-2", "Content-Type: text/html; charset=us-ascii", "", "<p>HTML original.</p>", "",
        "--alt-2--", ""])
    head = _headers("dora@example.com", "bob@local.test, carol@local.test", "Fwd: the original", when,
                    "forward1", ['Content-Type: multipart/mixed; boundary="fwd-1"'])
    body = ["--fwd-1", "Content-Type: text/plain; charset=us-ascii", "", "See below.", "",
            "--fwd-1", "Content-Type: message/rfc822", "Content-Disposition: inline", "", inner,
            "--fwd-1--", ""]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body)).encode()


def eight_bit_message(when: int) -> bytes:
    head = _headers("=?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>", "bob@local.test",
                    "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", when, "eightbit1",
                    ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"])
    body = "Grüße aus Köln, ça va? Ελληνικά, 日本語.\r\nZweite Zeile.\r\n"
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body.encode("utf-8")


def sample_messages() -> list[QuarantinedMessage]:
    """The messages every client script reads: one a day from BASE_TIME, each with something
    the clients must get right. Recipients differ, so a user sees a subset; the last was seen
    already (in cur/ with ":2,S")."""
    day = 86_400
    t = [BASE_TIME + i * day for i in range(7)]
    return [
        QuarantinedMessage(plain_message(1, t[0]), t[0], sender="carl@example.org"),
        QuarantinedMessage(attachment_message(t[1]), t[1], sender="dora@example.com",
                           recipients=["bob@local.test"], reason="virus: Eicar-Test-Signature"),
        QuarantinedMessage(forwarded_message(t[2]), t[2], sender="dora@example.com",
                           recipients=["bob@local.test", "carol@local.test"], reason="spam score 9.1"),
        QuarantinedMessage(eight_bit_message(t[3]), t[3], sender="juergen@example.de",
                           recipients=["alice@local.test"]),
        QuarantinedMessage(plain_message(2, t[4], sender="Frank <frank@example.org>", to="dev@team.local.test",
                                         subject="Build broken"), t[4], sender="frank@example.org",
                           recipients=["dev@team.local.test"]),
        QuarantinedMessage(plain_message(3, t[5], to="carol@local.test", subject="For carol only"), t[5],
                           recipients=["carol@local.test"]),
        QuarantinedMessage(plain_message(4, t[6], subject="Already read", lines=2), t[6], flags="S"),
    ]


def visible_to(user: str, messages: list[QuarantinedMessage]) -> list[QuarantinedMessage]:
    """What Postern shows `user`: all for the administrator; else messages with a recipient
    that is the login (when it is an address) or matches the user's granted addresses."""
    if user == ADMIN:
        return list(messages)
    patterns = ALICE_SENDERS if user == "alice" else [user]

    def matches(address: str) -> bool:
        return any(address == p or (p.startswith("@") and address.endswith(p)) for p in patterns)
    return [m for m in messages if any(matches(r) for r in m.recipients)]


def large_message(when: int, size: int = 10 * 1024 * 1024) -> QuarantinedMessage:
    """About `size` octets: a text part and a base64 attachment of pseudo-random data."""
    rng = random.Random(size)
    raw = rng.randbytes(size * 3 // 4)
    payload = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    head = "\r\n".join(_headers("big@example.org", "bob@local.test", f"Large message ({size} octets)", when,
                                f"large{size}", ['Content-Type: multipart/mixed; boundary="big-1"']))
    message = (head + "\r\n\r\n--big-1\r\nContent-Type: text/plain\r\n\r\nData attached.\r\n\r\n--big-1\r\n"
               "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n").encode() + payload + b"--big-1--\r\n"
    return QuarantinedMessage(message, when, sender="big@example.org", serial=999_999)


def bench_messages(count: int = 1000) -> list[QuarantinedMessage]:
    """`count` small messages of a few KiB, a few seconds apart, varied sizes and senders."""
    out = []
    for n in range(count):
        when = BASE_TIME + n * 7
        out.append(QuarantinedMessage(plain_message(n, when, sender=f"Sender {n % 37} <s{n % 37}@example.org>",
                                                    lines=20 + n % 60), when, sender=f"s{n % 37}@example.org",
                                      serial=n))
    return out


# --------------------------------------------------------------------------
# Servers


class ServerError(Exception):
    """A mail server that could not be started."""


@dataclass
class Endpoints:
    """Where a mail server listens, and how clients log in to it."""
    name: str  # "dovecot" or "postern"
    imap: int
    imaps: int
    pop3: int
    pop3s: int
    cafile: str
    maildir: Path
    user: str = ADMIN
    password: str = USERS[ADMIN]
    host: str = "127.0.0.1"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def as_user(self, user: str) -> "Endpoints":
        return Endpoints(self.name, self.imap, self.imaps, self.pop3, self.pop3s, self.cafile, self.maildir,
                         user, USERS[user], self.host)

    def imap_client(self, tls: str = "implicit", login: bool = True, timeout: float = 30) -> imaplib.IMAP4:
        """imaplib on imaps ("implicit"), imap with STARTTLS ("starttls") or plain imap ("none")."""
        if tls == "implicit":
            client = imaplib.IMAP4_SSL(self.host, self.imaps, ssl_context=self.ssl_context(), timeout=timeout)
        else:
            client = imaplib.IMAP4(self.host, self.imap, timeout=timeout)
            if tls == "starttls":
                client.starttls(ssl_context=self.ssl_context())
        if login:
            client.login(self.user, self.password)
        return client


def wait_greeting(port: int, prefix: bytes, timeout: float = 20.0, alive=lambda: True) -> None:
    """Until 127.0.0.1:PORT accepts and greets with `prefix` ("* OK", "+OK")."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive():
            raise ServerError(f"exited before 127.0.0.1:{port} was ready")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(5)
                greeting = s.recv(512)
                if greeting.startswith(prefix):
                    return
                last = repr(greeting)
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise ServerError(f"no {prefix!r} greeting on 127.0.0.1:{port} within {timeout}s ({last})")


def mail_uid_gid() -> tuple[int, int]:
    """Who Dovecot's mail processes run as: Dovecot refuses uid 0, so as root "nobody"."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    return pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid


def chown_tree(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in files:
            os.chown(os.path.join(root, name), uid, gid)


def dovecot_password(password: str) -> str:
    """SHA512-CRYPT through `openssl passwd -6` (the suite needs openssl for its certificate)."""
    p = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(), capture_output=True,
                       timeout=30, check=True)
    return "{SHA512-CRYPT}" + p.stdout.decode().strip()


class Dovecot:
    """A private Dovecot (imap, pop3) on loopback serving `maildir` as every user's INBOX.

    Its directory is made under /tmp (pytest's are 0700 and Dovecot's mail processes run as
    "nobody"); the Maildir is made inside it, so call `fill` or write into `.maildir` before
    or after start. Other folders (e.g. "Release", made with `create`) live beside it, under
    mail/USER; indexes and dovecot-uidlist under index/USER: the Maildir keeps only messages.
    """

    def __init__(self, tls: tuple[str, str], users: dict[str, str] = USERS, name: str = "dovecot"):
        self.binary = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")
        if not self.binary:
            raise ServerError("dovecot is not installed (Debian: dovecot-imapd dovecot-pop3d; run scripts/deps.sh)")
        self.name = name
        self.tls = tls
        self.users = users
        self.dir = Path(tempfile.mkdtemp(prefix="postern-dovecot-"))
        os.chmod(self.dir, 0o755)
        self.maildir = make_maildir(self.dir / "Maildir")
        self.uid, self.gid = mail_uid_gid()
        self.proc: subprocess.Popen | None = None
        self.ports = {"imap": 0, "imaps": 0, "pop3": 0, "pop3s": 0}
        self.log_path = self.dir / "dovecot.log"

    def config(self) -> str:
        d = self.dir
        listeners = []
        for service, protocol in (("imap-login", "imap"), ("pop3-login", "pop3")):
            listeners += [f"service {service} {{",
                          f"  inet_listener {protocol} {{", "    address = 127.0.0.1",
                          f"    port = {self.ports[protocol]}", "  }",
                          f"  inet_listener {protocol}s {{", "    address = 127.0.0.1",
                          f"    port = {self.ports[protocol + 's']}", "    ssl = yes", "  }", "}"]
        return "\n".join([
            "protocols = imap pop3", "listen = 127.0.0.1", f"base_dir = {d}/run", f"state_dir = {d}/state",
            f"instance_name = postern-test-{d.name}", f"log_path = {self.log_path}",
            "default_login_user = dovenull", "default_internal_user = dovecot",
            f"first_valid_uid = {min(self.uid, 500)}",
            # Plaintext LOGIN and USER/PASS on loopback, as Postern's allow_plaintext_auth.
            "disable_plaintext_auth = no", "auth_mechanisms = plain login",
            "ssl = yes", f"ssl_cert = <{self.tls[0]}", f"ssl_key = <{self.tls[1]}",
            "passdb {", "  driver = passwd-file", f"  args = {d}/passwd", "}",
            "userdb {", "  driver = static", f"  args = uid={self.uid} gid={self.gid} home={d}/home/%u", "}",
            f"mail_location = maildir:{d}/mail/%u:INBOX={self.maildir}:INDEX={d}/index/%u"
            f":CONTROL={d}/index/%u/control",
            # UIDL = the Maildir base name, as Postern's (MailStore: StoredMessage.uniqueName).
            "pop3_uidl_format = %f",
            *listeners, ""])

    def start(self) -> "Dovecot":
        for key in self.ports:
            self.ports[key] = free_port()
        (self.dir / "passwd").write_text("".join(f"{u}:{dovecot_password(p)}\n" for u, p in self.users.items()))
        (self.dir / "dovecot.conf").write_text(self.config())
        for sub in ("mail", "index", "home"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.own_maildir()
        self.proc = subprocess.Popen([self.binary, "-F", "-c", str(self.dir / "dovecot.conf")],
                                     stdin=subprocess.DEVNULL, stdout=open(self.dir / "stdout.log", "ab"),
                                     stderr=subprocess.STDOUT)
        try:
            for key, greeting in (("imap", b"* OK"), ("imaps", b""), ("pop3", b"+OK"), ("pop3s", b"")):
                if greeting:
                    wait_greeting(self.ports[key], greeting, alive=lambda: self.proc.poll() is None)
        except ServerError as e:
            self.stop()
            raise ServerError(f"dovecot did not start: {e}\n{self.log_text()}") from None
        return self

    def own_maildir(self) -> None:
        """Files written after start (tests add messages) must be the mail user's too."""
        for sub in ("mail", "index", "home"):
            chown_tree(self.dir / sub, self.uid, self.gid)
        chown_tree(self.maildir, self.uid, self.gid)

    def fill(self, messages: list[QuarantinedMessage]) -> None:
        fill_maildir(self.maildir, messages)
        self.own_maildir()

    def copy_maildir(self, source: Path) -> None:
        """Serves a copy of another Maildir's messages (new/ and cur/, file for file, times
        kept; nothing else, e.g. not Postern's postern-uidlist)."""
        for sub in ("new", "cur"):
            if (source / sub).is_dir():
                for path in (source / sub).iterdir():
                    shutil.copy2(path, self.maildir / sub / path.name)
        self.own_maildir()

    def add(self, message: QuarantinedMessage) -> None:
        """A message arriving while the server runs (a quarantine move)."""
        path = message.write(self.maildir)
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)

    def endpoints(self, user: str = ADMIN) -> Endpoints:
        return Endpoints("dovecot", self.ports["imap"], self.ports["imaps"], self.ports["pop3"],
                         self.ports["pop3s"], self.tls[0], self.maildir, user, self.users[user])

    def create(self, mailbox: str) -> None:
        """A folder beside INBOX (e.g. "Release", which Postern has built in)."""
        client = self.endpoints().imap_client()
        try:
            typ, data = client.create(mailbox)
            assert typ == "OK", (typ, data)
        finally:
            client.logout()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_text(self) -> str:
        text = ""
        for path in (self.log_path, self.dir / "stdout.log"):
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def start_dovecot(tls: tuple[str, str], users: dict[str, str] = USERS, *,
                  messages: list[QuarantinedMessage] = (), copy_of: Path | None = None) -> Dovecot:
    """A started Dovecot serving `messages` and a copy of the Maildir `copy_of`; close() it.
    One that cannot start (not installed, or broken) fails the test when CI=true and skips
    it elsewhere, as a missing tool does."""
    try:
        server = Dovecot(tls, users)
    except ServerError as e:
        unavailable(str(e))
    try:
        server.fill(list(messages))
        if copy_of is not None:
            server.copy_maildir(copy_of)
        server.start()
    except ServerError as e:
        server.close()
        unavailable(str(e))
    return server


# --------------------------------------------------------------------------
# Postern


def postern_policy() -> str:
    """The listener's policy: the password file (written by `postern passwd`) and alice's
    granted addresses, which are also what she sees of the quarantine."""
    senders = ", ".join(f'"{s}"' for s in ALICE_SENDERS)
    return "\n".join(["[relay]", 'trusted_networks = ["127.0.0.1/32"]', 'local_domains = ["local.test"]', "",
                      "[auth]", "enabled = true", 'passwd_file = "passwd"', "allow_plaintext = true", "",
                      "[users.alice]", f"senders = [{senders}]", ""])


def postern_mail_config(maildir: Path, ports: dict[str, int]) -> str:
    """The [imap], [pop3] and [quarantine] tables (plus a dead loopback DNS server)."""
    return "\n".join([
        "[quarantine]", f'directory = "{maildir}"', f'admins = ["{ADMIN}"]', "",
        "[imap]", f'listen = ["127.0.0.1:{ports["imap"]}"]', f'listen_tls = ["127.0.0.1:{ports["imaps"]}"]',
        "allow_plaintext_auth = true", "",
        "[pop3]", f'listen = ["127.0.0.1:{ports["pop3"]}"]', f'listen_tls = ["127.0.0.1:{ports["pop3s"]}"]',
        "allow_plaintext_auth = true", "",
        "[dns]", 'servers = ["127.0.0.1:1"]', "timeout = 1", ""])


_IMAP_SUPPORT: dict[str, bool] = {}


def postern_has_imap(binary: str) -> bool:
    """Whether `postern config check` knows an [imap] table: until it does, Postern has no
    IMAP server and its half of the comparisons is skipped. Only "imap: unknown key" counts
    as not knowing it (a bare table draws other complaints, e.g. that it needs [tls]); a key
    of postern_mail_config that Postern names otherwise must fail the tests, not skip them."""
    if binary not in _IMAP_SUPPORT:
        if not os.access(binary, os.X_OK):
            _IMAP_SUPPORT[binary] = False
            return False
        with tempfile.TemporaryDirectory(prefix="postern-imapcheck-") as d:
            path = Path(d) / "postern.toml"
            path.write_text("\n".join([f'hostname = "{HOSTNAME}"', "", "[[listener]]",
                                       'address = "127.0.0.1:2525"', "", "[queue]", 'directory = "queue"', "",
                                       "[delivery]", "enabled = false", "", "[dns]", 'servers = ["127.0.0.1:1"]',
                                       "", "[imap]", 'listen = ["127.0.0.1:1143"]', ""]))
            p = subprocess.run([binary, "config", "check", str(path)], capture_output=True, timeout=60)
            _IMAP_SUPPORT[binary] = p.returncode == 0 or b"imap: unknown key" not in p.stdout + p.stderr
    return _IMAP_SUPPORT[binary]


class PosternMail:
    """`postern serve` with IMAP and POP3 listeners on a quarantine Maildir of its own."""

    def __init__(self, binary: str, workdir: Path, tls: tuple[str, str], maildir: Path | None = None):
        """`maildir`: serve that one (e.g. Dovecot's, for the benchmark) instead of a new one."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.maildir = maildir or make_maildir(self.workdir / "quarantine")
        self.ports = {"imap": 0, "imaps": 0, "pop3": 0, "pop3s": 0}
        self.unready: dict[str, str] = {}  # protocol -> why its listener did not greet
        for user, password in USERS.items():
            add_user(binary, self.workdir / "passwd", user, password)
        self.server = PosternServer(binary, self.workdir, tls=tls, policy=postern_policy(), name="postern-mail",
                                    delivery="[delivery]\nenabled = false\n")

    def start(self) -> "PosternMail":
        for key in self.ports:
            self.ports[key] = free_port()
        self.server.extra_config = postern_mail_config(self.maildir, self.ports)
        self.server.start()
        # The mail listeners start just after the SMTP ones. One that never greets is left
        # to fail the clients that use it, so the other protocol's tests still run.
        self.unready.clear()
        for protocol, greeting in (("imap", b"* OK"), ("pop3", b"+OK")):
            try:
                wait_greeting(self.ports[protocol], greeting, timeout=10, alive=self.server.running)
            except ServerError as e:
                self.unready[protocol] = str(e)
        return self

    def fill(self, messages: list[QuarantinedMessage]) -> None:
        fill_maildir(self.maildir, messages)

    def add(self, message: QuarantinedMessage) -> None:
        message.write(self.maildir)

    def endpoints(self, user: str = ADMIN) -> Endpoints:
        return Endpoints("postern", self.ports["imap"], self.ports["imaps"], self.ports["pop3"],
                         self.ports["pop3s"], self.tls[0], self.maildir, user, USERS[user])

    def create(self, mailbox: str) -> None:
        assert mailbox == "Release", "Postern's folders are INBOX and Release"

    @property
    def pid(self) -> int:
        return self.server.pid

    def log_text(self) -> str:
        return self.server.stderr_text()

    def stop(self) -> None:
        self.server.terminate()

    def close(self) -> None:
        self.stop()


# --------------------------------------------------------------------------
# IMAP responses as imaplib hands them over


def fetch_items(data: list) -> dict[int, dict[str, object]]:
    """imaplib's FETCH data -> {sequence number: {ITEM NAME: value}}. Values: int, bytes
    (quoted strings and literals alike), None (NIL) and lists; item names upper-cased."""
    stream = b""
    for element in data:
        if isinstance(element, tuple):  # (line ending in {N}, the N octets)
            stream += element[0] + b"\r\n" + element[1]
        elif element is not None:
            stream += element + b"\r\n"
    out: dict[int, dict[str, object]] = {}
    i = 0
    while True:
        i = _skip(stream, i)
        if i >= len(stream):
            return out
        number, i = _value(stream, i)
        items, i = _value(stream, _skip(stream, i))
        assert isinstance(number, int) and isinstance(items, list), stream[:200]
        merged = out.setdefault(number, {})
        for name, value in zip(items[::2], items[1::2]):
            merged[name.decode().upper() if isinstance(name, bytes) else str(name)] = value


def _skip(buf: bytes, i: int) -> int:
    while i < len(buf) and buf[i] in b" \r\n":
        i += 1
    return i


def _value(buf: bytes, i: int):
    c = buf[i:i + 1]
    if c == b"(":
        items, i = [], i + 1
        while True:
            i = _skip(buf, i)
            if buf[i:i + 1] == b")":
                return items, i + 1
            item, i = _value(buf, i)
            items.append(item)
    if c == b'"':
        out, i = bytearray(), i + 1
        while buf[i:i + 1] != b'"':
            if buf[i:i + 1] == b"\\":
                i += 1
            out += buf[i:i + 1]
            i += 1
        return bytes(out), i + 1
    if c == b"{":
        end = buf.index(b"}", i)
        size = int(buf[i + 1:end].rstrip(b"+"))
        start = end + 3  # "}\r\n"
        return buf[start:start + size], start + size
    # An atom; a section ("BODY[HEADER.FIELDS (FROM)]<0>") keeps its brackets' spaces.
    start, depth = i, 0
    while i < len(buf):
        ch = buf[i:i + 1]
        if ch == b"[":
            depth += 1
        elif ch == b"]":
            depth -= 1
        elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
            break
        i += 1
    atom = buf[start:i]
    if atom.upper() == b"NIL":
        return None, i
    return (int(atom), i) if atom.isdigit() else (atom, i)


def imap_text(value) -> str:
    """A parsed value written back canonically (strings quoted), to compare two servers'
    ENVELOPE or BODYSTRUCTURE whether they sent a string quoted or as a literal."""
    if value is None:
        return "NIL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "(" + " ".join(imap_text(v) for v in value) + ")"
    return '"' + value.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"') + '"'


def body_shape(structure) -> str:
    """"type/subtype" of a BODYSTRUCTURE, lower case, with a multipart's parts and a
    message/rfc822's inner structure in brackets: "multipart/mixed[text/plain,application/pdf]"."""
    if isinstance(structure[0], list):
        parts = []
        i = 0
        while isinstance(structure[i], list):
            parts.append(body_shape(structure[i]))
            i += 1
        return f"multipart/{structure[i].decode().lower()}[{','.join(parts)}]"
    kind = f"{structure[0].decode().lower()}/{structure[1].decode().lower()}"
    if kind == "message/rfc822":
        return f"{kind}[{body_shape(structure[8])}]"
    return kind
