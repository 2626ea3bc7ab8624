"""A queue written by the version before envelope format 2 (fixtures/queue-v1,
written by that binary) loads, waits, is rewritten as version 2 at its first
status change, and is delivered byte for byte."""

import re
import shutil
import time
from pathlib import Path

from postern_harness import free_port
from test_delivery import delivery_config, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "queue-v1" / "msg"


def test_version_one_queue_is_delivered(start_postern, sinks):
    port = free_port()
    config = delivery_config(routes={"example.net": f"[127.0.0.1]:{port}"}, extra="retry_min = 600\nretry_max = 1200\n")
    server = start_postern(delivery=config.replace("retry_min = 1\nretry_max = 2\n", ""))
    assert server.terminate(timeout=15) == 0
    for path in FIXTURE.iterdir():
        shutil.copy2(path, server.queue_dir / "msg" / path.name)
    # Arrived just now, so the queue lifetime cannot have run out however old the fixture is.
    copied_env = next((server.queue_dir / "msg").glob("*.env"))
    copied_env.write_text(re.sub(r"(?m)^created .*$", f"created {time.time():.6f}", copied_env.read_text()))
    (queue_id,) = {p.stem for p in FIXTURE.iterdir()}
    original = (FIXTURE / f"{queue_id}.eml").read_bytes()
    assert (FIXTURE / f"{queue_id}.env").read_text().startswith("postern-envelope 1\n")

    server.start()
    assert "corrupt=0" in server.stderr_text() and "messages=1" in server.stderr_text()
    # Its first attempt fails (nothing listens yet): the envelope is rewritten as version 2 with the attempt.
    env = server.queue_dir / "msg" / f"{queue_id}.env"
    deadline = time.monotonic() + 20
    while not env.read_text().startswith("postern-envelope 2\n") and time.monotonic() < deadline:
        time.sleep(0.05)
    text = env.read_text()
    assert text.startswith("postern-envelope 2\n") and "\nattempt " in text, text
    entry = server.queue.entry(queue_id)
    assert entry["sender"] == "old@example.org" and entry["state"] == "deferred"

    sink = sinks(port=port)
    p = server.queue.control("flush", queue_id)
    assert p.returncode == 0, p.stderr
    (meta, raw), = sink.wait_for(1, timeout=20)
    assert sorted(meta["rcpt_tos"]) == ["one@example.net", "two@example.net"]
    assert raw == original
    wait_queue_empty(server)
