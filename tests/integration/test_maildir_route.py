"""`maildir:` routes end to end: Postern as the final MTA. Mail sent with smtplib and a raw
client lands in one Maildir per recipient (`"example.org" = "maildir:BASE/%d/%u"`), read back
with Python's `mailbox.Maildir`: the bytes an SMTP next hop gets (the recording sink of
tests/delivery/sink.py gets the same message), with Return-Path and Delivered-To on top and
the fields the policy added (SPF, from a loopback DNS server) present. A local part that
cannot be a directory name fails with a DSN (itself delivered to the sender's Maildir) while
the others are delivered; a Maildir that cannot be written defers, and delivers once fixed.
"""

from __future__ import annotations

import mailbox
import os
import re
import smtplib
import stat
import subprocess
import time
import urllib.request

from postern_harness import PosternServer, RawSMTP, free_port, queued_id, require_tool, stop_servers
from test_delivery import delivery_config, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)

CLIENT = "127.0.0.2"  # outside the trusted network, so SPF is checked
ZONE = {"pass.test": [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}]}
POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["example.org", "example.net"]

[spf]
"""
NAME_RE = re.compile(r"(\d+)\.M(\d{1,6})P(\d+)Q(\d+)\.relay\.test,S=(\d+)")


def message(subject: str) -> bytes:
    return (f"From: <alice@pass.test>\r\nTo: <bob@example.org>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@client.test>\r\n"
            f"Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n"
            f"Line one.\r\n..a line with a leading dot\r\n" + "x" * 200 + "\r\nLast line.\r\n").encode()


def maildir_messages(path) -> list[tuple[str, bytes]]:
    """(key, bytes) of each message, read through mailbox.Maildir; in new/ the key is the file name."""
    box = mailbox.Maildir(str(path), factory=None, create=False)
    return sorted((key, box.get_bytes(key)) for key in box.keys())


def wait_for_files(path, count: int, timeout: float = 30.0) -> list[tuple[str, bytes]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (path / "new").is_dir() and len(got := maildir_messages(path)) >= count:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{path} never held {count} messages")


def metric(server, text: str) -> float:
    port = int(re.search(r'\[metrics\]\naddress = "127\.0\.0\.1:(\d+)"', server.config_path.read_text()).group(1))
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    m = re.search(rf"^{re.escape(text)} (\S+)$", body, re.M)
    assert m, f"no {text} in /metrics"
    return float(m.group(1))


def test_maildir_gets_what_an_smtp_hop_gets(start_postern, sinks, zone_server, tmp_path):  # noqa: F811
    base = tmp_path / "mail"
    sink = sinks()
    server = start_postern(policy=POLICY, extra=f'[metrics]\naddress = "127.0.0.1:{free_port()}"\n',
                           delivery=delivery_config(routes={"example.org": f"maildir:{base}/%d/%u",
                                                            "example.net": f"[127.0.0.1]:{sink.port}"},
                                                    dns_port=zone_server(ZONE)))
    sent = message("local delivery")
    recipients = ["bob@example.org", "Carol@Example.org", "dave@example.net"]
    with RawSMTP(server.port, source=CLIENT) as client:
        client.ehlo("client.test")
        queue_id = queued_id(client.transaction("alice@pass.test", recipients, sent))
    (meta, relayed), = sink.wait_for(1)
    assert meta["rcpt_tos"] == ["dave@example.net"]
    assert relayed.endswith(sent), "the sink got the message with our fields on top"
    wait_queue_empty(server)

    for address, user in [("bob@example.org", "bob"), ("Carol@Example.org", "carol")]:
        maildir = base / "example.org" / user
        (name, data), = maildir_messages(maildir)
        assert data == f"Return-Path: <alice@pass.test>\r\nDelivered-To: {address}\r\n".encode() + relayed
        m = NAME_RE.fullmatch(name)
        assert m, name
        assert int(m.group(5)) == len(data) == (maildir / "new" / name).stat().st_size
        assert int(m.group(3)) == server.pid
        assert abs(int(m.group(1)) - time.time()) < 120
        for sub in ("", "new", "cur", "tmp"):
            assert stat.S_IMODE(os.stat(maildir / sub).st_mode) == 0o700, sub
        assert list((maildir / "tmp").iterdir()) == []
        msg, = mailbox.Maildir(str(maildir), create=False)
        assert msg["Return-Path"] == "<alice@pass.test>"
        assert msg["Delivered-To"] == address
        # Fields the policy decided after spooling (SPF) come next, then our Received line.
        header = data.split(b"\r\n\r\n", 1)[0].decode()
        names = [line.split(":", 1)[0] for line in header.split("\r\n") if line and line[0] not in " \t"]
        assert names[:2] == ["Return-Path", "Delivered-To"] and names[4] == "Received", names
        assert sorted(names[2:4]) == ["Authentication-Results", "Received-SPF"], names
        assert msg["Received-SPF"].startswith("pass")
        assert re.search(rf"\sid\s+{queue_id}\b", msg["Received"]), msg["Received"]
    assert sorted(p.name for p in (base / "example.org").iterdir()) == ["bob", "carol"]

    log = server.stderr_text()
    for user in ("bob", "carol"):
        assert re.search(rf'msg=delivered .*relay="?maildir:{re.escape(str(base))}/example\.org/{user}"?', log), log
    assert metric(server, 'postern_delivery_recipients_total{result="delivered"}') == 3
    p = server.queue._run("list", "--json")
    assert p.returncode == 0 and p.stdout.strip() == b""


def test_bad_local_part_bounces_while_others_are_delivered(start_postern, tmp_path):
    base = tmp_path / "mail"
    server = start_postern(delivery=delivery_config(routes={"example.org": f"maildir:{base}/%d/%u"}))
    sent = message("partly local")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        refused = client.sendmail("alice@example.org", ["bob@example.org", "a/b@example.org", "carol@example.org"], sent)
    assert refused == {}
    wait_queue_empty(server)
    for user in ("bob", "carol"):
        (_, data), = maildir_messages(base / "example.org" / user)
        assert data.startswith(f"Return-Path: <alice@example.org>\r\nDelivered-To: {user}@example.org\r\n".encode())
        assert data.endswith(sent)
    # The DSN went to the sender, here a local Maildir too (a queue entry of
    # its own: under load it may be delivered after the queue was seen empty).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (base / "example.org" / "alice").exists():
        time.sleep(0.05)
    wait_queue_empty(server)
    assert sorted(p.name for p in (base / "example.org").iterdir()) == ["alice", "bob", "carol"]
    (_, dsn), = maildir_messages(base / "example.org" / "alice")
    assert dsn.startswith(b"Return-Path: <>\r\nDelivered-To: alice@example.org\r\n")
    text = dsn.decode()
    assert "Final-Recipient: rfc822; a/b@example.org" in text
    assert "Action: failed" in text and "Status: 5.1.3" in text
    assert text.count("Final-Recipient:") == 1, "only the failed recipient is reported"
    assert "Remote-MTA" not in text, "a Maildir is no remote MTA"
    log = server.stderr_text()
    assert re.search(r'msg=failed .*reason="5\.1\.3 bad address for maildir:.* to=<a/b@example\.org>', log), log


def start_unable_to_override_modes(postern_bin, tmp_path, base) -> PosternServer:
    """A daemon for which a mode-0500 directory is read-only: as root, one without CAP_DAC_OVERRIDE."""
    server = PosternServer(postern_bin, tmp_path / "ro", delivery=delivery_config(
        routes={"example.org": f"maildir:{base}/%d/%u"}))
    if os.geteuid() == 0:
        setpriv = require_tool("setpriv")
        server.command_prefix = [setpriv, "--inh-caps=-dac_override,-dac_read_search",
                                 "--bounding-set=-dac_override,-dac_read_search"]
    return server.start()


def test_read_only_maildir_defers_then_delivers_once_fixed(postern_bin, tmp_path):
    base = tmp_path / "mail"
    (base / "example.org").mkdir(parents=True)
    os.chmod(base / "example.org", 0o500)
    server = start_unable_to_override_modes(postern_bin, tmp_path, base)
    try:
        sent = message("read only")
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.sendmail("alice@example.net", ["bob@example.org"], sent)
        deadline = time.monotonic() + 20
        entry = None
        while time.monotonic() < deadline:
            entries = server.queue.list()
            if entries and entries[0]["attempts"] >= 1:
                entry = entries[0]
                break
            time.sleep(0.05)
        assert entry, "never attempted"
        rcpt = entry["recipients"][0]
        assert rcpt["status"] == "deferred", entry
        assert "4.2.0 cannot deliver to maildir: mkdir" in rcpt["last_reply"], rcpt
        assert "Permission denied" in rcpt["last_reply"], rcpt
        history = entry["history"][0]
        assert history["result"] == "deferred" and history["next_hop"] == f"maildir:{base}/example.org/bob", history
        assert list((base / "example.org").iterdir()) == []

        os.chmod(base / "example.org", 0o700)
        assert server.queue.control("flush").returncode == 0
        wait_queue_empty(server, timeout=30)
        (_, data), = maildir_messages(base / "example.org" / "bob")
        assert data.startswith(b"Return-Path: <alice@example.net>\r\nDelivered-To: bob@example.org\r\n")
        assert data.endswith(sent)
        assert list((base / "example.org" / "bob" / "tmp").iterdir()) == []
    finally:
        os.chmod(base / "example.org", 0o700)
        bad = stop_servers([server])
        assert not bad, bad


def test_config_check_names_a_bad_maildir_route(postern_bin, tmp_path):
    path = tmp_path / "postern.toml"
    path.write_text("\n".join([
        "[delivery.routes]",                          # 1
        '"good.test" = "maildir:/var/mail/%d/%u"',    # 2
        '"relative.test" = "maildir:var/mail/%u"',    # 3
        '"escape.test" = "maildir:/var/mail/%x"',     # 4
        '"percent.test" = "maildir:/var/mail/%"',     # 5
        '"hop.test" = "[127.0.0.1]:25"',              # 6
        '"nothing.test" = "mail dir"',                # 7
        "",
    ]))
    p = subprocess.run([postern_bin, "config", "check", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stdout + p.stderr
    lines = (p.stdout + p.stderr).strip().splitlines()
    assert lines == [
        f'{path}:3: delivery.routes.relative.test: the maildir path must be absolute, e.g. "maildir:/var/mail/%d/%u"',
        f"{path}:4: delivery.routes.escape.test: unknown %x in the maildir path (expected %d, %u, %a or %%)",
        f"{path}:5: delivery.routes.percent.test: a lone % ends the maildir path (write %% for a %)",
        f'{path}:7: delivery.routes.nothing.test: expected "[host]:port", "host:port" or "maildir:/path/%d/%u"',
    ], lines
