"""Hostile clients: pipelining floods that never read, slow drips against the command
and data deadlines, a thousand dripping connections (stress mode), over-long lines,
NUL octets, a quoted recipient in the Received field, bare-LF command lines.

Each test is bounded in time (well under a minute) and cleans up after itself;
only loopback addresses are used (127.0.0.1 and 127.0.0.10-19 as client sources).
"""

from __future__ import annotations

import re
import socket
import statistics
import time

import pytest

from hostile_clients import MIB, DripCrowd, Flooder, RssSampler, raise_nofile
from postern_harness import ConnectionClosed, check_received, expect, make_message, queued_id, split_received

# --------------------------------------------------------------------------
# helpers


def _normal_transaction(srv, subject: str) -> str:
    """A well-behaved client on a fresh connection: 220, EHLO, one message, QUIT."""
    with srv.connect(timeout=20) as c:
        expect(c.greeting, 220)
        c.ehlo()
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message(subject)))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    return queue_id


def _read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, float | None]:
    """Everything the server sends until it closes (returns the close time) or `deadline`."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, None
        except ConnectionResetError:
            return data, time.monotonic()
        if not chunk:
            return data, time.monotonic()
        data += chunk


def _drip(sock: socket.socket, payload: bytes, interval: float, limit: float) -> tuple[float, bytes, float | None]:
    """Sends `payload` one byte every `interval` s, watching for the server's reply and close.
    Returns (time of the first byte, what the server sent, time of the close or None)."""
    first = time.monotonic()
    received = b""
    sent = 0
    while True:
        now = time.monotonic()
        if now - first > limit:
            return first, received, None
        if sent < len(payload) and now >= first + sent * interval:
            try:
                sock.sendall(payload[sent:sent + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                rest, closed = _read_until_closed(sock, time.monotonic() + 2)
                return first, received + rest, closed or time.monotonic()
            continue
        wait = min(first + sent * interval, first + limit) - now
        sock.settimeout(max(0.01, wait))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return first, received, time.monotonic()
        if not chunk:
            return first, received, time.monotonic()
        received += chunk


def _assert_cut_421(received: bytes, what: str) -> None:
    lines = [l for l in received.split(b"\r\n") if l]
    assert lines, f"{what}: closed without a reply (expected 421 4.4.2)"
    assert re.match(rb"^421[ -]4\.4\.2( |$)", lines[-1]), f"{what}: expected a 421 4.4.2 reply, got {lines!r}"


# --------------------------------------------------------------------------
# 1. write backpressure


RSS_GROWTH_BOUND = 50 * MIB
RSS_RETURN_SLACK = 30 * MIB
RSS_ABORT = 2 * RSS_GROWTH_BOUND  # stop flooding early: past this the daemon has clearly failed


@pytest.mark.parametrize("line,total", [
    (b"NOOP\r\n", 200 * MIB),
    (b"EHLO x\r\n", 20 * MIB),
    (b"VRFY x\r\n", 20 * MIB),
], ids=["noop-200MB", "ehlo-20MB", "vrfy-20MB"])
def test_pipelining_flood_without_reading_is_bounded(start_postern, figures, line, total):
    """A client that pipelines commands and never reads a reply: the daemon stops reading
    when its replies cannot be written, so its memory stays flat; another client is served
    meanwhile; when the flooder leaves, the memory is back near where it started."""
    # No junk-command limit here: it would cut the flooder off after 100 commands
    # and hide whether reading stops while replies cannot be written.
    srv = start_postern(limits={"max_junk_commands": 0})
    _normal_transaction(srv, "warm-up")
    time.sleep(0.3)
    rss_start = srv.proc_status("VmRSS")
    hwm_start = srv.proc_status("VmHWM")
    flooder = Flooder(srv.port, line, total, max_seconds=25)
    sampler = RssSampler(srv.pid).start()
    aborted = False
    try:
        flooder.start()
        # Flood until everything is sent (the debug build cannot take 200 MB of NOOPs in
        # the time; a fixed daemon stops reading long before), the server has stopped
        # reading for 3 s, the daemon has grown past RSS_ABORT, or 25 s have passed.
        deadline = time.monotonic() + 27
        while time.monotonic() < deadline:
            if flooder.finished.is_set() or flooder.stalled_for() > 3.0:
                break
            if sampler.peak - rss_start > RSS_ABORT:
                aborted = True
                break
            time.sleep(0.05)
        stalled = flooder.stalled_for()
        # The flooder is still connected (and still not reading): a normal client is served.
        served = _normal_transaction(srv, "during the flood")
        flooder.stop()
        peak_during = max(sampler.peak, srv.proc_status("VmRSS"))
    finally:
        flooder.close()
    hwm_end = srv.proc_status("VmHWM")
    if hwm_end > hwm_start:  # the kernel's own peak catches a spike between two samples
        peak_during = max(peak_during, hwm_end)
    # After the flooder has gone, the memory comes back near the start.
    settle_deadline = time.monotonic() + 10
    rss_after = srv.proc_status("VmRSS")
    while rss_after > rss_start + RSS_RETURN_SLACK and time.monotonic() < settle_deadline:
        time.sleep(0.25)
        rss_after = srv.proc_status("VmRSS")
    sampler.stop()
    growth = peak_during - rss_start
    figures(f"{line.strip().decode()} flood: sent {flooder.sent / MIB:.1f} of {total / MIB:.0f} MiB "
            f"(stalled {stalled:.1f}s{', error ' + flooder.error if flooder.error else ''}); RSS start "
            f"{rss_start / MIB:.1f} MiB, peak {peak_during / MIB:.1f} MiB (growth {growth / MIB:.1f} MiB), "
            f"after close {rss_after / MIB:.1f} MiB; normal client queued {served}")
    assert not aborted, (f"flood aborted: daemon RSS grew by {growth / MIB:.0f} MiB after "
                         f"{flooder.sent / MIB:.1f} MiB of pipelined {line.strip().decode()!r} never read")
    assert growth < RSS_GROWTH_BOUND, (f"daemon RSS grew by {growth / MIB:.1f} MiB (bound "
                                       f"{RSS_GROWTH_BOUND / MIB:.0f}) while a client pipelined "
                                       f"{flooder.sent / MIB:.1f} MiB of {line.strip().decode()!r} without reading")
    assert rss_after < rss_start + RSS_RETURN_SLACK, (
        f"RSS {rss_after / MIB:.1f} MiB 10 s after the flooder left (start {rss_start / MIB:.1f} MiB)")
    assert srv.running()


# --------------------------------------------------------------------------
# 2. deadlines


def test_command_line_dripped_is_cut_at_its_deadline(start_postern):
    """command_timeout counts from the first byte of a command line, not from the last one:
    one byte every 2 s does not keep a line alive past 5 s."""
    srv = start_postern(limits={"command_timeout": 5})
    with srv.connect() as c:
        c.ehlo()
        first, received, closed = _drip(c.sock, b"NOOP " + b"x" * 40 + b"\r\n", interval=2.0, limit=15.0)
    assert closed is not None, (f"a command line dripped at 1 byte / 2 s was still open 15 s after its first "
                                f"byte (command_timeout = 5); received {received!r}")
    took = closed - first
    _assert_cut_421(received, "dripped command line")
    assert 4.5 <= took <= 7.5, f"dripped command line cut {took:.1f}s after its first byte (command_timeout = 5)"


def test_slow_but_complete_commands_are_not_cut(start_postern):
    """The deadline is per command line: a client that pauses between quick commands for
    less than command_timeout each time keeps its session past command_timeout in total."""
    srv = start_postern(limits={"command_timeout": 3})
    with srv.connect() as c:
        c.ehlo()
        started = time.monotonic()
        for _ in range(4):
            time.sleep(2.0)
            expect(c.cmd("NOOP"), 250, "2.0.0")
        assert time.monotonic() - started > 7.5
        expect(c.cmd("QUIT"), 221, "2.0.0")


DATA_RATE_LIMITS = {"command_timeout": 60, "data_timeout": 60, "min_data_rate": 100, "data_rate_grace": 3}


def _start_data(c) -> float:
    """EHLO, MAIL, RCPT, DATA; returns when the 354 came."""
    c.ehlo()
    expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354)
    return time.monotonic()


def _drip_data(sock: socket.socket, body: bytes, *, step: int, pause: float,
               give_up_at: float) -> tuple[bytes, float | None]:
    """Sends `body` `step` octets at a time, `pause` seconds apart (waiting for the server
    meanwhile); returns what the server sent and when it closed (None: it never did)."""
    received = b""
    for i in range(0, len(body), step):
        if time.monotonic() > give_up_at:
            return received, None
        try:
            sock.sendall(body[i:i + step])
        except (BrokenPipeError, ConnectionResetError):
            rest, closed = _read_until_closed(sock, time.monotonic() + 2)
            return received + rest, closed or time.monotonic()
        rest, closed = _read_until_closed(sock, time.monotonic() + pause)
        received += rest
        if closed is not None:
            return received, closed
    return received, None


def test_data_slower_than_min_rate_is_cut(start_postern):
    """DATA deadline = start + data_rate_grace + bytes / min_data_rate. 10 octets a second
    against 100/s with a 3 s grace: cut near 3.4 s, although no gap reaches data_timeout."""
    srv = start_postern(limits=DATA_RATE_LIMITS)
    with srv.connect() as c:
        data_started = _start_data(c)
        body = b"Subject: slow\r\n\r\n" + b"0123456789" * 200
        received, closed = _drip_data(c.sock, body, step=10, pause=1.0, give_up_at=data_started + 15)
    assert closed is not None, (f"DATA at 10 octets/s was not cut within 15 s (min_data_rate = 100, "
                                f"data_rate_grace = 3); received {received!r}")
    took = closed - data_started
    _assert_cut_421(received, "slow DATA")
    assert 2.5 <= took <= 6.5, f"slow DATA cut {took:.1f}s after DATA (expected about 3.4 s)"
    time.sleep(0.3)
    assert srv.queue.list() == []
    assert srv.queue.files("incoming") == [], "spool file of the cut message left in incoming/"


def test_data_faster_than_min_rate_is_not_cut(start_postern):
    """The same limits; 48 KB sent over 4 s (12 KB/s) runs past the grace and is accepted."""
    srv = start_postern(limits=DATA_RATE_LIMITS)
    header = make_message("steady", body="")
    body = header + b"".join(b"%05d " % i + b"r" * 72 + b"\r\n" for i in range(600))  # ~48 KB
    with srv.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        started = time.monotonic()
        pieces = 16
        step = len(body) // pieces + 1
        for n in range(pieces):
            c.send(body[n * step:(n + 1) * step])
            time.sleep(0.25)
        c.send(b".\r\n")
        queue_id = queued_id(c.read_reply())
        assert time.monotonic() - started > 3.5  # past the grace
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert split_received(srv.queue.body(queue_id))[1] == body


def test_data_rate_defaults(start_postern):
    """The defaults: min_data_rate 500 octets/s after a 30 s grace. 50 octets a second
    is cut near 30 + 0.1 t, i.e. about 33 s after DATA, far before data_timeout."""
    srv = start_postern()
    with srv.connect() as c:
        data_started = _start_data(c)
        body = b"Subject: slow default\r\n\r\n" + b"0123456789" * 1000
        received, closed = _drip_data(c.sock, body, step=25, pause=0.5, give_up_at=data_started + 45)
    assert closed is not None, f"DATA at 50 octets/s was not cut within 45 s with the default limits; got {received!r}"
    took = closed - data_started
    _assert_cut_421(received, "slow DATA (defaults)")
    assert 31 <= took <= 38, f"slow DATA cut {took:.1f}s after DATA (expected about 33 s with the defaults)"
    assert srv.queue.list() == []


CROWD = 1000
CROWD_SOURCES = [f"127.0.0.{n}" for n in range(10, 20)]
CROWD_COMMAND_TIMEOUT = 20
CROWD_SLACK = 8  # seconds past command_timeout: 1,000 closes on 2 busy cores


def test_thousand_slow_drips_are_cut_and_others_served(start_postern, figures):
    """1,000 connections from ten loopback addresses drip a command line one byte every
    2 s. Every one is cut with 421 within command_timeout (+ slack) of its first byte;
    the daemon enters stress mode (and logs it); a new client gets 220 and sends a
    message while the crowd is connected."""
    nofile = raise_nofile()
    assert nofile >= CROWD + 200, f"RLIMIT_NOFILE {nofile} is too low for {CROWD} connections"
    for source in CROWD_SOURCES:
        with socket.socket() as probe:
            probe.bind((source, 0))  # all of 127/8 is loopback on Linux
    srv = start_postern(limits={"command_timeout": CROWD_COMMAND_TIMEOUT, "max_connections": 1100,
                                "max_connections_per_ip": 200})
    crowd = DripCrowd(srv.port, CROWD, CROWD_SOURCES, interval=2.0, connect_rate=400).start()
    served = None
    served_error = None
    try:
        # Wait until the whole crowd is greeted and dripping (or 15 s).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            conns = crowd.snapshot()
            if len(conns) >= CROWD and all(c.state != "connecting" and c.state != "greeting" for c in conns):
                break
            time.sleep(0.1)
        counts_at_full = crowd.counts()
        dripping = counts_at_full.get("dripping", 0)
        # A new client, while the crowd holds its connections.
        try:
            served = _normal_transaction(srv, "beside the crowd")
        except (AssertionError, OSError) as e:
            served_error = f"{type(e).__name__}: {e}"
        # Wait for every connection to be cut, at most command_timeout + slack after the last first byte.
        first_bytes = [c.first_byte_at for c in crowd.snapshot() if c.first_byte_at is not None]
        last_first = max(first_bytes) if first_bytes else time.monotonic()
        wait_until = last_first + CROWD_COMMAND_TIMEOUT + CROWD_SLACK + 1
        while time.monotonic() < wait_until:
            if all(c.state == "closed" for c in crowd.snapshot()):
                break
            time.sleep(0.2)
    finally:
        crowd.stop()
    now = time.monotonic()
    conns = crowd.snapshot()
    greeted = [c for c in conns if c.greeting_ok]
    lives = [c.lifetime(now) for c in conns if c.first_byte_at is not None]
    late = [c for c in conns if c.first_byte_at is not None
            and (c.closed_at is None or c.closed_at - c.first_byte_at > CROWD_COMMAND_TIMEOUT + CROWD_SLACK)]
    still_open = [c for c in conns if c.closed_at is None]
    early = [c for c in conns if c.first_byte_at is not None and c.closed_at is not None
             and c.closed_at - c.first_byte_at < 5]
    no_421 = [c for c in conns if c.closed_at is not None and not re.match(rb"^421[ -]4\.4\.2", c.cut_reply() or b"")]
    log = srv.stderr_text()
    stress_lines = [l for l in log.splitlines() if "stress" in l.lower()]
    figures(f"{len(conns)} drip connections ({len(greeted)} greeted, {dripping} dripping at full count, "
            f"{crowd.connect_errors} connect errors); lifetime after first byte min/median/max "
            f"{min(lives, default=0):.1f}/{statistics.median(lives) if lives else 0:.1f}/{max(lives, default=0):.1f}s; "
            f"{len(still_open)} still open at the end; stress log lines: {len(stress_lines)}; "
            f"new client: {served or served_error}")
    loop_errors = [e for e in crowd.errors if e.startswith("drip loop")]
    assert not loop_errors, f"the drip client failed: {loop_errors}"
    assert len(greeted) == CROWD, (f"only {len(greeted)} of {CROWD} connections were greeted with 220 "
                                   f"(counts {counts_at_full}; limits max_connections 1100, per IP 200)")
    assert served is not None, f"a new client was not served while the crowd was connected: {served_error}"
    assert len(late) == 0, (f"{len(late)} of {CROWD} dripping connections lived longer than "
                      f"{CROWD_COMMAND_TIMEOUT + CROWD_SLACK}s after their first byte "
                      f"({len(still_open)} never cut; command_timeout = {CROWD_COMMAND_TIMEOUT})")
    assert len(early) == 0, f"{len(early)} connections were cut less than 5 s after their first byte"
    assert len(no_421) == 0, (f"{len(no_421)} connections closed without a 421 4.4.2 reply, e.g. "
                        f"{[(c.close_reason, c.cut_reply()) for c in no_421[:3]]}")
    assert stress_lines, "the daemon never logged a line containing 'stress' with 1,000 of 1,100 connections open"
    # Leaving stress mode is logged too, once the crowd is gone.
    deadline = time.monotonic() + 10
    while len(stress_lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        stress_lines = [l for l in srv.stderr_text().splitlines() if "stress" in l.lower()]
    assert len(stress_lines) >= 2, f"no second 'stress' line (leaving stress mode) after the crowd left: {stress_lines}"


# --------------------------------------------------------------------------
# 3. long lines

# The refusal of bad message text at the end of DATA/BDAT, as specified for these checks.
# (test_smuggling.py answers bare CR/LF with 554 5.6.0; the two should agree.)
TEXT_REFUSED = (554, "5.6.0")

LONG_LINE = b"L" * 3000


def _long_line_message() -> bytes:
    return make_message("long line", body="") + b"before\r\n" + LONG_LINE + b"\r\nafter\r\n"


def test_long_line_refused_when_configured(start_postern):
    srv = start_postern(limits={"long_lines": '"refuse"'})
    with srv.connect() as c:
        c.ehlo()
        reply = c.transaction("sender@example.org", ["someone@example.net"], _long_line_message())
        expect(reply, *TEXT_REFUSED)
        assert re.search(r"(?i)line", reply.text) and re.search(r"(?i)long|length|octets", reply.text), (
            f"refusal does not mention the line length: {reply}")
        # The session goes on.
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("next")))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert srv.queue.ids() == [queue_id]
    assert srv.queue.files("incoming") == []


def test_long_line_accepted_and_stored_unchanged_by_default(server):
    message = _long_line_message()
    with server.connect() as c:
        c.ehlo()
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], message))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    stored = split_received(server.queue.body(queue_id))[1]
    assert stored == message, "the queued body differs from the message with a 3,000-octet line"
    assert b"\r\n" + LONG_LINE + b"\r\n" in stored


# --------------------------------------------------------------------------
# 4. small edges


def test_received_for_clause_keeps_quoted_local_part(server):
    recipient = '"c end \\" x"@d.test'
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<s@a.test>"), 250, "2.1.0")
        expect(c.cmd(f"RCPT TO:<{recipient}>"), 250, "2.1.5")
        expect(c.cmd("DATA"), 354)
        c.send(make_message("quoted") + b".\r\n")
        queue_id = queued_id(c.read_reply())
    stored = server.queue.body(queue_id)
    field, _ = split_received(stored)
    assert f"for <{recipient}>" in field.replace("\r\n", ""), f"for clause mangles the quoted address: {field!r}"
    check_received(stored, helo="client.example", queue_id=queue_id, recipient=recipient)


NUL_BODY = make_message("nul", body="") + b"one\r\ntwo\x00three\r\n"


def test_nul_in_data_is_refused_and_session_goes_on(server):
    with server.connect() as c:
        c.ehlo()
        reply = c.transaction("sender@example.org", ["someone@example.net"], NUL_BODY)
        expect(reply, *TEXT_REFUSED, text=r"(?i)\bNUL\b")
        queue_id = queued_id(c.transaction("sender@example.org", ["someone@example.net"], make_message("next")))
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert server.queue.ids() == [queue_id]
    assert server.queue.files("incoming") == []


def test_nul_in_bdat_is_refused_and_session_goes_on(server):
    with server.connect() as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        c.send(f"BDAT {len(NUL_BODY)} LAST\r\n".encode() + NUL_BODY)
        expect(c.read_reply(), *TEXT_REFUSED, text=r"(?i)\bNUL\b")
        expect(c.cmd("MAIL FROM:<sender@example.org>"), 250, "2.1.0")
        expect(c.cmd("RCPT TO:<someone@example.net>"), 250, "2.1.5")
        message = make_message("next")
        c.send(f"BDAT {len(message)} LAST\r\n".encode() + message)
        queue_id = queued_id(c.read_reply())
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert server.queue.ids() == [queue_id]


def test_bare_lf_ends_a_command_line(server):
    """Documented behaviour: a command line ended by a bare LF is accepted (DATA stays
    strict about bare LF; test_smuggling.py covers that)."""
    with server.connect() as c:
        c.send(b"EHLO lf.example\n")
        expect(c.read_reply(), 250)
        c.send(b"NOOP\n")
        expect(c.read_reply(), 250, "2.0.0")
        c.send(b"MAIL FROM:<sender@example.org>\nRCPT TO:<someone@example.net>\nDATA\n")
        expect(c.read_reply(), 250, "2.1.0")
        expect(c.read_reply(), 250, "2.1.5")
        expect(c.read_reply(), 354)
        c.send(make_message("lf commands") + b".\r\n")
        queue_id = queued_id(c.read_reply())
        expect(c.cmd("QUIT"), 221, "2.0.0")
    assert server.queue.ids() == [queue_id]


def test_junk_command_flood_is_cut_off(server):
    """Postfix's smtpd_junk_command_limit: 100 NOOP/RSET/VRFY/HELP/EHLO between messages, then
    each counts as an error and the third error ends the session with 421."""
    c = server.connect()
    try:
        # Exactly as many as the server reads before it hangs up: more, unread, would make
        # its kernel answer with a reset that can swallow the 421.
        c.send(b"NOOP\r\n" * 103)
        codes = []
        while True:
            try:
                codes.append(c.read_reply().code)
            except ConnectionClosed:
                break
    finally:
        c.close()
    assert codes[:102] == [250] * 102, codes[:110]
    assert codes[102:] == [421], f"after 102 NOOPs: {codes[102:110]}"
    # A session that moves mail resets the count.
    with server.connect() as ok:
        ok.ehlo()
        for round_ in range(3):
            for _ in range(90):
                expect(ok.cmd("NOOP"), 250)
            queued_id(ok.transaction("sender@example.org", ["someone@example.net"], make_message(f"round {round_}")))
