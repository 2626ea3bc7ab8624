"""SIGHUP and `postern reload`: new sessions get the new policy and certificate,
sessions in flight keep theirs, nothing is dropped, and a broken file leaves the
old set in force with the mistake reported."""

import signal
import subprocess
import threading
import time

from postern_harness import expect, make_message, queued_id, require_tool

POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]
"""
BLOCKING = POLICY + """
[senders]
block = ["late@example.org"]
"""
BLOCKED = r"^5\.7\.1 Sender address <late@example\.org> rejected: blocked by policy$"


def reload(server) -> subprocess.CompletedProcess:
    return subprocess.run([server.binary, "reload", "--config", str(server.config_path),
                           "--socket", str(server.control_socket)], capture_output=True, timeout=30)


def wait_for_log(server, text: str, count: int = 1, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.stderr_text().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"log never said {text!r} {count} time(s):\n{server.stderr_text()[-3000:]}")


def test_policy_change_under_load(start_postern):
    server = start_postern(policy=POLICY)
    stop = threading.Event()
    results = {"sent": 0, "errors": []}

    def sender():
        # One long session, message after message, across the reload.
        with server.connect() as c:
            c.ehlo()
            while not stop.is_set():
                try:
                    queued_id(c.transaction("late@example.org", ["someone@example.net"], make_message("load")))
                    results["sent"] += 1
                except Exception as e:  # noqa: BLE001 - reported below
                    results["errors"].append(repr(e))
                    return

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        time.sleep(0.5)
        (server.workdir / "policy.toml").write_text(BLOCKING)
        server.proc.send_signal(signal.SIGHUP)
        wait_for_log(server, "configuration reloaded")
        with server.connect() as fresh:
            fresh.ehlo()
            expect(fresh.cmd("MAIL FROM:<late@example.org>"), 550, "5.7.1", BLOCKED)
        sent_at_reload = results["sent"]
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not results["errors"], f"the session in flight was disturbed: {results['errors']}"
    assert results["sent"] > sent_at_reload > 0, "the old session stopped sending after the reload"
    assert server.running()


def test_broken_file_keeps_the_old_policy(start_postern):
    server = start_postern(policy=BLOCKING)
    (server.workdir / "policy.toml").write_text(POLICY + "\n[senders]\nblock = [\"unterminated\n")
    p = reload(server)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "the old configuration stays in force" in err and "policy.toml:" in err, err
    # The old set (with the block) is still in force for new sessions.
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<late@example.org>"), 550, "5.7.1", BLOCKED)
    assert "reload failed, the old configuration stays in force" in server.stderr_text()
    # Fixed file: the next reload applies it.
    (server.workdir / "policy.toml").write_text(POLICY)
    p = reload(server)
    assert p.returncode == 0 and p.stdout.decode().startswith("reloaded"), p
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<late@example.org>"), 250, "2.1.0")


def test_settings_that_need_a_restart_are_named(start_postern):
    server = start_postern()
    text = server.config_path.read_text().replace("[limits]\n", "[limits]\nmax_connections = 77\n", 1)
    if "max_connections = 77" not in text:
        text += "\n[limits]\nmax_connections = 77\n"
    server.config_path.write_text(text)
    p = reload(server)
    assert p.returncode == 0, p
    assert "note: connection limits changed: restart to apply" in p.stdout.decode()


def certificate(tmp_path, name: str) -> tuple[str, str]:
    openssl = require_tool("openssl")
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    p = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-days", "2",
                        "-keyout", str(key), "-out", str(cert)], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return str(cert), str(key)


def served_subject(port: int) -> str:
    openssl = require_tool("openssl")
    p = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp", "-brief"],
                       input=b"QUIT\r\n", capture_output=True, timeout=30)
    return (p.stdout + p.stderr).decode(errors="replace")


def test_certificate_replaced_on_reload(start_postern, tmp_path):
    old_cert, old_key = certificate(tmp_path, "old.test")
    server = start_postern(tls=(old_cert, old_key))
    assert "CN = old.test" in served_subject(server.port)
    # A session that started TLS before the reload keeps working after it.
    with server.connect() as before:
        before.ehlo()
        new_cert, new_key = certificate(tmp_path, "new.test")
        text = server.config_path.read_text().replace(old_cert, new_cert).replace(old_key, new_key)
        server.config_path.write_text(text)
        server.proc.send_signal(signal.SIGHUP)
        wait_for_log(server, "configuration reloaded")
        expect(before.cmd("NOOP"), 250)
    assert "CN = new.test" in served_subject(server.port)
