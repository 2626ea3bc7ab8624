"""DKIM verification and DMARC (RFC 7489) on the inbound listener, end to end, against a
loopback DNS server (tests/spf/zoneserver.py) holding SPF, DKIM key and _dmarc records.

Messages are signed by Python's dkimpy (an independent signer) with a key published in the
zone. The client is untrusted (127.0.0.2) and writes to a local domain, so the message goes
through SPF at MAIL FROM and DKIM + DMARC at the end of DATA:

- aligned SPF pass, aligned DKIM pass → dmarc=pass;
- SPF and DKIM pass for another domain → dmarc=fail, and the domain's p=reject handled as
  configured: 550 5.7.1 (on_reject = "reject"), quarantined, or only tagged;
- no DMARC record → dmarc=none; a p=quarantine failure → quarantined by default;
- one Authentication-Results field (RFC 8601) on top of the delivered message, a forged one
  claiming our authserv-id removed, Received-SPF kept.
"""

from __future__ import annotations

import base64
import subprocess
import re

import pytest

from postern_harness import HOSTNAME, RawSMTP, expect, make_message, queued_id, unavailable

try:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError:  # pragma: no cover - reported by the fixture below
    dkim = None

CLIENT = "127.0.0.2"
# header.b: the signature's first 8 characters, quoted when they hold "/" or "=" (RFC 2045 token).
B_PREFIX = r'(?:[A-Za-z0-9+]{8}|"[A-Za-z0-9+/=]{8}")'
HELO = "helo.test"


def _key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


KEY, KEY_RECORD = _key() if dkim else (b"", "")

ZONE = {
    # SPF passes for 127.0.0.2 at all of these.
    "aligned.test": [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
    "bounces.aligned.test": [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
    "other.test": [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
    "norecord.test": [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
    "_dmarc.aligned.test": [{"TXT": "v=DMARC1; p=reject"}],
    "_dmarc.signed.test": [{"TXT": "v=DMARC1; p=reject; adkim=s"}],
    "_dmarc.strict.test": [{"TXT": "v=DMARC1; p=reject; rua=mailto:dmarc@strict.test"}],
    "_dmarc.soft.test": [{"TXT": "v=DMARC1; p=quarantine"}],
    "sel._domainkey.signed.test": [{"TXT": KEY_RECORD}],
    "sel._domainkey.other.test": [{"TXT": KEY_RECORD}],
}

RELAY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]

[spf]
"""


@pytest.fixture
def start_dmarc(start_postern, zone_server, tmp_path):
    """start_dmarc(settings="") -> a server with [dmarc] and the test zone."""
    if dkim is None:
        unavailable("python3 module dkim (dkimpy) is not installed (run scripts/deps.sh)")

    def start(settings: str = ""):
        port = zone_server(ZONE)
        name = f"dmarc{len(list(tmp_path.glob('dmarc*')))}"
        delivery = f'[delivery]\nenabled = false\n\n[dns]\nservers = ["127.0.0.1:{port}"]\ntimeout = 1\n'
        return start_postern(policy=RELAY + "\n[dmarc]\n" + settings + "\n", delivery=delivery, name=name)
    return start


def message(author: str, *, sign_domain: str | None = None, extra: bytes = b"") -> bytes:
    text = extra + make_message("dmarc", sender=author, to="postmaster@local.test")
    if sign_domain:
        signature = dkim.sign(text, b"sel", sign_domain.encode(), KEY,
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        text = signature + text
    return text


def send(server, mail_from: str, text: bytes):
    """EHLO, MAIL, RCPT, DATA from the untrusted client; returns the reply to the final dot."""
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo(HELO)
        expect(c.cmd(f"MAIL FROM:<{mail_from}>"), 250)
        expect(c.cmd("RCPT TO:<postmaster@local.test>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(text.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        return c.read_reply()


def results(stored: bytes) -> list[str]:
    """The unfolded values of every Authentication-Results field of the header section."""
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    header = re.sub(r"\r\n(?=[ \t])", "", header)
    return [re.sub(r"[ \t]+", " ", m.group(1)).strip()
            for m in re.finditer(r"(?mi)^Authentication-Results:(.*)$", header)]


def ours(stored: bytes) -> str:
    [value] = [v for v in results(stored) if v.startswith(HOSTNAME + ";")]
    return value


def test_aligned_spf_pass(start_dmarc):
    server = start_dmarc()
    queue_id = queued_id(send(server, "bounce@bounces.aligned.test", message("a@aligned.test")))
    stored = server.queue.show_body(queue_id)
    assert ours(stored) == (f"{HOSTNAME}; spf=pass smtp.mailfrom=bounces.aligned.test; dkim=none; "
                            "dmarc=pass (p=reject dis=none) header.from=aligned.test")
    # Received-SPF stays; the SPF filter writes no second Authentication-Results.
    assert stored.count(b"\r\nReceived-SPF:") + stored.startswith(b"Received-SPF:") == 1
    assert len(results(stored)) == 1
    assert server.queue.entry(queue_id)["state"] == "ready"


def test_aligned_dkim_pass(start_dmarc):
    server = start_dmarc()
    text = message("a@signed.test", sign_domain="signed.test")
    assert dkim.verify(text, dnsfunc=lambda name, timeout=5: KEY_RECORD.encode())  # the signer's own check
    queue_id = queued_id(send(server, "a@other.test", text))
    value = ours(server.queue.show_body(queue_id))
    assert re.fullmatch(rf"{re.escape(HOSTNAME)}; spf=pass smtp.mailfrom=other\.test; "
                        r"dkim=pass header\.d=signed\.test header\.s=sel header\.b=" + B_PREFIX + "; "
                        r"dmarc=pass \(p=reject dis=none\) header\.from=signed\.test", value), value


def test_altered_message_fails_dkim_and_dmarc(start_dmarc):
    server = start_dmarc('on_reject = "tag"')
    text = message("a@signed.test", sign_domain="signed.test").replace(b"Hello.", b"Hullo.")
    queue_id = queued_id(send(server, "a@other.test", text))
    value = ours(server.queue.show_body(queue_id))
    assert "dkim=fail reason=\"body hash did not verify\" header.d=signed.test" in value, value
    assert value.endswith("dmarc=fail (p=reject dis=reject) header.from=signed.test"), value


def test_unaligned_pass_is_refused_by_default(start_dmarc):
    server = start_dmarc()
    reply = send(server, "a@other.test", message("a@strict.test", sign_domain="other.test"))
    expect(reply, 550, "5.7.1", r"DMARC policy of strict\.test")
    assert server.queue.ids() == []


def test_unaligned_pass_quarantined(start_dmarc):
    server = start_dmarc('on_reject = "quarantine"')
    queue_id = queued_id(send(server, "a@other.test", message("a@strict.test", sign_domain="other.test")))
    server.quarantine.wait_for(queue_id)
    value = ours(server.quarantine.message(queue_id))
    assert re.fullmatch(rf"{re.escape(HOSTNAME)}; spf=pass smtp.mailfrom=other\.test; "
                        r"dkim=pass header\.d=other\.test header\.s=sel header\.b=" + B_PREFIX + "; "
                        r"dmarc=fail \(p=reject dis=reject\) header\.from=strict\.test", value), value


def test_unaligned_pass_tagged_only(start_dmarc):
    server = start_dmarc('on_reject = "tag"')
    queue_id = queued_id(send(server, "a@other.test", message("a@strict.test")))
    assert server.queue.entry(queue_id)["state"] == "ready"
    assert ours(server.queue.show_body(queue_id)).endswith(
        "dkim=none; dmarc=fail (p=reject dis=reject) header.from=strict.test")


def test_quarantine_policy_failure_is_quarantined(start_dmarc):
    server = start_dmarc()
    queue_id = queued_id(send(server, "a@other.test", message("a@soft.test")))
    server.quarantine.wait_for(queue_id)
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=soft.test" in ours(server.quarantine.message(queue_id))


def test_no_record_is_none_and_forged_results_are_removed(start_dmarc):
    server = start_dmarc()
    forged = f"Authentication-Results: {HOSTNAME}; dmarc=pass header.from=norecord.test\r\n".encode()
    kept = b"Authentication-Results: upstream.example; spf=pass smtp.mailfrom=norecord.test\r\n"
    queue_id = queued_id(send(server, "a@norecord.test", message("a@norecord.test", extra=forged + kept)))
    stored = server.queue.show_body(queue_id)
    assert ours(stored) == (f"{HOSTNAME}; spf=pass smtp.mailfrom=norecord.test; dkim=none; "
                            "dmarc=none (no DMARC record) header.from=norecord.test")
    assert results(stored)[1:] == ["upstream.example; spf=pass smtp.mailfrom=norecord.test"]
    # Ours is the topmost field (RFC 8601 §5: above what arrived with the message).
    assert stored.startswith(b"Authentication-Results: " + HOSTNAME.encode() + b";")


def test_trusted_client_is_not_checked(start_dmarc):
    server = start_dmarc()
    with RawSMTP(server.port) as c:
        c.ehlo(HELO)
        expect(c.cmd("MAIL FROM:<a@other.test>"), 250)
        expect(c.cmd("RCPT TO:<postmaster@local.test>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(message("a@strict.test") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    assert results(server.queue.show_body(queue_id)) == []


def test_config_check_names_bad_dmarc_settings(postern_bin, tmp_path):
    (tmp_path / "inbound.toml").write_text('[dmarc]\non_quarantine = "reject"\non_reject = "drop"\n'
                                           'public_suffix_list = "/nonexistent/psl.dat"\n')
    (tmp_path / "postern.toml").write_text('hostname = "relay.test"\n[dns]\nservers = ["127.0.0.1:1"]\n'
                                           '[[listener]]\naddress = "127.0.0.1:2599"\npolicy = "inbound.toml"\n')
    p = subprocess.run([postern_bin, "config", "check", str(tmp_path / "postern.toml")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "inbound.toml:2: dmarc.on_quarantine: must be one of: quarantine, tag" in out, out
    assert "inbound.toml:3: dmarc.on_reject: must be one of: reject, quarantine, tag" in out, out
    assert "inbound.toml:4: dmarc.public_suffix_list: cannot read /nonexistent/psl.dat" in out, out
