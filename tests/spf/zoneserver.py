#!/usr/bin/env python3
"""A small authoritative DNS server for tests, on loopback only (dnslib for the wire format).

It serves zone data written the way the OpenSPF test suite writes it
(/work/shared/conformance/spf/README.md): a mapping from a name to a list of entries,

    {"SPF": text or [strings]}, {"TXT": text or [strings] or "NONE"}, {"A": ip},
    {"AAAA": ip}, {"MX": [preference, host]}, {"PTR": name}, {"CNAME": name}, "TIMEOUT"

and follows the suite's rules:
- a name with SPF entries and no TXT entry also gets each SPF entry as a TXT record;
- "TIMEOUT": a query for a type that has no record listed before it times out, answered
  as SERVFAIL (timeout_mode="servfail", the default) or not answered at all ("drop");
- names not in the zone are NXDOMAIN; names are matched without regard to ASCII case.

For DANE tests two more entries: {"TLSA": [usage, selector, matching_type, hex data]}, and
"SECURE", which marks the name as DNSSEC-validated: answers for it (and its no-data answers)
carry the AD bit when the query set AD or DO, as a validating resolver does (RFC 6840 §5.7).
A CNAME chain is secure only when every name on it is. No RRSIGs are served: the client is
meant to trust the AD bit of a resolver it is configured to trust.

Negative answers carry an SOA (TTL and MINIMUM 300) so that resolvers may cache them
(RFC 2308). Two extras for the DNS tests: a "TRUNCATE" entry makes UDP answers for the
name come back empty with the TC bit (TCP gets the full answer), and a TXT query for
`query-count.zoneserver.invalid` answers the number of queries served so far.

Run alone: `zoneserver.py --zone FILE` (JSON or YAML zone data) prints `PORT <n>` once it
listens on 127.0.0.1:<n> (UDP and TCP; a free port unless --port is given) and serves
until killed, or until its standard input closes with --exit-on-eof.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, SOA, TLSA, TXT, A, DNSLabel, DNSRecord

TTL = 300
SPF_TYPE = 99
COUNT_NAME = b"query-count.zoneserver.invalid"
MAX_CNAME_CHAIN = 8


def _key(name):
    """Lower-cased dotted bytes, no trailing dot."""
    if isinstance(name, DNSLabel):
        return b".".join(name.label).lower()
    if isinstance(name, str):
        name = name.encode("utf-8")
    return name.rstrip(b".").lower()


def _strings(value):
    """A TXT/SPF value as a list of character-strings of at most 255 octets."""
    parts = value if isinstance(value, list) else [value]
    strings = []
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        if not data:
            strings.append(b"")
        for start in range(0, len(data), 255):
            strings.append(data[start:start + 255])
    return strings


class Zone:
    """Zone data in the suite's format, ready to answer queries."""

    def __init__(self, zonedata):
        self.names = {}
        for name, entries in (zonedata or {}).items():
            self.names[_key(str(name))] = self._normalise(entries or [])

    @staticmethod
    def _normalise(entries):
        records = []  # (type name, value) in the order given; ("TIMEOUT", None) marks a timeout
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        for entry in entries:
            if isinstance(entry, str):
                records.append((entry.upper(), None))
                continue
            for rtype, value in entry.items():
                rtype = rtype.upper()
                if rtype == "TXT" and value == "NONE":
                    continue
                records.append((rtype, value))
                if rtype == "SPF" and not has_txt:
                    records.append(("TXT", value))
        return records

    def lookup(self, qname, qtype):
        """Returns ("answer", rcode, [RR], soa_needed) or ("timeout",)."""
        answers = []
        name = qname
        seen = set()
        for _ in range(MAX_CNAME_CHAIN):
            key = _key(name)
            if key in seen:
                return ("answer", RCODE.SERVFAIL, [], False)
            seen.add(key)
            records = self.names.get(key)
            if records is None:
                return ("answer", RCODE.NXDOMAIN, answers, True)
            cname = next((value for rtype, value in records if rtype == "CNAME"), None)
            if cname is not None and qtype != QTYPE.CNAME:
                answers.append(RR(name, QTYPE.CNAME, rdata=CNAME(cname), ttl=TTL))
                name = DNSLabel(cname)
                continue
            found = []
            for rtype, value in records:
                if rtype == "TIMEOUT":
                    if not found:
                        return ("timeout",)
                    break
                rr = self._record(name, rtype, value, qtype)
                if rr is not None:
                    found.append(rr)
            return ("answer", RCODE.NOERROR, answers + found, not found)
        return ("answer", RCODE.SERVFAIL, [], False)

    def secure(self, qname):
        """True when every name on the CNAME chain from qname is marked SECURE."""
        name = qname
        for _ in range(MAX_CNAME_CHAIN):
            records = self.names.get(_key(name))
            if records is None or not any(rtype == "SECURE" for rtype, _ in records):
                return False
            cname = next((value for rtype, value in records if rtype == "CNAME"), None)
            if cname is None:
                return True
            name = DNSLabel(cname)
        return False

    def truncates(self, qname):
        return any(rtype == "TRUNCATE" for rtype, _ in self.names.get(_key(qname), []))

    @staticmethod
    def _record(name, rtype, value, qtype):
        if rtype == "A" and qtype == QTYPE.A:
            return RR(name, QTYPE.A, rdata=A(str(value)), ttl=TTL)
        if rtype == "AAAA" and qtype == QTYPE.AAAA:
            return RR(name, QTYPE.AAAA, rdata=AAAA(str(value)), ttl=TTL)
        if rtype == "MX" and qtype == QTYPE.MX:
            preference, host = value
            return RR(name, QTYPE.MX, rdata=MX(DNSLabel(str(host)), int(preference)), ttl=TTL)
        if rtype == "PTR" and qtype == QTYPE.PTR:
            return RR(name, QTYPE.PTR, rdata=PTR(str(value)), ttl=TTL)
        if rtype == "TXT" and qtype == QTYPE.TXT:
            return RR(name, QTYPE.TXT, rdata=TXT(_strings(value)), ttl=TTL)
        if rtype == "TLSA" and qtype == QTYPE.TLSA:
            usage, selector, matching_type, data = value
            return RR(name, QTYPE.TLSA, rdata=TLSA(int(usage), int(selector), int(matching_type), bytes.fromhex(data)),
                      ttl=TTL)
        if rtype == "SPF" and qtype == SPF_TYPE:
            return RR(name, SPF_TYPE, rdata=TXT(_strings(value)), ttl=TTL)
        return None


class ZoneServer:
    """Serves one Zone on 127.0.0.1 over UDP and TCP, each request on the server's threads."""

    def __init__(self, zone, port=0, timeout_mode="servfail"):
        self.zone = zone
        self.timeout_mode = timeout_mode
        self.queries = 0
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(20):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", port))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
                if port:
                    raise
        else:
            raise OSError("no free port for both UDP and TCP")
        self.tcp.listen(64)
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def close(self):
        self._closed = True
        for sock in (self.udp, self.tcp):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def respond(self, data, over_tcp):
        """The response bytes for one query, or None to stay silent."""
        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - a garbled query gets no answer, like a real server
            return None
        reply = request.reply()
        reply.header.ra = 1
        reply.header.ad = 0  # reply() copies the query's flags; AD is earned below
        question = request.q
        if question.qtype == QTYPE.TXT and _key(question.qname) == COUNT_NAME:
            reply.add_answer(RR(question.qname, QTYPE.TXT, rdata=TXT([str(self.queries).encode()]), ttl=0))
            return reply.pack()
        with self._lock:
            self.queries += 1
        if not over_tcp and self.zone.truncates(question.qname):
            reply.header.tc = 1
            return reply.pack()
        outcome = self.zone.lookup(question.qname, question.qtype)
        if outcome[0] == "timeout":
            if self.timeout_mode == "drop":
                return None
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        _, rcode, answers, negative = outcome
        reply.header.rcode = rcode
        if rcode == RCODE.NOERROR and (request.header.ad or _asks_dnssec(request)) and self.zone.secure(question.qname):
            reply.header.ad = 1
        for rr in answers:
            reply.add_answer(rr)
        if negative and rcode in (RCODE.NOERROR, RCODE.NXDOMAIN):
            soa = SOA("ns.zoneserver.invalid", "hostmaster.zoneserver.invalid", (1, 3600, 600, 86400, TTL))
            reply.add_auth(RR(".", QTYPE.SOA, rdata=soa, ttl=TTL))
        return reply.pack()

    def _serve_udp(self):
        while not self._closed:
            try:
                data, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            response = self.respond(data, over_tcp=False)
            if response is not None:
                try:
                    self.udp.sendto(response, peer)
                except OSError:
                    pass

    def _serve_tcp(self):
        while not self._closed:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_tcp_connection, args=(conn,), daemon=True).start()

    def _serve_tcp_connection(self, conn):
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    header = _read_exactly(conn, 2)
                    if header is None:
                        return
                    data = _read_exactly(conn, struct.unpack("!H", header)[0])
                    if data is None:
                        return
                    response = self.respond(data, over_tcp=True)
                    if response is not None:
                        conn.sendall(struct.pack("!H", len(response)) + response)
            except OSError:
                return


def _asks_dnssec(request):
    """The DO bit of the query's EDNS OPT record (RFC 3225)."""
    return any(rr.rtype == QTYPE.OPT and rr.ttl & 0x8000 for rr in request.ar)


def _read_exactly(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def load_zone_file(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".json"):
        return json.loads(text)
    import yaml  # only needed for YAML zone files

    return yaml.safe_load(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zone", required=True, help="zone data, JSON or YAML")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--timeout-mode", choices=["servfail", "drop"], default="servfail")
    parser.add_argument("--exit-on-eof", action="store_true", help="exit when standard input closes")
    args = parser.parse_args()
    server = ZoneServer(Zone(load_zone_file(args.zone)), port=args.port, timeout_mode=args.timeout_mode).start()
    print(f"PORT {server.port}", flush=True)
    if args.exit_on_eof:
        sys.stdin.read()
        os._exit(0)
    threading.Event().wait()


if __name__ == "__main__":
    main()
