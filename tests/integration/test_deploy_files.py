"""deploy/: the systemd unit passes `systemd-analyze verify` without a
warning and scores at most 2.0 in `systemd-analyze security`; the unit,
the production example and the Dockerfile agree on user, paths and ports;
the production example passes `postern config check`; the commented
example names every key `config check` knows and passes it; and the daemon runs
under two of the unit's restrictions that Swift could trip over:
MemoryDenyWriteExecute (emulated with PR_SET_MDWE) and the system call
filter (every call it makes, traced with strace, is in the allowed set).
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from postern_harness import CI, REPO, PosternServer, free_port, make_message, require_tool

DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "postern.service"
PRODUCTION = DEPLOY / "postern-production.toml"
DOCKERFILE = DEPLOY / "Dockerfile"
INSTALLED_BINARY = "/usr/local/bin/postern"
MAX_EXPOSURE = 2.0


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key → every value given to it, over all sections (systemd allows a key more than once)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("systemd-analyze"), *args], capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------
# The unit


def test_unit_verifies_without_a_warning(tmp_path, postern_bin):
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} " in text
    # verify wants ExecStart's program to exist: the one under test stands in for the installed one.
    unit = tmp_path / "postern.service"
    unit.write_text(text.replace(INSTALLED_BINARY, postern_bin))
    p = analyze("verify", str(unit))
    assert p.returncode == 0 and p.stdout + p.stderr == "", f"exit {p.returncode}:\n{p.stdout}{p.stderr}"

    # verify only warns (exit 0) about unknown keys and bad values: the check above is on its output.
    broken = tmp_path / "broken" / "postern.service"
    broken.parent.mkdir()
    broken.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes\nProtectEverything=yes"))
    p = analyze("verify", str(broken))
    assert "ProtectEverything" in p.stderr and "sometimes" in p.stderr, f"mistakes not reported:\n{p.stderr}"


def test_unit_security_exposure(tmp_path, figures):
    p = analyze("security", "--offline=true", f"--threshold={int(MAX_EXPOSURE * 10)}", str(UNIT))
    m = re.search(r"Overall exposure level for postern\.service: (\d+\.\d)", p.stdout)
    assert m, f"no overall exposure level:\n{p.stdout}{p.stderr}"
    figures(f"systemd-analyze security deploy/postern.service: {m.group(1)}")
    assert p.returncode == 0 and float(m.group(1)) <= MAX_EXPOSURE, f"exposure {m.group(1)}:\n{p.stdout}"
    # The threshold fails a unit that is not hardened.
    bare = tmp_path / "bare.service"
    bare.write_text("[Service]\nExecStart=/bin/true\n")
    assert analyze("security", "--offline=true", f"--threshold={int(MAX_EXPOSURE * 10)}", str(bare)).returncode != 0


def test_unit_production_config_and_dockerfile_agree():
    unit = unit_settings(UNIT.read_text())
    config = tomllib.loads(PRODUCTION.read_text())
    required = {
        "User": "postern", "Group": "postern", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "ExecReload": "/bin/kill -HUP $MAINPID", "PrivateTmp": "yes", "ProtectHome": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "MemoryDenyWriteExecute": "yes",
        "LockPersonality": "yes", "RestrictNamespaces": "yes",
    }
    for key, value in required.items():
        assert unit.get(key) == [value], f"{key}: expected {value!r}, unit has {unit.get(key)}"
    assert "@system-service" in unit["SystemCallFilter"]

    # The user the unit starts is the one the configuration names, and it may write where the daemon writes.
    assert (config["daemon"]["user"], config["daemon"]["group"]) == (unit["User"][0], unit["Group"][0])
    assert config["queue"]["directory"] in unit["ReadWritePaths"][0].split()
    assert config["control"]["socket"] == f"/run/{unit['RuntimeDirectory'][0]}/control.sock"
    assert unit["ExecStart"][0].endswith("--config /etc/postern/postern.toml")

    ports = sorted(int(listener["address"].rsplit(":", 1)[1]) for listener in config["listener"])
    assert ports == [25, 587]
    docker = DOCKERFILE.read_text()
    assert re.search(r"^EXPOSE 25 587$", docker, re.M)
    assert re.search(r"^USER postern$", docker, re.M)
    assert "COPY deploy/postern-production.toml /etc/postern/postern.toml" in docker
    assert "install -d -o postern -g postern -m 0750 /var/spool/postern /run/postern" in docker


# --------------------------------------------------------------------------
# The production example


def config_check(binary: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "config", "check", str(path)], capture_output=True, text=True, timeout=30)


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def test_production_example_passes_config_check(tmp_path, postern_bin, tls_cert):
    # Laid out as it is installed: /etc/postern/postern.toml, policies/ and tls/ beside it.
    etc = tmp_path / "etc-postern"
    etc.mkdir()
    config = etc / "postern.toml"
    shutil.copy(PRODUCTION, config)
    (etc / "policies").symlink_to(REPO / "policies")
    (etc / "tls").mkdir()
    shutil.copy(tls_cert[0], etc / "tls" / "fullchain.pem")
    shutil.copy(tls_cert[1], etc / "tls" / "privkey.pem")

    # It names the postern user, which config check looks up: made here when missing (and removed),
    # one test run at a time, as other runs on this machine may do the same.
    lock = os.open("/tmp/postern-test-user.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = not user_exists("postern")
        if made:
            if os.geteuid() != 0:
                message = "the example names user postern, which is missing, and only root can add it"
                if CI:
                    pytest.fail(message, pytrace=False)
                pytest.skip(message)
            p = config_check(postern_bin, config)
            assert p.returncode == 1 and [line.split(": ", 1)[1] for line in p.stdout.splitlines()] == [
                "daemon.user: no such user: postern", "daemon.group: no such group: postern"], p.stdout
            p = subprocess.run([require_tool("useradd"), "--system", "--user-group", "--no-create-home",
                                "--home-dir", "/var/spool/postern", "--shell", "/usr/sbin/nologin", "postern"],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stderr
        try:
            p = config_check(postern_bin, config)
        finally:
            if made:
                subprocess.run([require_tool("userdel"), "postern"], capture_output=True, timeout=60)
                if "postern" in {g.gr_name for g in grp.getgrall()}:
                    subprocess.run([require_tool("groupdel"), "postern"], capture_output=True, timeout=60)
    finally:
        os.close(lock)
    assert p.returncode == 0, f"exit {p.returncode}:\n{p.stdout}{p.stderr}"
    assert p.stdout.strip() == (
        f"{config}: OK (hostname relay.example.edu, listeners 0.0.0.0:25 policy {etc}/policies/outbound.toml, "
        f"0.0.0.0:587 policy {etc}/policies/strict.toml, queue /var/spool/postern, user postern:postern)"), p.stdout


# --------------------------------------------------------------------------
# The commented example

EXAMPLE = DEPLOY / "postern.toml"
# Tables of the main file, as `config check` names them ("" is the top level).
CONFIG_TABLES = ["", "listener", "queue", "quarantine", "limits", "tls", "log", "delivery", "dns",
                 "control", "metrics", "daemon", "imap", "pop3"]


def allowed_keys(binary: str, tmp_path: Path, table: str) -> set[str]:
    """The keys `config check` accepts in one table, read from its "unknown key" message."""
    path = tmp_path / f"probe-{table or 'top'}.toml"
    header = {"": "", "listener": "[[listener]]\naddress = \"127.0.0.1:2525\"\n"}.get(table, f"[{table}]\n")
    path.write_text(header + "zz_not_a_key = 1\n")
    p = config_check(binary, path)
    m = re.search(r"zz_not_a_key: unknown key \(expected one of: ([^)]*)\)", p.stdout)
    assert p.returncode == 1 and m, p.stdout + p.stderr
    return set(m.group(1).split(", "))


def example_keys() -> dict[str, set[str]]:
    """Every key the example names, set or commented out, by table."""
    keys: dict[str, set[str]] = {"": set()}
    table = ""
    for line in EXAMPLE.read_text().splitlines():
        text = line.lstrip("#").strip()
        if m := re.fullmatch(r"\[\[?([a-z0-9_.]+)\]\]?(\s*#.*)?", text):
            table = m.group(1)
            keys.setdefault(table, set())
            if "." in table:  # [delivery.routes]: its keys are domains
                parent, child = table.split(".", 1)
                keys.setdefault(parent, set()).add(child)
        elif m := re.match(r"([a-z_]+) = ", text):
            keys[table].add(m.group(1))
    return keys


def test_commented_example_names_every_key_and_passes_config_check(tmp_path, postern_bin):
    # The README promises "a commented example with every key".
    named = example_keys()
    allowed = {table: allowed_keys(postern_bin, tmp_path, table) for table in CONFIG_TABLES}
    allowed[""] -= set(CONFIG_TABLES)  # the tables themselves
    missing = [f"{table + '.' if table else ''}{key}"
               for table in CONFIG_TABLES for key in sorted(allowed[table] - named.get(table, set()))]
    assert not missing, f"keys postern knows but {EXAMPLE.name} does not name: {missing}"
    # Nothing it names is unknown, and the file as shipped is valid.
    for table, keys in named.items():
        if table in CONFIG_TABLES:
            unknown = keys - allowed[table] - set(CONFIG_TABLES)
            assert not unknown, f"{EXAMPLE.name} [{table}] names keys postern does not know: {unknown}"
    config = tmp_path / "postern.toml"
    config.write_text(EXAMPLE.read_text().replace('directory = "/var/spool/postern"',
                                                  f'directory = "{tmp_path / "queue"}"'))
    p = config_check(postern_bin, config)
    assert p.returncode == 0, p.stdout + p.stderr


# --------------------------------------------------------------------------
# The daemon under the unit's restrictions

MDWE_WRAPPER = """\
import ctypes, os, sys
# PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN: what MemoryDenyWriteExecute=yes enforces (Linux 6.3+);
# kept across execve, so the program run next has it from its first instruction.
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
"""

WX_PROBE = """\
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    raise SystemExit(3)
"""


def send_over_starttls(port: int) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls(context=context)
        client.sendmail("sender@example.org", ["someone@example.net"], make_message("restricted"))


def test_daemon_runs_with_memory_deny_write_execute(tmp_path, postern_bin, tls_cert):
    wrapper = tmp_path / "mdwe.py"
    wrapper.write_text(MDWE_WRAPPER)
    probe = subprocess.run([sys.executable, str(wrapper), sys.executable, "-c", WX_PROBE], timeout=60)
    if probe.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+) to stand in for MemoryDenyWriteExecute")
    assert probe.returncode == 3, "a writable and executable mapping was allowed under PR_SET_MDWE"

    server = PosternServer(postern_bin, tmp_path / "daemon", tls=tls_cert)
    server.command_prefix = [sys.executable, str(wrapper)]
    server.extra_config = f'[dns]\nservers = ["127.0.0.1:{free_port()}"]\n'
    try:
        server.start()
        send_over_starttls(server.port)
        assert len(server.queue.ids()) == 1
        assert server.terminate(timeout=15) == 0, server.stderr_text()
    finally:
        server.kill()


def expand_filter(name: str, seen: set[str] | None = None) -> set[str]:
    """The system calls a @group stands for, groups within it expanded."""
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    p = analyze("syscall-filter", name)
    assert p.returncode == 0, p.stderr
    calls = set()
    for line in p.stdout.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= expand_filter(word, seen) if word.startswith("@") else {word}
    return calls


def test_daemon_syscalls_fit_the_unit_filter(tmp_path, postern_bin, tls_cert):
    """Every system call the daemon makes while it accepts (STARTTLS), queues, looks up MX hosts
    (against a dead loopback port), answers the control socket and stops is one the unit allows."""
    strace = require_tool("strace")
    if subprocess.run([strace, "-o", "/dev/null", "true"], capture_output=True).returncode != 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    # The first SystemCallFilter= line is an allow list; later lines add to it, or with ~ take away.
    lines = unit_settings(UNIT.read_text())["SystemCallFilter"]
    assert not lines[0].startswith("~")
    allowed: set[str] = set()
    for value in lines:
        calls = set()
        for name in value.lstrip("~").split():
            calls |= expand_filter(name) if name.startswith("@") else {name}
        allowed = allowed - calls if value.startswith("~") else allowed | calls

    trace = tmp_path / "syscalls.txt"
    server = PosternServer(postern_bin, tmp_path / "daemon", tls=tls_cert,
                           delivery="[delivery]\nenabled = true\nretry_min = 60\ntimeout = 2\n")
    server.command_prefix = [strace, "-f", "-c", "-o", str(trace)]
    server.extra_config = f'[dns]\nservers = ["127.0.0.1:{free_port()}"]\ntimeout = 0.5\n'
    try:
        server.start()
        send_over_starttls(server.port)
        deadline = time.monotonic() + 20  # the MX lookup fails and the message is deferred
        while time.monotonic() < deadline and not any(e.get("attempts") for e in server.queue.list()):
            time.sleep(0.2)
        assert server.queue.control("flush").returncode == 0
        # strace passes nothing on: SIGTERM goes to the daemon, and strace ends with it.
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        os.kill(int(children[0]), signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0, server.stderr_text()
    finally:
        server.kill()
    used = set()
    for line in trace.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            used.add(fields[-1])
    assert {"accept4", "epoll_wait", "renameat2"} & used, f"strace saw too little: {sorted(used)}"
    assert used - allowed == set(), (
        f"system calls outside the unit's SystemCallFilter: {sorted(used - allowed)} (used: {sorted(used)})")
