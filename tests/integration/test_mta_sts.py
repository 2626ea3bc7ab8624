"""MTA-STS (RFC 8461) end to end on loopback: a dnslib zone with MX, A and `_mta-sts`
TXT records, the policies served over HTTPS by Python's http.server with a test CA made
here (openssl), and recording sinks with STARTTLS on 127.0.0.2 and 127.0.0.3. Postern
gets the test CA through `[delivery] tls_ca_file` and the HTTPS port through
`mta_sts_port`."""

import re
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from postern_harness import require_tool
from test_delivery import Sink, send

POLICIES = {
    "good.test": "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n",
    "outside.test": "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n",
    "badcert.test": "version: STSv1\nmode: enforce\nmx: mx.badcert.test\nmax_age: 86400\n",
    "testing.test": "version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n",
    "unknownca.test": "version: STSv1\nmode: enforce\nmx: mx.unknownca.test\nmax_age: 86400\n",
}


def make_ca(directory, openssl):
    """A CA and a function that issues leaf certificates for given DNS names."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-subj", "/CN=Postern Test CA", "-days", "2", "-keyout", str(ca_key), "-out", str(ca_cert)],
                   check=True, capture_output=True, timeout=60)

    def issue(name, *dns_names):
        key, csr, cert, ext = (directory / f"{name}.{s}" for s in ("key", "csr", "pem", "ext"))
        ext.write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in dns_names)
                       + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        subprocess.run([openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-subj", f"/CN={dns_names[0]}", "-keyout", str(key), "-out", str(csr)],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
                        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        return str(cert), str(key)

    return str(ca_cert), issue


def tls_args(pair):
    return ["--tls-cert", pair[0], "--tls-key", pair[1]]


class PolicyServer:
    """HTTPS on 127.0.0.1 serving /.well-known/mta-sts.txt per Host header."""

    def __init__(self, cert, key):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                domain = host.removeprefix("mta-sts.")
                body = POLICIES.get(domain)
                server.fetches.append(host)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        server = self
        self.fetches = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def mta_sts(tmp_path, zone_server):
    openssl = require_tool("openssl")
    ca, issue = make_ca(tmp_path, openssl)
    https = PolicyServer(*issue("policy", *[f"mta-sts.{d}" for d in POLICIES]))
    good = Sink(tmp_path / "good", "--host", "127.0.0.2", *tls_args(issue("good", "mx.good.test")))
    # Signed by the CA, but for another name: verification fails for mx.badcert.test and mx.testing.test.
    wrong = Sink(tmp_path / "wrong", "--host", "127.0.0.3", *tls_args(issue("wrong", "wrong.test")), port=good.port)
    # The right name, but from a CA Postern does not trust.
    (tmp_path / "other").mkdir()
    _, other_issue = make_ca(tmp_path / "other", openssl)
    stranger = Sink(tmp_path / "stranger", "--host", "127.0.0.4", *tls_args(other_issue("stranger", "mx.unknownca.test")),
                    port=good.port)
    zone = {
        "good.test": [{"MX": [10, "mx.good.test"]}],
        "outside.test": [{"MX": [10, "mx.outside.test"]}],
        "badcert.test": [{"MX": [10, "mx.badcert.test"]}],
        "testing.test": [{"MX": [10, "mx.testing.test"]}],
        "mx.good.test": [{"A": "127.0.0.2"}],
        "mx.outside.test": [{"A": "127.0.0.2"}],
        "mx.badcert.test": [{"A": "127.0.0.3"}],
        "mx.testing.test": [{"A": "127.0.0.3"}],
        "unknownca.test": [{"MX": [10, "mx.unknownca.test"]}],
        "mx.unknownca.test": [{"A": "127.0.0.4"}],
    }
    for domain in POLICIES:
        zone[f"_mta-sts.{domain}"] = [{"TXT": "v=STSv1; id=20261207"}]
        zone[f"mta-sts.{domain}"] = [{"A": "127.0.0.1"}]
    dns = zone_server(zone)
    yield {"ca": ca, "https": https, "good": good, "wrong": wrong, "stranger": stranger, "dns": dns}
    for sink in (good, wrong, stranger):
        sink.proc.terminate()  # all at once: each takes a moment to go
    for sink in (good, wrong, stranger):
        sink.stop()
    https.stop()


def config(env) -> str:
    return "\n".join([
        "[delivery]", "retry_min = 1", "retry_max = 2", "timeout = 10", f"port = {env['good'].port}",
        f"mta_sts_port = {env['https'].port}", f'tls_ca_file = "{env["ca"]}"',
        "[dns]", f'servers = ["127.0.0.1:{env["dns"]}"]', "timeout = 1", ""])


def wait_for_log(server, pattern, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, server.stderr_text())
        if match:
            return match
        time.sleep(0.1)
    raise AssertionError(f"no log line matching {pattern!r}:\n{server.stderr_text()}")


def deferred_reason(server, recipient, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in server.queue.list():
            shown = server.queue.entry(entry["id"])
            for rcpt in shown.get("recipients", []):
                if rcpt.get("address") == recipient and rcpt.get("last_reply"):
                    return rcpt["last_reply"]
        time.sleep(0.2)
    raise AssertionError(f"{recipient} not deferred:\n{server.stderr_text()}")


def test_enforce_delivers_over_verified_tls(start_postern, mta_sts):
    server = start_postern(delivery=config(mta_sts))
    send(server.port, "a@relay.test", ["bob@good.test"], "enforce good")
    (meta, _), = mta_sts["good"].wait_for(1)
    assert meta["tls"] is True
    line = wait_for_log(server, r'.*msg=delivered.*to="?<bob@good.test>.*').group(0)
    assert "tls_verified=yes" in line and "tls_policy=mta-sts-enforce" in line, line
    # The cipher suite read from the ServerHello (swift-nio-ssl does not report it).
    assert re.search(r"tls_cipher=TLS_[A-Z0-9_]+", line), line
    assert re.search(r"tls=TLSv1\.[23]", line), line


def test_enforce_refuses_mx_outside_policy_and_caches(start_postern, mta_sts):
    server = start_postern(delivery=config(mta_sts))
    send(server.port, "a@relay.test", ["bob@outside.test"], "outside one")
    reason = deferred_reason(server, "bob@outside.test")
    assert reason.startswith("4.7.5") and "MTA-STS" in reason and "mx.outside.test" in reason, reason
    assert "*.elsewhere.test" in reason, reason
    # The policy is cached: with the HTTPS server gone a new message is still held back.
    fetched = len(mta_sts["https"].fetches)
    mta_sts["https"].stop()
    send(server.port, "a@relay.test", ["carol@outside.test"], "outside two")
    reason = deferred_reason(server, "carol@outside.test")
    assert "MTA-STS" in reason, reason
    assert len(mta_sts["https"].fetches) == fetched
    # And across a restart: the policy was kept under the queue directory.
    assert server.terminate(timeout=15) == 0
    server.start()
    send(server.port, "a@relay.test", ["dave@outside.test"], "outside three")
    reason = deferred_reason(server, "dave@outside.test")
    assert "MTA-STS" in reason, reason
    assert mta_sts["good"].messages() == []


def test_enforce_refuses_certificate_for_another_name(start_postern, mta_sts):
    server = start_postern(delivery=config(mta_sts))
    send(server.port, "a@relay.test", ["bob@badcert.test"], "bad cert")
    reason = deferred_reason(server, "bob@badcert.test")
    assert reason.startswith("4.7.5") and "MTA-STS" in reason and "mx.badcert.test" in reason, reason
    time.sleep(1.5)  # a retry has happened by now: still nothing delivered, never in plaintext
    assert mta_sts["wrong"].messages() == []
    assert "trying again without TLS" not in server.stderr_text()


def test_enforce_refuses_unknown_ca(start_postern, mta_sts):
    server = start_postern(delivery=config(mta_sts))
    send(server.port, "a@relay.test", ["bob@unknownca.test"], "unknown ca")
    reason = deferred_reason(server, "bob@unknownca.test")
    assert reason.startswith("4.7.5") and "MTA-STS" in reason, reason
    assert mta_sts["stranger"].messages() == []


def test_testing_mode_delivers_and_logs(start_postern, mta_sts):
    server = start_postern(delivery=config(mta_sts))
    send(server.port, "a@relay.test", ["bob@testing.test"], "testing mode")
    (meta, _), = mta_sts["wrong"].wait_for(1)
    assert meta["tls"] is True
    wait_for_log(server, r"MTA-STS testing: enforce would refuse this session.*mx=mx\.testing\.test")
    line = wait_for_log(server, r'.*msg=delivered.*<bob@testing.test>.*').group(0)
    assert "tls_verified=no" in line and "tls_policy=mta-sts-testing" in line, line


def test_tls_check_prints_policy(postern_bin, mta_sts, tmp_path):
    conf = tmp_path / "check.toml"
    conf.write_text('hostname = "relay.test"\n' + config(mta_sts))
    p = subprocess.run([postern_bin, "tls", "check", "outside.test", "--config", str(conf)],
                       capture_output=True, timeout=60)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr.decode()
    assert "mx: 10 mx.outside.test" in out, out
    assert "mta-sts txt: v=STSv1; id=20261207" in out, out
    assert "mode=enforce" in out and "mx=*.elsewhere.test" in out, out
    assert "mx mx.outside.test: refused (not in policy)" in out, out
    assert "requirement: mta-sts-enforce" in out, out
