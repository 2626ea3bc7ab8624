"""Fixtures for the loopback suite: the binary, a throw-away TLS certificate,
and `postern serve` daemons started per test and stopped with SIGTERM.

Run:  python3 -m pytest -q tests/integration        (POSTERN=/path/to/postern to pick a binary)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postern_harness import PosternServer, postern_binary, require_tool, stop_servers, unavailable
from scanners import Clamd, Rspamd, Scanner, ScannerError, Spamd

ZONESERVER = Path(__file__).resolve().parents[2] / "tests" / "spf" / "zoneserver.py"


@pytest.fixture(scope="session")
def postern_bin(tmp_path_factory) -> str:
    """A private copy of the binary, so that a rebuild during the run cannot swap it mid-suite."""
    source = postern_binary()
    if not os.access(source, os.X_OK):
        pytest.fail(f"postern binary not found or not executable: {source} (set POSTERN or build first)",
                    pytrace=False)
    copy = tmp_path_factory.mktemp("bin") / "postern"
    shutil.copy2(source, copy)
    return str(copy)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> tuple[str, str]:
    """(certificate, key): self-signed for localhost and 127.0.0.1, valid two days."""
    openssl = require_tool("openssl")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    p = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "2",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60)
    assert p.returncode == 0, f"openssl req failed: {p.stderr.decode(errors='replace')}"
    return str(cert), str(key)


@pytest.fixture
def start_postern(request, tmp_path, postern_bin):
    """Factory: start_postern(limits={...}, tls=(cert, key), ipv6=True, extra="[metrics]…") -> a running PosternServer.

    Every daemon started here gets SIGTERM at teardown (SIGKILL if it hangs), and its
    stderr is attached to the report of a failing test.
    """
    servers: list[PosternServer] = []
    request.node._postern_servers = servers

    def start(limits: dict | None = None, tls: tuple[str, str] | None = None, ipv6: bool = False,
              name: str | None = None, delivery: str | None = None, policy: str | None = None,
              extra: str = "", queue: dict | None = None) -> PosternServer:
        name = name or f"postern{len(servers)}"
        server = PosternServer(postern_bin, tmp_path / name, limits=limits, tls=tls, ipv6=ipv6, name=name,
                               delivery=delivery, policy=policy)
        server.extra_config = extra  # more TOML tables, e.g. [metrics]
        server.queue_settings = queue or {}  # more [queue] keys
        servers.append(server)
        server.start()
        return server

    yield start
    bad = stop_servers(servers)
    if bad:
        pytest.fail("postern did not stop cleanly on SIGTERM: " + "; ".join(bad), pytrace=False)


@pytest.fixture
def zone_server(tmp_path):
    """zone_server(zone, mode="servfail"|"drop") -> the port of a loopback DNS server (UDP and TCP)
    serving `zone` (tests/spf/zoneserver.py format); "TIMEOUT" entries answer SERVFAIL or nothing."""
    procs = []

    def start(zone: dict, mode: str = "servfail") -> int:
        path = tmp_path / f"zone{len(procs)}.json"
        path.write_text(json.dumps(zone))
        proc = subprocess.Popen([sys.executable, str(ZONESERVER), "--zone", str(path), "--exit-on-eof",
                                 "--timeout-mode", mode],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = proc.stdout.readline().decode()
        assert line.startswith("PORT "), f"zone server did not start: {line!r}"
        procs.append(proc)
        return int(line.split()[1])

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture
def server(start_postern) -> PosternServer:
    """A daemon with the default limits and no TLS."""
    return start_postern()


_FIGURES: list[str] = []


# --------------------------------------------------------------------------
# Real scanners (tests/integration/scanners.py). The session-scoped ones start once and
# are shared: tests must not stop, kill or reconfigure them. Tests that do use the
# function-scoped *_private variants (or call make_scanner themselves).


def start_scanner(scanner: Scanner) -> Scanner:
    """Starts `scanner`; one that cannot start fails the test in CI and skips it elsewhere."""
    try:
        scanner.start()
    except ScannerError as e:
        scanner.close()
        unavailable(f"{scanner.name} could not be started: {e}")
    _FIGURES.append(f"{scanner.name} ({scanner.address}): ready {scanner.start_seconds:.2f} s after exec")
    return scanner


@pytest.fixture(scope="session")
def clamd():
    """clamd with the EICAR database: `.address` (Unix socket), `.tcp_address` ("127.0.0.1:PORT")."""
    scanner = start_scanner(Clamd())
    yield scanner
    scanner.close()


@pytest.fixture(scope="session")
def spamd():
    """spamd -L -x, 2 children: `.address` (Unix socket), `.tcp_address` ("127.0.0.1:PORT")."""
    scanner = start_scanner(Spamd())
    yield scanner
    scanner.close()


@pytest.fixture(scope="session")
def rspamd():
    """rspamd, no Redis, loopback DNS: `.address` = `.tcp_address` = the normal worker "127.0.0.1:PORT"."""
    scanner = start_scanner(Rspamd())
    yield scanner
    scanner.close()


@pytest.fixture
def make_scanner():
    """Factory for private scanners: make_scanner(Clamd, stream_max_length="1M") -> a started
    scanner, stopped at teardown. For tests that kill, restart or reconfigure one."""
    started: list[Scanner] = []

    def make(cls, **kwargs) -> Scanner:
        scanner = cls(**kwargs)
        started.append(scanner)
        return start_scanner(scanner)

    yield make
    for scanner in started:
        scanner.close()


@pytest.fixture
def clamd_private(make_scanner) -> Clamd:
    """A clamd of this test's own (kill and restart it at will)."""
    return make_scanner(Clamd)


@pytest.fixture
def spamd_private(make_scanner) -> Spamd:
    return make_scanner(Spamd)


@pytest.fixture
def rspamd_private(make_scanner) -> Rspamd:
    return make_scanner(Rspamd)


@pytest.fixture
def figures(request):
    """figures("…") records a measurement, printed in the run's closing summary."""
    def add(text: str) -> None:
        _FIGURES.append(f"{request.node.name}: {text}")
        print(text)
    return add


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("postern figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in getattr(item, "_postern_servers", []):
            text = server.stderr_text()
            if len(text) > 20000:
                text = "…(cut)…\n" + text[-20000:]
            report.sections.append((f"postern stderr ({server.name}, {server.workdir})", text))
        scanners = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Scanner)]
        for scanner in scanners:
            report.sections.append((f"{scanner.name} log ({scanner.log_path})", scanner.log_tail(20000)))
