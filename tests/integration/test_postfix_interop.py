"""Interoperation with real Postfix both ways, on loopback:

    smtplib -> Postfix A (relayhost = Postern) -> Postern (route to Postfix B)
            -> Postfix B (relayhost = sink) -> recording sink

so Postfix's SMTP client talks to Postern's server, and Postern's client to
Postfix's server."""

import os
import shutil
import smtplib
import subprocess
from pathlib import Path

import pytest

from postern_harness import free_port
from test_delivery import Sink, delivery_config, wait_queue_empty

HERE = Path(__file__).resolve().parent


@pytest.fixture
def postfix_peers():
    if shutil.which("postfix") is None and os.path.exists("/usr/sbin/postfix") is False:
        if os.environ.get("CI") == "true":
            pytest.fail("postfix is not installed")
        pytest.skip("postfix is not installed")
    dirs = []

    def start(port: int, relay_port: int) -> str:
        out = subprocess.run([str(HERE / "postfix_peer.sh"), "start", str(port), str(relay_port)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"postfix did not start: {out.stderr}"
        directory = out.stdout.strip().splitlines()[-1]
        dirs.append(directory)
        return directory

    yield start
    for directory in dirs:
        subprocess.run([str(HERE / "postfix_peer.sh"), "stop", directory], capture_output=True, timeout=60)


def test_postfix_to_postern_to_postfix(start_postern, tmp_path, postfix_peers):
    sink = Sink(tmp_path / "sink")
    try:
        port_b = free_port()
        postfix_peers(port_b, sink.port)                       # Postfix B -> sink
        server = start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{port_b}"}))
        port_a = free_port()
        postfix_peers(port_a, server.port)                     # Postfix A -> Postern
        body = ("Interop line\r\n" * 20 + "..leading dot\r\n").encode()
        message = (b"From: <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: interop\r\n"
                   b"Message-ID: <interop.1@test>\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n" + body)
        with smtplib.SMTP("127.0.0.1", port_a, timeout=30) as client:
            client.sendmail("alice@example.org", ["bob@example.net"], message)
        (meta, data), = sink.wait_for(1, timeout=90)
        assert meta["mail_from"] == "alice@example.org"
        assert meta["rcpt_tos"] == ["bob@example.net"]
        assert data.endswith(body)
        text = data.decode()
        # Three hops left their trace: Postfix A, Postern (with its queue ID), Postfix B.
        assert text.count("Received: ") >= 3
        assert "(Postfix)" in text
        assert "by relay.test with ESMTP id " in text
        wait_queue_empty(server)
    finally:
        sink.stop()
