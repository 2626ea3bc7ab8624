"""What `postern serve` does with the queue directory it finds at start."""

import re

import shutil
from pathlib import Path

from postern_harness import make_message, queued_id, split_record

OLD_QUEUE = Path(__file__).resolve().parent / "fixtures" / "queue-v1" / "msg"


def test_start_purges_incoming_and_sets_aside_broken_envelopes(server):
    with server.connect() as c:
        c.ehlo()
        ids = [queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message(f"m{i}")))
               for i in range(3)]
    assert server.terminate() == 0
    msg = server.queue_dir / "msg"
    truncated, bad_sidecar, healthy = ids
    record = msg / f"{truncated}.msg"
    record.write_bytes(record.read_bytes()[: len(record.read_bytes()) // 2])  # no trailer: torn
    (msg / f"{bad_sidecar}.env").write_bytes(b"postern-envelope 4\nid ")
    (server.queue_dir / "incoming" / "half-written").write_bytes(b"Subject: partial\r\n")
    # The older two-file layout: an envelope whose body is gone, and a body without envelope.
    (old_id,) = {p.stem for p in OLD_QUEUE.iterdir()}
    shutil.copy2(OLD_QUEUE / f"{old_id}.env", msg / f"{old_id}.env")
    orphan = "0000000000000001"
    (msg / f"{orphan}.eml").write_bytes(b"Subject: a body whose envelope never came\r\n\r\n")
    # A removal that stopped between its two unlinks leaves a record's sidecar alone.
    _, envelope = split_record((msg / f"{healthy}.msg").read_bytes())
    lone = "0000000000000002"
    (msg / f"{lone}.env").write_bytes(envelope.replace(f"id {healthy}".encode(), f"id {lone}".encode()))

    server.start()
    assert server.queue.files("incoming") == [], "incoming/ not purged at start"
    assert server.queue.ids() == [healthy]
    corrupt = {p.name for p in server.queue.files("corrupt")}
    # Never silently dropped: the broken messages are kept in corrupt/.
    assert {f"{truncated}.msg", f"{bad_sidecar}.msg", f"{bad_sidecar}.env", f"{old_id}.env"} <= corrupt, corrupt
    assert not (msg / f"{orphan}.eml").exists(), "a body without envelope was left in msg/"
    assert not (msg / f"{lone}.env").exists(), "a removed record's sidecar was left in msg/"
    opened = [line for line in server.stderr_text().splitlines() if 'msg="queue opened"' in line][-1]
    assert re.search(r"\bcorrupt=3\b", opened) and re.search(r"\bmessages=1\b", opened), opened


def test_messages_survive_a_clean_restart(server):
    with server.connect() as c:
        c.ehlo()
        ids = [queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message(f"m{i}")))
               for i in range(5)]
    before = {i: server.queue.body(i) for i in ids}
    assert server.terminate() == 0
    server.start()
    assert sorted(server.queue.ids()) == sorted(ids)
    assert {i: server.queue.body(i) for i in ids} == before
    opened = [line for line in server.stderr_text().splitlines() if 'msg="queue opened"' in line][-1]
    assert re.search(r"\bmessages=5\b", opened), opened
