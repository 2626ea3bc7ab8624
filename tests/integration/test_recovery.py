"""What `postern serve` does with the queue directory it finds at start."""

import re

from postern_harness import make_message, queued_id


def test_start_purges_incoming_and_sets_aside_broken_envelopes(server):
    with server.connect() as c:
        c.ehlo()
        ids = [queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message(f"m{i}")))
               for i in range(3)]
    assert server.terminate() == 0
    msg = server.queue_dir / "msg"
    truncated, bodiless, healthy = ids
    env = msg / f"{truncated}.env"
    env.write_bytes(env.read_bytes()[: len(env.read_bytes()) // 2])
    (msg / f"{bodiless}.eml").unlink()
    (server.queue_dir / "incoming" / "half-written").write_bytes(b"Subject: partial\r\n")
    orphan = "0000000000000001"
    (msg / f"{orphan}.eml").write_bytes(b"Subject: a body whose envelope never came\r\n\r\n")

    server.start()
    assert server.queue.files("incoming") == [], "incoming/ not purged at start"
    assert server.queue.ids() == [healthy]
    corrupt = {p.name for p in server.queue.files("corrupt")}
    # Never silently dropped: both broken messages are kept in corrupt/.
    assert {f"{truncated}.env", f"{truncated}.eml", f"{bodiless}.env"} <= corrupt, corrupt
    assert not (msg / f"{orphan}.eml").exists(), "a body without envelope was left in msg/"
    opened = [line for line in server.stderr_text().splitlines() if 'msg="queue opened"' in line][-1]
    assert re.search(r"\bcorrupt=2\b", opened) and re.search(r"\bmessages=1\b", opened), opened


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
