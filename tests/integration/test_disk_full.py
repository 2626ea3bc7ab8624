"""A full disk gets 451 4.3.0, never a 250 for a message that is not stored (RFC 5321 §6.1)."""

import os
import subprocess

import pytest

from postern_harness import PosternServer, dot_stuff, expect, make_message, queued_id


@pytest.fixture
def tiny_queue_server(tmp_path, postern_bin):
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the disk-full test needs root to mount a tmpfs")
        pytest.skip("needs root to mount a tmpfs")
    server = PosternServer(postern_bin, tmp_path / "diskfull", name="diskfull")
    server.queue_dir.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k,mode=0700", "tmpfs", str(server.queue_dir)], check=True)
    try:
        server.start()
        yield server
    finally:
        server.terminate(timeout=15)
        subprocess.run(["umount", "-l", str(server.queue_dir)], check=False)


def test_full_disk_answers_451_and_keeps_what_was_promised(tiny_queue_server):
    server = tiny_queue_server
    # No room for the commit journal's 32 MiB: the daemon starts all the
    # same, says so, and commits the classic way.
    assert "commit journal off" in server.stderr_text()
    assert not (server.queue_dir / "journal").exists()
    body = ("z" * 98 + "\r\n") * 2000  # about 200 KiB: spilled to disk while it arrives
    accepted, refused = [], 0
    with server.connect() as c:
        c.ehlo()
        for n in range(6):
            expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
            expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
            expect(c.cmd("DATA"), 354)
            c.send(dot_stuff(make_message(f"fill {n}", body=body)) + b".\r\n")
            reply = c.read_reply()
            if reply.code == 250:
                accepted.append(queued_id(reply))
            else:
                expect(reply, 451, "4.3.0")
                refused += 1
        # The session is still usable after the refusals.
        expect(c.cmd("NOOP"), 250, "2.0.0")
    assert accepted, "not even one message fitted in 600 KiB"
    assert refused >= 1, "the 600 KiB queue never filled up"
    listed = sorted(e["id"] for e in server.queue.list())
    assert listed == sorted(accepted)
    for queue_id in accepted:
        assert server.queue.body(queue_id).endswith(body.encode()), "a promised message is incomplete"
    assert server.queue.files("incoming") == []
