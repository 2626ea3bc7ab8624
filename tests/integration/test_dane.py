"""DANE for SMTP (RFC 7672) end to end on loopback: TLSA records served by the loopback
zone server (tests/spf/zoneserver.py) with the AD bit on names marked SECURE, Postern told
the server validates (`[dns] validating = true`), and a STARTTLS sink
(tests/delivery/sink.py) with a self-signed or test-CA certificate."""

import hashlib
import subprocess
import time

import pytest

from postern_harness import require_tool
from test_dead_hop import wait_for_log
from test_delivery import delivery_config, send, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)

MX = "mx.dane.test"


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    p = subprocess.run([require_tool("openssl"), *args], input=stdin, capture_output=True, timeout=60)
    assert p.returncode == 0, f"openssl {args[0]} failed: {p.stderr.decode(errors='replace')}"
    return p.stdout


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A self-signed leaf for MX, a test CA, a leaf it signs (chain file: leaf then CA)."""
    d = tmp_path_factory.mktemp("dane")
    self_signed, self_key = d / "self.pem", d / "self.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={MX}",
            "-days", "2", "-addext", f"subjectAltName=DNS:{MX}", "-keyout", str(self_key), "-out", str(self_signed))
    ca, ca_key = d / "ca.pem", d / "ca.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=DANE Test CA",
            "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE", "-keyout", str(ca_key), "-out", str(ca))
    leaf_key, csr, leaf, ext = d / "leaf.key", d / "leaf.csr", d / "leaf.pem", d / "leaf.ext"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={MX}",
            "-keyout", str(leaf_key), "-out", str(csr))
    ext.write_text(f"subjectAltName=DNS:{MX}\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
            "-extfile", str(ext), "-out", str(leaf))
    chain = d / "chain.pem"
    chain.write_text(leaf.read_text() + ca.read_text())
    return {"self": (str(self_signed), str(self_key)), "ca": str(ca), "chain": (str(chain), str(leaf_key))}


def spki_sha256(cert: str) -> str:
    """TLSA 3 1 1 data: SHA-256 of the DER SubjectPublicKeyInfo."""
    pem = openssl("x509", "-in", cert, "-noout", "-pubkey")
    return hashlib.sha256(openssl("pkey", "-pubin", "-outform", "DER", stdin=pem)).hexdigest()


def cert_sha256(cert: str) -> str:
    """TLSA x 0 1 data: SHA-256 of the DER certificate."""
    return hashlib.sha256(openssl("x509", "-in", cert, "-outform", "DER")).hexdigest()


def zone(port: int, tlsa: list, secure: bool = True) -> dict:
    """example.net → MX → 127.0.0.1, TLSA at _port._tcp.MX; all SECURE unless told not."""
    mark = ["SECURE"] if secure else []
    return {
        "example.net": mark + [{"MX": [10, MX]}],
        MX: mark + [{"A": "127.0.0.1"}],
        f"_{port}._tcp.{MX}": mark + [{"TLSA": record} for record in tlsa],
    }


def dane_config(sink_port: int, dns_port: int, validating: bool = True) -> str:
    # delivery_config ends with the [dns] table.
    return delivery_config(port=sink_port, dns_port=dns_port) + f"validating = {'true' if validating else 'false'}\n"


def test_matching_dane_ee_record_delivers_over_tls(start_postern, sinks, zone_server, certs):
    cert, key = certs["self"]
    sink = sinks("--tls-cert", cert, "--tls-key", key)
    dns = zone_server(zone(sink.port, [[3, 1, 1, spki_sha256(cert)]]))
    server = start_postern(delivery=dane_config(sink.port, dns))
    send(server.port, "a@example.org", ["user@example.net"], "dane ee")
    (meta, _), = sink.wait_for(1)
    assert meta["tls"] is True
    wait_for_log(server, r'msg="DANE verified"', 30)
    line = wait_for_log(server, r'.*msg=delivered.*', 30).group(0)
    assert "tls_policy=dane" in line and "tls_verified=yes" in line, line
    wait_queue_empty(server)


def test_mismatch_defers_and_never_falls_back_to_plaintext(start_postern, sinks, zone_server, certs):
    cert, key = certs["self"]
    with_tls = sinks("--tls-cert", cert, "--tls-key", key, name="tls")
    wrong = [3, 1, 1, "00" * 32]
    dns = zone_server(zone(with_tls.port, [wrong]))
    server = start_postern(delivery=dane_config(with_tls.port, dns))
    send(server.port, "a@example.org", ["user@example.net"], "dane mismatch")
    wait_for_log(server, r'msg="DANE verification failed"', 30)
    line = wait_for_log(server, r'msg="?deferred[^\n]*', 30).group(0)
    assert "4.7.5" in line and "DANE" in line, line
    time.sleep(1)  # a plaintext retry would come now
    assert with_tls.messages() == []
    assert "without TLS" not in server.stderr_text()
    assert server.queue.ids(), "the message must stay queued"


def test_no_starttls_under_dane_defers(start_postern, sinks, zone_server, certs):
    plain = sinks(name="plain")  # offers no STARTTLS
    dns = zone_server(zone(plain.port, [[3, 1, 1, spki_sha256(certs["self"][0])]]))
    server = start_postern(delivery=dane_config(plain.port, dns))
    send(server.port, "a@example.org", ["user@example.net"], "dane no starttls")
    line = wait_for_log(server, r'msg="?deferred[^\n]*', 30).group(0)
    assert "4.7.4" in line and "DANE" in line, line
    time.sleep(1)
    assert plain.messages() == []


@pytest.mark.parametrize("secure, validating", [(False, True), (True, False)], ids=["no-ad-bit", "resolver-not-validating"])
def test_without_validated_tlsa_dane_is_not_applied(start_postern, sinks, zone_server, certs, secure, validating):
    cert, key = certs["self"]
    sink = sinks("--tls-cert", cert, "--tls-key", key)
    # A record that would not match: delivery shows DANE was not applied.
    dns = zone_server(zone(sink.port, [[3, 1, 1, "00" * 32]], secure=secure))
    server = start_postern(delivery=dane_config(sink.port, dns, validating=validating))
    send(server.port, "a@example.org", ["user@example.net"], "dane not applied")
    (meta, _), = sink.wait_for(1)
    assert meta["tls"] is True  # opportunistic TLS as usual
    assert "DANE verif" not in server.stderr_text()


def test_dane_ta_with_a_test_ca_delivers(start_postern, sinks, zone_server, certs):
    chain, key = certs["chain"]
    sink = sinks("--tls-cert", chain, "--tls-key", key)
    dns = zone_server(zone(sink.port, [[2, 0, 1, cert_sha256(certs["ca"])]]))
    server = start_postern(delivery=dane_config(sink.port, dns))
    send(server.port, "a@example.org", ["user@example.net"], "dane ta")
    (meta, _), = sink.wait_for(1)
    assert meta["tls"] is True
    wait_for_log(server, r'msg="DANE verified"[^\n]*TLSA 2 0 1', 30)


def test_tls_check_prints_dane(postern_bin, zone_server, certs, tmp_path):
    dns = zone_server(zone(2525, [[3, 1, 1, spki_sha256(certs["self"][0])], [0, 0, 1, "00" * 32]]))
    conf = tmp_path / "check.toml"
    conf.write_text('hostname = "relay.test"\n' + dane_config(2525, dns).replace("[delivery]", "[delivery]\nmta_sts = false", 1))
    p = subprocess.run([postern_bin, "tls", "check", "example.net", "--config", str(conf)], capture_output=True, timeout=60)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr.decode()
    assert f"dane {MX}: STARTTLS required, certificate must match TLSA 3 1 1 " in out, out
    conf.write_text('hostname = "relay.test"\n' + dane_config(2525, dns, validating=False)
                    .replace("[delivery]", "[delivery]\nmta_sts = false", 1))
    out = subprocess.run([postern_bin, "tls", "check", "example.net", "--config", str(conf)],
                         capture_output=True, timeout=60).stdout.decode()
    assert "dane: off" in out, out
