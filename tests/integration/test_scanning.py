"""Content scanning through the daemon with real scanners on loopback
(tests/integration/scanners.py): clamd (and ClamAV in process), spamd and
rspamd, their verdicts turned into replies, header fields, quarantine, and
what happens when a scanner dies or stalls."""

import json
import mailbox
import os
import re
import shutil
import signal
import smtplib
import subprocess
import time
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from postern_harness import split_received
from scanmessages import (EICAR_MESSAGES, clean_message, gtube_message, large_message_blocks)
from test_delivery import delivery_config, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)
from test_reload import wait_for_log

MIB = 1024 * 1024
VIRUS = "Test.EICAR.NDB.UNOFFICIAL"


def policy(*scans: str, extra: str = "") -> str:
    return '[relay]\nlocal_domains = ["local.test"]\n' + extra + "".join(f"\n[[scan]]\n{s.strip()}\n" for s in scans)


def scan_table(backend: str, address: str, timeout: str, keys: dict) -> str:
    values = {"backend": backend, "address": address, "timeout": timeout, **keys}
    return "\n".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
                     for k, v in values.items())


def clamd_scan(clamd, timeout: str = "10s", **keys) -> str:
    return scan_table("clamd", clamd.address, timeout, keys)


def spam_scan(backend: str, scanner, timeout: str = "20s", **keys) -> str:
    return scan_table(backend, scanner.address, timeout, keys)


def log_match(server, pattern: str, timeout: float = 10) -> re.Match:
    """The first log line matching `pattern`, waiting for it (the log is written beside the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, server.stderr_text())
        if m or time.monotonic() > deadline:
            assert m, f"no log line matches {pattern!r}:\n{server.stderr_text()[-2000:]}"
            return m
        time.sleep(0.05)


def open_data(server) -> smtplib.SMTP:
    """A session that has had its 354 to DATA: send the body with client.send."""
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=300)
    client.ehlo()
    client.mail("sender@example.org")
    client.rcpt("someone@local.test")
    client.putcmd("DATA")
    assert client.getreply()[0] == 354
    return client


def submit(server, message: bytes, rcpt: str = "someone@local.test") -> tuple[int, str, float]:
    """(code, text, seconds) of the reply to the end of DATA."""
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        try:
            client.sendmail("sender@example.org", [rcpt], message)
            code, text = 250, "queued"
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error.decode()
    return code, text, time.monotonic() - started


FIXTURE_DB = Path(__file__).resolve().parents[1] / "fixtures" / "clamav"


def clamav_scan(database, **keys) -> str:
    values = {"backend": "clamav", "database": str(database), "timeout": "10s", **keys}
    return "\n".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in values.items())


@pytest.mark.parametrize("kind", sorted(EICAR_MESSAGES))
@pytest.mark.parametrize("backend", ["clamd", "clamav"])
def test_eicar_refused(start_postern, clamd, kind, backend):
    scan = clamd_scan(clamd) if backend == "clamd" else clamav_scan(FIXTURE_DB, threads=2)
    server = start_postern(policy=policy(scan))
    code, text, _ = submit(server, EICAR_MESSAGES[kind]())
    assert (code, text) == (554, f"5.7.1 Virus found: {VIRUS}")
    assert not server.queue.list()
    log_match(server, r'policy refused" .*filter=scan .*scan="' + backend + '=infected ' + re.escape(VIRUS) + r'/\d+ms"')
    assert submit(server, clean_message(to="someone@local.test"))[0] == 250


def test_clamav_signatures_reload_on_sighup_and_a_broken_database_keeps_the_old(start_postern, tmp_path):
    database = tmp_path / "signatures"
    database.mkdir()
    shutil.copy(FIXTURE_DB / "test.ndb", database / "test.ndb")
    server = start_postern(policy=policy(clamav_scan(database)))
    marker = b"POSTERN-LOCAL-PHISHING-KIT-7731"
    message = clean_message(to="someone@local.test").replace(b"Hello,", b"Hello, " + marker)
    assert submit(server, message)[0] == 250
    (database / "local.ndb").write_text(f"Local.Phish.Kit:0:*:{marker.hex()}\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_for_log(server, "configuration reloaded")
    assert submit(server, message)[:2] == (554, "5.7.1 Virus found: Local.Phish.Kit.UNOFFICIAL")
    (database / "broken.ndb").write_text("this is not a signature\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_for_log(server, "ClamAV reload failed, the old signatures stay")
    assert submit(server, message)[0] == 554, "the old engine still scans"
    assert submit(server, EICAR_MESSAGES["attachment"]())[0] == 554


def test_broken_clamav_database_stops_the_start(tmp_path, postern_bin):
    from postern_harness import PosternServer
    database = tmp_path / "empty"
    database.mkdir()
    server = PosternServer(postern_bin, tmp_path / "p", policy=policy(clamav_scan(database)))
    with pytest.raises(AssertionError, match=r"exited with \d+ at start(.|\n)*scan clamav: .*No supported database files"):
        server.start()


def test_clean_message_delivered_byte_identical_with_scan_headers(start_postern, clamd, spamd, sinks):
    sink = sinks()
    server = start_postern(policy=policy(clamd_scan(clamd), spam_scan("spamd", spamd)),
                           delivery=delivery_config(routes={"local.test": f"[127.0.0.1]:{sink.port}"}))
    original = clean_message(to="someone@local.test")
    assert submit(server, original)[0] == 250
    (meta, data), = sink.wait_for(1)
    wait_queue_empty(server)
    head, sep, rest = data.partition(b"Received: from ")
    assert sep, data[:500]
    fields = [line.split(b":")[0].decode() for line in head.split(b"\r\n") if line and line[:1] not in b" \t"]
    assert fields == ["X-Virus-Scanned", "X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"], head
    assert b"X-Virus-Scanned: clean by clamd at " in head and b"X-Spam-Flag: NO\r\n" in head
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head)
    assert re.search(rb"X-Spam-Status: No, score=-?\d+\.\d required=5\.0 tests=.+? scanner=spamd\r\n", unfolded), head
    _, after_received = split_received(b"Received: from " + rest)
    assert after_received == original, "the message must arrive byte-identical apart from the added fields"
    log_match(server, r'msg=queued .*scan="clamd=clean/\d+ms spamd=ham -?\d+\.\d/5\.0/\d+ms"')


def quarantined_id(server) -> str:
    m = log_match(server, r"msg=quarantined .*?id=([0-9A-F]{16})")
    server.quarantine.wait_for(m.group(1))
    return m.group(1)


def test_gtube_refused_or_quarantined_through_spamd_and_released_to_a_sink(start_postern, spamd, sinks):
    refuse = start_postern(policy=policy(spam_scan("spamd", spamd, reject_score=100)), name="refuse")
    assert submit(refuse, gtube_message(to="someone@local.test"))[:2] == (550, "5.7.1 Message refused as spam")
    assert not refuse.queue.list()
    sink = sinks()
    hold = start_postern(policy=policy(spam_scan("spamd", spamd, quarantine_score=100)), name="hold",
                         delivery=delivery_config(routes={"local.test": f"[127.0.0.1]:{sink.port}"}))
    original = gtube_message(to="someone@local.test")
    assert submit(hold, original)[0] == 250
    queue_id = quarantined_id(hold)
    box = mailbox.Maildir(str(hold.quarantine.dir), factory=None, create=False)
    (held,) = list(box)
    assert held["X-Postern-Quarantine-ID"] == queue_id
    assert re.fullmatch(r"spam score \d+\.\d \(spamd\)", held["X-Postern-Reason"])
    assert held["X-Postern-Recipient"] == "<someone@local.test>" and held["X-Spam-Flag"] == "YES"
    assert not hold.queue.list() and not sink.messages()
    released = hold.quarantine.run("release", queue_id)
    assert released.returncode == 0, released.stderr.decode()
    (meta, data), = sink.wait_for(1)
    assert meta["rcpt_tos"] == ["someone@local.test"]
    assert data.endswith(original) and b"X-Postern-" not in data and b"X-Spam-Flag: YES\r\n" in data
    time.sleep(1)
    assert len(sink.messages()) == 1 and not hold.quarantine.files()


def test_gtube_refused_through_rspamd_action(start_postern, rspamd):
    server = start_postern(policy=policy(spam_scan("rspamd", rspamd)))
    assert submit(server, gtube_message(to="someone@local.test"))[:2] == (550, "5.7.1 Message refused as spam")
    log_match(server, r'scan="rspamd=spam \d+\.\d/\d+\.\d reject/\d+ms"')
    # rspamd's advice can be overruled: then it only tags.
    tag = start_postern(policy=policy(spam_scan("rspamd", rspamd, use_scanner_action=False, tag_score=10)), name="tag")
    assert submit(tag, gtube_message(to="someone@local.test"))[0] == 250
    queue_id = tag.queue.list()[0]["id"]
    shown = tag.queue.show_body(queue_id)
    assert shown.startswith(b"X-Spam-Flag: YES\r\nX-Spam-Score: 15.0\r\n"), shown[:300]


def test_spam_subject_tag_and_forged_spam_fields(start_postern, spamd):
    server = start_postern(policy=policy(spam_scan("spamd", spamd, subject_tag="[SPAM]", tag_score=5)))
    forged = gtube_message(to="someone@local.test").replace(b"Subject: GTUBE test", b"X-Spam-Flag: NO\r\nSubject: GTUBE test")
    assert submit(server, forged)[0] == 250
    shown = server.queue.show_body(server.queue.list()[0]["id"])
    parsed = message_from_bytes(shown)
    assert parsed.get_all("X-Spam-Flag") == ["YES"], "the sender's own X-Spam-Flag is gone"
    assert parsed["Subject"] == "[SPAM] GTUBE test"
    # The spooled file itself is untouched: the envelope carries the new section.
    queue_id = server.queue.list()[0]["id"]
    stored = server.queue.body(queue_id)
    assert b"X-Spam-Flag: NO\r\nSubject: GTUBE test\r\n" in stored
    # An encoded subject is tagged as a reader shows it, and encoded again.
    encoded = gtube_message(to="someone@local.test").replace(b"Subject: GTUBE test", b"Subject: =?UTF-8?B?w6l0w6kgc3BhbQ==?=")
    assert submit(server, encoded)[0] == 250
    other = next(entry["id"] for entry in server.queue.list() if entry["id"] != queue_id)
    subject = message_from_bytes(server.queue.show_body(other))["Subject"]
    assert str(make_header(decode_header(subject))) == "[SPAM] été spam", subject


def test_virus_discard_and_quarantine_actions(start_postern, clamd):
    discard = start_postern(policy=policy(clamd_scan(clamd, virus="discard")), name="discard")
    code, text, _ = submit(discard, EICAR_MESSAGES["attachment"]())
    assert code == 250
    assert not discard.queue.list()
    log_match(discard, r'msg=discarded .*reason="virus ' + re.escape(VIRUS))
    hold = start_postern(policy=policy(clamd_scan(clamd, virus="quarantine")), name="hold")
    zipped = EICAR_MESSAGES["zip"]()  # once: the zip holds the time it was made
    assert submit(hold, zipped)[0] == 250
    queue_id = quarantined_id(hold)
    assert [entry["reason"] for entry in hold.quarantine.list()] == [f"virus {VIRUS} (clamd)"]
    assert hold.quarantine.message(queue_id).endswith(zipped)


def test_oversized_message_is_not_sent_and_says_so(start_postern, spamd):
    server = start_postern(policy=policy(spam_scan("spamd", spamd, max_size="1K")))
    big = clean_message(to="someone@local.test") + b"padding line\r\n" * 200
    assert submit(server, big)[0] == 250
    shown = server.queue.show_body(server.queue.list()[0]["id"])
    assert re.match(rb"X-Postern-Scan: spamd skipped: \d+ octets over max_size 1024\r\n", shown), shown[:200]


def test_stalled_scanner_tempfails_within_timeout_then_breaker_answers_at_once(start_postern, clamd_private):
    server = start_postern(policy=policy(clamd_scan(clamd_private, timeout="2s", failures=2, cool_down="3s")))
    assert submit(server, clean_message(to="someone@local.test"))[0] == 250
    os.killpg(clamd_private.pid, signal.SIGSTOP)
    try:
        for _ in range(2):
            code, text, seconds = submit(server, clean_message(to="someone@local.test"))
            assert (code, text) == (451, "4.7.1 Message cannot be scanned now, try again later")
            assert 1.5 < seconds < 4, f"a stalled clamd costs one timeout (2 s), took {seconds:.1f}s"
        code, _, seconds = submit(server, clean_message(to="someone@local.test"))
        assert code == 451 and seconds < 1, f"with the breaker open no session waits: {seconds:.2f}s"
        log_match(server, "scanner breaker open")
    finally:
        os.killpg(clamd_private.pid, signal.SIGCONT)
    time.sleep(3.5)  # cool-down over: one probe, clamd answers, the breaker closes
    assert submit(server, clean_message(to="someone@local.test"))[0] == 250
    log_match(server, "scanner breaker closed")
    assert submit(server, EICAR_MESSAGES["attachment"]())[0] == 554


def test_killed_scanner_tempfails_or_accepts_as_configured(start_postern, clamd_private, spamd_private):
    server = start_postern(policy=policy(clamd_scan(clamd_private, timeout="5s"), spam_scan("spamd", spamd_private)))
    clamd_private.kill()
    spamd_private.kill()
    code, text, seconds = submit(server, clean_message(to="someone@local.test"))
    assert code == 451 and seconds < 5, (code, text, seconds)
    accept = start_postern(policy=policy(spam_scan("spamd", spamd_private, timeout="5s")), name="accept")
    code, _, seconds = submit(accept, clean_message(to="someone@local.test"))
    assert code == 250 and seconds < 5
    shown = accept.queue.show_body(accept.queue.list()[0]["id"])
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", shown)
    assert re.match(rb"X-Postern-Scan: spamd not scanned: cannot connect to \S+: Connection refused\r\n", unfolded), shown[:200]


def test_clamd_killed_mid_scan_gives_tempfail(start_postern, make_scanner):
    from scanners import Clamd
    clamd = make_scanner(Clamd)
    server = start_postern(policy=policy(clamd_scan(clamd, timeout="20s")), limits={"max_message_size": 60 * MIB})
    with open_data(server) as client:
        for block in large_message_blocks(20 * MIB):
            client.send(block)
        client.send(b".\r\n")
        time.sleep(0.05)  # the scan has started streaming to clamd
        clamd.kill()
        code, text = client.getreply()
    assert code == 451, (code, text)
    assert not server.queue.list()


def test_fifty_mebibyte_message_scanned_with_bounded_rss(start_postern, clamd, figures):
    server = start_postern(policy=policy(clamd_scan(clamd, timeout="120s")),
                           limits={"max_message_size": 60 * MIB, "data_timeout": 600})
    for virus in (False, True):
        with open_data(server) as client:
            rss_before = server.proc_status("VmRSS")
            started = time.monotonic()
            for block in large_message_blocks(50 * MIB, virus=virus):
                client.send(block)
            client.send(b".\r\n")
            code, text = client.getreply()
            elapsed = time.monotonic() - started
            peak = server.proc_status("VmHWM")
        growth = peak - rss_before
        figures(f"50 MiB message{' with EICAR at the end' if virus else ''} received and scanned by clamd in "
                f"{elapsed:.1f}s: {code} {text.decode()[:60]}; RSS {rss_before / MIB:.1f} MiB before, peak {peak / MIB:.1f} MiB")
        assert growth < 40 * MIB, f"peak RSS grew by {growth / MIB:.1f} MiB"
        assert (code, text.decode()) == ((554, f"5.7.1 Virus found: {VIRUS}") if virus else (250, text.decode()))


def test_postern_scan_and_policy_test_scan(postern_bin, clamd, spamd, tmp_path):
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(policy(clamd_scan(clamd), clamav_scan(FIXTURE_DB), spam_scan("spamd", spamd, reject_score=100)))
    eicar, gtube = tmp_path / "eicar.eml", tmp_path / "gtube.eml"
    eicar.write_bytes(EICAR_MESSAGES["zip"]())
    gtube.write_bytes(gtube_message(to="someone@local.test"))
    run = subprocess.run([postern_bin, "scan", "--policy", str(policy_file), str(eicar), str(gtube)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any(re.match(rf"{re.escape(str(eicar))}: clamd: infected {re.escape(VIRUS)} \(", l) for l in lines), lines
    assert any(re.match(rf"{re.escape(str(eicar))}: clamav: infected {re.escape(VIRUS)} \(", l) for l in lines), lines
    assert any(re.match(rf"{re.escape(str(gtube))}: spamd: spam score=\d+\.\d required=5\.0 .*symbols=.*GTUBE", l) for l in lines), lines
    as_json = subprocess.run([postern_bin, "scan", "--policy", str(policy_file), "--only", "spamd", "--json", str(gtube)],
                             capture_output=True, text=True, timeout=60)
    verdict = json.loads(as_json.stdout)
    assert verdict["scanner"] == "spamd" and verdict["result"] == "spam" and "GTUBE" in verdict["symbols"]
    walk = subprocess.run([postern_bin, "policy", "test", "--policy", str(policy_file), "--client-ip", "192.0.2.9",
                           "--from", "a@example.org", "--to", "b@local.test", "--message", str(gtube), "--scan"],
                          capture_output=True, text=True, timeout=60)
    assert walk.returncode == 1, walk.stdout + walk.stderr
    assert re.search(r"scan +reject +clamd=clean/\d+ms clamav=clean/\d+ms spamd=spam \d+\.\d/5\.0/\d+ms", walk.stdout), walk.stdout
    assert walk.stdout.rstrip().endswith("final    550 5.7.1 Message refused as spam")
    dead = tmp_path / "dead.toml"
    dead.write_text(policy(f'backend = "clamd"\naddress = "{tmp_path}/no.sock"\ntimeout = "2s"'))
    failed = subprocess.run([postern_bin, "scan", "--policy", str(dead), str(eicar)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "clamd: error (cannot connect to " in failed.stdout, failed.stdout


def test_clamd_stream_limit_is_its_own_case(start_postern, make_scanner):
    """clamd's StreamMaxLength reply ("INSTREAM size limit exceeded") is not a scanner failure: the
    message is accepted with a header saying it was too large to scan, and the breaker stays shut."""
    from scanners import Clamd
    clamd = make_scanner(Clamd, stream_max_length="1M")
    server = start_postern(policy=policy(clamd_scan(clamd, failures=1)), limits={"max_message_size": 8 * MIB})
    for _ in range(2):
        with open_data(server) as client:
            for block in large_message_blocks(2 * MIB):
                client.send(block)
            client.send(b".\r\n")
            assert client.getreply()[0] == 250
    shown = server.queue.show_body(server.queue.list()[0]["id"])
    assert shown.startswith(b"X-Postern-Scan: clamd skipped: clamd StreamMaxLength exceeded\r\n"), shown[:200]
    assert "scanner breaker open" not in server.stderr_text()
    assert submit(server, EICAR_MESSAGES["attachment"]())[0] == 554
