"""Real content scanners for the loopback suite: clamd, spamd and rspamd, each started
from a private configuration in a temp directory, listening only on 127.0.0.1 and on
Unix sockets, with no DNS or network look-ups that could leave the machine.

    with Clamd() as clamd:          # or Spamd(), Rspamd()
        clamd.address               # what Postern is configured with: socket path or "127.0.0.1:PORT"
        clamd.kill(); clamd.restart()

Every scanner has `.address`, `.tcp_address`, `.socket_path` (None where there is none),
`.start()` (returns once the scanner answers its protocol's ping), `.stop()` (SIGTERM,
then SIGKILL), `.kill()` (SIGKILL to the whole process group, as in a crash), `.restart()`
(same addresses), `.start_seconds` (the last start, exec to first answer) and
`.log_text()`. Each runs in its own session (process group), so `kill()` takes spamd's
and rspamd's children along.

Isolation, from /work/shared/notes/scanners-and-dns.md:
- clamd: only INSTREAM is used; it has no DNS at all. The database is
  tests/fixtures/clamav (the EICAR .ndb signature), so it reports
  `Test.EICAR.NDB.UNOFFICIAL`.
- spamd: `-L` (local tests only, no DNS) and `-x` (no user configs).
- rspamd: the stock /etc/rspamd/rspamd.conf with every writable path redirected here,
  its resolver pointed at a loopback DNS server (tests/spf/zoneserver.py, an empty zone:
  everything is NXDOMAIN) and every module that reaches the network disabled.
  The hyperscan cache lives in RSPAMD_HS_CACHE (default /var/tmp/postern-rspamd-hs), so
  only the first start on a machine compiles (about 18 s); later starts take about 1 s.

As root, spamd's children run as debian-spamd (`-u`) and rspamd's workers as _rspamd
(`-u/-g`, it refuses to run workers as root); clamd needs no user. Not root: each runs
as the current user.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from postern_harness import REPO, free_port

CLAMAV_FIXTURES = REPO / "tests" / "fixtures" / "clamav"
ZONESERVER = REPO / "tests" / "spf" / "zoneserver.py"
RSPAMD_HS_CACHE = Path(os.environ.get("RSPAMD_HS_CACHE", "/var/tmp/postern-rspamd-hs"))
SBIN_PATH = "/usr/sbin:/usr/local/sbin:/sbin"

# rspamd modules that use remote maps, DNSBLs or rspamd.com services; all are disabled
# (override.d/<module>.conf: enabled = false). fuzzy_check is also left out of `filters`.
RSPAMD_NETWORK_MODULES = (
    "rbl", "whitelist", "phishing", "multimap", "mime_types", "rspamd_update", "mid", "asn",
    "url_redirector", "fuzzy_check", "surbl", "emails", "dcc", "external_services", "antivirus",
    "spamtrap", "p0f", "metadata_exporter", "clickhouse", "elastic", "bimi", "aws_s3",
)


class ScannerError(Exception):
    """A scanner could not be started (the message says why and holds its log)."""


def find_program(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=SBIN_PATH)


def short_tempdir(prefix: str) -> Path:
    """A directory whose Unix socket paths stay under the 107-byte limit (pytest's do not)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)  # scanners that drop privileges must reach their sockets and files here
    return d


def running_as_root() -> bool:
    return os.geteuid() == 0


def chown_to(path: Path, user: str) -> None:
    """As root, give `path` to `user` (the account a scanner drops to); otherwise nothing."""
    if running_as_root():
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class Scanner:
    """One scanner daemon: start, wait until it answers, stop, kill, restart."""

    name = "scanner"
    program = ""
    start_timeout = 60.0

    def __init__(self, workdir: Path | None = None):
        self.dir = workdir or short_tempdir(f"{self.name}-")
        self.owns_dir = workdir is None
        self.log_path = self.dir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self.starts = 0
        self.socket_path: str | None = None
        self.tcp_address: str | None = None
        # Runs the scanner through another program, e.g. ["strace", "-f", "-o", FILE].
        self.command_prefix: list[str] = []

    # -- what subclasses provide
    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Writes configuration and creates directories (once, before the first start)."""

    def ping(self) -> bool:
        """True once the scanner answers its protocol's ping."""
        raise NotImplementedError

    # -- addresses
    @property
    def address(self) -> str:
        """The socket path when there is one, else "127.0.0.1:PORT"."""
        return self.socket_path or self.tcp_address or ""

    @property
    def tcp_host_port(self) -> tuple[str, int]:
        assert self.tcp_address, f"{self.name} has no TCP listener"
        host, _, port = self.tcp_address.rpartition(":")
        return host, int(port)

    def connect(self, timeout: float = 30.0, tcp: bool | None = None) -> socket.socket:
        """A connected socket: the Unix socket by default when there is one, else TCP."""
        if tcp is None:
            tcp = self.socket_path is None
        if tcp:
            return socket.create_connection(self.tcp_host_port, timeout=timeout)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.socket_path)
        except OSError:
            s.close()
            raise
        return s

    # -- lifecycle
    def start(self) -> "Scanner":
        program = find_program(self.program)
        if not program:
            raise ScannerError(f"{self.program} is not installed (run scripts/deps.sh)")
        if self.starts == 0:
            self.prepare()
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"----- start #{self.starts}\n".encode())
            log.flush()
            began = time.monotonic()
            self.proc = subprocess.Popen([*self.command_prefix, *self.command()], cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True)
        self._wait_ready(began)
        return self

    def _wait_ready(self, began: float) -> None:
        deadline = began + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ScannerError(f"{self.name} exited with status {self.proc.returncode} at start; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            try:
                if self.ping():
                    self.start_seconds = time.monotonic() - began
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise ScannerError(f"{self.name} did not answer within {self.start_timeout:.0f}s; "
                           f"log {self.log_path}:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the main process; SIGKILL to the group if it hangs or leaves children."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self._kill_group()

    def kill(self) -> None:
        """SIGKILL to the scanner and all its processes, as if it crashed."""
        if self.proc is None:
            return
        self._kill_group()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # Children still exiting: wait until none of the group is alive. Zombies count
        # as gone (the parent here reaps orphans late, after a second or two).
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> "Scanner":
        """Stop (if running) and start again on the same socket path and port."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """stop() and remove the directory if this object made it."""
        self.stop()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log_text()
        return text if len(text) <= chars else "…" + text[-chars:]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------
# clamd


class Clamd(Scanner):
    """clamd with the EICAR test database, on a Unix socket and/or a loopback TCP port."""

    name = "clamd"
    program = "clamd"

    def __init__(self, workdir: Path | None = None, *, unix: bool = True, tcp: bool = True,
                 stream_max_length: str = "100M", max_threads: int = 10,
                 database_dir: Path = CLAMAV_FIXTURES, extra_config: str = ""):
        super().__init__(workdir)
        assert unix or tcp
        self.database_dir = database_dir
        self.stream_max_length = stream_max_length
        self.max_threads = max_threads
        self.extra_config = extra_config
        self.config_path = self.dir / "clamd.conf"
        self.socket_path = str(self.dir / "clamd.sock") if unix else None
        self.tcp_address = f"127.0.0.1:{free_port()}" if tcp else None

    def prepare(self) -> None:
        # A copy under /tmp: Ubuntu's AppArmor profile for clamd reads only /tmp, $HOME
        # and /var/lib/clamav, not wherever the repository is checked out.
        database = self.dir / "db"
        shutil.copytree(self.database_dir, database, dirs_exist_ok=True)
        lines = [
            f"DatabaseDirectory {database}",
            "Foreground yes",
            f"LogFile {self.dir / 'clamd-file.log'}",
            f"PidFile {self.dir / 'clamd.pid'}",
            f"TemporaryDirectory {self.dir}",
            "SelfCheck 0",
            f"StreamMaxLength {self.stream_max_length}",
            f"MaxThreads {self.max_threads}",
        ]
        if self.socket_path:
            lines += [f"LocalSocket {self.socket_path}", "LocalSocketMode 666"]
        if self.tcp_address:
            host, port = self.tcp_host_port
            lines += [f"TCPSocket {port}", f"TCPAddr {host}"]
        self.config_path.write_text("\n".join(lines) + "\n" + self.extra_config)

    def command(self) -> list[str]:
        return [find_program("clamd"), "-c", str(self.config_path)]

    def ping(self) -> bool:
        with self.connect(timeout=2) as s:
            s.sendall(b"zPING\0")
            return _read_until(s, b"\0") == b"PONG\0"


def clamd_instream(scanner: Clamd, message, *, tcp: bool | None = None, chunk: int = 65536,
                   timeout: float = 120.0) -> str:
    """Scans `message` (bytes, or an iterable of bytes blocks) with zINSTREAM; returns the reply
    without its NUL, e.g. "stream: Test.EICAR.NDB.UNOFFICIAL FOUND" or "stream: OK"."""
    blocks = [message] if isinstance(message, (bytes, bytearray)) else message
    with scanner.connect(timeout=timeout, tcp=tcp) as s:
        s.sendall(b"zINSTREAM\0")
        try:
            for block in blocks:
                for i in range(0, len(block), chunk):
                    part = block[i:i + chunk]
                    s.sendall(len(part).to_bytes(4, "big") + part)
            s.sendall(b"\0\0\0\0")
        except (BrokenPipeError, ConnectionResetError):
            pass  # over StreamMaxLength clamd answers and closes before the end
        return _read_until(s, b"\0").rstrip(b"\0").decode("utf-8", "replace")


# --------------------------------------------------------------------------
# spamd


class Spamd(Scanner):
    """spamd with local tests only (-L: no DNS, no network), no user configs (-x)."""

    name = "spamd"
    program = "spamd"
    start_timeout = 90.0

    def __init__(self, workdir: Path | None = None, *, unix: bool = True, tcp: bool = True,
                 max_children: int = 2):
        super().__init__(workdir)
        assert unix or tcp
        self.max_children = max_children
        self.socket_path = str(self.dir / "spamd.sock") if unix else None
        self.tcp_address = f"127.0.0.1:{free_port()}" if tcp else None
        self.home = self.dir / "home"

    def prepare(self) -> None:
        self.home.mkdir(exist_ok=True)
        chown_to(self.home, "debian-spamd")

    def command(self) -> list[str]:
        cmd = [find_program("spamd"), "-L", "-x", "-4", "-m", str(self.max_children), "--min-children=1",
               "--min-spare=1", "-H", str(self.home), "-s", "stderr", "-r", str(self.dir / "spamd.pid")]
        if self.tcp_address:
            cmd += ["-i", self.tcp_address, "-A", "127.0.0.1"]
        if self.socket_path:
            cmd += ["-i", self.socket_path, "--socketmode=0666"]
        if running_as_root():
            cmd += ["-u", "debian-spamd"]
        return cmd

    def ping(self) -> bool:
        with self.connect(timeout=2) as s:
            s.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return b"PONG" in _read_all(s)


def spamd_request(scanner: Spamd, verb: str, message: bytes, *, tcp: bool | None = None,
                  timeout: float = 120.0) -> tuple[str, dict[str, str], bytes]:
    """One spamc request (CHECK, SYMBOLS, REPORT, …): (status line, headers, body)."""
    with scanner.connect(timeout=timeout, tcp=tcp) as s:
        s.sendall(f"{verb} SPAMC/1.5\r\nContent-length: {len(message)}\r\n\r\n".encode() + message)
        reply = _read_all(s)
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.decode("utf-8", "replace").split("\r\n")
    headers = {}
    for line in lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body


# --------------------------------------------------------------------------
# rspamd


class Rspamd(Scanner):
    """rspamd 3.x, no Redis, no network: stock config, private dirs, loopback DNS."""

    name = "rspamd"
    program = "rspamd"
    start_timeout = 120.0  # the first start on a machine compiles the hyperscan cache (~18 s)
    user = "_rspamd"

    def __init__(self, workdir: Path | None = None, *, dns_zone: dict | None = None,
                 hs_cache_dir: Path = RSPAMD_HS_CACHE):
        super().__init__(workdir)
        self.port = free_port()
        self.controller_port = free_port()
        self.tcp_address = f"127.0.0.1:{self.port}"
        self.dns_zone = dns_zone or {}
        self.hs_cache_dir = hs_cache_dir
        self.confdir = self.dir / "conf"
        self.dns: subprocess.Popen | None = None
        self.dns_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.tcp_address}"

    def prepare(self) -> None:
        self._start_dns()
        for sub in ("db", "run", "log"):
            (self.dir / sub).mkdir(exist_ok=True)
            chown_to(self.dir / sub, self.user)
        self.hs_cache_dir.mkdir(parents=True, exist_ok=True)
        chown_to(self.hs_cache_dir, self.user)
        local, override = self.confdir / "local.d", self.confdir / "override.d"
        local.mkdir(parents=True, exist_ok=True)
        override.mkdir(exist_ok=True)
        (local / "options.inc").write_text(
            f'dns {{ nameserver = ["127.0.0.1:{self.dns_port}"]; timeout = 1s; retransmits = 1; }}\n'
            f'hs_cache_dir = "{self.hs_cache_dir}/";\n')
        # override.d replaces the stock values (local.d would merge: both bind addresses).
        (override / "options.inc").write_text('filters = "chartable,dkim,regexp";\nlocal_addrs = [];\n')
        (override / "worker-normal.inc").write_text(f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\n')
        (override / "worker-controller.inc").write_text(
            f'bind_socket = "127.0.0.1:{self.controller_port}";\ncount = 1;\n')
        (override / "worker-proxy.inc").write_text("enabled = false;\n")
        (override / "worker-fuzzy.inc").write_text("enabled = false;\ncount = 0;\n")
        (override / "logging.inc").write_text('type = "console";\nlevel = "info";\n')
        for module in RSPAMD_NETWORK_MODULES:
            (override / f"{module}.conf").write_text("enabled = false;\n")

    def _start_dns(self) -> None:
        zone = self.dir / "zone.json"
        zone.write_text(json.dumps(self.dns_zone))
        self.dns = subprocess.Popen([sys.executable, str(ZONESERVER), "--zone", str(zone), "--exit-on-eof"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.dns.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise ScannerError(f"the loopback DNS server for rspamd did not start: {line!r}")
        self.dns_port = int(line.split()[1])

    def vars(self) -> list[str]:
        return [f"--var=LOCAL_CONFDIR={self.confdir}", f"--var=DBDIR={self.dir / 'db'}",
                f"--var=RUNDIR={self.dir / 'run'}", f"--var=LOGDIR={self.dir / 'log'}"]

    def command(self) -> list[str]:
        cmd = [find_program("rspamd"), "-f", "-c", "/etc/rspamd/rspamd.conf", *self.vars()]
        if running_as_root():
            cmd += ["-u", self.user, "-g", self.user]
        return cmd

    def ping(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as r:
            return r.read().strip() == b"pong"

    def close(self) -> None:
        super().close()
        if self.dns is not None:
            self.dns.stdin.close()
            try:
                self.dns.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.dns.kill()
            self.dns = None


def rspamd_check(scanner: Rspamd, message: bytes, *, headers: dict[str, str] | None = None,
                 timeout: float = 120.0) -> dict:
    """POST /checkv2 on the normal worker; returns the JSON reply."""
    request = urllib.request.Request(f"{scanner.url}/checkv2", data=message, method="POST",
                                     headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read())


# --------------------------------------------------------------------------


def group_pids(pgid: int, *, zombies: bool = False) -> list[int]:
    """The processes of group `pgid` (zombies left out unless asked for)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields after "pid (comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and (zombies or fields[0] != "Z"):
            pids.append(int(stat.parent.name))
    return pids


def group_alive(pgid: int) -> bool:
    """True while a process of group `pgid` is alive (not a zombie)."""
    return bool(group_pids(pgid))


def listening_tcp_addresses(pgid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state held by a process of group `pgid`."""
    inodes = set()
    for pid in group_pids(pgid):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:
                continue
            hex_ip, hex_port = local.split(":")
            raw = bytes.fromhex(hex_ip)
            # /proc/net prints the address as 32-bit words in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def _read_until(s: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
