"""`postern queue list|show`, read straight from the queue directory."""

import json
import subprocess

from postern_harness import make_message, queued_id


def run(binary, *args):
    return subprocess.run([binary, "queue", *args], capture_output=True, timeout=60)


def test_empty_queue(server):
    p = run(server.binary, "list", "--json", "--queue-dir", str(server.queue_dir))
    assert p.returncode == 0, p.stderr
    assert p.stdout == b""
    p = run(server.binary, "list", "--queue-dir", str(server.queue_dir))
    assert p.returncode == 0 and p.stdout == b"Mail queue is empty\n", p


def test_show_json_matches_list(server):
    with server.connect() as c:
        c.ehlo()
        queue_id = queued_id(c.transaction("sender@example.org", ["a@example.net", "b@example.net"],
                                           make_message("cli")))
    (listed,) = server.queue.list()
    shown = server.queue.entry(queue_id)
    assert shown == listed
    assert set(shown) >= {"id", "sender", "recipients", "size", "state", "created", "attempts", "client",
                          "helo", "protocol"}
    assert shown["created"].endswith("Z")


def test_show_body_prints_envelope_then_message(server):
    """Into a pipe: envelope lines, an empty line, then the stored message, in that order."""
    with server.connect() as c:
        c.ehlo()
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("order")))
    p = run(server.binary, "show", queue_id, "--body", "--queue-dir", str(server.queue_dir))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"id: {queue_id}\n".encode()), f"output starts with {p.stdout[:120]!r}"
    assert p.stdout.endswith(b"\n\n" + server.queue.body(queue_id)), f"output ends with {p.stdout[-200:]!r}"


def test_show_unknown_id(server):
    p = run(server.binary, "show", "00000000000000AB", "--queue-dir", str(server.queue_dir))
    assert p.returncode == 1
    assert b"00000000000000AB" in p.stderr
    p = run(server.binary, "show", "not-an-id", "--queue-dir", str(server.queue_dir))
    assert p.returncode != 0 and b"not a queue ID" in p.stderr
