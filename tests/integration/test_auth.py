"""SMTP AUTH (RFC 4954) end to end: swaks and smtplib with PLAIN and LOGIN over
STARTTLS, raw SASL exchanges, and the failure handling.

- AUTH is offered only after STARTTLS (538 5.7.11 before it) unless
  `allow_plaintext = true`; `mechanisms` limits what is offered.
- 235 2.7.0 for the right password, 535 5.7.8 for a wrong one; `*` cancels
  (501 5.0.0), bad base64 is 501 5.5.2, a second AUTH 503 5.5.1.
- Three wrong passwords in a session: 535 then 421 4.7.0 and close;
  `max_failures` wrong passwords from one IP across sessions: 421, then 454
  4.7.0 for that IP only.
- The Received line says ESMTPSA / ESMTPA with "(authenticated as alice)";
  the daemon's log never holds a password or an AUTH payload.

Users are written with the real `postern passwd`; the server runs the
127.0.0.1/32-trusted policy and clients connect from 127.0.0.2 (untrusted), so
relaying to external.test works only once authenticated.
"""

from __future__ import annotations

import base64
import re
import smtplib
import ssl
import subprocess

import pytest

from postern_harness import (HOSTNAME, RECEIVED_RE, RawSMTP, RecordingSMTP, add_user, as_reply, expect,
                             make_message, queued_id, require_swaks_tls, split_received)
from postern_harness import auth_plain as plain

CLIENT = "127.0.0.2"      # untrusted: not in trusted_networks
OTHER_CLIENT = "127.0.0.3"
PASSWORD = "Tr0ub4dor&3-s3cret"
REMOTE = "friend@external.test"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def auth_policy(**auth: object) -> str:
    lines = ["[relay]", 'trusted_networks = ["127.0.0.1/32"]', 'local_domains = ["local.test"]', "",
             "[auth]", "enabled = true", 'passwd_file = "passwd"']
    for key, value in auth.items():
        lines.append(f"{key} = {value}")
    lines += ["", "[users.alice]", 'senders = ["@local.test"]', ""]
    return "\n".join(lines)


@pytest.fixture
def start_auth(start_postern, tls_cert, tmp_path, postern_bin):
    """start_auth(**auth_settings): a daemon with TLS and alice in its passwd file
    (relative to the policy's directory, the server's workdir)."""
    def start(tls: bool = True, **auth: object):
        name = f"auth{len(list(tmp_path.glob('auth*')))}"
        (tmp_path / name).mkdir()
        add_user(postern_bin, tmp_path / name / "passwd", "alice", PASSWORD)
        return start_postern(policy=auth_policy(**auth), tls=tls_cert if tls else None, name=name)
    return start


def tls_context(tls_cert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=tls_cert[0])
    ctx.check_hostname = True
    return ctx


def starttls(c: RawSMTP, tls_cert) -> dict[str, str]:
    """STARTTLS on a raw connection, then EHLO again; returns the new extensions."""
    expect(c.cmd("STARTTLS"), 220, "2.0.0")
    assert not c.buffer
    c.sock = tls_context(tls_cert).wrap_socket(c.sock, server_hostname="localhost")
    return c.ehlo()


def check_auth_received(stored: bytes, *, proto: str, queue_id: str, recipient: str) -> None:
    """Our Received line, RFC 5321 §4.4, with the "(authenticated as alice)" comment after the protocol."""
    field, _ = split_received(stored)
    comment = " (authenticated as alice)"
    assert f"with {proto}{comment} id {queue_id}" in field.replace("\r\n\t", " ").replace("\r\n ", " "), field
    m = RECEIVED_RE.fullmatch(field.replace(comment, "", 1))
    assert m, f"Received field does not match RFC 5321 §4.4: {field!r}"
    assert m["literal"] == f"[{CLIENT}]" and m["by"] == HOSTNAME and m["proto"] == proto, field
    assert m["id"] == queue_id and m["for"] == recipient, field


def send_as_alice(c: RawSMTP, recipient: str = REMOTE) -> str:
    queue_id = queued_id(c.transaction("alice@local.test", [recipient], make_message("authenticated")))
    return queue_id


# --------------------------------------------------------------------------
# What is offered, and when


def test_auth_is_offered_only_after_starttls(start_auth, tls_cert):
    server = start_auth()
    with RawSMTP(server.port, source=CLIENT) as c:
        extensions = c.ehlo()
        assert "STARTTLS" in extensions
        assert "AUTH" not in extensions, f"AUTH offered before STARTTLS: {extensions}"
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 538, "5.7.11",
               r"^5\.7\.11 Encryption required for requested authentication mechanism$")
        extensions = starttls(c, tls_cert)
        assert extensions.get("AUTH") == "PLAIN LOGIN", extensions
        # Relaying needs AUTH, even over TLS.
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250, "2.1.0")
        expect(c.cmd(f"RCPT TO:<{REMOTE}>"), 554, "5.7.1", rf"^5\.7\.1 <{REMOTE}>: Relay access denied$")
        expect(c.cmd("RSET"), 250)
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0", r"^2\.7\.0 Authentication successful$")
        queue_id = send_as_alice(c)
    check_auth_received(server.queue.body(queue_id), proto="ESMTPSA", queue_id=queue_id, recipient=REMOTE)
    entry = server.queue.entry(queue_id)
    assert entry["protocol"] == "ESMTPSA" and entry["client"] == CLIENT


def test_allow_plaintext_offers_auth_without_tls(start_auth):
    server = start_auth(tls=False, allow_plaintext="true")
    with RawSMTP(server.port, source=CLIENT) as c:
        extensions = c.ehlo()
        assert extensions.get("AUTH") == "PLAIN LOGIN", extensions
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")
        queue_id = send_as_alice(c)
    check_auth_received(server.queue.body(queue_id), proto="ESMTPA", queue_id=queue_id, recipient=REMOTE)
    assert server.queue.entry(queue_id)["protocol"] == "ESMTPA"


def test_mechanisms_setting_limits_the_offer(start_auth):
    server = start_auth(tls=False, allow_plaintext="true", mechanisms='["LOGIN"]')
    with RawSMTP(server.port, source=CLIENT) as c:
        assert c.ehlo().get("AUTH") == "LOGIN"
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 504, "5.5.4")
        expect(c.cmd("AUTH LOGIN " + b64("alice")), 334)
        expect(c.cmd(b64(PASSWORD)), 235, "2.7.0")


def test_no_auth_table_means_no_auth(start_postern):
    server = start_postern(policy='[relay]\ntrusted_networks = ["127.0.0.1/32"]\n')
    with RawSMTP(server.port, source=CLIENT) as c:
        assert "AUTH" not in c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 502, "5.5.1")


# --------------------------------------------------------------------------
# Real clients


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_auth_over_starttls(start_auth, mechanism):
    swaks = require_swaks_tls()
    server = start_auth()

    def run(password: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [swaks, "--server", "127.0.0.1", "--port", str(server.port), "--local-interface", CLIENT,
             "--tls", "--auth", mechanism, "--auth-user", "alice", "--auth-password", password,
             "--from", "alice@local.test", "--to", REMOTE, "--helo", "client.example", "--timeout", "30"],
            capture_output=True, text=True, timeout=60)

    p = run(PASSWORD)
    assert p.returncode == 0, f"swaks exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    assert re.search(r"^<~  235 2\.7\.0 Authentication successful$", p.stdout, re.M), p.stdout
    m = re.search(r"^<~  250 2\.0\.0 Ok: queued as ([0-9A-F]{16})$", p.stdout, re.M)
    assert m, p.stdout
    check_auth_received(server.queue.body(m.group(1)), proto="ESMTPSA", queue_id=m.group(1), recipient=REMOTE)

    p = run("wrong-" + PASSWORD)
    assert p.returncode != 0, p.stdout
    assert re.search(r"^<~\* 535 5\.7\.8 Authentication credentials invalid$", p.stdout, re.M), p.stdout
    assert server.queue.ids() == [m.group(1)], "a message was queued after a failed AUTH"
    assert PASSWORD not in server.stderr_text()


def test_smtplib_starttls_login(start_auth, tls_cert):
    server = start_auth()
    body = make_message("smtplib auth", sender="alice@local.test", to=REMOTE)
    with RecordingSMTP("127.0.0.1", server.port, local_hostname="client.example", timeout=30,
                       source_address=(CLIENT, 0)) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        smtp.starttls(context=tls_context(tls_cert))
        smtp.ehlo()
        assert smtp.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            smtp.login("alice", "not the password")
        assert failed.value.smtp_code == 535
        assert failed.value.smtp_error == b"5.7.8 Authentication credentials invalid"
        code, text = smtp.login("alice", PASSWORD)
        assert (code, text) == (235, b"2.7.0 Authentication successful")
        assert smtp.sendmail("alice@local.test", [REMOTE], body) == {}
        queue_id = queued_id(as_reply(smtp.last_data_reply))
    stored = server.queue.body(queue_id)
    check_auth_received(stored, proto="ESMTPSA", queue_id=queue_id, recipient=REMOTE)
    assert split_received(stored)[1] == body


def test_smtplib_auth_login_mechanism(start_auth, tls_cert):
    server = start_auth()
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.example", timeout=30,
                      source_address=(CLIENT, 0)) as smtp:
        smtp.starttls(context=tls_context(tls_cert))
        smtp.ehlo()
        smtp.user, smtp.password = "alice", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            smtp.auth("LOGIN", smtp.auth_login)
        assert failed.value.smtp_code == 535
        smtp.user, smtp.password = "alice", PASSWORD
        assert smtp.auth("LOGIN", smtp.auth_login) == (235, b"2.7.0 Authentication successful")


# --------------------------------------------------------------------------
# The SASL exchange, byte by byte


def test_sasl_exchanges_without_initial_response(start_auth):
    server = start_auth(tls=False, allow_plaintext="true")
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        reply = expect(c.cmd("AUTH PLAIN"), 334)
        assert reply.lines == [""], reply
        expect(c.cmd(plain("alice", "wrong")), 535, "5.7.8", r"^5\.7\.8 Authentication credentials invalid$")
        reply = expect(c.cmd("AUTH LOGIN"), 334)
        assert base64.b64decode(reply.lines[0]) == b"Username:", reply
        reply = expect(c.cmd(b64("alice")), 334)
        assert base64.b64decode(reply.lines[0]) == b"Password:", reply
        expect(c.cmd(b64(PASSWORD)), 235, "2.7.0")
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 503, "5.5.1")
        send_as_alice(c)


@pytest.mark.parametrize("steps, reply", [
    (["AUTH PLAIN", "*"], (501, "5.0.0")),
    (["AUTH LOGIN", "*"], (501, "5.0.0")),
    (["AUTH LOGIN", b64("alice"), "*"], (501, "5.0.0")),
    (["AUTH PLAIN", "not base64!"], (501, "5.5.2")),
    (["AUTH PLAIN not%base64"], (501, "5.5.2")),
    (["AUTH LOGIN", "@@@@"], (501, "5.5.2")),
    (["AUTH LOGIN " + b64("alice"), "=bad="], (501, "5.5.2")),
    (["AUTH PLAIN " + b64("no separators")], (501, "5.5.2")),
    (["AUTH CRAM-MD5"], (504, "5.5.4")),
    (["AUTH PLAIN " + plain("alice", PASSWORD, authzid="bob")], (535, "5.7.8")),
    (["AUTH PLAIN " + plain("Alice", PASSWORD)], (535, "5.7.8")),
    (["AUTH PLAIN " + plain("mallory", PASSWORD)], (535, "5.7.8")),
], ids=["plain-cancel", "login-cancel-user", "login-cancel-password", "plain-bad-base64", "initial-bad-base64",
        "login-bad-user-base64", "login-bad-password-base64", "plain-no-nul", "unknown-mechanism",
        "other-authzid", "user-case-differs", "unknown-user"])
def test_refused_exchanges_leave_the_session_usable(start_auth, steps, reply):
    server = start_auth(tls=False, allow_plaintext="true")
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        for step in steps[:-1]:
            expect(c.cmd(step), 334)
        expect(c.cmd(steps[-1]), *reply)
        # Not authenticated: relaying is still refused.
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250)
        expect(c.cmd(f"RCPT TO:<{REMOTE}>"), 554, "5.7.1")
        expect(c.cmd("RSET"), 250)
        # And a correct AUTH still works afterwards.
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")
        send_as_alice(c)


def test_auth_sequencing(start_auth):
    server = start_auth(tls=False, allow_plaintext="true")
    with RawSMTP(server.port, source=CLIENT) as c:
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 503, "5.5.1")  # before EHLO
        c.ehlo()
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250)
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 503, "5.5.1")  # inside a transaction
        expect(c.cmd("RSET"), 250)
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")
        expect(c.cmd("AUTH LOGIN"), 503, "5.5.1")  # already authenticated


def test_starttls_forgets_a_plaintext_authentication(start_auth, tls_cert):
    """RFC 3207 §4.2: after TLS the session starts over, so an AUTH from before it no longer counts."""
    server = start_auth(allow_plaintext="true")
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")
        assert starttls(c, tls_cert).get("AUTH") == "PLAIN LOGIN"
        expect(c.cmd("MAIL FROM:<alice@local.test>"), 250)
        expect(c.cmd(f"RCPT TO:<{REMOTE}>"), 554, "5.7.1")
        expect(c.cmd("RSET"), 250)
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")
        queue_id = send_as_alice(c)
    assert server.queue.entry(queue_id)["protocol"] == "ESMTPSA"


# --------------------------------------------------------------------------
# Failures: per session and per client address


def test_three_failures_in_one_session_close_it(start_auth):
    server = start_auth(tls=False, allow_plaintext="true")
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", "wrong1")), 535, "5.7.8")
        # A cancel is not a failed password.
        expect(c.cmd("AUTH LOGIN"), 334)
        expect(c.cmd("*"), 501, "5.0.0")
        expect(c.cmd("AUTH LOGIN " + b64("alice")), 334)
        expect(c.cmd(b64("wrong2")), 535, "5.7.8")
        c.send("AUTH PLAIN " + plain("alice", "wrong3") + "\r\n")
        expect(c.read_reply(), 535, "5.7.8")
        expect(c.read_reply(), 421, "4.7.0",
               rf"^4\.7\.0 {re.escape(HOSTNAME)} Too many failed authentication attempts, closing connection$")
        c.expect_closed()
    # The address is not blocked yet (3 < max_failures = 5).
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")


def test_failures_from_one_address_across_sessions_block_it(start_auth):
    server = start_auth(tls=False, allow_plaintext="true", max_failures=4, failure_window='"10m"')
    blocked = r"^4\.7\.0 Too many failed authentication attempts from your address, try again later$"
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", "wrong1")), 535, "5.7.8")
        expect(c.cmd("AUTH PLAIN " + plain("alice", "wrong2")), 535, "5.7.8")
        expect(c.cmd("QUIT"), 221)
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", "wrong3")), 535, "5.7.8")
        # The 4th failure from this address reaches max_failures: 535, 421, closed.
        c.send("AUTH LOGIN " + b64("alice") + "\r\n")
        expect(c.read_reply(), 334)
        c.send(b64("wrong4") + "\r\n")
        expect(c.read_reply(), 535, "5.7.8")
        expect(c.read_reply(), 421, "4.7.0", r"Too many failed authentication attempts, closing connection$")
        c.expect_closed()
    # Now every AUTH from 127.0.0.2 is refused, even with the right password…
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 454, "4.7.0", blocked)
        expect(c.cmd("AUTH LOGIN"), 454, "4.7.0", blocked)
        # …without ending the session: mail to a local domain is still taken.
        expect(c.cmd("MAIL FROM:<someone@example.org>"), 250)
        expect(c.cmd("RCPT TO:<alice@local.test>"), 250)
        expect(c.cmd(f"RCPT TO:<{REMOTE}>"), 554, "5.7.1")
    # …while another address is not affected.
    with RawSMTP(server.port, source=OTHER_CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")
        send_as_alice(c)


def test_password_change_is_picked_up_without_restart(start_auth, postern_bin):
    server = start_auth(tls=False, allow_plaintext="true")
    add_user(postern_bin, server.workdir / "passwd", "alice", "a-new-password")
    add_user(postern_bin, server.workdir / "passwd", "bob@local.test", "bobs-password")
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 535, "5.7.8")
        expect(c.cmd("AUTH PLAIN " + plain("alice", "a-new-password")), 235, "2.7.0")
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        # A user named like an address may send as itself without a [users] table.
        expect(c.cmd("AUTH PLAIN " + plain("bob@local.test", "bobs-password")), 235, "2.7.0")
        queued_id(c.transaction("bob@local.test", [REMOTE], make_message("bob")))


def test_unreadable_password_file_is_a_temporary_failure(start_auth):
    """The server's fault, not the client's: 454 4.7.0, and not counted as a failed password."""
    server = start_auth(tls=False, allow_plaintext="true")
    (server.workdir / "passwd").rename(server.workdir / "passwd.away")
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        for _ in range(4):
            expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 454, "4.7.0",
                   r"^4\.7\.0 Temporary authentication failure$")
        (server.workdir / "passwd.away").rename(server.workdir / "passwd")
        expect(c.cmd("AUTH PLAIN " + plain("alice", PASSWORD)), 235, "2.7.0")
    assert "authentication back end unavailable" in server.stderr_text()


# --------------------------------------------------------------------------
# Secrets stay out of the log


def test_log_never_holds_passwords_or_auth_payloads(start_auth, tls_cert):
    server = start_auth(allow_plaintext="true")
    wrong = "Wr0ng-pa55word-xyzzy"
    secrets = {PASSWORD, wrong, b64(PASSWORD), b64(wrong), b64("alice"),
               plain("alice", PASSWORD), plain("alice", wrong)}
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN " + plain("alice", wrong)), 535)
        expect(c.cmd("AUTH LOGIN"), 334)
        expect(c.cmd(b64("alice")), 334)
        expect(c.cmd(b64(wrong)), 535)
        expect(c.cmd("AUTH PLAIN"), 334)
        expect(c.cmd("!!" + b64(PASSWORD)), 501, "5.5.2")  # undecodable, holding the password's base64
    with RawSMTP(server.port, source=CLIENT) as c:
        starttls(c, tls_cert)
        expect(c.cmd("AUTH LOGIN " + b64("alice")), 334)
        expect(c.cmd(b64(PASSWORD)), 235)
        send_as_alice(c)
    with RawSMTP(server.port, source=CLIENT) as c:
        c.ehlo()
        expect(c.cmd("AUTH PLAIN"), 334)
        expect(c.cmd(plain("alice", PASSWORD)), 235)
    log = server.stderr_text()
    assert "user=alice" in log, "the successful login should be logged with its user name"
    for secret in sorted(secrets):
        assert secret not in log, f"the daemon's log holds {secret!r}:\n{log}"
