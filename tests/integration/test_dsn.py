"""The DSN extension (RFC 3461) end to end: Postern advertises DSN, takes RET,
ENVID, NOTIFY and ORCPT from smtplib, passes them on to a sink that offers DSN,
reports "relayed" itself to the sender when the next hop does not, and obeys
NOTIFY and RET in the failure reports it writes. The sender's domain is routed
to a second sink, so every report Postern sends can be read there."""

import smtplib
import time
from email import message_from_bytes

import pytest

from postern_harness import expect, split_received
from test_delivery import delivery_config, sinks, wait_queue_empty  # noqa: F401 (sinks is a fixture)

MAIL_OPTIONS = ["RET=HDRS", "ENVID=abc+2Bdef"]
RCPT_OPTIONS = ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@x"]


def message(subject: str) -> bytes:
    return (f"From: <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@test>\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n"
            "THE BODY ITSELF\r\n").encode()


def send(port: int, recipients: dict[str, list[str]], subject: str, mail_options: list[str] = MAIL_OPTIONS):
    """One transaction from alice@example.org, each recipient with its own RCPT parameters."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.test")
        assert client.has_extn("dsn")
        code, reply = client.mail("alice@example.org", mail_options)
        assert code == 250, reply
        for rcpt, options in recipients.items():
            code, reply = client.rcpt(rcpt, options)
            assert code == 250, reply
        code, reply = client.data(message(subject))
        assert code == 250, reply


def start(start_postern, destination, reports):
    return start_postern(delivery=delivery_config(routes={"example.net": f"[127.0.0.1]:{destination.port}",
                                                          "example.org": f"[127.0.0.1]:{reports.port}"}))


def wait_reports(sink, count: int = 1) -> list[tuple[dict, str]]:
    """The DSNs a sink holds once it has `count` messages, each with its
    text (without Postern's Received line)."""
    return [(meta, split_received(data)[1].decode()) for meta, data in sink.wait_for(count)
            if meta["mail_from"] in ("", "<>")]


def parts(text: str):
    report = message_from_bytes(text.encode())
    assert report.get_content_type() == "multipart/report"
    return report.get_payload()


def test_parameters_reach_a_next_hop_that_offers_dsn(start_postern, sinks):
    destination, reports = sinks("--dsn", name="dsn"), sinks(name="reports")
    server = start(start_postern, destination, reports)
    send(server.port, {"bob@example.net": RCPT_OPTIONS}, "passed on")
    (meta, _), = destination.wait_for(1)
    assert meta["rcpt_tos"] == ["bob@example.net"]
    assert [o for o in meta["raw_mail_options"] if o.split("=")[0] in ("RET", "ENVID")] == MAIL_OPTIONS
    assert meta["raw_rcpt_options"] == [RCPT_OPTIONS]
    wait_queue_empty(server)
    # The next hop reports on delivery now: nothing from Postern.
    time.sleep(1.5)
    assert reports.messages() == []


def test_relayed_report_when_the_next_hop_has_no_dsn(start_postern, sinks):
    destination, reports = sinks(name="plain"), sinks(name="reports")
    server = start(start_postern, destination, reports)
    send(server.port, {"bob@example.net": RCPT_OPTIONS, "carol@example.net": []}, "relayed")
    (meta, _), = destination.wait_for(1)
    assert meta["rcpt_tos"] == ["bob@example.net", "carol@example.net"]
    assert meta["raw_mail_options"] == []  # no RET, no ENVID (and this sink offers no SIZE)
    assert meta["raw_rcpt_options"] == [[], []]
    (report_meta, text), = wait_reports(reports)
    assert report_meta["rcpt_tos"] == ["alice@example.org"]
    assert "Subject: Successful Mail Delivery Report" in text
    status = parts(text)[1].as_string()
    assert "Original-Envelope-Id: abc+def" in status
    assert "Original-Recipient: rfc822;bob@x" in status
    assert "Final-Recipient: rfc822; bob@example.net" in status
    assert "Action: relayed" in status
    assert "Status: 2.0.0" in status
    assert "Remote-MTA: dns; 127.0.0.1" in status
    assert "carol@example.net" not in status  # she did not ask
    assert "THE BODY ITSELF" not in text
    wait_queue_empty(server)


def test_notify_never_suppresses_the_failure_report(start_postern, sinks):
    destination = sinks("--refuse", "gone@example.net", "--refuse", "lost@example.net", name="refusing")
    reports = sinks(name="reports")
    server = start(start_postern, destination, reports)
    send(server.port, {"gone@example.net": ["NOTIFY=NEVER"], "lost@example.net": []}, "never")
    # Only lost@ (no NOTIFY: failures are reported) is in the one report.
    (meta, text), = wait_reports(reports)
    status = parts(text)[1].as_string()
    assert "Final-Recipient: rfc822; lost@example.net" in status and "Action: failed" in status
    assert "gone@example.net" not in status
    wait_queue_empty(server)
    time.sleep(1)
    assert len(reports.messages()) == 1
    assert "no DSN: NOTIFY does not ask for one" not in server.stderr_text()  # lost@ got one

    send(server.port, {"gone@example.net": ["NOTIFY=NEVER"]}, "never alone")
    wait_queue_empty(server)
    time.sleep(1.5)
    assert len(reports.messages()) == 1
    assert "no DSN: NOTIFY does not ask for one" in server.stderr_text()


@pytest.mark.parametrize("ret,whole", [("HDRS", False), ("FULL", True)])
def test_ret_decides_what_the_failure_report_returns(start_postern, sinks, ret, whole):
    destination, reports = sinks("--refuse", "gone@example.net", name="refusing"), sinks(name="reports")
    server = start(start_postern, destination, reports)
    send(server.port, {"gone@example.net": RCPT_OPTIONS}, f"ret {ret}", mail_options=[f"RET={ret}", "ENVID=abc+2Bdef"])
    (meta, text), = wait_reports(reports)
    assert meta["rcpt_tos"] == ["alice@example.org"]
    human, status, returned = parts(text)
    assert "Original-Recipient: rfc822;bob@x" in status.as_string()
    assert "Original-Envelope-Id: abc+def" in status.as_string()
    if whole:
        assert returned.get_content_type() == "message/rfc822"
        original = returned.get_payload()[0]
        assert original["Subject"] == "ret FULL"
        assert "THE BODY ITSELF" in original.get_payload()
    else:
        assert returned.get_content_type() == "text/rfc822-headers"
        assert "Subject: ret HDRS" in returned.get_payload()
        assert "THE BODY ITSELF" not in text
    wait_queue_empty(server)


def test_bad_dsn_parameters_are_refused(start_postern):
    server = start_postern(limits={"max_errors": 100})
    with server.connect() as c:
        assert "DSN" in c.ehlo()
        expect(c.cmd("MAIL FROM:<a@example.org> RET=BODY"), 501, "5.5.4", "RET: expected FULL or HDRS")
        expect(c.cmd("MAIL FROM:<a@example.org> ENVID=" + "x" * 101), 501, "5.5.4", "longer than 100")
        expect(c.cmd("MAIL FROM:<a@example.org> RET=FULL ENVID=q+2B1"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<b@example.org> NOTIFY=NEVER,SUCCESS"), 501, "5.5.4", "NEVER cannot be combined")
        expect(c.cmd("RSET"), 250, "2.0.0")
        expect(c.cmd("MAIL FROM:<a@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<b@example.org> ORCPT=rfc822;" + "x" * 494), 501, "5.5.4", "longer than 500")
        expect(c.cmd("RCPT TO:<b@example.org> NOTIFY=DELAY NOTIFY=DELAY"), 501, "5.5.4", "given twice")
        expect(c.cmd("RCPT TO:<b@example.org> NOTIFY=delay ORCPT=rfc822;b+40example.org"), 250, "2.1.5")
