"""The crash test end to end: kill -9 Postern while it both receives and
delivers; after restart every message that got a 250 reaches the sink with
its body intact. Duplicates (delivered, then the kill came before the queue
noted it) are counted and reported; they should be rare."""

import os
import random
import re
import signal
import smtplib
import threading
import time

from postern_harness import split_received
from test_delivery import Sink, delivery_config, wait_queue_empty

MESSAGES = 1000
CONNECTIONS = 10
QUEUED_RE = re.compile(rb"^2\.0\.0 Ok: queued as ([0-9A-F]{16})$")
MSGID_RE = re.compile(rb"Message-ID: <(e2e-\d+)@client.example>")


def test_kill9_while_receiving_and_delivering(start_postern, tmp_path, figures):
    seed = int(os.environ.get("POSTERN_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    kill_after = rng.randint(MESSAGES * 30 // 100, MESSAGES * 70 // 100)
    sink = Sink(tmp_path / "sink")
    try:
        srv = start_postern(limits={"max_connections_per_ip": CONNECTIONS + 5},
                            delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}))
        messages = []
        for i in range(MESSAGES):
            body = "".join(f"{i} {rng.getrandbits(128):032x}\r\n" for _ in range(rng.randint(5, 200)))
            messages.append((f"From: <s{i}@example.org>\r\nTo: <r{i}@example.net>\r\nSubject: e2e {i}\r\n"
                             f"Date: Fri, 27 Nov 2026 12:00:00 +0000\r\nMessage-ID: <e2e-{i}@client.example>\r\n\r\n"
                             + body).encode())
        accepted: set[int] = set()
        lock = threading.Lock()
        killed = threading.Event()
        indices = iter(range(MESSAGES))

        def worker():
            try:
                smtp = smtplib.SMTP("127.0.0.1", srv.port, timeout=30)
                smtp.ehlo()
            except OSError:
                return
            while not killed.is_set():
                with lock:
                    i = next(indices, None)
                if i is None:
                    break
                try:
                    smtp.mail(f"s{i}@example.org")
                    smtp.rcpt(f"r{i}@example.net")
                    code, text = smtp.data(messages[i])
                except (OSError, smtplib.SMTPException):
                    return
                with lock:
                    if code == 250 and QUEUED_RE.match(text):
                        accepted.add(i)
                        if len(accepted) == kill_after and not killed.is_set():
                            os.kill(srv.pid, signal.SIGKILL)
                            killed.set()
            try:
                smtp.close()
            except OSError:
                pass

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert killed.is_set(), f"never reached {kill_after} accepted messages"
        srv.proc.wait(timeout=10)
        delivered_before = len(sink.messages())
        srv.start()  # same queue: recovery, then delivery of what is left
        wait_queue_empty(srv, timeout=120)
        got = sink.messages()
        seen: dict[str, int] = {}
        for _, data in got:
            m = MSGID_RE.search(data)
            assert m, "a message without our Message-ID reached the sink"
            key = m.group(1).decode()
            seen[key] = seen.get(key, 0) + 1
            i = int(key.split("-")[1])
            assert split_received(data)[1] == messages[i], f"body of message {i} differs"
        missing = [i for i in accepted if f"e2e-{i}" not in seen]
        assert not missing, f"{len(missing)} messages answered 250 never arrived, e.g. {missing[:5]}"
        duplicates = sum(n - 1 for n in seen.values())
        figures(f"seed={seed}: killed after {len(accepted)} accepted; {delivered_before} delivered before the kill; "
                f"{len(seen)} distinct at the sink after restart, {duplicates} duplicates")
    finally:
        sink.stop()
