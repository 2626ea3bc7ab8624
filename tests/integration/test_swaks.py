"""A whole transaction driven by swaks, checked end to end in the queue."""

import re
import subprocess

from postern_harness import check_received, header_count, require_tool, split_received


def run_swaks(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    swaks = require_tool("swaks")
    return subprocess.run([swaks, *args], capture_output=True, text=True, timeout=timeout)


def server_lines(output: str) -> list[str]:
    """swaks' transcript: the lines the server sent ("<-  " plain, "<~  " under TLS)."""
    return [line[4:] for line in output.splitlines() if line.startswith(("<-  ", "<~  ", "<** ", "<~* "))]


def test_swaks_message_is_queued_with_received_line(server):
    p = run_swaks("--server", f"127.0.0.1:{server.port}", "--to", "someone@example.net",
                  "--from", "sender@example.org", "--helo", "client.example", "--timeout", "30")
    assert p.returncode == 0, f"swaks exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    got = server_lines(p.stdout)

    # Every step of the dialogue, with its enhanced status code.
    assert got[0].startswith("220 "), got
    ehlo = [line for line in got if line.startswith("250-") or line.startswith("250 ")]
    keywords = {line[4:].split(" ")[0].upper() for line in ehlo[1:] if not line[4:].startswith("2.")}
    assert {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"} <= keywords, got
    assert "STARTTLS" not in keywords, "STARTTLS advertised without a certificate"
    assert any(re.fullmatch(r"250[ -]SIZE \d+", line) for line in got), got
    assert any(line.startswith("250 2.1.0 ") for line in got), got
    assert any(line.startswith("250 2.1.5 ") for line in got), got
    assert any(line.startswith("354 ") for line in got), got
    queued = [re.fullmatch(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{16})", line) for line in got]
    queued = [m.group(1) for m in queued if m]
    assert len(queued) == 1, got
    assert any(line.startswith("221 2.0.0") for line in got), got
    queue_id = queued[0]

    entries = server.queue.list()
    assert [e["id"] for e in entries] == [queue_id]
    entry = entries[0]
    assert entry["sender"] == "sender@example.org"
    assert entry["recipients"] == [{"address": "someone@example.net", "status": "pending"}]
    assert entry["state"] == "ready"
    assert entry["client"] == "127.0.0.1"
    assert entry["helo"] == "client.example"
    assert entry["protocol"] == "ESMTP"
    assert entry["attempts"] == 0

    body = server.queue.show_body(queue_id)
    assert body == server.queue.body(queue_id), "queue show --body differs from the spool file"
    assert entry["size"] == len(body)
    check_received(body, helo="client.example", queue_id=queue_id, recipient="someone@example.net")
    _, rest = split_received(body)
    assert header_count(rest, "Received") == 0
    assert header_count(body, "Date") == 1
    assert header_count(body, "Message-ID") == 1
    assert b"\r\n\r\nThis is a test mailing\r\n" in body

