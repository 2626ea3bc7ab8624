"""Open-relay suite: with trusted networks 127.0.0.1/32 and a client bound to
127.0.0.2, classic relay tricks — percent hack, bang paths, source routes,
quoted local parts holding @, address literals, trailing dots, case tricks,
encoded characters — are all refused (554 5.7.1) for non-local domains without
AUTH, and accepted once the same untrusted client has authenticated.

Also: mail for the local domain is taken from anyone, everything is taken from
the trusted 127.0.0.1, and nothing is ever queued for a refused recipient.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from postern_harness import RawSMTP, add_user, auth_plain, expect, free_port, make_message, queued_id, render_config

UNTRUSTED = "127.0.0.2"
PASSWORD = "relay-test-password"

POLICY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]

[auth]
enabled = true
passwd_file = "passwd"
allow_plaintext = true

[users.alice]
senders = ["@local.test"]
"""

ROUTING = " (routing in the local part)"

# (RCPT TO path as sent, the path as Postern renders it in the reply, reason suffix)
TRICKS = [
    ("victim@external.test", "<victim@external.test>", ""),
    ("VICTIM@EXTERNAL.TEST", "<VICTIM@EXTERNAL.TEST>", ""),
    ("victim@external.test.", "<victim@external.test>", ""),              # one trailing dot is dropped
    ("victim@EXTERNAL.test.", "<victim@EXTERNAL.test>", ""),
    ("victim%external.test@local.test", "<victim%external.test@local.test>", ROUTING),   # percent hack
    ("victim%external.test@LOCAL.TEST", "<victim%external.test@LOCAL.TEST>", ROUTING),
    ("victim%external.test@local.test.", "<victim%external.test@local.test>", ROUTING),
    ("external.test!victim@local.test", "<external.test!victim@local.test>", ROUTING),   # bang path
    ('"victim@external.test"@local.test', '<"victim@external.test"@local.test>', ROUTING),
    # A quoted local part that is a dot-atom is rendered without quotes (RFC 5321 §4.1.2).
    ('"victim%external.test"@local.test', "<victim%external.test@local.test>", ROUTING),
    ('"external.test!victim"@local.test', "<external.test!victim@local.test>", ROUTING),
    ("@local.test:victim@external.test", "<victim@external.test>", ""),   # source route: the final address counts
    ("@local.test,@other.test:victim@external.test", "<victim@external.test>", ""),
    ("victim@[192.0.2.1]", "<victim@[192.0.2.1]>", ""),                  # address literals
    ("victim@[127.0.0.1]", "<victim@[127.0.0.1]>", ""),
    ("victim@[IPv6:::1]", "<victim@[IPv6:::1]>", ""),
    ("victim@local.test.external.test", "<victim@local.test.external.test>", ""),
    ("victim@notlocal.test", "<victim@notlocal.test>", ""),
    ("victim@sub.local.test", "<victim@sub.local.test>", ""),
    ("victim%40external.test@local.test", "<victim%40external.test@local.test>", ROUTING),  # encoded @
    ("postmaster@external.test", "<postmaster@external.test>", ""),
    ("victim@xn--exmple-cua.test", "<victim@xn--exmple-cua.test>", ""),  # IDNA look-alike
    ("victim@localhost", "<victim@localhost>", ""),
]


@pytest.fixture
def relay_server(start_postern, tmp_path, postern_bin):
    (tmp_path / "relay").mkdir()
    add_user(postern_bin, tmp_path / "relay" / "passwd", "alice", PASSWORD)
    return start_postern(policy=POLICY, name="relay")


@pytest.mark.parametrize("rcpt, rendered, reason", TRICKS, ids=[t[0] for t in TRICKS])
def test_relay_trick_refused_without_auth_accepted_with_auth(relay_server, rcpt, rendered, reason):
    with RawSMTP(relay_server.port, source=UNTRUSTED) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250, "2.1.0")
        expect(c.cmd(f"RCPT TO:<{rcpt}>"), 554, "5.7.1",
               "^" + re.escape(f"5.7.1 {rendered}: Relay access denied{reason}") + "$")
        expect(c.cmd("DATA"), 554)  # no valid recipients
        expect(c.cmd("RSET"), 250)
        assert relay_server.queue.ids() == [], "a refused recipient left something in the queue"

        expect(c.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD)), 235, "2.7.0")
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250, "2.1.0")
        expect(c.cmd(f"RCPT TO:<{rcpt}>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("relay test") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    assert relay_server.queue.ids() == [queue_id]
    entry = relay_server.queue.entry(queue_id)
    assert len(entry["recipients"]) == 1 and entry["protocol"] == "ESMTPA", entry


def test_each_trick_refused_in_one_pipelined_session(relay_server):
    """The same refusals when the RCPTs come in one pipelined burst."""
    with RawSMTP(relay_server.port, source=UNTRUSTED) as c:
        c.ehlo()
        c.send("MAIL FROM:<alice@local.test>\r\n" + "".join(f"RCPT TO:<{t[0]}>\r\n" for t in TRICKS) + "DATA\r\n")
        expect(c.read_reply(), 250)
        for rcpt, rendered, reason in TRICKS:
            expect(c.read_reply(), 554, "5.7.1", "^" + re.escape(f"5.7.1 {rendered}: Relay access denied{reason}") + "$")
        expect(c.read_reply(), 554)
    assert relay_server.queue.ids() == []


@pytest.mark.parametrize("rcpt", ["victim@local.test", "VICTIM@LOCAL.TEST", "victim@Local.Test.",
                                  "@other.test:victim@local.test", "postmaster@local.test", "Postmaster"])
def test_local_domain_taken_from_untrusted_without_auth(relay_server, rcpt):
    with RawSMTP(relay_server.port, source=UNTRUSTED) as c:
        c.ehlo()
        queue_id = queued_id(c.transaction("someone@example.org", [rcpt], make_message("inbound")))
    entry = relay_server.queue.entry(queue_id)
    assert entry["protocol"] == "ESMTP" and entry["client"] == UNTRUSTED, entry


def test_everything_taken_from_the_trusted_network(relay_server):
    with RawSMTP(relay_server.port) as c:  # 127.0.0.1
        c.ehlo()
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
        for rcpt, _, _ in TRICKS:
            expect(c.cmd(f"RCPT TO:<{rcpt}>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("from the trusted network") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    entry = relay_server.queue.entry(queue_id)
    assert len(entry["recipients"]) == len(TRICKS), entry
    assert entry["client"] == "127.0.0.1"


def test_wrong_password_does_not_open_the_relay(relay_server):
    with RawSMTP(relay_server.port, source=UNTRUSTED) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + auth_plain("alice", "guess")), 535, "5.7.8")
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250)
        expect(c.cmd("RCPT TO:<victim@external.test>"), 554, "5.7.1")
        # STARTTLS-less re-EHLO does not change anything either.
        c.ehlo()
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250)
        expect(c.cmd("RCPT TO:<victim%external.test@local.test>"), 554, "5.7.1")
    assert relay_server.queue.ids() == []


def test_relay_domains_are_taken_from_anyone(start_postern):
    server = start_postern(policy='[relay]\ntrusted_networks = ["127.0.0.1/32"]\nrelay_domains = ["partner.test"]\n')
    with RawSMTP(server.port, source=UNTRUSTED) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
        expect(c.cmd("RCPT TO:<victim@partner.test>"), 250, "2.1.5")
        expect(c.cmd("RCPT TO:<Victim@PARTNER.TEST.>"), 250, "2.1.5")
        expect(c.cmd("RCPT TO:<victim@sub.partner.test>"), 554, "5.7.1",
               r"^5\.7\.1 <victim@sub\.partner\.test>: Relay access denied$")
        expect(c.cmd("RCPT TO:<victim%external.test@partner.test>"), 554, "5.7.1",
               r"^5\.7\.1 <victim%external\.test@partner\.test>: Relay access denied \(routing in the local part\)$")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("to a partner") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    assert len(server.queue.entry(queue_id)["recipients"]) == 2


def test_trusting_every_address_is_refused(start_postern, tmp_path, postern_bin):
    """A trusted network holding every address would be an open relay: a config error, not a warning."""
    (tmp_path / "policy.toml").write_text('[relay]\ntrusted_networks = ["127.0.0.1/32", "0.0.0.0/0", "::/0"]\n')
    (tmp_path / "postern.toml").write_text(render_config(free_port(), "queue", policy=True))
    p = subprocess.run([postern_bin, "config", "check", str(tmp_path / "postern.toml")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout + p.stderr
    for network in ("0.0.0.0/0", "::/0"):
        assert re.search(rf"policy\.toml:2: relay\.trusted_networks: {re.escape(network)} would trust every "
                         r"address and make Postern an open relay", out), out
    with pytest.raises(AssertionError, match="open relay"):
        start_postern(policy='[relay]\ntrusted_networks = ["0.0.0.0/0"]\n')


def test_default_trusted_networks_are_loopback(start_postern):
    """Without trusted_networks: 127.0.0.0/8 and ::1 may relay (the documented default)."""
    server = start_postern(policy='[relay]\nlocal_domains = ["local.test"]\n', ipv6=True)
    for host, source in (("127.0.0.1", UNTRUSTED), ("::1", None)):
        with RawSMTP(server.port, host=host, source=source) as c:
            c.ehlo()
            expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
            expect(c.cmd("RCPT TO:<victim@external.test>"), 250, "2.1.5")


def test_a_prober_is_cut_off_after_too_many_refused_recipients(start_postern):
    """[limits] max_refused_recipients: relay probing gets a bounded number of tries per connection."""
    server = start_postern(policy='[relay]\ntrusted_networks = ["127.0.0.1/32"]\nlocal_domains = ["local.test"]\n',
                           limits={"max_refused_recipients": 3})
    with RawSMTP(server.port, source=UNTRUSTED) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<probe@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<a@external.test>"), 554, "5.7.1")
        expect(c.cmd("RCPT TO:<user@local.test>"), 250, "2.1.5")  # accepted ones don't count
        expect(c.cmd("RCPT TO:<b@external.test>"), 554, "5.7.1")
        expect(c.cmd("RCPT TO:<c@external.test>"), 554, "5.7.1", "<c@external.test>: Relay access denied")
        expect(c.read_reply(), 421, "4.7.0", "Too many refused recipients")
        c.expect_closed()
    assert server.queue.list() == []
