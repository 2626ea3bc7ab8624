"""[daemon] user/group: started as root, postern binds a port below 1024 and
then runs as the configured user before it opens the queue; started as that
user with CAP_NET_BIND_SERVICE (what the systemd unit does) it binds the port
itself; started as anyone else it refuses.

The daemons here run with root's help (to bind below 1024 and to switch
users), so these tests need root: skipped without it, failed in CI (which
runs as root). Each test makes its own system user and group with
`useradd --system` and removes them.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import random
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from postern_harness import CI, PosternServer, free_port, make_message, queued_id, require_tool, stop_servers

_USER_NUMBERS = itertools.count()


def require_root() -> None:
    if os.geteuid() != 0:
        message = "needs root: binds below 1024 and starts the daemon as other users"
        if CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def proc_ids(pid: int, tid: int | None = None) -> dict[str, list[str]]:
    """The Uid, Gid, Groups and Cap* lines of /proc/PID/status (or of one thread's), split into fields."""
    fields = {}
    status = Path(f"/proc/{pid}/status" if tid is None else f"/proc/{pid}/task/{tid}/status")
    for line in status.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups") or key.startswith("Cap"):
            fields[key] = value.split()
    return fields


def low_ports():
    """Candidate ports below 1024 on 127.0.0.1 that nothing holds right now."""
    candidates = [587, 465] + random.sample(range(900, 1000), 100)
    for port in candidates:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        yield port


def start_on_low_port(server: PosternServer) -> int:
    """Starts `server` on a free port below 1024 (another free one if a racer took it)."""
    for port in itertools.islice(low_ports(), 3):
        try:
            server.start(port=port)
            return port
        except AssertionError:
            if "in use" not in server.stderr_text().lower():
                raise
    pytest.fail("no port below 1024 could be had", pytrace=False)


@pytest.fixture
def system_user():
    """A throw-away system user with its own group: its pwd entry. Removed afterwards."""
    require_root()
    useradd, userdel = require_tool("useradd"), require_tool("userdel")
    name = f"pstn{os.getpid()}-{next(_USER_NUMBERS)}"
    p = subprocess.run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"useradd {name} failed: {p.stderr}"
    try:
        yield pwd.getpwnam(name)
    finally:
        removed = subprocess.run([userdel, name], capture_output=True, text=True, timeout=60)
        assert removed.returncode == 0, f"userdel {name} failed (still in use?): {removed.stderr}"
        try:
            grp.getgrnam(name)
        except KeyError:
            pass
        else:
            subprocess.run([require_tool("groupdel"), name], capture_output=True, timeout=60)


@pytest.fixture
def public_binary(postern_bin):
    """The binary in a directory every user may enter (pytest's own is root's, mode 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="pstbin"))
    os.chmod(directory, 0o755)
    binary = directory / "postern"
    shutil.copy2(postern_bin, binary)
    os.chmod(binary, 0o755)
    yield str(binary)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def make_server(request, public_binary, system_user):  # system_user outlives the daemons: userdel fails while they run
    """make_server(user) -> a PosternServer (not started) whose config says [daemon] user/group = user's,
    in a directory other users may enter, with its control socket's directory given to the user."""
    servers: list[PosternServer] = []
    request.node._postern_servers = servers  # conftest attaches their stderr to a failure report
    directories: list[Path] = []

    def make(user: pwd.struct_passwd) -> PosternServer:
        base = Path(tempfile.mkdtemp(prefix="pstpriv"))
        os.chmod(base, 0o755)
        directories.append(base)
        server = PosternServer(public_binary, base / "daemon")
        directories.append(server.control_dir)
        os.chmod(server.workdir, 0o755)
        os.chown(server.control_dir, user.pw_uid, user.pw_gid)
        group = grp.getgrgid(user.pw_gid).gr_name
        # No delivery (so no lookups), and DNS pointed at a dead loopback port all the same.
        server.extra_config = "\n".join([
            "[dns]", f'servers = ["127.0.0.1:{free_port()}"]', "",
            "[daemon]", f'user = "{user.pw_name}"', f'group = "{group}"', ""])
        servers.append(server)
        return server

    yield make
    bad = stop_servers(servers)
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
    if bad:
        pytest.fail("postern did not stop cleanly on SIGTERM: " + "; ".join(bad), pytrace=False)


def send_one(server: PosternServer) -> str:
    with server.connect() as client:
        client.ehlo()
        queue_id = queued_id(client.transaction("sender@example.org", ["someone@example.net"],
                                                make_message("privileges")))
        client.cmd("QUIT")
    return queue_id


def assert_owned_by(path: Path, user: pwd.struct_passwd) -> None:
    info = path.stat()
    assert (info.st_uid, info.st_gid) == (user.pw_uid, user.pw_gid), (
        f"{path} is owned by {info.st_uid}:{info.st_gid}, expected {user.pw_name} ({user.pw_uid}:{user.pw_gid})")


def test_root_binds_a_low_port_then_runs_as_the_user(make_server, system_user):
    user = system_user
    server = make_server(user)
    port = start_on_low_port(server)
    assert port < 1024

    ids = proc_ids(server.pid)
    # Real, effective, saved and filesystem IDs, all four.
    assert ids["Uid"] == [str(user.pw_uid)] * 4, ids
    assert ids["Gid"] == [str(user.pw_gid)] * 4, ids
    assert ids["Groups"] == [str(user.pw_gid)], f"supplementary groups are root's, not the user's: {ids}"
    # setuid(2) from root without keep-caps clears every capability.
    assert ids["CapEff"] == ["0" * 16] and ids["CapPrm"] == ["0" * 16], ids
    # Credentials are per thread in Linux: none may be left behind (the main thread once was).
    threads = sorted(int(t) for t in os.listdir(f"/proc/{server.pid}/task"))
    assert len(threads) > 1
    for tid in threads:
        thread = proc_ids(server.pid, tid)
        assert (thread["Uid"], thread["Gid"], thread["Groups"]) == (ids["Uid"], ids["Gid"], ids["Groups"]), (
            f"thread {tid} of {threads}: {thread}")
    log = server.stderr_text()
    assert "privileges dropped" in log and f"user={user.pw_name}" in log, log

    # SMTP on the low port, and the message is queued in files of the user's.
    queue_id = send_one(server)
    assert queue_id in server.queue.ids()
    queue = server.queue_dir
    assert stat.S_IMODE(queue.stat().st_mode) == 0o750, "the daemon makes a missing queue directory 0750"
    for path in [queue, queue / "incoming", queue / "msg", queue / "corrupt",
                 queue / "msg" / f"{queue_id}.msg", server.control_socket]:
        assert_owned_by(path, user)
    assert server.terminate(timeout=15) == 0


def test_a_queue_the_user_cannot_write_stops_the_start(make_server, system_user):
    user = system_user
    server = make_server(user)
    server.queue_dir.mkdir(mode=0o755)  # root's
    os.chmod(server.queue_dir, 0o755)
    with pytest.raises(AssertionError, match="exited with 1 at start"):
        start_on_low_port(server)
    log = server.stderr_text()
    assert f"{server.queue_dir} is not writable by {user.pw_name} (owner root, mode 0755)" in log, log
    assert "privileges dropped" in log, "the check must be made as the user, after the drop"
    assert list(server.queue_dir.iterdir()) == [], "something was written into the queue as root"


def test_started_as_the_user_with_the_capability_it_binds_itself(make_server, system_user):
    """What the systemd unit does: User=, AmbientCapabilities=CAP_NET_BIND_SERVICE, NoNewPrivileges."""
    user = system_user
    server = make_server(user)
    os.chown(server.workdir, user.pw_uid, user.pw_gid)  # where it makes its queue, as itself
    server.command_prefix = [require_tool("setpriv"), f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                             "--clear-groups", "--inh-caps=-all,+net_bind_service",
                             "--ambient-caps=+net_bind_service", "--bounding-set=-all,+net_bind_service",
                             "--no-new-privs"]
    start_on_low_port(server)
    ids = proc_ids(server.pid)
    assert ids["Uid"] == [str(user.pw_uid)] * 4 and ids["Gid"] == [str(user.pw_gid)] * 4, ids
    assert ids["CapEff"] == ["0000000000000400"], f"only CAP_NET_BIND_SERVICE (bit 10): {ids}"
    log = server.stderr_text()
    assert "running as the configured user" in log and "privileges dropped" not in log, log
    queue_id = send_one(server)
    assert_owned_by(server.queue_dir / "msg" / f"{queue_id}.msg", user)


def test_anyone_else_is_refused(make_server, system_user):
    """[daemon] user set, started neither as root nor as that user: a clear refusal, nothing bound or written."""
    user = system_user
    nobody = pwd.getpwnam("nobody")
    server = make_server(user)
    port = free_port()
    server.config_path.write_text(
        f'[[listener]]\naddress = "127.0.0.1:{port}"\n\n[queue]\ndirectory = "queue"\n\n'
        f"[delivery]\nenabled = false\n\n{server.extra_config}")
    os.chmod(server.config_path, 0o644)
    p = subprocess.run([require_tool("setpriv"), f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                        "--clear-groups", server.binary, "serve", "--config", str(server.config_path)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    err = p.stderr.replace('\\"', '"')
    assert p.returncode == 1, f"exit {p.returncode}: {p.stderr}"
    assert f'[daemon] user = "{user.pw_name}"' in err and "needs postern to be started as root" in err, err
    assert f"started as uid {nobody.pw_uid}" in err, err
    assert not server.queue_dir.exists(), "the queue was made before the refusal"
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # not left bound


def test_config_check_names_a_missing_user(postern_bin, tmp_path):
    path = tmp_path / "postern.toml"
    path.write_text('hostname = "relay.test"\n\n[daemon]\nuser = "no-such-user-pstn"\ngroup = "no-such-group-pstn"\n')
    p = subprocess.run([postern_bin, "config", "check", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stdout.splitlines() == [f"{path}:4: daemon.user: no such user: no-such-user-pstn",
                                     f"{path}:5: daemon.group: no such group: no-such-group-pstn"], p.stdout
