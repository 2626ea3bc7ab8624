"""Helpers for the loopback integration suite: a running daemon, a raw SMTP
client that checks reply syntax, and readers for the queue directory.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
HOSTNAME = "relay.test"


def postern_binary() -> str:
    """The binary under test: $POSTERN, else <repo>/.build/debug/postern."""
    return os.environ.get("POSTERN") or str(REPO / ".build" / "debug" / "postern")


def unavailable(message: str) -> NoReturn:
    """Something a test needs (a tool, a peer server) is not there: a failure in CI, a skip elsewhere."""
    if CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """Path of an external tool. Missing: a failure in CI, a skip elsewhere."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path:
        return path
    unavailable(f"required tool {name!r} is not installed (run scripts/deps.sh)")


def require_swaks_tls() -> str:
    """swaks with TLS support (Debian: libnet-ssleay-perl, only a Recommends of swaks)."""
    swaks = require_tool("swaks")
    perl = require_tool("perl")
    if subprocess.run([perl, "-MNet::SSLeay", "-e", "1"], capture_output=True).returncode != 0:
        unavailable("swaks --tls needs Net::SSLeay (apt-get install libnet-ssleay-perl)")
    return swaks


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# Replies



RECORD_TRAILER = 32


def record_body_size(path: Path) -> int:
    """Where a queue record's envelope starts: its body's length (from the trailer alone)."""
    with open(path, "rb") as f:
        f.seek(-RECORD_TRAILER, os.SEEK_END)
        trailer = f.read()
    assert trailer.startswith(b"postern-record ") and trailer.endswith(b"\n"), f"no record trailer: {trailer!r}"
    return int(trailer[15:31], 16)


def split_record(data: bytes) -> tuple[bytes, bytes]:
    """A queue record (DIR/msg/ID.msg) as (body, envelope text): the body octets, the envelope
    (version 4), then a 32-octet trailer "postern-record " + 16 hex digits of the envelope's offset + LF."""
    trailer = data[-RECORD_TRAILER:]
    assert len(data) >= RECORD_TRAILER and trailer.startswith(b"postern-record ") and trailer.endswith(b"\n"), (
        f"no record trailer: {data[-40:]!r}")
    offset = int(trailer[15:31], 16)
    envelope = data[offset:-RECORD_TRAILER]
    assert envelope.startswith(b"postern-envelope 4\n") and envelope.endswith(b"\nend\n"), envelope[:80]
    return data[:offset], envelope


class ConnectionClosed(Exception):
    """The server closed the connection while a reply was expected."""


@dataclass
class Reply:
    code: int
    lines: list[str]  # text of each line, after "NNN-" / "NNN "

    @property
    def enhanced(self) -> str | None:
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.lines[0])
        return m.group(1) if m else None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return " | ".join(f"{self.code} {line}" for line in self.lines)


def expect(reply: Reply, code: int, enhanced: str | None = None, text: str | None = None) -> Reply:
    """Asserts the reply code, the RFC 3463 code (on every line) and, optionally, a regex on the text."""
    assert reply.code == code, f"expected {code} {enhanced or ''}, got: {reply}"
    if enhanced is not None:
        for line in reply.lines:
            assert line.split(" ", 1)[0] == enhanced, f"expected enhanced code {enhanced} on every line, got: {reply}"
    if text is not None:
        assert re.search(text, reply.text), f"reply text does not match /{text}/: {reply}"
    return reply


QUEUED_RE = re.compile(r"^2\.0\.0 Ok: queued as ([0-9A-F]{16})$")


def queued_id(reply: Reply) -> str:
    """The queue ID from `250 2.0.0 Ok: queued as <16 hex>`."""
    expect(reply, 250, "2.0.0")
    m = QUEUED_RE.match(reply.lines[-1])
    assert m, f"end-of-data reply does not name a queue ID: {reply}"
    return m.group(1)


class RecordingSMTP(smtplib.SMTP):
    """smtplib.SMTP that keeps the end-of-data reply (sendmail/send_message drop it)."""

    last_data_reply: tuple[int, bytes] | None = None

    def data(self, msg):
        self.last_data_reply = super().data(msg)
        return self.last_data_reply


def as_reply(pair: tuple[int, bytes]) -> Reply:
    code, text = pair
    return Reply(code, text.decode("utf-8", "replace").split("\n"))


# --------------------------------------------------------------------------
# Raw SMTP client


class RawSMTP:
    """A byte-exact SMTP client: you decide what goes on the wire and when."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 15.0, greet: bool = True,
                 source: str | None = None):
        # source: bind the client to another loopback address (e.g. 127.0.0.2, untrusted).
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.greeting: Reply | None = None
        if greet:
            self.greeting = self.read_reply()

    # -- io
    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed(f"connection closed; unparsed bytes: {bytes(self.buffer)!r}")
        self.buffer += chunk

    def read_line(self) -> bytes:
        while True:
            i = self.buffer.find(b"\n")
            if i >= 0:
                line = bytes(self.buffer[: i + 1])
                del self.buffer[: i + 1]
                assert line.endswith(b"\r\n"), f"reply line not ended by CRLF: {line!r}"
                return line[:-2]
            self._fill()

    def read_reply(self) -> Reply:
        code = None
        lines: list[str] = []
        while True:
            raw = self.read_line()
            m = re.match(rb"^([2-5]\d\d)([ -])(.*)$", raw, re.S)
            assert m, f"malformed reply line: {raw!r} (after {lines})"
            c = int(m.group(1))
            assert code is None or c == code, f"reply code changed inside a multi-line reply: {raw!r}"
            code = c
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) == b" ":
                return Reply(code, lines)

    def cmd(self, line: str | bytes) -> Reply:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.read_reply()

    def expect_closed(self, timeout: float = 10.0) -> None:
        """Asserts that the server closes the connection without sending anything more."""
        assert not self.buffer, f"unexpected bytes before close: {bytes(self.buffer)!r}"
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return
        except socket.timeout:
            raise AssertionError(f"server did not close the connection within {timeout}s")
        assert data == b"", f"expected the connection to be closed, got: {data!r}"

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawSMTP":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- conveniences
    def ehlo(self, name: str = "client.example") -> dict[str, str]:
        reply = expect(self.cmd(f"EHLO {name}"), 250)
        extensions = {}
        for line in reply.lines[1:]:
            keyword, _, params = line.partition(" ")
            extensions[keyword.upper()] = params
        return extensions

    def transaction(self, sender: str, recipients: list[str], body: bytes) -> Reply:
        """MAIL, RCPT…, DATA, dot-stuffed body; returns the end-of-data reply."""
        expect(self.cmd(f"MAIL FROM:<{sender}>"), 250, "2.1.0")
        for rcpt in recipients:
            expect(self.cmd(f"RCPT TO:<{rcpt}>"), 250, "2.1.5")
        expect(self.cmd("DATA"), 354)
        self.send(dot_stuff(body) + b".\r\n")
        return self.read_reply()


def dot_stuff(body: bytes) -> bytes:
    """RFC 5321 §4.5.2 transparency; the body must use CRLF line ends."""
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    return body.replace(b"\r\n.", b"\r\n..")


def make_message(subject: str = "test", body: str = "Hello.\r\n", *, msgid: str | bool = True,
                 sender: str = "sender@example.org", to: str = "someone@example.net",
                 date: bool = True) -> bytes:
    """A complete RFC 5322 message (with Date and Message-ID unless told otherwise)."""
    headers = [f"From: <{sender}>", f"To: <{to}>", f"Subject: {subject}"]
    if date:
        headers.append("Date: " + email.utils.formatdate(localtime=False))
    if msgid is True:
        headers.append("Message-ID: " + email.utils.make_msgid(domain="client.example"))
    elif msgid:
        headers.append(f"Message-ID: {msgid}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


# --------------------------------------------------------------------------
# Received line (RFC 5321 §4.4) and the header section

_SUBDOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"{_SUBDOMAIN}(?:\.{_SUBDOMAIN})*"
_IPV4 = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
_ADDRESS_LITERAL = rf"\[(?:{_IPV4}|IPv6:[0-9A-Fa-f:.]+)\]"
_EXTENDED_DOMAIN_NAME = rf"(?:{_DOMAIN}|{_ADDRESS_LITERAL})"
_FWS = r"(?:[ \t]*\r\n)?[ \t]+"
_DATE = (r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),[ ])?\d{1,2}[ ](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
         r"[ ]\d{4}[ ]\d{2}:\d{2}(?::\d{2})?[ ][+-]\d{4}")
# Time-stamp-line = "Received:" FWS Stamp CRLF
# Stamp = From-domain By-domain Opt-info [CFWS] ";" FWS date-time
# From-domain = "FROM" FWS Extended-Domain ; Extended-Domain = Domain FWS "(" TCP-info ")" / ...
# TCP-info = address-literal / ( Domain FWS address-literal )
# Opt-info = [Via] [With] [ID] [For] ; With = CFWS "WITH" FWS Protocol ; ID = CFWS "ID" FWS Atom
# For = CFWS "FOR" FWS ( Path / Mailbox )
RECEIVED_RE = re.compile(
    rf"Received:{_FWS}from{_FWS}(?P<helo>{_EXTENDED_DOMAIN_NAME})"
    rf"{_FWS}\((?:(?P<rdns>{_DOMAIN}){_FWS})?(?P<literal>{_ADDRESS_LITERAL})\)"
    rf"{_FWS}by{_FWS}(?P<by>{_DOMAIN})"
    rf"{_FWS}with{_FWS}(?P<proto>[A-Za-z0-9-]+)"
    rf"{_FWS}id{_FWS}(?P<id>[0-9A-F]{{16}})"
    rf"(?:{_FWS}for{_FWS}<(?P<for>[^<>\r\n]+)>)?"
    rf";{_FWS}(?P<date>{_DATE})\r\n"
)


def split_received(stored: bytes) -> tuple[str, bytes]:
    """(our Received field, the rest): the field is the first one and may be folded."""
    m = re.match(rb"Received:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", stored)
    assert m, f"stored message does not start with a Received field: {stored[:200]!r}"
    return m.group(0).decode("utf-8"), stored[m.end():]


def check_received(stored: bytes, *, helo: str, queue_id: str, proto: str = "ESMTP",
                   recipient: str | None = None) -> re.Match:
    """Asserts the full RFC 5321 §4.4 form of the Received field we prepend."""
    field, _ = split_received(stored)
    m = RECEIVED_RE.fullmatch(field)
    assert m, f"Received field does not match RFC 5321 §4.4: {field!r}"
    assert m["helo"] == helo, field
    assert m["rdns"] == "localhost" and m["literal"] == "[127.0.0.1]", field
    assert m["by"] == HOSTNAME, field
    assert m["proto"] == proto, field
    assert m["id"] == queue_id, field
    assert m["for"] == recipient, f"for-clause: expected {recipient!r}: {field!r}"
    when = email.utils.parsedate_to_datetime(m["date"])
    assert abs(time.time() - when.timestamp()) < 300, f"Received date far from now: {m['date']}"
    # The day of the week, when given, must be that date's.
    if "," in m["date"]:
        assert email.utils.format_datetime(when)[:3] == m["date"][:3], field
    return m


def header_section(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[: end + 2]


def header_count(message: bytes, name: str) -> int:
    return len(re.findall(rb"(?im)^" + re.escape(name.encode()) + rb"[ \t]*:", header_section(message)))


# --------------------------------------------------------------------------
# Queue directory


class Queue:
    """Reads the queue through the CLI (`postern queue …`) and, for bodies, the spool files."""

    def __init__(self, binary: str, directory: Path, socket_path: Path | None = None):
        self.binary = binary
        self.dir = Path(directory)
        self.socket = socket_path

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "queue", *args, "--queue-dir", str(self.dir)],
                              capture_output=True, timeout=60)

    def control(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        """A queue command that goes through the daemon's control socket."""
        extra = ["--socket", str(self.socket)] if self.socket else []
        return subprocess.run([self.binary, "queue", *args, "--queue-dir", str(self.dir), *extra],
                              capture_output=True, timeout=60, input=stdin)

    def list(self) -> list[dict]:
        """`queue list --json`: one JSON object per line."""
        p = self._run("list", "--json")
        assert p.returncode == 0, f"queue list --json exited {p.returncode}: {p.stderr.decode()}"
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    def ids(self) -> list[str]:
        return [entry["id"] for entry in self.list()]

    def entry(self, queue_id: str) -> dict:
        p = self._run("show", queue_id, "--json")
        assert p.returncode == 0, f"queue show {queue_id} --json exited {p.returncode}: {p.stderr.decode()}"
        return json.loads(p.stdout)

    def show_body(self, queue_id: str) -> bytes:
        """`queue show ID --body`: the envelope lines, an empty line, then the message."""
        p = self._run("show", queue_id, "--body")
        assert p.returncode == 0, f"queue show {queue_id} --body exited {p.returncode}: {p.stderr.decode()}"
        out = p.stdout
        assert out.startswith(f"id: {queue_id}\n".encode()), (
            f"`queue show {queue_id} --body` does not start with the envelope: {out[:300]!r}")
        head, sep, body = out.partition(b"\n\n")
        assert sep, f"no empty line between envelope and body: {out[:300]!r}"
        return body

    def body(self, queue_id: str) -> bytes:
        """The stored body: the record DIR/msg/ID.msg up to its envelope (or an older queue's ID.eml)."""
        record = self.dir / "msg" / f"{queue_id}.msg"
        if record.exists():
            return split_record(record.read_bytes())[0]
        return (self.dir / "msg" / f"{queue_id}.eml").read_bytes()

    def files(self, sub: str) -> list[Path]:
        d = self.dir / sub
        return sorted(d.iterdir()) if d.exists() else []


class Quarantine:
    """The quarantine Maildir (DIR/quarantine by default) through the CLI (`postern quarantine …`)
    and its files."""

    def __init__(self, binary: str, queue_dir: Path, socket_path: Path | None = None):
        self.binary = binary
        self.queue_dir = Path(queue_dir)
        self.dir = self.queue_dir / "quarantine"
        self.socket = socket_path

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        extra = ["--socket", str(self.socket)] if self.socket else []
        return subprocess.run([self.binary, "quarantine", *args, "--queue-dir", str(self.queue_dir), *extra],
                              capture_output=True, timeout=60, input=stdin)

    def list(self) -> list[dict]:
        """`quarantine list --json`: one JSON object per line."""
        p = self.run("list", "--json")
        assert p.returncode == 0, f"quarantine list --json exited {p.returncode}: {p.stderr.decode()}"
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    def ids(self) -> list[str]:
        return [entry["id"] for entry in self.list()]

    def message(self, quarantine_id: str) -> bytes:
        """`quarantine show ID --body`: the message as queued, without the quarantine's fields."""
        p = self.run("show", quarantine_id, "--body")
        assert p.returncode == 0, f"quarantine show {quarantine_id} --body exited {p.returncode}: {p.stderr.decode()}"
        head, sep, body = p.stdout.partition(b"\n\n")
        assert head.startswith(f"id: {quarantine_id}\n".encode()) and sep, p.stdout[:300]
        return body

    def files(self, quarantine_id: str = "") -> list[Path]:
        """Files in new/ and cur/ (for one quarantine ID: its name holds `.ID_`)."""
        return sorted(p for sub in ("new", "cur") if (self.dir / sub).exists()
                      for p in (self.dir / sub).iterdir() if f".{quarantine_id}_" in p.name or not quarantine_id)

    def wait_for(self, *quarantine_ids: str, timeout: float = 20.0) -> None:
        """Until every ID has its Maildir file (the mover runs just after the 250)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.files(q) for q in quarantine_ids):
                return
            time.sleep(0.05)
        raise AssertionError(f"not in the quarantine after {timeout}s: "
                             f"{[q for q in quarantine_ids if not self.files(q)]}")


# --------------------------------------------------------------------------
# The daemon


def render_config(port: int, queue_dir: str, *, limits: dict | None = None,
                  tls: tuple[str, str] | None = None, ipv6: bool = False, extra: str = "",
                  delivery: str | None = None, policy: bool = False, control_socket: str | None = None,
                  queue: dict | None = None) -> str:
    policy_line = ['policy = "policy.toml"'] if policy else []
    lines = [f'hostname = "{HOSTNAME}"', "", "[[listener]]", f'address = "127.0.0.1:{port}"', *policy_line, ""]
    if ipv6:
        lines += ["[[listener]]", f'address = "[::1]:{port}"', *policy_line, ""]
    lines += ["[queue]", f'directory = "{queue_dir}"', *(f"{k} = {v}" for k, v in (queue or {}).items()), ""]
    if control_socket:
        # pytest's directories are too deep for a Unix socket path (107 bytes).
        lines += ["[control]", f'socket = "{control_socket}"', ""]
    if limits:
        lines.append("[limits]")
        lines += [f"{k} = {v}" for k, v in limits.items()]
        lines.append("")
    if tls:
        lines += ["[tls]", f'certificate = "{tls[0]}"', f'key = "{tls[1]}"', ""]
    lines += ["[log]", 'level = "info"', 'format = "logfmt"', ""]
    # Receiving tests keep mail queued: no delivery, so no DNS lookup at all.
    # Delivery tests pass their own [delivery]/[dns] tables (loopback only).
    lines.append(delivery if delivery is not None else "[delivery]\nenabled = false\n")
    if extra:
        lines.append(extra)
    return "\n".join(lines)


class PosternServer:
    """One `postern serve --config …` subprocess with its own directory."""

    def __init__(self, binary: str, workdir: Path, *, limits: dict | None = None,
                 tls: tuple[str, str] | None = None, ipv6: bool = False, name: str = "postern",
                 delivery: str | None = None, policy: str | None = None):
        self.binary = binary
        self.delivery = delivery
        # TOML text of the listener's policy file (policies/*.toml format); None: built-in.
        self.policy = policy
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.tls = tls
        self.ipv6 = ipv6
        self.name = name
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.config_path = self.workdir / "postern.toml"
        self.queue_dir = self.workdir / "queue"
        self.stderr_path = self.workdir / "stderr.log"
        self.control_dir = Path(tempfile.mkdtemp(prefix="pst"))
        self.control_socket = self.control_dir / "control.sock"
        self.extra_config = ""
        # More [queue] settings, e.g. {"journal_size_mb": 64}.
        self.queue_settings: dict = {}
        # Runs the daemon through another program, e.g. setpriv to start it as another user.
        self.command_prefix: list[str] = []
        self.queue = Queue(binary, self.queue_dir, self.control_socket)
        self.quarantine = Quarantine(binary, self.queue_dir, self.control_socket)
        self.starts = 0

    # -- lifecycle
    def start(self, port: int | None = None) -> "PosternServer":
        last_error = ""
        for _ in range(3):
            self.port = port or free_port()
            if self.policy is not None:
                (self.workdir / "policy.toml").write_text(self.policy)
            self.config_path.write_text(render_config(self.port, "queue", limits=self.limits, tls=self.tls,
                                                       ipv6=self.ipv6, delivery=self.delivery,
                                                       policy=self.policy is not None,
                                                       control_socket=str(self.control_socket),
                                                       extra=self.extra_config, queue=self.queue_settings))
            self.starts += 1
            with open(self.stderr_path, "ab") as err:
                err.write(f"----- start #{self.starts} on port {self.port}\n".encode())
                err.flush()
                self.proc = subprocess.Popen(
                    [*self.command_prefix, self.binary, "serve", "--config", str(self.config_path)],
                    cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
            try:
                self.wait_ready()
                return self
            except AssertionError as e:
                last_error = str(e)
                if self.proc.poll() is None or port is not None or "in use" not in self.stderr_text().lower():
                    self.kill()
                    raise
        raise AssertionError(f"postern did not start: {last_error}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"postern exited with {self.proc.returncode} at start:\n{self.stderr_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    data = b""
                    while b"\r\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if data.startswith(b"220 ") or data.startswith(b"220-"):
                        s.sendall(b"QUIT\r\n")
                        try:
                            while s.recv(4096):
                                pass
                        except OSError:
                            pass
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"postern did not answer on 127.0.0.1:{self.port} within {timeout}s:\n{self.stderr_text()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM; SIGKILL if it hangs. Returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- /proc
    def proc_status(self, key: str) -> int:
        """A kB figure from /proc/PID/status, in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    # -- clients
    def connect(self, **kw) -> RawSMTP:
        return RawSMTP(self.port, **kw)


def stop_servers(servers: list[PosternServer]) -> list[str]:
    """SIGTERM to each daemon (SIGKILL if it hangs); one line for each that did not stop cleanly."""
    bad = []
    for server in servers:
        was_running = server.running()
        status = server.terminate(timeout=15)
        if was_running and status != 0:
            bad.append(f"{server.name}: {'hung after SIGTERM, killed' if status is None else f'exit status {status}'}")
    return bad


# --------------------------------------------------------------------------
# SMTP AUTH helpers


def auth_plain(user: str, password: str, authzid: str = "") -> str:
    """The base64 response of SASL PLAIN (RFC 4616): authzid NUL user NUL password."""
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def add_user(binary: str, path: Path, user: str, password: str) -> None:
    """`postern passwd USER --file PATH`, the password on stdin."""
    p = subprocess.run([binary, "passwd", user, "--file", str(path)], input=(password + "\n").encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, f"postern passwd {user} failed: {p.stderr.decode()}"
