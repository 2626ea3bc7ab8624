"""SPF (RFC 7208) as a policy filter, end to end, against a loopback DNS server
(tests/spf/zoneserver.py) named in `[dns] servers` — no query leaves the machine.

The client is untrusted (trusted_networks = 127.0.0.1/32, client on 127.0.0.2)
and writes to a local domain, so only SPF can refuse it:

- fail → 550 5.7.23 with the explanation (default or the record's exp=);
  temperror (SERVFAIL or no answer) → 451 4.7.24; permerror → 550 5.7.24;
- pass, softfail, neutral, none → accepted, and the queued message starts with
  Authentication-Results (RFC 8601), Received-SPF (RFC 7208 §9.1), then our Received;
- per-result actions (reject, tempfail, quarantine, accept), HELO checks;
- trusted and authenticated clients are not checked (no trace fields) unless
  skip_trusted / skip_authenticated say otherwise.
"""

from __future__ import annotations

import base64
import re

import pytest

from postern_harness import HOSTNAME, RECEIVED_RE, RawSMTP, add_user, expect, make_message, queued_id, split_received

CLIENT = "127.0.0.2"
HELO = "helo.test"
PASSWORD = "spf-password"

ZONE = {
    "pass.test": [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
    "include.test": [{"SPF": "v=spf1 include:viaa.test -all"}],
    "viaa.test": [{"SPF": "v=spf1 a:mx.viaa.test -all"}],
    "mx.viaa.test": [{"A": "127.0.0.2"}],
    "fail.test": [{"SPF": "v=spf1 ip4:192.0.2.1 -all"}],
    "softfail.test": [{"SPF": "v=spf1 ip4:192.0.2.1 ~all"}],
    "neutral.test": [{"SPF": "v=spf1 ?all"}],
    "none.test": [{"TXT": "google-site-verification=abc"}],
    "temp.test": ["TIMEOUT"],
    "perm.test": [{"SPF": "v=spf1 foo:bar -all"}],
    "exp.test": [{"SPF": "v=spf1 -all exp=explain.exp.test"}],
    "explain.exp.test": [{"TXT": "%{i} may not send mail for %{d}, see https://exp.test/spf"}],
    HELO: [{"SPF": "v=spf1 ip4:127.0.0.2 -all"}],
    "badhelo.test": [{"SPF": "v=spf1 -all"}],
}

RELAY = """\
[relay]
trusted_networks = ["127.0.0.1/32"]
local_domains = ["local.test"]
"""


@pytest.fixture
def start_spf(start_postern, zone_server, tmp_path, postern_bin):
    """start_spf(spf_settings="", extra="", mode=...) -> a server with [spf] and the test zone."""
    def start(spf: str = "", extra: str = "", mode: str = "servfail", users: tuple[str, ...] = ()):
        port = zone_server(ZONE, mode)
        name = f"spf{len(list(tmp_path.glob('spf*')))}"
        (tmp_path / name).mkdir()
        for user in users:
            add_user(postern_bin, tmp_path / name / "passwd", user, PASSWORD)
        delivery = f'[delivery]\nenabled = false\n\n[dns]\nservers = ["127.0.0.1:{port}"]\ntimeout = 1\n'
        return start_postern(policy=RELAY + "\n[spf]\n" + spf + "\n" + extra, delivery=delivery, name=name)
    return start


def unfold(text: str) -> str:
    """A field with its folding undone and runs of white space made one space."""
    return re.sub(r"[ \t]+", " ", re.sub(r"\r\n(?=[ \t])", "", text))


def trace_fields(stored: bytes) -> list[tuple[str, str]]:
    """The fields above the message's own header: (name, unfolded value) from the top, up to and
    including the first Received."""
    out = []
    for m in re.finditer(rb"([A-Za-z-]+):([^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)", stored):
        name, value = m.group(1).decode(), unfold(m.group(2).decode()).strip()
        out.append((name, value))
        if name == "Received":
            return out
    raise AssertionError(f"no Received field at the top: {stored[:600]!r}")


def send(server, sender: str, *, helo: str = HELO, source: str | None = CLIENT, user: str | None = None):
    """EHLO, (AUTH,) MAIL; returns (MAIL reply, queue ID or None)."""
    with RawSMTP(server.port, source=source) as c:
        c.ehlo(helo)
        if user:
            auth = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
            expect(c.cmd("AUTH PLAIN " + auth), 235, "2.7.0")
        reply = c.cmd(f"MAIL FROM:<{sender}>")
        if reply.code != 250:
            return reply, None
        expect(c.cmd("RCPT TO:<postmaster@local.test>"), 250)
        expect(c.cmd("DATA"), 354)
        c.send(make_message("spf") + b".\r\n")
        return reply, queued_id(c.read_reply())


COMMENTS = {
    "pass": "domain of {s} designates 127.0.0.2 as permitted sender",
    "softfail": "transitioning domain of {s} does not designate 127.0.0.2 as permitted sender",
    "neutral": "127.0.0.2 is neither permitted nor denied by domain of {s}",
    "none": "domain of {s} does not designate permitted sender hosts",
    "fail": "domain of {s} does not designate 127.0.0.2 as permitted sender",
}


def check_spf_trace(stored: bytes, *, result: str, domain: str, sender: str, helo: str = HELO,
                    mechanism: str | None = None) -> None:
    """The SPF trace fields (RFC 7208 §9.1, RFC 8601 §2.1) and their values, above our Received line."""
    fields = trace_fields(stored)
    named = dict(fields)
    assert named.get("Authentication-Results") == f"{HOSTNAME}; spf={result} smtp.mailfrom={domain}", fields
    received_spf = named.get("Received-SPF", "")
    comment = COMMENTS[result].format(s=sender)
    expected = (f'{result} ({HOSTNAME}: {comment}) client-ip={CLIENT}; envelope-from="{sender}"; '
                f"helo={helo}; receiver={HOSTNAME}; identity=mailfrom; mechanism=")
    assert received_spf.startswith(expected), f"Received-SPF: {received_spf!r}\nexpected: {expected!r}…"
    if mechanism is not None:
        assert received_spf[len(expected):] == mechanism, received_spf
    ours, _ = split_received(stored[re.search(rb"(?m)^Received:", stored).start():])
    m = RECEIVED_RE.fullmatch(ours)
    assert m and m["literal"] == f"[{CLIENT}]" and m["helo"] == helo, f"our Received field: {ours!r}"
    # Both above our Received; their order between them is test_trace_field_order's.
    assert sorted(name for name, _ in fields) == ["Authentication-Results", "Received", "Received-SPF"], fields
    assert fields[-1][0] == "Received", fields


# --------------------------------------------------------------------------
# Results and their default actions


@pytest.mark.parametrize("domain, result, mechanism", [
    ("pass.test", "pass", '"ip4:127.0.0.2 in pass.test"'),
    ("include.test", "pass", None),
    ("softfail.test", "softfail", '"~all in softfail.test"'),
    ("neutral.test", "neutral", '"?all in neutral.test"'),
    ("none.test", "none", None),
    ("nxdomain.test", "none", None),
], ids=["pass", "pass-via-include-and-a", "softfail", "neutral", "none", "none-nxdomain"])
def test_accepted_results_are_recorded(start_spf, domain, result, mechanism):
    server = start_spf()
    sender = f"a@{domain}"
    reply, queue_id = send(server, sender)
    expect(reply, 250, "2.1.0")
    check_spf_trace(server.queue.body(queue_id), result=result, domain=domain, sender=sender, mechanism=mechanism)
    assert server.queue.entry(queue_id)["state"] == "ready"


def test_trace_field_order(start_spf):
    """Authentication-Results on top, then Received-SPF, then Postern's Received: each
    prepended field goes above the ones before it (RFC 5321 §4.4, RFC 8601 §2.1)."""
    server = start_spf()
    _, queue_id = send(server, "a@pass.test")
    names = [name for name, _ in trace_fields(server.queue.body(queue_id))]
    assert names == ["Authentication-Results", "Received-SPF", "Received"], (
        f"trace fields in the wrong order: {names}; expected Authentication-Results on top, then "
        "Received-SPF, then Postern's Received (POSTERN BUG: MessageBodyWriter.prependedFields writes the "
        "SPF filter's prepends in list order, unlike HeaderRewriter.apply)")


def test_fail_is_refused_with_the_default_explanation(start_spf):
    server = start_spf()
    reply, _ = send(server, "a@fail.test")
    expect(reply, 550, "5.7.23",
           r"^5\.7\.23 SPF fail: 127\.0\.0\.2 is not one of fail\.test's designated mail servers\.$")
    assert server.queue.ids() == []


def test_fail_uses_the_records_explanation(start_spf):
    server = start_spf()
    reply, _ = send(server, "a@exp.test")
    expect(reply, 550, "5.7.23",
           r"^5\.7\.23 SPF fail: 127\.0\.0\.2 may not send mail for exp\.test, see https://exp\.test/spf$")


@pytest.mark.parametrize("mode", ["servfail", "drop"])
def test_temperror_is_a_temporary_refusal(start_spf, mode):
    server = start_spf(mode=mode)
    with RawSMTP(server.port, source=CLIENT, timeout=30) as c:
        c.ehlo(HELO)
        expect(c.cmd("MAIL FROM:<a@temp.test>"), 451, "4.7.24",
               r"^4\.7\.24 SPF temporary error for temp\.test, try again later$")
        # The session goes on.
        expect(c.cmd("MAIL FROM:<a@pass.test>"), 250)
    assert server.queue.ids() == []


def test_permerror_is_refused(start_spf):
    server = start_spf()
    reply, _ = send(server, "a@perm.test")
    expect(reply, 550, "5.7.24", r"^5\.7\.24 SPF permanent error for perm\.test: .*unknown mechanism")
    assert server.queue.ids() == []


def test_pipelined_commands_wait_for_the_spf_answer(start_spf):
    server = start_spf()
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo(HELO)
        c.send("MAIL FROM:<a@fail.test>\r\nRCPT TO:<postmaster@local.test>\r\nDATA\r\n"
               "MAIL FROM:<a@include.test>\r\nRCPT TO:<postmaster@local.test>\r\nDATA\r\n")
        expect(c.read_reply(), 550, "5.7.23")
        expect(c.read_reply(), 503, "5.5.1")
        expect(c.read_reply(), 503, "5.5.1")
        expect(c.read_reply(), 250, "2.1.0")
        expect(c.read_reply(), 250, "2.1.5")
        expect(c.read_reply(), 354)
        c.send(make_message("pipelined") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    assert server.queue.ids() == [queue_id]
    assert server.queue.entry(queue_id)["sender"] == "a@include.test"


# --------------------------------------------------------------------------
# Actions chosen per result


def test_fail_quarantine_takes_the_message_and_holds_it(start_spf):
    server = start_spf('fail = "quarantine"')
    reply, queue_id = send(server, "a@fail.test")
    expect(reply, 250, "2.1.0")
    # Accepted, then moved out of the queue into the quarantine Maildir (test_quarantine.py).
    server.quarantine.wait_for(queue_id)
    assert server.queue.ids() == []
    [entry] = server.quarantine.list()
    assert entry["id"] == queue_id and entry["reason"].startswith("SPF fail for mailfrom fail.test")
    fields = dict(trace_fields(server.quarantine.message(queue_id)))
    assert fields["Authentication-Results"] == f"{HOSTNAME}; spf=fail smtp.mailfrom=fail.test"
    assert fields["Received-SPF"].startswith(f"fail ({HOSTNAME}: {COMMENTS['fail'].format(s='a@fail.test')})")
    # A passing sender on the same server is not quarantined.
    _, ok_id = send(server, "a@pass.test")
    assert server.queue.entry(ok_id)["state"] == "ready"


def test_other_actions(start_spf):
    server = start_spf('fail = "accept"\nsoftfail = "reject"\nneutral = "tempfail"\nnone = "quarantine"')
    reply, queue_id = send(server, "a@fail.test")
    expect(reply, 250)
    assert dict(trace_fields(server.queue.body(queue_id)))["Authentication-Results"].endswith(
        "spf=fail smtp.mailfrom=fail.test")
    expect(send(server, "a@softfail.test")[0], 550, "5.7.23", r"softfail\.test")
    expect(send(server, "a@neutral.test")[0], 451, "4.7.23", r"neutral\.test")
    reply, queue_id = send(server, "a@none.test")
    expect(reply, 250)
    server.quarantine.wait_for(queue_id)
    assert server.quarantine.ids() == [queue_id]
    assert queue_id not in server.queue.ids()


# --------------------------------------------------------------------------
# HELO identity (RFC 7208 §2.3)


def test_failing_helo_decides_on_its_own(start_spf):
    server = start_spf()
    reply, _ = send(server, "a@pass.test", helo="badhelo.test")
    expect(reply, 550, "5.7.23",
           r"^5\.7\.23 SPF fail: 127\.0\.0\.2 is not one of badhelo\.test's designated mail servers\.$")
    # A passing HELO does not save a failing MAIL FROM.
    expect(send(server, "a@fail.test", helo=HELO)[0], 550, "5.7.23", r"fail\.test")


def test_check_helo_false_looks_at_mail_from_only(start_spf):
    server = start_spf("check_helo = false")
    reply, queue_id = send(server, "a@pass.test", helo="badhelo.test")
    expect(reply, 250)
    check_spf_trace(server.queue.body(queue_id), result="pass", domain="pass.test", sender="a@pass.test",
                    helo="badhelo.test")


def test_null_sender_is_checked_as_postmaster_at_helo(start_spf):
    server = start_spf()
    expect(send(server, "", helo="badhelo.test")[0], 550, "5.7.23", r"badhelo\.test")
    reply, queue_id = send(server, "", helo=HELO)
    expect(reply, 250)
    fields = dict(trace_fields(server.queue.body(queue_id)))
    assert fields["Authentication-Results"].startswith(f"{HOSTNAME}; spf=pass "), fields
    assert f"helo={HELO}" in fields["Received-SPF"], fields


# --------------------------------------------------------------------------
# Who is not checked


def test_trusted_clients_are_not_checked(start_spf):
    server = start_spf()
    reply, queue_id = send(server, "a@fail.test", source=None)  # 127.0.0.1
    expect(reply, 250)
    names = [name for name, _ in trace_fields(server.queue.body(queue_id))]
    assert names == ["Received"], f"SPF trace fields added for a trusted client: {names}"


def test_skip_trusted_false_checks_them_too(start_spf):
    server = start_spf("skip_trusted = false")
    expect(send(server, "a@pass.test", source=None)[0], 550, "5.7.23",
           r"^5\.7\.23 SPF fail: 127\.0\.0\.1 is not one of helo\.test's designated mail servers\.$")


AUTH = """
[auth]
enabled = true
passwd_file = "passwd"
allow_plaintext = true

[users.alice]
senders = ["@fail.test"]
"""


def test_authenticated_clients_are_not_checked(start_spf):
    server = start_spf(extra=AUTH, users=("alice",))
    reply, queue_id = send(server, "alice@fail.test", user="alice")
    expect(reply, 250)
    names = [name for name, _ in trace_fields(server.queue.body(queue_id))]
    assert names == ["Received"], f"SPF trace fields added for an authenticated client: {names}"
    # The same sender without AUTH is refused.
    expect(send(server, "alice@fail.test")[0], 550, "5.7.23")


def test_skip_authenticated_false_checks_them_too(start_spf):
    server = start_spf("skip_authenticated = false", extra=AUTH, users=("alice",))
    expect(send(server, "alice@fail.test", user="alice")[0], 550, "5.7.23", r"fail\.test")
