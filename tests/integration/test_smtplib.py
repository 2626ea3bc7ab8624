"""Python's smtplib as the client: addresses of every shape RFC 5321 and RFC 6531 allow."""

import email.message

import pytest

from postern_harness import (RECEIVED_RE, RecordingSMTP, as_reply, check_received, expect, header_count, make_message,
                             queued_id, split_received)


def client(server) -> RecordingSMTP:
    smtp = RecordingSMTP("127.0.0.1", server.port, local_hostname="client.example", timeout=30)
    smtp.ehlo()
    return smtp


def check(pair: tuple[int, bytes], code: int, enhanced: str) -> None:
    got = as_reply(pair)
    assert (got.code, got.enhanced) == (code, enhanced), f"expected {code} {enhanced}, got {got}"


def test_send_message(server):
    msg = email.message.EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = "Bob <bob@example.net>"
    msg["Subject"] = "send_message"
    msg["Date"] = "Fri, 27 Nov 2026 21:00:00 +0000"
    msg["Message-ID"] = "<send-message@client.example>"
    msg.set_content("Hello from send_message.\n")
    with client(server) as smtp:
        assert smtp.send_message(msg) == {}
        queue_id = queued_id(as_reply(smtp.last_data_reply))
    (entry,) = server.queue.list()
    assert entry["id"] == queue_id
    assert entry["sender"] == "alice@example.org"
    assert [r["address"] for r in entry["recipients"]] == ["bob@example.net"]
    stored = server.queue.body(queue_id)
    check_received(stored, helo="client.example", queue_id=queue_id, recipient="bob@example.net")
    _, rest = split_received(stored)
    assert rest == msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_sendmail_several_recipients_has_no_for_clause(server):
    rcpts = ["one@example.net", "two@example.net", "three@example.org"]
    body = make_message("several", to="one@example.net")
    with client(server) as smtp:
        assert smtp.sendmail("sender@example.org", rcpts, body) == {}
        queue_id = queued_id(as_reply(smtp.last_data_reply))
    entry = server.queue.entry(queue_id)
    assert [r["address"] for r in entry["recipients"]] == rcpts
    assert all(r["status"] == "pending" for r in entry["recipients"])
    stored = server.queue.body(queue_id)
    check_received(stored, helo="client.example", queue_id=queue_id, recipient=None)
    assert split_received(stored)[1] == body


def test_date_and_message_id_added_once_when_missing(server):
    body = b"From: <sender@example.org>\r\nSubject: bare\r\n\r\nno Date, no Message-ID\r\n"
    with client(server) as smtp:
        smtp.sendmail("sender@example.org", ["someone@example.net"], body)
        queue_id = queued_id(as_reply(smtp.last_data_reply))
    stored = server.queue.body(queue_id)
    assert header_count(stored, "Date") == 1
    assert header_count(stored, "Message-ID") == 1
    assert stored.endswith(b"\r\n\r\nno Date, no Message-ID\r\n")


def test_null_sender(server):
    body = make_message("bounce", sender="MAILER-DAEMON@example.org")
    with client(server) as smtp:
        check(smtp.mail(""), 250, "2.1.0")
        check(smtp.rcpt("someone@example.net"), 250, "2.1.5")
        queue_id = queued_id(as_reply(smtp.data(body)))
    entry = server.queue.entry(queue_id)
    assert entry["sender"] == ""


@pytest.mark.parametrize("sender, stored_as", [
    ('"john doe"@example.com', '"john doe"@example.com'),
    ('"odd\\"quote"@example.com', '"odd\\"quote"@example.com'),
])
def test_quoted_local_part(server, sender, stored_as):
    with client(server) as smtp:
        check(smtp.docmd("MAIL", f"FROM:<{sender}>"), 250, "2.1.0")
        check(smtp.docmd("RCPT", 'TO:<"jane q"@example.net>'), 250, "2.1.5")
        queue_id = queued_id(as_reply(smtp.data(make_message("quoted"))))
    entry = server.queue.entry(queue_id)
    assert entry["sender"] == stored_as
    assert [r["address"] for r in entry["recipients"]] == ['"jane q"@example.net']


def test_address_literal(server):
    with client(server) as smtp:
        check(smtp.docmd("MAIL", "FROM:<postmaster@[127.0.0.1]>"), 250, "2.1.0")
        check(smtp.docmd("RCPT", "TO:<user@[127.0.0.1]>"), 250, "2.1.5")
        check(smtp.docmd("RCPT", "TO:<user@[IPv6:::1]>"), 250, "2.1.5")
        queue_id = queued_id(as_reply(smtp.data(make_message("literal"))))
    entry = server.queue.entry(queue_id)
    assert entry["sender"] == "postmaster@[127.0.0.1]"
    assert [r["address"] for r in entry["recipients"]] == ["user@[127.0.0.1]", "user@[IPv6:::1]"]


def test_source_route_is_accepted_and_dropped(server):
    with client(server) as smtp:
        check(smtp.docmd("MAIL", "FROM:<@relay.example:sender@example.org>"), 250, "2.1.0")
        check(smtp.docmd("RCPT", "TO:<@a.example:u@b.example>"), 250, "2.1.5")
        check(smtp.docmd("RCPT", "TO:<@a.example,@c.example:v@b.example>"), 250, "2.1.5")
        queue_id = queued_id(as_reply(smtp.data(make_message("source route"))))
    entry = server.queue.entry(queue_id)
    assert entry["sender"] == "sender@example.org"
    assert [r["address"] for r in entry["recipients"]] == ["u@b.example", "v@b.example"]


def test_smtputf8_with_parameter(server):
    body = make_message("Grüße", body="Ünïcödé body\r\n", sender="pelé@exämple.org", to="用户@例子.广告")
    with client(server) as smtp:
        assert smtp.has_extn("smtputf8")
        assert smtp.sendmail("pelé@exämple.org", ["用户@例子.广告", "ascii@example.net"], body,
                             mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
        queue_id = queued_id(as_reply(smtp.last_data_reply))
    entry = server.queue.entry(queue_id)
    assert entry["sender"] == "pelé@exämple.org"
    assert [r["address"] for r in entry["recipients"]] == ["用户@例子.广告", "ascii@example.net"]
    assert split_received(server.queue.body(queue_id))[1] == body


def test_smtputf8_received_protocol(server):
    """RFC 6531 §3.7.3: a message received with SMTPUTF8 says `with UTF8SMTP` in Received."""
    body = make_message("utf8", to="用户@例子.广告")
    with client(server) as smtp:
        smtp.sendmail("sender@example.org", ["用户@例子.广告"], body, mail_options=["SMTPUTF8"])
        queue_id = queued_id(as_reply(smtp.last_data_reply))
    check_received(server.queue.body(queue_id), helo="client.example", queue_id=queue_id,
                   proto="UTF8SMTP", recipient="用户@例子.广告")


def test_smtputf8_address_without_parameter_is_refused(server):
    with client(server) as smtp:
        smtp.command_encoding = "utf-8"  # smtplib would refuse to send it otherwise
        check(smtp.docmd("MAIL", "FROM:<pelé@example.org>"), 553, "5.6.7")
        check(smtp.docmd("MAIL", "FROM:<sender@example.org>"), 250, "2.1.0")
        check(smtp.docmd("RCPT", "TO:<用户@例子.广告>"), 553, "5.6.7")
        check(smtp.docmd("RCPT", "TO:<ascii@example.net>"), 250, "2.1.5")
        queue_id = queued_id(as_reply(smtp.data(make_message("ascii only"))))
    entry = server.queue.entry(queue_id)
    assert [r["address"] for r in entry["recipients"]] == ["ascii@example.net"]


def test_received_stays_well_formed_for_odd_helo(server):
    """A HELO argument that is no domain must be refused, or kept from breaking the Received grammar."""
    with server.connect() as c:
        reply = c.cmd("EHLO a;b.example")
        if reply.code == 501:
            expect(reply, 501, "5.5.4")
            return
        expect(reply, 250)
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("odd helo")))
    field, _ = split_received(server.queue.body(queue_id))
    assert RECEIVED_RE.fullmatch(field), f"Received field does not match RFC 5321 §4.4: {field!r}"
