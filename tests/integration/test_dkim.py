"""DKIM signing end to end: keys made by `postern dkim keygen` and served by the
loopback zone server (tests/spf/zoneserver.py); Postern signs what it relays to a
recording sink, after header rules and an rspamd verdict; the delivered message is
verified by dkimpy and by rspamd's DKIM module (its resolver on the same kind of
loopback zone server), and by `postern dkim verify`. Both Ed25519 and RSA-2048."""

import os
import re
import smtplib
import stat
import subprocess

import pytest

from postern_harness import unavailable
from scanners import Rspamd, rspamd_check
from test_delivery import delivery_config, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)

import dkim  # dkimpy (scripts/deps.sh); PyNaCl gives it Ed25519
from dnslib import DNSRecord


def keygen(binary, directory, domain, selector, key_type):
    path = directory / f"{selector}.key"
    done = subprocess.run([binary, "dkim", "keygen", "--domain", domain, "--selector", selector, "--type", key_type,
                           "--out", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(rf"{selector}\._domainkey\.{re.escape(domain)}\. IN TXT \( (.*) \)", line)
    assert match, line
    strings = re.findall(r'"([^"]*)"', match.group(1))
    assert all(len(s.encode()) <= 255 for s in strings)
    return path, strings


@pytest.fixture
def keys(postern_bin, tmp_path):
    """The two keys (Ed25519 for example.org, RSA-2048 for example.com and its subdomains) and their zone."""
    ed_path, ed_txt = keygen(postern_bin, tmp_path, "example.org", "ed", "ed25519")
    rsa_path, rsa_txt = keygen(postern_bin, tmp_path, "example.com", "rsa", "rsa")
    zone = {"ed._domainkey.example.org": [{"TXT": ed_txt}], "rsa._domainkey.example.com": [{"TXT": rsa_txt}]}
    return {"ed": ed_path, "rsa": rsa_path, "zone": zone, "rsa_txt": rsa_txt}


def dnsfunc(port):
    """dkimpy's TXT look-up, asked of the loopback zone server."""
    def lookup(name, timeout=5):
        text = name.decode() if isinstance(name, bytes) else name
        reply = DNSRecord.parse(DNSRecord.question(text, "TXT").send("127.0.0.1", port, timeout=timeout))
        for record in reply.rr:
            if record.rtype == 16:
                return b"".join(record.rdata.data)
        return None
    return lookup


def signing_policy(keys, extra=""):
    return f"""[relay]
trusted_networks = ["127.0.0.1/32"]

[headers]
remove = ["X-Secret"]
add = ["X-Policy: outbound"]

[[dkim.sign]]
domain = "example.org"
selector = "ed"
key = "{keys['ed']}"

[[dkim.sign]]
domain = "example.com"
selector = "rsa"
key = "{keys['rsa']}"
subdomains = true
{extra}"""


def message(sender, subject, body="Hello,   world.  \r\n\r\nSecond paragraph.\r\n\r\n\r\n"):
    return (f"From: Sender <{sender}>\r\nTo: <rcpt@example.net>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@test>\r\nDate: Mon, 7 Dec 2026 01:00:00 +0000\r\n"
            f"X-Secret: internal\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{body}").encode()


def send(port, sender, data):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(sender, ["rcpt@example.net"], data)


@pytest.fixture
def rspamd_dkim(make_scanner, keys):
    if not os.path.exists("/usr/bin/rspamd") and not os.environ.get("CI"):
        unavailable("rspamd is not installed")
    return make_scanner(Rspamd, dns_zone=keys["zone"])


def rspamd_dkim_symbols(scanner, data):
    # rspamd skips DKIM for local networks: the message comes "from" a TEST-NET address.
    symbols = rspamd_check(scanner, data, headers={"IP": "192.0.2.1"})["symbols"]
    return {name for name in symbols if "DKIM" in name}


def test_signed_through_header_rules_and_scanner_verifies_downstream(start_postern, sinks, zone_server, keys,
                                                                     rspamd_dkim, postern_bin, tmp_path):
    dns_port = zone_server(keys["zone"])
    sink = sinks()
    scan = f'\n[[scan]]\nbackend = "rspamd"\naddress = "{rspamd_dkim.address}"\ntimeout = "20s"\n'
    server = start_postern(policy=signing_policy(keys, scan),
                           delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}, dns_port=dns_port))
    senders = [("alice@example.org", "ed25519-sha256", "example.org"), ("bob@news.example.com", "rsa-sha256", "example.com")]
    for sender, _, _ in senders:
        send(server.port, sender, message(sender, f"signed by {sender}"))
    got = sink.wait_for(2)
    wait_queue_empty(server)
    by_sender = {meta["mail_from"]: data for meta, data in got}
    for sender, algorithm, domain in senders:
        data = by_sender[sender]
        head = data.split(b"\r\n\r\n", 1)[0]
        # What the rules and the scanner did is in the delivered message, under the signature.
        assert b"X-Secret" not in head and b"X-Policy: outbound" in head and b"X-Spam-Status:" in head
        assert re.search(rb"\r\nDKIM-Signature: v=1; a=" + algorithm.encode() + rb"; c=relaxed/relaxed; d="
                         + domain.encode(), b"\r\n" + head), head
        assert dkim.verify(data, dnsfunc=dnsfunc(dns_port)), f"dkimpy refused the message from {sender}"
        assert "R_DKIM_ALLOW" in rspamd_dkim_symbols(rspamd_dkim, data), sender
        path = tmp_path / f"{sender}.eml"
        path.write_bytes(data)
        verified = subprocess.run([postern_bin, "dkim", "verify", str(path), "--dns", f"127.0.0.1:{dns_port}"],
                                  capture_output=True, text=True, timeout=30)
        assert verified.returncode == 0 and verified.stdout.startswith(f"pass header.d={domain} "), verified.stdout

        # Altered after delivery: every verifier says so.
        altered = data.replace(b"Second paragraph.", b"Second paragraph!")
        assert not dkim.verify(altered, dnsfunc=dnsfunc(dns_port))
        assert "R_DKIM_REJECT" in rspamd_dkim_symbols(rspamd_dkim, altered)
        path.write_bytes(altered)
        verified = subprocess.run([postern_bin, "dkim", "verify", str(path), "--dns", f"127.0.0.1:{dns_port}"],
                                  capture_output=True, text=True, timeout=30)
        assert verified.returncode == 1 and verified.stdout.startswith("fail (body hash did not verify)"), verified.stdout


def test_unlisted_domain_is_not_signed(start_postern, sinks, keys):
    sink = sinks()
    server = start_postern(policy=signing_policy(keys),
                           delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{sink.port}"}))
    # example.org does not allow subdomains; example.net has no key.
    for sender in ("carol@sub.example.org", "dave@example.net"):
        send(server.port, sender, message(sender, f"unsigned {sender}"))
    for _, data in sink.wait_for(2):
        assert b"DKIM-Signature" not in data


def test_dkim_check_and_verify_cli(postern_bin, zone_server, keys, tmp_path):
    dns = f"127.0.0.1:{zone_server(keys['zone'])}"

    def run(*args):
        return subprocess.run([postern_bin, "dkim", *args, "--dns", dns], capture_output=True, text=True, timeout=30)

    assert stat.S_IMODE(os.stat(keys["ed"]).st_mode) == 0o600
    good = run("check", "--domain", "example.org", "--selector", "ed", "--key", str(keys["ed"]))
    assert good.returncode == 0 and "matches the key (ed25519)" in good.stdout, good
    wrong = run("check", "--domain", "example.com", "--selector", "rsa", "--key", str(keys["ed"]))
    assert wrong.returncode == 1 and "differs" in wrong.stdout, wrong
    missing = run("check", "--domain", "example.org", "--selector", "nope")
    assert missing.returncode == 1 and "no TXT record" in missing.stdout, missing
    unsigned = tmp_path / "unsigned.eml"
    unsigned.write_text("From: a@example.org\nSubject: x\n\nbody\n")
    none = run("verify", str(unsigned))
    assert none.returncode == 1 and none.stdout.strip() == "none", none
    # keygen never overwrites a key.
    again = subprocess.run([postern_bin, "dkim", "keygen", "--domain", "example.org", "--selector", "ed",
                            "--out", str(keys["ed"])], capture_output=True, text=True, timeout=30)
    assert again.returncode != 0 and "cannot create" in again.stderr


def test_missing_key_fails_config_check(postern_bin, tmp_path, keys):
    (tmp_path / "policy.toml").write_text(signing_policy({**keys, "ed": tmp_path / "absent.key"}))
    (tmp_path / "postern.toml").write_text('hostname = "relay.test"\n[[listener]]\naddress = "127.0.0.1:2525"\n'
                                           'policy = "policy.toml"\n[dns]\nservers = ["127.0.0.1:1"]\n')
    done = subprocess.run([postern_bin, "config", "check", str(tmp_path / "postern.toml")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert re.search(r"policy\.toml:\d+: dkim\.sign\.key: .*absent\.key: private key: cannot read the file", done.stdout + done.stderr), \
        done.stdout + done.stderr
