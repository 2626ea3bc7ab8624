"""Connection limits that fit an intranet: trusted networks are exempt from the
per-address limit (as Postfix exempts mynetworks), and a client that runs exactly
max_connections_per_ip sessions, one connection per message, is never refused."""

import threading

from postern_harness import RawSMTP, expect, make_message, queued_id

POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]
"""


def test_trusted_clients_pass_the_per_address_limit(start_postern):
    server = start_postern(limits={"max_connections_per_ip": 2}, policy=POLICY)
    trusted = [server.connect() for _ in range(5)]
    try:
        assert all(c.greeting.code == 220 for c in trusted)
        untrusted = [RawSMTP(server.port, source="127.0.0.2") for _ in range(2)]
        third = RawSMTP(server.port, source="127.0.0.2")
        expect(third.greeting, 421, "4.7.0", "Too many connections from your address")
        for c in untrusted + [third]:
            c.close()
    finally:
        for c in trusted:
            c.close()


def test_reconnecting_at_the_limit_is_never_refused(start_postern):
    server = start_postern(limits={"max_connections_per_ip": 2}, policy=POLICY)
    failures: list[str] = []

    def worker(n: int) -> None:
        for i in range(25):
            try:
                with RawSMTP(server.port, source="127.0.0.2") as c:
                    expect(c.greeting, 220)
                    c.ehlo()
                    queued_id(c.transaction("a@local.test", ["b@local.test"], make_message(f"w{n} m{i}")))
                    expect(c.cmd("QUIT"), 221)
            except AssertionError as e:
                failures.append(str(e))
                return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures[:3]
