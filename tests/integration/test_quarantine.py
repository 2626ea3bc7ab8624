"""The quarantine as a Maildir, end to end: SPF's `quarantine` action (a loopback DNS server,
tests/spf/zoneserver.py) makes the daemon accept a message, commit it to the queue, answer 250,
and move it into DIR/quarantine (new/, cur/, tmp/). Checked with Python's `mailbox.Maildir`:
the X-Postern-* fields, then the message exactly as it was queued. Then the CLI (`quarantine
list|show|release|delete`), a release delivered once to an SMTP sink, unknown IDs, and kill -9
while messages are being moved: each accepted message ends in the queue or the Maildir, once.
"""

from __future__ import annotations

import email.utils
import mailbox
import os
import re
import signal
import stat
import threading
import time
import urllib.request

import pytest

from postern_harness import RawSMTP, expect, free_port, queued_id
from test_delivery import delivery_config, sinks  # noqa: F401 (sinks is a fixture)

CLIENT = "127.0.0.2"
HELO = "helo.test"
ZONE = {
    "fail.test": [{"SPF": "v=spf1 ip4:192.0.2.1 -all"}],
    "pass.test": [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
    HELO: [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
}
POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]

[spf]
fail = "quarantine"
"""
RECIPIENTS = ["bob@local.test", "carol@local.test"]
OUR_FIELDS = ("Return-Path", "X-Postern-Quarantine-ID", "X-Postern-Sender", "X-Postern-Recipient",
              "X-Postern-Client", "X-Postern-Protocol", "X-Postern-Reason", "X-Postern-Quarantined")


@pytest.fixture
def start(start_postern, zone_server, sinks):  # noqa: F811 (sinks is a fixture)
    """start(metrics=False) -> (server, sink): SPF fail quarantines; local.test is routed to the sink."""
    def run(metrics: bool = False):
        dns = zone_server(ZONE)
        sink = sinks()
        extra = f'[metrics]\naddress = "127.0.0.1:{free_port()}"\n' if metrics else ""
        server = start_postern(policy=POLICY, extra=extra,
                               delivery=delivery_config(routes={"local.test": f"[127.0.0.1]:{sink.port}"}, dns_port=dns))
        return server, sink
    return run


def message(n: int = 0) -> bytes:
    return (f"From: <a@fail.test>\r\nTo: <bob@local.test>\r\nSubject: quarantine test {n}\r\n"
            f"Message-ID: <q{n}.{time.time_ns()}@client.test>\r\nDate: {email.utils.formatdate()}\r\n"
            f"X-Postern-Reason: a field of the client's own, kept\r\n\r\n"
            f"Line one of message {n}.\r\n..leading dot\r\nLast line.\r\n").encode()


def send(server, sender: str = "a@fail.test", body: bytes | None = None, recipients=RECIPIENTS) -> tuple[str, bytes]:
    body = body or message()
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo(HELO)
        expect(c.cmd(f"MAIL FROM:<{sender}>"), 250)
        for rcpt in recipients:
            expect(c.cmd(f"RCPT TO:<{rcpt}>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(body.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        return queued_id(c.read_reply()), body


def our_fields_end(raw: bytes) -> int:
    """Where the quarantine's fields end: after X-Postern-Quarantined and its continuation lines."""
    m = re.search(rb"^X-Postern-Quarantined:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", raw, re.M)
    assert m, raw[:500]
    return m.end()


def unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).strip()


def test_a_quarantined_message_is_a_maildir_file(start):
    server, sink = start()
    queue_id, sent = send(server)
    server.quarantine.wait_for(queue_id)
    assert server.queue.ids() == [], "the queue entry goes once the Maildir file is durable"

    qdir = server.quarantine.dir
    for sub in ("", "new", "cur", "tmp"):
        assert stat.S_IMODE(os.stat(qdir / sub).st_mode) == 0o700, sub
    box = mailbox.Maildir(str(qdir), factory=None, create=False)
    keys = list(box.keys())
    assert len(keys) == 1 and queue_id in keys[0]
    msg = box[keys[0]]
    assert msg["Return-Path"] == "<a@fail.test>"
    assert msg["X-Postern-Quarantine-ID"] == queue_id
    assert msg["X-Postern-Sender"] == "<a@fail.test>"
    assert msg.get_all("X-Postern-Recipient") == [f"<{r}>" for r in RECIPIENTS]
    assert msg["X-Postern-Client"] == f"{CLIENT} ({HELO})"
    assert unfold(msg["X-Postern-Reason"]).startswith("SPF fail for mailfrom fail.test")
    when = email.utils.parsedate_to_datetime(msg["X-Postern-Quarantined"])
    assert abs(time.time() - when.timestamp()) < 120
    assert msg.get_all("X-Postern-Reason")[1] == "a field of the client's own, kept"

    # Byte for byte: our fields, then the message as queued (SPF's trace fields, our Received,
    # then exactly what the client sent).
    raw = box.get_bytes(keys[0])
    end = our_fields_end(raw)
    names = [line.split(b":")[0].decode() for line in raw[:end].split(b"\r\n") if line and line[:1] not in b" \t"]
    assert names == list(OUR_FIELDS[:3]) + ["X-Postern-Recipient"] * 2 + list(OUR_FIELDS[4:])
    queued = raw[end:]
    assert queued.endswith(sent)
    trace = [line.split(b":")[0] for line in queued[:-len(sent)].split(b"\r\n") if line and line[:1] not in b" \t"]
    assert trace == [b"Authentication-Results", b"Received-SPF", b"Received"]
    assert server.quarantine.message(queue_id) == queued
    assert sink.messages() == []


def test_list_and_show(start):
    server, _ = start()
    queue_id, sent = send(server)
    server.quarantine.wait_for(queue_id)
    [entry] = server.quarantine.list()
    assert entry["id"] == queue_id
    assert entry["sender"] == "a@fail.test"
    assert entry["recipients"] == RECIPIENTS
    assert entry["reason"].startswith("SPF fail for mailfrom fail.test")
    assert entry["client"] == CLIENT and entry["helo"] == HELO
    assert entry["size"] == len(server.quarantine.message(queue_id))
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry["date"]), entry

    p = server.quarantine.run("list")
    assert p.returncode == 0
    text = p.stdout.decode()
    assert queue_id in text and "a@fail.test" in text and "(SPF fail" in text and "carol@local.test" in text
    assert "in 1 Message." in text

    p = server.quarantine.run("show", queue_id)
    assert p.returncode == 0
    lines = p.stdout.decode().splitlines()
    assert lines[0] == f"id: {queue_id}"
    assert "sender: <a@fail.test>" in lines and "recipient: <carol@local.test>" in lines
    assert f"client: {CLIENT} ({HELO}) ESMTP" in lines
    assert any(line.startswith("reason: SPF fail") for line in lines)
    p = server.quarantine.run("show", queue_id, "--json")
    assert p.returncode == 0 and '"recipients"' in p.stdout.decode()

    # Offline: list and show read the Maildir with the daemon stopped.
    server.terminate()
    assert server.quarantine.ids() == [queue_id]
    assert server.quarantine.message(queue_id).endswith(sent)


def test_release_delivers_the_original_once(start):
    server, sink = start(metrics=True)
    queue_id, sent = send(server)
    server.quarantine.wait_for(queue_id)
    queued = server.quarantine.message(queue_id)

    p = server.quarantine.run("release", queue_id)
    assert p.returncode == 0, p.stderr.decode()
    m = re.search(rf"^{queue_id}: released as queue ID ([0-9A-F]{{16}})$", p.stdout.decode(), re.M)
    assert m, p.stdout.decode()
    new_id = m.group(1)
    assert new_id != queue_id
    assert server.quarantine.list() == [], "the file goes once the queue holds the message"

    [(meta, delivered)] = sink.wait_for(1)
    assert meta["mail_from"] == "a@fail.test"
    assert sorted(meta["rcpt_tos"]) == RECIPIENTS
    assert delivered == queued, "delivered exactly as it was queued, without the quarantine's fields"
    assert b"X-Postern-Quarantine-ID" not in delivered and not delivered.startswith(b"Return-Path")
    assert delivered.endswith(sent)
    time.sleep(1.5)
    assert len(sink.messages()) == 1, "delivered once"
    log = server.stderr_text()
    assert re.search(rf"released from the quarantine.*quarantine_id={queue_id}.*id={new_id}|"
                     rf"released from the quarantine.*id={new_id}.*quarantine_id={queue_id}", log), log[-2000:]

    again = server.quarantine.run("release", queue_id)
    assert again.returncode == 1
    assert "no such message in the quarantine" in again.stderr.decode()

    metrics_port = int(re.search(r'\[metrics\]\naddress = "127\.0\.0\.1:(\d+)"', server.config_path.read_text()).group(1))
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    assert 'postern_quarantine_actions_total{action="quarantined"} 1' in text
    assert 'postern_quarantine_actions_total{action="released"} 1' in text
    assert re.search(r"^postern_quarantine_messages 0(\.0)?$", text, re.M), text


def test_delete_through_the_daemon_and_offline(start):
    server, sink = start()
    first, _ = send(server)
    second, _ = send(server)
    third, _ = send(server)
    server.quarantine.wait_for(first, second, third)

    p = server.quarantine.run("delete", first)
    assert p.returncode == 0, p.stderr.decode()
    assert f"{first}: deleted" in p.stdout.decode()
    assert sorted(server.quarantine.ids()) == sorted([second, third])

    # IDs from standard input, as the queue commands take them.
    server.terminate()
    p = server.quarantine.run("delete", "-", stdin=f"{second}\n".encode())
    assert p.returncode == 0, p.stderr.decode()
    assert server.quarantine.ids() == [third]
    p = server.quarantine.run("release", third)
    assert p.returncode == 1 and "not running" in p.stderr.decode()
    assert server.quarantine.ids() == [third]
    assert sink.messages() == []


def test_unknown_ids(start):
    server, _ = start()
    queue_id, _ = send(server)
    server.quarantine.wait_for(queue_id)
    unknown = "0000000000000001"
    for args in (("show", unknown), ("release", unknown), ("delete", unknown), ("show", "nonsense"),
                 ("release", "nonsense")):
        p = server.quarantine.run(*args)
        assert p.returncode == 1, (args, p.stdout, p.stderr)
        err = p.stderr.decode()
        assert "no such message in the quarantine" in err or "not a quarantine ID" in err, (args, err)
    # A known ID among unknown ones is still released, and the exit status says something was skipped.
    p = server.quarantine.run("release", "-", stdin=f"{unknown}\n{queue_id}\n".encode())
    assert p.returncode == 1
    assert f"{queue_id}: released as queue ID" in p.stdout.decode()
    assert f"{unknown}: no such message in the quarantine" in p.stderr.decode()
    assert server.quarantine.list() == []


def test_a_passing_sender_is_not_quarantined(start):
    server, sink = start()
    queue_id, _ = send(server, sender="a@pass.test")
    [(meta, _)] = sink.wait_for(1)
    assert meta["mail_from"] == "a@pass.test"
    assert server.quarantine.list() == []


def test_kill9_while_quarantining_loses_nothing(start):
    """SIGKILL while messages are accepted and moved: each one that got its 250 is, right after the
    kill, in the queue or in the Maildir; after a restart in the Maildir only, exactly once."""
    server, sink = start()
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n0: int):
        n = n0
        while not stop.is_set():
            try:
                queue_id, _ = send(server, body=message(n))
            except Exception:  # the daemon died under us
                return
            with lock:
                accepted.append(queue_id)
            n += 4

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(accepted) < 40:
        time.sleep(0.01)
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(accepted) >= 40

    queued = set(server.queue.ids())
    in_maildir = {entry["id"] for entry in server.quarantine.list()}
    lost = [q for q in accepted if q not in queued and q not in in_maildir]
    assert lost == [], f"accepted but neither queued nor quarantined: {lost}"

    server.start()
    server.quarantine.wait_for(*accepted, timeout=60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and server.queue.ids():
        time.sleep(0.1)
    assert server.queue.ids() == []
    ids = [entry["id"] for entry in server.quarantine.list()]
    assert len(ids) == len(set(ids)), "each message once"
    # A message committed just before the kill may have lost only its 250 on the way: it is kept too.
    assert set(accepted) <= set(ids)
    assert len(ids) <= len(accepted) + 4, "at most one unanswered message per client"
    assert list((server.quarantine.dir / "tmp").iterdir()) == []
    assert sink.messages() == []


def test_a_release_keeps_the_dsn_parameters(start_postern, zone_server, sinks):  # noqa: F811
    """RET, ENVID, NOTIFY and ORCPT (RFC 3461) are written into the quarantine
    file and go with the released message to a next hop that offers DSN."""
    dns = zone_server(ZONE)
    sink = sinks("--dsn", name="dsn")
    server = start_postern(policy=POLICY,
                           delivery=delivery_config(routes={"local.test": f"[127.0.0.1]:{sink.port}"}, dns_port=dns))
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo(HELO)
        expect(c.cmd("MAIL FROM:<a@fail.test> RET=HDRS ENVID=held+2B1"), 250)
        expect(c.cmd("RCPT TO:<bob@local.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+40local.test"), 250)
        expect(c.cmd("RCPT TO:<carol@local.test>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(message().replace(b"\r\n.", b"\r\n..") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    server.quarantine.wait_for(queue_id)
    box = mailbox.Maildir(str(server.quarantine.dir), factory=None, create=False)
    msg = box[list(box.keys())[0]]
    assert msg.get_all("X-Postern-Recipient-DSN") == ["0 NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob@local.test <bob@local.test>"]
    assert msg["X-Postern-DSN"] == "RET=HDRS ENVID=held+2B1"

    p = server.quarantine.run("release", queue_id)
    assert p.returncode == 0, p.stderr.decode()
    [(meta, delivered)] = sink.wait_for(1)
    assert meta["rcpt_tos"] == RECIPIENTS
    assert [o for o in meta["raw_mail_options"] if o.split("=")[0] in ("RET", "ENVID")] == ["RET=HDRS", "ENVID=held+2B1"]
    assert meta["raw_rcpt_options"] == [["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Bob@local.test"], []]
    assert b"X-Postern-" not in delivered.split(b"\r\n\r\n")[0].replace(b"X-Postern-Reason: a field", b"")
