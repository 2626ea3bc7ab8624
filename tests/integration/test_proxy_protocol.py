"""PROXY protocol v1 and v2 on a listener, behind a real HAProxy (Debian haproxy).

Postern gets two listeners: a plain one (the harness checks readiness there) and
one with `proxy_protocol = true`, `proxy_from = ["127.0.0.1"]`. HAProxy listens
on another loopback port and relays to the PROXY listener from 127.0.0.1 with
`send-proxy` (v1) or `send-proxy-v2`; test clients reach HAProxy from 127.0.0.2
and 127.0.0.3, so the original address differs from the connection's. The
policy trusts 127.0.0.1/32 only: a client seen as HAProxy's address could relay.

HAProxy runs in the foreground (-db) from a config in the test's directory; it
sends no health checks and binds nothing but its loopback frontend.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time

import pytest

from postern_harness import RawSMTP, expect, free_port, make_message, queued_id, split_received

CLIENT = "127.0.0.2"
BRANCH = "127.0.0.3"
STRANGER = "127.0.0.4"

POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]
"""

RATE = POLICY + '\n[rate]\nwindow = "1h"\nmessages_per_ip = 1\n'


class HAProxy:
    """haproxy -db in front of 127.0.0.1:`backend_port`, sending the PROXY header `mode`."""

    def __init__(self, binary: str, workdir, backend_port: int, mode: str, check: str = ""):
        self.port = free_port()
        self.config = workdir / f"haproxy-{mode}.cfg"
        self.log = workdir / f"haproxy-{mode}.log"
        # check: health-check options for option smtpchk, "{port}" standing for the backend's.
        backend_options = "    option smtpchk HELO lb.test\n" if check else ""
        self.config.write_text(f"""\
global
    maxconn 100

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout check 2s

frontend smtp
    bind 127.0.0.1:{self.port}
    default_backend postern

backend postern
{backend_options}    server postern 127.0.0.1:{backend_port} {mode} source 127.0.0.1 {check.format(port=backend_port)}
""")
        check = subprocess.run([binary, "-c", "-f", str(self.config)], capture_output=True, text=True)
        assert check.returncode == 0, f"haproxy refused its config: {check.stdout}{check.stderr}"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([binary, "-db", "-f", str(self.config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        self._wait_listening()

    def _wait_listening(self, timeout: float = 10.0) -> None:
        # Polls the listening table rather than connecting: a probe through
        # HAProxy would open a session at Postern.
        hex_port = f":{self.port:04X}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"haproxy exited: {self.log.read_text(errors='replace')}"
            with open("/proc/net/tcp") as table:
                if any(f"0100007F{hex_port}" in line and line.split()[3] == "0A" for line in table):
                    return
            time.sleep(0.05)
        raise AssertionError(f"haproxy did not listen on 127.0.0.1:{self.port}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def connect(self, source: str) -> RawSMTP:
        return RawSMTP(self.port, source=source)


def proxy_listener(port: int, policy: bool) -> str:
    policy_line = 'policy = "policy.toml"\n' if policy else ""
    return (f'[[listener]]\naddress = "127.0.0.1:{port}"\n{policy_line}'
            'proxy_protocol = true\nproxy_from = ["127.0.0.1"]\n\n'
            '[dns]\nservers = ["127.0.0.1:1"]\n')


@pytest.fixture
def behind_haproxy(start_postern, tmp_path):
    """behind_haproxy(mode, policy=POLICY, check="") -> (server, haproxy, proxy_port)."""
    from postern_harness import require_tool

    haproxy_bin = require_tool("haproxy")
    started: list[HAProxy] = []

    def start(mode: str, policy: str = POLICY, check: str = ""):
        proxy_port = free_port()
        server = start_postern(policy=policy, extra=proxy_listener(proxy_port, policy=True))
        haproxy = HAProxy(haproxy_bin, tmp_path, proxy_port, mode, check)
        started.append(haproxy)
        return server, haproxy, proxy_port

    yield start
    for haproxy in started:
        haproxy.stop()


def send_one(c: RawSMTP, subject: str, rcpt: str = "user@local.test") -> str:
    c.ehlo("client.test")
    reply = c.transaction("someone@example.org", [rcpt], make_message(subject))
    return queued_id(reply)


def log_lines(server, pattern: str) -> list[str]:
    return [line for line in server.stderr_text().splitlines() if re.search(pattern, line)]


@pytest.mark.parametrize("mode", ["send-proxy", "send-proxy-v2"])
def test_received_line_and_log_name_the_original_client(behind_haproxy, mode):
    server, haproxy, _ = behind_haproxy(mode)
    with haproxy.connect(CLIENT) as c:
        expect(c.greeting, 220)
        queue_id = send_one(c, "through haproxy")
        expect(c.cmd("QUIT"), 221)
    field, _ = split_received(server.queue.body(queue_id))
    assert "(localhost [127.0.0.2])" in field, field
    assert server.queue.entry(queue_id)["client"] == CLIENT
    # The session's log lines name the client and, beside it, the load balancer.
    queued = log_lines(server, rf"queue_id={queue_id}|id={queue_id}")
    assert queued and all("client=127.0.0.2" in line and "proxy=127.0.0.1" in line for line in queued), queued


@pytest.mark.parametrize("mode", ["send-proxy", "send-proxy-v2"])
def test_relay_policy_sees_the_original_client(behind_haproxy, mode):
    # 127.0.0.1 (HAProxy) is trusted and may relay; 127.0.0.2 behind it may not.
    _, haproxy, _ = behind_haproxy(mode)
    with haproxy.connect(CLIENT) as c:
        c.ehlo("client.test")
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
        expect(c.cmd("RCPT TO:<friend@example.net>"), 554, "5.7.1")


@pytest.mark.parametrize("mode", ["send-proxy", "send-proxy-v2"])
def test_rate_limits_count_the_original_client(behind_haproxy, mode):
    server, haproxy, _ = behind_haproxy(mode, policy=RATE)
    with haproxy.connect(CLIENT) as c:
        send_one(c, "first from the client")
    with haproxy.connect(BRANCH) as c:
        send_one(c, "first from the branch")
    with haproxy.connect(CLIENT) as c:
        c.ehlo("client.test")
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 450, "4.7.1",
               r"^4\.7\.1 Rate limit exceeded: too many messages from 127\.0\.0\.2, try again later$")
    assert len(server.queue.ids()) == 2


def test_header_from_an_unlisted_address_is_refused(behind_haproxy):
    server, _, proxy_port = behind_haproxy("send-proxy")
    with RawSMTP(proxy_port, source=STRANGER, greet=False) as c:
        c.send("PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\nEHLO forged.example\r\n")
        c.expect_closed()
    refused = log_lines(server, r"connection refused: no valid PROXY header")
    assert any("peer=127.0.0.4" in line and "proxy_from" in line for line in refused), refused
    assert not log_lines(server, r"192\.0\.2\.7")


@pytest.mark.parametrize("first", [b"EHLO client.test\r\n", b"PROXY TCP4 127.0.0.2 127.0.0.1 0400 25\r\n"])
def test_client_without_a_valid_header_gets_no_greeting(behind_haproxy, first):
    server, _, proxy_port = behind_haproxy("send-proxy")
    # From the load balancer's own address, so only the missing header counts.
    with RawSMTP(proxy_port, source="127.0.0.1", greet=False) as c:
        c.send(first)
        c.expect_closed()
    assert any("peer=127.0.0.1" in line for line in log_lines(server, r"no valid PROXY header"))


def test_silent_connection_is_closed_after_the_header_timeout(behind_haproxy):
    _, _, proxy_port = behind_haproxy("send-proxy")
    with RawSMTP(proxy_port, source="127.0.0.1", greet=False) as c:
        c.sock.settimeout(2)
        with pytest.raises(socket.timeout):
            c.sock.recv(100)  # no greeting while the header is awaited
        c.expect_closed(timeout=12)


def test_local_header_keeps_the_connection_address(behind_haproxy):
    # v2 LOCAL, as a load balancer's health check sends it: the session is
    # the load balancer's own, and goes on as usual.
    server, _, proxy_port = behind_haproxy("send-proxy-v2")
    local = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00, 0, 0])
    with RawSMTP(proxy_port, source="127.0.0.1", greet=False) as c:
        c.send(local)
        expect(c.read_reply(), 220)
        queue_id = send_one(c, "health check")
    assert server.queue.entry(queue_id)["client"] == "127.0.0.1"


@pytest.mark.parametrize("mode", ["send-proxy", "send-proxy-v2"])
def test_haproxy_smtp_health_checks(behind_haproxy, mode):
    # option smtpchk on a send-proxy server: each check opens with a header
    # (v2: LOCAL), gets the greeting and its HELO answered; the server stays up.
    server, haproxy, _ = behind_haproxy(mode, check="check inter 200ms fall 2")
    time.sleep(1.5)
    assert "is DOWN" not in haproxy.output(), haproxy.output()
    assert not log_lines(server, r"no valid PROXY header")


def test_health_checks_without_the_header_fail(behind_haproxy):
    # A check with its own "port" goes without the header (HAProxy sends it
    # only when neither port nor addr is set): it waits in vain for a
    # greeting and HAProxy marks the server down, so the test above shows
    # checks that ran.
    _, haproxy, _ = behind_haproxy("send-proxy-v2", check="check port {port} inter 200ms fall 2")
    deadline = time.monotonic() + 15
    while "is DOWN" not in haproxy.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "is DOWN" in haproxy.output(), haproxy.output()


def test_reload_turns_the_protocol_on_and_off(behind_haproxy):
    # The settings are the listener's, like its policy: a reload applies them
    # to the next connection, nothing to restart.
    server, haproxy, proxy_port = behind_haproxy("send-proxy-v2")

    def reload() -> str:
        p = subprocess.run([server.binary, "reload", "--config", str(server.config_path),
                            "--socket", str(server.control_socket)], capture_output=True, timeout=30)
        assert p.returncode == 0, p
        return p.stdout.decode()

    on = server.config_path.read_text()
    server.config_path.write_text(on.replace("proxy_protocol = true", "proxy_protocol = false"))
    assert "note:" not in reload()
    with RawSMTP(proxy_port, source=CLIENT) as c:  # a plain listener now
        expect(c.greeting, 220)
    server.config_path.write_text(on)
    assert "note:" not in reload()
    with haproxy.connect(CLIENT) as c:
        expect(c.greeting, 220)
        queue_id = send_one(c, "after the reload")
    assert server.queue.entry(queue_id)["client"] == CLIENT


def test_plain_listener_is_unchanged(behind_haproxy):
    # The daemon's other listener has no proxy_protocol: a PROXY line there
    # is just an unknown command, after the greeting as always.
    server, _, _ = behind_haproxy("send-proxy")
    with RawSMTP(server.port, source=CLIENT) as c:
        expect(c.greeting, 220)
        expect(c.cmd("PROXY TCP4 192.0.2.7 127.0.0.1 40000 25"), 500)
