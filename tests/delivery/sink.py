#!/usr/bin/env python3
"""A recording SMTP sink for Postern's delivery tests (aiosmtpd).

Listens on 127.0.0.1 (port 0 picks a free one), prints "READY <port>" on
stdout once it accepts connections, and writes every accepted message to
DIR as N.eml (the content exactly as received, dot-unstuffed) and N.json
(envelope, ESMTP parameters, TLS, AUTH user, the client's port so tests
can tell connections apart; the MAIL and RCPT parameters both upper-cased,
as aiosmtpd hands them over, and as sent). Options:

  --tls-cert/--tls-key   offer STARTTLS with this certificate
  --require-tls          refuse MAIL before STARTTLS (530)
  --auth USER:PASS       offer AUTH (PLAIN and LOGIN) and accept these users
  --auth-required        refuse MAIL before AUTH
  --auth-plaintext       allow AUTH without TLS
  --no-plain             offer only AUTH LOGIN
  --refuse ADDR          answer 550 to RCPT for ADDR (repeatable)
  --max-rcpt N           answer 452 to RCPTs past the first N of a transaction
  --broken-tls           announce STARTTLS, answer 220, then send garbage
  --tempfail-first N     answer 451 at end of data to the first N messages
  --pipelining           announce PIPELINING (aiosmtpd reads commands in order)
  --smtputf8             announce SMTPUTF8
  --size N               announce SIZE N and refuse larger messages
  --dsn                  announce DSN (RFC 3461) and take RET, ENVID, NOTIFY, ORCPT

Stops on SIGTERM or when stdin, if it is a pipe, closes.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import stat
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    def __init__(self, args):
        self.args = args
        self.count = 0
        self.tempfails_left = args.tempfail_first
        self.users = {}
        for spec in args.auth or []:
            user, _, password = spec.partition(":")
            self.users[user] = password

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not self.users:
            responses = [r for r in responses if not r.startswith("250-AUTH")]
        if self.args.pipelining:
            responses.insert(-1, "250-PIPELINING")
        if self.args.broken_tls and not session.ssl:
            responses.insert(-1, "250-STARTTLS")
        if self.args.dsn:
            responses.insert(-1, "250-DSN")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.args.require_tls and not session.ssl:
            return "530 5.7.0 Must issue a STARTTLS command first"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.raw_mail_options = raw_parameters(session)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in (self.args.refuse or []):
            return "550 5.1.1 No such user here"
        if self.args.max_rcpt and len(envelope.rcpt_tos) >= self.args.max_rcpt:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        if not hasattr(envelope, "raw_rcpt_options"):
            envelope.raw_rcpt_options = []
        envelope.raw_rcpt_options.append(raw_parameters(session))
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.tempfails_left > 0:
            self.tempfails_left -= 1
            return "451 4.3.0 Try again later"
        self.count += 1
        base = os.path.join(self.args.dir, str(self.count))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "rcpt_options": envelope.rcpt_options,
            "raw_mail_options": getattr(envelope, "raw_mail_options", []),
            "raw_rcpt_options": getattr(envelope, "raw_rcpt_options", []),
            "helo": session.host_name,
            "tls": bool(session.ssl),
            "auth_user": session.auth_data.login.decode() if session.authenticated else None,
            "peer_port": session.peer[1] if session.peer else None,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(record, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK queued as %d" % self.count

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        # handled=False: aiosmtpd then answers 535 itself (its default stays silent).
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def raw_parameters(session):
    """The parameters of the MAIL or RCPT being handled, as the client sent them."""
    arg = getattr(session, "raw_arg", None) or ""
    return arg[arg.find(">") + 1:].split() if ">" in arg else []


class RawArguments(SMTP):
    """Keeps each MAIL and RCPT argument as sent (aiosmtpd upper-cases the
    parameters before the handler sees them)."""

    async def smtp_MAIL(self, arg):
        if self.session is not None:
            self.session.raw_arg = arg
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        if self.session is not None:
            self.session.raw_arg = arg
        await super().smtp_RCPT(arg)


class DSN(RawArguments):
    """Takes the DSN parameters (RFC 3461), which aiosmtpd does not know:
    they are left out of its own check and reach the handler."""

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None:
            for keyword in ("RET", "ENVID", "NOTIFY", "ORCPT"):
                result.pop(keyword, None)
        return result


class BrokenTLS(SMTP):
    """Says yes to STARTTLS, then sends plaintext where the TLS handshake
    should be: the client's handshake fails."""

    async def smtp_STARTTLS(self, arg):
        await self.push("220 2.0.0 Ready to start TLS")
        # Later than the 220, so the client's TLS layer (not its check for
        # plaintext after the 220) is what trips over it.
        await asyncio.sleep(0.2)
        self.transport.write(b"this is not TLS\r\n" * 8)
        self.transport.close()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--require-tls", action="store_true")
    parser.add_argument("--auth", action="append")
    parser.add_argument("--auth-required", action="store_true")
    parser.add_argument("--auth-plaintext", action="store_true")
    parser.add_argument("--no-plain", action="store_true")
    parser.add_argument("--refuse", action="append")
    parser.add_argument("--max-rcpt", type=int, default=0)
    parser.add_argument("--broken-tls", action="store_true")
    parser.add_argument("--tempfail-first", type=int, default=0)
    parser.add_argument("--pipelining", action="store_true")
    parser.add_argument("--smtputf8", action="store_true")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--dsn", action="store_true")
    return parser.parse_args()


async def main():
    args = parse_args()
    os.makedirs(args.dir, exist_ok=True)
    recorder = Recorder(args)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    loop = asyncio.get_running_loop()

    def factory():
        server_class = BrokenTLS if args.broken_tls else DSN if args.dsn else RawArguments
        return server_class(recorder, hostname="sink.test", data_size_limit=args.size or None,
                    enable_SMTPUTF8=args.smtputf8, decode_data=False, tls_context=tls,
                    require_starttls=args.require_tls, auth_required=args.auth_required,
                    auth_require_tls=not args.auth_plaintext,
                    auth_exclude_mechanism=["PLAIN"] if args.no_plain else None,
                    authenticator=recorder.authenticate if args.auth else None,
                    timeout=30, loop=loop)

    server = await loop.create_server(factory, host=args.host, port=args.port)
    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        # The test holds the other end: when it goes away, so does the sink.
        def watch_stdin():
            while sys.stdin.buffer.read1(4096):
                pass
            loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
