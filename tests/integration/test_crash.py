"""A 250 is a promise (RFC 5321 §6.1): kill -9 the daemon under load, restart it,
and every message that got its 250 must be in the queue, byte for byte.

2,000 messages over 20 connections; SIGKILL when a random 20–80% of them have been
accepted. Set POSTERN_CRASH_SEED to replay one run.

A kill -9 leaves the page cache, so the queue files written but not yet synced are
still there. The second test takes away what a power loss could: small records are
made durable by the commit journal alone, and their files in msg/ only at the next
checkpoint, so it removes or tears the record files of accepted messages before the
restart, and the journal's replay must bring every one of them back.
"""

import base64
import email.utils
import os
import random
import re
import signal
import smtplib
import threading
import time

from postern_harness import split_received, split_record

MESSAGES = 2000
CONNECTIONS = 20
QUEUED_RE = re.compile(rb"^2\.0\.0 Ok: queued as ([0-9A-F]{16})$")


def build_messages(rng: random.Random) -> list[bytes]:
    messages = []
    for i in range(MESSAGES):
        head = (f"From: <sender{i}@example.org>\r\nTo: <rcpt{i}@example.net>\r\nSubject: crash test {i}\r\n"
                f"Date: {email.utils.formatdate()}\r\n"
                f"Message-ID: <crash-{i}-{rng.getrandbits(64):016x}@client.example>\r\n\r\n").encode()
        size = rng.randint(1024, 20 * 1024)
        text = base64.b64encode(rng.randbytes(size * 3 // 4 + 57))
        lines = [text[k:k + 76] for k in range(0, max(size - len(head), 1), 78)]
        messages.append(head + b"".join(line + b"\r\n" for line in lines))
    return messages


def test_kill9_under_load_loses_no_accepted_message(start_postern, figures):
    srv, accepted, messages = load_and_kill(start_postern, figures)
    srv.start()
    verify_after_restart(srv, accepted, messages, figures)


def test_records_a_power_loss_takes_come_back_from_the_journal(start_postern, figures):
    # Large enough that no checkpoint happens during the run: every record
    # accepted is then only as durable as the journal makes it.
    srv, accepted, messages = load_and_kill(start_postern, figures, queue={"journal_size_mb": 64})
    rng = random.Random(len(accepted))
    removed = torn = 0
    for qid in accepted.values():
        path = srv.queue_dir / "msg" / f"{qid}.msg"
        choice = rng.randrange(3)
        if choice == 0:
            path.unlink()
            removed += 1
        elif choice == 1:
            data = path.read_bytes()
            path.write_bytes(data[:rng.randrange(len(data))])
            torn += 1
    figures(f"before the restart: {removed} accepted records removed, {torn} torn")
    srv.start()
    m = re.search(r"queue opened.*journal_restored=(\d+)", srv.stderr_text().split("----- start #2")[-1])
    assert m, "no journal_restored figure in the start-up log"
    assert int(m.group(1)) >= len(accepted), f"journal restored {m.group(1)} of {len(accepted)} accepted"
    figures(f"journal restored {m.group(1)} records")
    verify_after_restart(srv, accepted, messages, figures)


def load_and_kill(start_postern, figures, queue: dict | None = None):
    seed = int(os.environ.get("POSTERN_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    messages = build_messages(rng)
    kill_after = rng.randint(MESSAGES * 20 // 100, MESSAGES * 80 // 100)
    figures(f"seed={seed} kill after {kill_after} accepted of {MESSAGES}")

    srv = start_postern(limits={"max_connections_per_ip": CONNECTIONS + 5}, queue=queue)
    accepted: dict[int, str] = {}  # message index -> queue ID
    refused: dict[int, str] = {}
    lock = threading.Lock()
    killed = threading.Event()
    killed_at = [0.0]
    next_index = iter(range(MESSAGES))
    errors: list[str] = []

    def worker():
        try:
            smtp = smtplib.SMTP("127.0.0.1", srv.port, local_hostname="client.example", timeout=30)
            smtp.ehlo()
        except (OSError, smtplib.SMTPException) as e:
            if not killed.is_set():
                errors.append(f"connect: {e!r}")
            return
        while not killed.is_set():
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            try:
                code, text = smtp.mail(f"sender{i}@example.org")
                assert code == 250, (code, text)
                code, text = smtp.rcpt(f"rcpt{i}@example.net")
                assert code == 250, (code, text)
                code, text = smtp.data(messages[i])
            except (OSError, smtplib.SMTPException):
                if not killed.is_set():
                    errors.append(f"message {i}: connection lost before the kill")
                return
            m = QUEUED_RE.match(text)
            with lock:
                if code == 250 and m:
                    accepted[i] = m.group(1).decode()
                    if len(accepted) == kill_after and not killed.is_set():
                        os.kill(srv.pid, signal.SIGKILL)
                        killed_at[0] = time.monotonic()
                        killed.set()
                else:
                    refused[i] = f"{code} {text.decode(errors='replace')}"
        try:
            smtp.close()
        except OSError:
            pass

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "client threads hung"
    assert killed.is_set(), f"never reached {kill_after} accepted messages ({len(accepted)} accepted)"
    srv.proc.wait(timeout=10)
    assert srv.proc.returncode == -signal.SIGKILL
    rate = kill_after / (killed_at[0] - started)
    figures(f"{len(accepted)} accepted with 250 ({rate:.0f}/s), {len(refused)} refused, "
          f"{MESSAGES - len(accepted) - len(refused)} unsent or in flight at the kill")
    assert not errors, errors[:5]
    assert not refused, list(refused.items())[:5]
    assert len(set(accepted.values())) == len(accepted), "a queue ID was given twice"

    leftovers = [p.name for p in srv.queue.files("incoming")]
    figures(f"{len(leftovers)} files in incoming/ after the kill")
    return srv, accepted, messages


def verify_after_restart(srv, accepted: dict[int, str], messages: list[bytes], figures):
    incoming_after = [p.name for p in srv.queue.files("incoming")]
    assert incoming_after == [], f"incoming/ not purged at start: {incoming_after[:5]}"
    # One record per message (ID.msg), whole: a record torn by the kill is never in msg/.
    msg_files = srv.queue.files("msg")
    records = {p.stem for p in msg_files if p.suffix == ".msg"}
    sidecars = {p.stem for p in msg_files if p.suffix == ".env"}
    others = [p.name for p in msg_files if p.suffix not in (".msg", ".env")]
    assert not others, f"stray files in msg/: {others[:5]}"
    assert sidecars - records == set(), f"envelopes without record: {sorted(sidecars - records)[:5]}"
    for p in msg_files:
        if p.suffix == ".msg":
            split_record(p.read_bytes())

    entries = {e["id"]: e for e in srv.queue.list()}
    unreadable = [e for e in entries.values() if e["state"] == "unreadable"]
    assert not unreadable, unreadable[:5]
    corrupt = [p.name for p in srv.queue.files("corrupt")]

    by_id = {qid: i for i, qid in accepted.items()}
    missing = [(i, qid) for i, qid in accepted.items() if qid not in entries]
    assert not missing, f"{len(missing)} messages answered 250 are not in the queue, e.g. {missing[:5]}"

    mismatched = []
    for qid, entry in entries.items():
        stored = srv.queue.body(qid)
        _, rest = split_received(stored)
        if qid in by_id:
            i = by_id[qid]
        else:
            # Queued but its 250 never arrived: it must still be one whole message we sent.
            m = re.search(rb"(?m)^Subject: crash test (\d+)\r$", rest)
            assert m, f"queued message {qid} is none of ours: {rest[:200]!r}"
            i = int(m.group(1))
        if rest != messages[i]:
            mismatched.append((qid, i))
            continue
        assert entry["sender"] == f"sender{i}@example.org", entry
        assert [r["address"] for r in entry["recipients"]] == [f"rcpt{i}@example.net"], entry
        assert entry["size"] == len(stored), entry
    assert not mismatched, f"{len(mismatched)} stored bodies differ from what was sent, e.g. {mismatched[:5]}"
    extra = len(entries) - len(accepted)
    figures(f"after restart {len(entries)} queued = {len(accepted)} promised + {extra} in flight; "
          f"{len(corrupt)} in corrupt/; all promised messages present and byte-identical")
    assert not (set(p.split(".")[0] for p in corrupt) & set(accepted.values())), "an accepted message went to corrupt/"
