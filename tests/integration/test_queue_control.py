"""`postern queue …` against a running daemon with a real queue: hold, release,
flush, delete, bounce (with a DSN), requeue, summary, the listing forms, the
offline path, and who may use the control socket."""

import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from email import message_from_bytes
from pathlib import Path

from postern_harness import free_port
from test_delivery import delivery_config, send, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)


def deferred_server(start_postern, port: int, org_port: int | None = None):
    """A daemon routing example.net (and example.org, unless `org_port` says
    otherwise) to `port`, where nothing listens yet, with retries far away so
    that only an operator's command moves the mail."""
    routes = {"example.net": f"[127.0.0.1]:{port}", "example.org": f"[127.0.0.1]:{org_port or port}"}
    config = delivery_config(routes=routes, extra="retry_min = 600\nretry_max = 1200\n")
    config = config.replace("retry_min = 1\nretry_max = 2\n", "")
    return start_postern(delivery=config)


def wait_deferred(server, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = server.queue.list()
        waiting = [e for e in entries if e["state"] == "deferred" and e["attempts"] >= 1]
        if len(waiting) >= count:
            return waiting
        time.sleep(0.05)
    raise AssertionError(f"expected {count} deferred messages, queue: {server.queue.list()}")


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, f"exit {p.returncode}: {p.stdout.decode()} {p.stderr.decode()}"
    return p.stdout.decode()


def test_hold_release_flush_and_delete(start_postern, sinks):
    port = free_port()
    server = deferred_server(start_postern, port)
    send(server.port, "a@example.org", ["one@example.net"], "first")
    send(server.port, "a@example.org", ["two@example.net"], "second")
    send(server.port, "a@example.org", ["three@example.net"], "third")
    first, second, third = sorted(e["id"] for e in wait_deferred(server, 3))

    out = ok(server.queue.control("hold", first))
    assert f"{first}: held" in out and "1 message held" in out
    assert server.queue.entry(first)["state"] == "hold"
    listing = ok(server.queue._run("list"))
    assert f"{first}!" in listing and f"{second}~" in listing and "(held by the operator)" in listing
    assert listing.rstrip().endswith("Kbytes in 3 Requests.")

    ok(server.queue.control("delete", third))
    assert third not in server.queue.ids()

    # The next hop comes up; flush sends what waits at once (it was marked dead too).
    sink = sinks(port=port)
    p = server.queue.control("flush")
    assert p.returncode == 1, "flush --all should report the held message it skipped"
    assert f"{first}: hold: release it first" in p.stderr.decode()
    got = sink.wait_for(1, timeout=15)
    assert [m for m, _ in got][0]["rcpt_tos"] == ["two@example.net"]
    time.sleep(1)
    assert len(sink.messages()) == 1, "a held message was delivered"

    ok(server.queue.control("release", first))
    assert len(sink.wait_for(2, timeout=15)) == 2
    wait_queue_empty(server)
    assert "third" not in b"".join(body for _, body in sink.messages()).decode(), "a deleted message was delivered"


def test_ids_from_standard_input_and_unknown_ids(start_postern):
    server = deferred_server(start_postern, free_port())
    for n in range(3):
        send(server.port, "a@example.org", [f"r{n}@example.net"], f"m{n}")
    ids = sorted(e["id"] for e in wait_deferred(server, 3))
    out = ok(server.queue.control("hold", "-", stdin=("\n".join(ids) + "\n").encode()))
    assert "3 messages held" in out
    assert {e["state"] for e in server.queue.list()} == {"hold"}
    p = server.queue.control("release", "00000000000000AB", "not-an-id", ids[0])
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "00000000000000AB: no such message in the queue" in err and "not-an-id: not a queue ID" in err
    assert f"{ids[0]}: released" in p.stdout.decode()


def test_bounce_sends_a_dsn_and_removes_the_message(start_postern, sinks):
    sink = sinks()  # the sender's domain, example.org: the DSN lands here
    server = deferred_server(start_postern, free_port(), org_port=sink.port)
    send(server.port, "sender@example.org", ["gone@example.net"], "bounce me")
    (entry,) = wait_deferred(server, 1)
    out = ok(server.queue.control("bounce", entry["id"]))
    assert f"{entry['id']}: bounced" in out
    (meta, raw), = sink.wait_for(1, timeout=20)
    assert meta["mail_from"] in ("", "<>") and meta["rcpt_tos"] == ["sender@example.org"]
    dsn = message_from_bytes(raw)
    assert dsn.get_content_type() == "multipart/report"
    text = raw.decode(errors="replace")
    assert "Final-Recipient: rfc822; gone@example.net" in text and "Status: 5.0.0" in text
    assert "returned to the sender by the mail administrator" in text
    wait_queue_empty(server)


def test_requeue_after_a_route_change(start_postern, sinks):
    """A route changed by a reload applies from the next attempt; requeue makes that now."""
    old_port = free_port()
    server = deferred_server(start_postern, old_port)
    send(server.port, "a@example.org", ["moved@example.net"], "route change")
    (entry,) = wait_deferred(server, 1)
    sink = sinks()
    text = server.config_path.read_text().replace(f'"example.net" = "[127.0.0.1]:{old_port}"',
                                                  f'"example.net" = "[127.0.0.1]:{sink.port}"')
    assert str(sink.port) in text
    server.config_path.write_text(text)
    reload = subprocess.run([server.binary, "reload", "--socket", str(server.control_socket)],
                            capture_output=True, timeout=30)
    assert reload.returncode == 0 and b"restart to apply" not in reload.stdout, reload
    ok(server.queue.control("requeue", entry["id"]))
    (meta, _), = sink.wait_for(1, timeout=15)
    assert meta["rcpt_tos"] == ["moved@example.net"]
    wait_queue_empty(server)


def test_requeue_resets_the_retry_state(start_postern, sinks):
    port = free_port()
    server = deferred_server(start_postern, port)
    send(server.port, "a@example.org", ["later@example.net"], "requeue me")
    (entry,) = wait_deferred(server, 1)
    assert entry["recipients"][0]["status"] == "deferred"
    sink = sinks(port=port)
    ok(server.queue.control("requeue", entry["id"]))
    sink.wait_for(1, timeout=15)
    wait_queue_empty(server)


def test_flush_by_domain_and_summary(start_postern, sinks):
    port = free_port()
    server = deferred_server(start_postern, port)
    send(server.port, "a@example.org", ["x@example.net", "y@example.net"], "net")
    send(server.port, "a@example.org", ["z@example.org"], "org")
    wait_deferred(server, 2)
    summary = ok(server.queue._run("summary"))
    lines = {line.split()[0]: line.split()[1:] for line in summary.splitlines()[1:]}
    assert lines["TOTAL"][0] == "3" and lines["example.net"][:2] == ["2", "2"] and lines["example.org"][0] == "1"
    filtered = [json.loads(line) for line in ok(server.queue._run("list", "--json", "--domain", "example.org")).splitlines()]
    assert [e["recipients"][0]["address"] for e in filtered] == ["z@example.org"]
    assert filtered[0]["queue_name"] == "deferred" and filtered[0]["recipients"][0]["delay_reason"]
    assert ok(server.queue._run("list", "--json", "--older-than", "1h")) == ""
    assert len(ok(server.queue._run("list", "--json", "--recipient", "^[xy]@")).splitlines()) == 1
    sink = sinks(port=port)
    out = ok(server.queue.control("flush", "--domain", "example.net"))
    assert "1 message flushed" in out
    (meta, _), = sink.wait_for(1, timeout=15)
    assert sorted(meta["rcpt_tos"]) == ["x@example.net", "y@example.net"]


def test_offline_reads_work_and_changes_need_the_daemon(start_postern):
    server = deferred_server(start_postern, free_port())
    send(server.port, "a@example.org", ["r@example.net"], "offline")
    (entry,) = wait_deferred(server, 1)
    assert server.terminate(timeout=15) == 0
    assert not server.control_socket.exists(), "the control socket outlived the daemon"
    assert entry["id"] in ok(server.queue._run("list"))
    p = server.queue.control("hold", entry["id"])
    assert p.returncode == 1 and b"the daemon is not running" in p.stderr


def test_second_daemon_refused_and_stale_socket_replaced(start_postern):
    server = deferred_server(start_postern, free_port())
    second = subprocess.run([server.binary, "serve", "--config", str(server.config_path), "--listen",
                             f"127.0.0.1:{free_port()}"], capture_output=True, timeout=30)
    assert second.returncode != 0
    assert b"another postern daemon is running" in second.stderr
    server.kill()  # kill -9 leaves the socket file behind
    assert server.control_socket.exists()
    # A start that died between binding and renaming left its staging name.
    staging = server.control_socket.with_name(server.control_socket.name + ".new")
    staging.write_text("left over")
    server.start()
    assert ok(server.queue.control("flush")).strip().endswith("0 messages flushed")
    assert not staging.exists()
    assert stat.S_IMODE(server.control_socket.stat().st_mode) == 0o660


def test_socket_refuses_users_outside_the_group(start_postern):
    """Mode 0660 keeps others from connecting; with 0666 the daemon still refuses them by SO_PEERCRED."""
    nobody = pwd.getpwnam("nobody")
    public = Path(tempfile.mkdtemp(prefix="pstbin"))
    os.chmod(public, 0o755)
    binary = public / "postern"
    server = deferred_server(start_postern, free_port())
    shutil.copy2(server.binary, binary)
    os.chmod(server.control_dir, 0o755)

    def flush_as_nobody() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
             str(binary), "queue", "flush", "--socket", str(server.control_socket), "--queue-dir", str(public)],
            capture_output=True, timeout=30)

    try:
        assert stat.S_IMODE(server.control_socket.stat().st_mode) == 0o660
        refused = flush_as_nobody()
        assert refused.returncode == 1 and b"permission denied on" in refused.stderr, refused.stderr

        assert server.terminate(timeout=15) == 0
        text = server.config_path.read_text().replace("[control]\n", '[control]\nmode = "0666"\n', 1)
        server.config_path.write_text(text)
        proc = subprocess.Popen([server.binary, "serve", "--config", str(server.config_path)], cwd=server.workdir,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not server.control_socket.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            # Checked the moment it appears: it is bound under another name,
            # given its mode, then renamed (before, the umask's 0755 showed
            # for an instant and this failed once in a CI run).
            assert stat.S_IMODE(server.control_socket.stat().st_mode) == 0o666
            refused = flush_as_nobody()
            assert refused.returncode == 1
            assert b"permission denied: uid %d may not control" % nobody.pw_uid in refused.stderr, refused.stderr
            assert ok(server.queue.control("flush")).strip().endswith("messages flushed")  # root still may
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    finally:
        shutil.rmtree(public)
