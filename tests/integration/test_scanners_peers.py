"""The real scanners the scanning tests use, checked on their own with their raw protocols:
the fixtures start them, the test messages trigger them, and nothing needs Postern.

clamd: zINSTREAM over the Unix socket and TCP. spamd: SYMBOLS / CHECK (SPAMC/1.5).
rspamd: POST /checkv2. See /work/shared/notes/scanners-and-dns.md for the replies.
"""

import time

import pytest

from scanmessages import (EICAR, EICAR_MESSAGES, EICAR_NAME, clean_message, gtube_message,
                          large_message_blocks, padded_message)
from scanners import Clamd, clamd_instream, group_alive, listening_tcp_addresses, rspamd_check, spamd_request

MIB = 1024 * 1024


# -- clamd

@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
@pytest.mark.parametrize("kind", sorted(EICAR_MESSAGES))
def test_clamd_finds_eicar_in_mail(clamd, kind, tcp):
    reply = clamd_instream(clamd, EICAR_MESSAGES[kind](), tcp=tcp)
    assert reply == f"stream: {EICAR_NAME} FOUND"


def test_clamd_finds_the_bare_string_in_small_chunks(clamd):
    assert clamd_instream(clamd, EICAR, chunk=16) == f"stream: {EICAR_NAME} FOUND"


@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
def test_clamd_passes_clean_mail(clamd, tcp):
    assert clamd_instream(clamd, clean_message(), tcp=tcp) == "stream: OK"
    assert clamd_instream(clamd, padded_message(MIB), tcp=tcp) == "stream: OK"


def test_clamd_finds_eicar_at_the_end_of_fifty_mebibytes(clamd, figures):
    started = time.monotonic()
    reply = clamd_instream(clamd, large_message_blocks(50 * MIB, virus=True))
    figures(f"clamd INSTREAM of 50 MiB with EICAR last: {time.monotonic() - started:.2f} s")
    assert reply == f"stream: {EICAR_NAME} FOUND"


def test_clamd_refuses_a_stream_over_its_limit(make_scanner):
    small = make_scanner(Clamd, stream_max_length="1M", tcp=False)
    assert clamd_instream(small, padded_message(2 * MIB)) == "INSTREAM size limit exceeded. ERROR"


def test_clamd_private_can_be_killed_and_restarted(clamd_private):
    path, tcp = clamd_private.socket_path, clamd_private.tcp_address
    clamd_private.kill()
    assert not clamd_private.running()
    with pytest.raises(OSError):
        clamd_instream(clamd_private, EICAR, tcp=True)
    clamd_private.restart()
    assert (clamd_private.socket_path, clamd_private.tcp_address) == (path, tcp)
    assert clamd_instream(clamd_private, eicar_message()) == f"stream: {EICAR_NAME} FOUND"


def eicar_message() -> bytes:
    return EICAR_MESSAGES["attachment"]()


# -- spamd

@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
def test_spamd_symbols_gtube(spamd, tcp):
    status, headers, body = spamd_request(spamd, "SYMBOLS", gtube_message(), tcp=tcp)
    assert status == "SPAMD/1.1 0 EX_OK"
    assert headers["spam"].startswith("True ; "), headers
    assert "GTUBE" in body.decode().split(","), body


def test_spamd_check_clean(spamd):
    status, headers, _ = spamd_request(spamd, "CHECK", clean_message())
    assert status == "SPAMD/1.1 0 EX_OK"
    assert headers["spam"].startswith("False ; "), headers


def test_spamd_private_can_be_killed_and_restarted(spamd_private):
    spamd_private.kill()
    assert not group_alive(spamd_private.pid), "spamd's children outlived the kill"
    with pytest.raises(OSError):
        spamd_request(spamd_private, "CHECK", clean_message(), timeout=5)
    spamd_private.restart()
    _, headers, _ = spamd_request(spamd_private, "CHECK", gtube_message())
    assert headers["spam"].startswith("True ; "), headers


# -- rspamd

def test_rspamd_rejects_gtube(rspamd):
    result = rspamd_check(rspamd, gtube_message(),
                          headers={"IP": "127.0.0.2", "From": "sender@example.org", "Rcpt": "someone@example.net"})
    assert result["action"] == "reject", result
    assert "GTUBE" in result["symbols"], result


def test_rspamd_lets_clean_mail_through(rspamd):
    result = rspamd_check(rspamd, clean_message(),
                          headers={"IP": "127.0.0.2", "From": "sender@example.org", "Rcpt": "someone@example.net"})
    assert result["action"] == "no action", result


def test_rspamd_private_can_be_killed_and_restarted(rspamd_private):
    address = rspamd_private.address
    rspamd_private.kill()
    assert not group_alive(rspamd_private.pid), "rspamd's workers outlived the kill"
    with pytest.raises(OSError):
        rspamd_check(rspamd_private, clean_message(), timeout=5)
    rspamd_private.restart()
    assert rspamd_private.address == address
    assert rspamd_check(rspamd_private, gtube_message())["action"] == "reject"


def test_rspamd_does_not_flag_eicar(rspamd):
    """No antivirus is wired into this rspamd: EICAR is clamd's business."""
    result = rspamd_check(rspamd, eicar_message())
    assert result["action"] != "reject", result


def test_scanners_listen_only_on_loopback(clamd, spamd, rspamd):
    for scanner in (clamd, spamd, rspamd):
        listening = listening_tcp_addresses(scanner.pid)
        assert (scanner.tcp_host_port[0], scanner.tcp_host_port[1]) in listening, (scanner.name, listening)
        outside = {(ip, port) for ip, port in listening if ip not in ("127.0.0.1", "::1")}
        assert not outside, f"{scanner.name} listens beyond loopback: {outside}"
