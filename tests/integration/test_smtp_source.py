"""Postfix's smtp-source as a client: parallel sessions, several messages each."""

import subprocess

from postern_harness import require_tool


def test_smtp_source_parallel_sessions(server):
    smtp_source = require_tool("smtp-source")
    p = subprocess.run([smtp_source, "-4", "-d", "-s", "5", "-m", "100", "-r", "2", "-l", "4096",
                        "-M", "client.example", "-f", "sender@example.org", "-t", "rcpt@example.net",
                        "-S", "smtp-source", f"127.0.0.1:{server.port}"],
                       capture_output=True, text=True, timeout=120)
    # smtp-source aborts with "fatal" or "error" on any unexpected reply code.
    assert p.returncode == 0 and "fatal" not in p.stderr and "error" not in p.stderr, (
        f"smtp-source exited {p.returncode}: {p.stdout}{p.stderr}")
    entries = server.queue.list()
    assert len(entries) == 100, len(entries)
    for entry in entries:
        assert entry["sender"] == "sender@example.org", entry
        assert sorted(r["address"] for r in entry["recipients"]) == ["2rcpt@example.net", "rcpt@example.net"], entry
        assert entry["helo"] == "client.example"
        assert entry["size"] > 4096
