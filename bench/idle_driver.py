#!/usr/bin/env python3
"""Hold many idle SMTP sessions open and time the greeting of new clients.

Used by bench/idle.sh (issue #15 item 4); loopback addresses only.

  idle_driver.py --port P --count 10000 --pids "PID..." [--sources 2-50]
                 [--probe 200] [--ehlo] [--settle 3] [--json FILE]

1. Probe: --probe sequential connects from 127.0.0.1, each timed from
   connect() to the end of the 220 line, then QUIT (the baseline).
2. Open --count sessions from 127.0.0.2 ... 127.0.0.N (round robin, so no
   single address holds more than count/N), read each greeting (and with
   --ehlo send EHLO and read its reply), then leave them idle.
3. Memory of the server: VmRSS, VmHWM and Pss (smaps_rollup) summed over
   --pids (and their children, for Postfix's smtpd processes).
4. The same probe again while the sessions are held.
5. Count how many held sessions are still open (nothing to read, no EOF).
"""
import argparse
import errno
import json
import os
import select
import socket
import statistics
import sys
import time


def proc_tree(pids):
    """pids and all their descendants (Postfix: master -> smtpd...)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, stack = [], list(pids)
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def memory(pids):
    """Summed kB over the process tree: VmRSS, VmHWM, Pss; and the count."""
    total = {"rss_kb": 0, "hwm_kb": 0, "pss_kb": 0, "processes": 0, "threads": 0}
    for pid in proc_tree(pids):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key == "VmRSS":
                        total["rss_kb"] += int(value.split()[0])
                    elif key == "VmHWM":
                        total["hwm_kb"] += int(value.split()[0])
                    elif key == "Threads":
                        total["threads"] += int(value.split()[0])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total["pss_kb"] += int(line.split()[1])
            total["processes"] += 1
        except OSError:
            continue
    return total


def read_reply(sock, deadline):
    """Read one (possibly multi-line) SMTP reply; returns its text."""
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete reply")
        sock.settimeout(remaining)
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed: %r" % data)
        data += chunk
        lines = data.split(b"\r\n")
        for line in lines[:-1]:
            if len(line) >= 4 and line[3:4] == b" ":
                return data.decode("ascii", "replace")


def probe(port, n, timeout=10.0):
    """n sequential greetings from 127.0.0.1; ms each, and failures."""
    times, failures = [], []
    for _ in range(n):
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                reply = read_reply(s, t0 + timeout)
                t1 = time.monotonic()
                if not reply.startswith("220"):
                    failures.append(reply.strip()[:80])
                    continue
                times.append((t1 - t0) * 1000)
                s.sendall(b"QUIT\r\n")
                try:
                    read_reply(s, time.monotonic() + timeout)
                except (OSError, TimeoutError, ConnectionError):
                    pass
        except (OSError, TimeoutError, ConnectionError) as e:
            failures.append(str(e)[:80])
    return times, failures


def summary(times):
    if not times:
        return {"n": 0}
    s = sorted(times)
    pct = lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
    return {"n": len(s), "p50_ms": round(statistics.median(s), 2), "p99_ms": round(pct(0.99), 2),
            "max_ms": round(s[-1], 2)}


class Held:
    """One idle session being opened: connect, greeting, optional EHLO."""
    __slots__ = ("sock", "state", "buf")

    def __init__(self, sock):
        self.sock, self.state, self.buf = sock, "connecting", b""


def open_sessions(port, count, sources, ehlo, in_flight=256, timeout=120.0):
    """Opens count sessions, at most in_flight opening at once."""
    ep = select.epoll()
    opening, held, failed = {}, [], []
    next_i = 0
    deadline = time.monotonic() + timeout
    while (next_i < count or opening) and time.monotonic() < deadline:
        while next_i < count and len(opening) < in_flight:
            src = sources[next_i % len(sources)]
            next_i += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.bind((src, 0))
                s.connect_ex(("127.0.0.1", port))
            except OSError as e:
                failed.append("connect: %s" % e)
                s.close()
                continue
            h = Held(s)
            opening[s.fileno()] = h
            ep.register(s.fileno(), select.EPOLLIN | select.EPOLLOUT)
        for fd, ev in ep.poll(1.0):
            h = opening.get(fd)
            if h is None:
                continue
            if h.state == "connecting":
                err = h.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failed.append("connect: %s" % os.strerror(err))
                    ep.unregister(fd); h.sock.close(); del opening[fd]
                    continue
                h.state = "greeting"
                ep.modify(fd, select.EPOLLIN)
                if not ev & select.EPOLLIN:
                    continue
            try:
                chunk = h.sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                chunk = b""
                h.buf += str(e).encode()
            if not chunk:
                failed.append("closed: %r" % h.buf[:60])
                ep.unregister(fd); h.sock.close(); del opening[fd]
                continue
            h.buf += chunk
            complete = [l for l in h.buf.split(b"\r\n")[:-1] if l[3:4] == b" "]
            if not complete:
                continue
            code = complete[-1][:3]
            if h.state == "greeting" and code == b"220" and ehlo:
                h.state, h.buf = "ehlo", b""
                h.sock.send(b"EHLO idle.example.test\r\n")
                continue
            ep.unregister(fd)
            del opening[fd]
            if code in (b"220", b"250"):
                held.append(h.sock)
            else:
                failed.append(h.buf.decode("ascii", "replace").strip()[:80])
                h.sock.close()
    for fd, h in opening.items():
        failed.append("timed out in state %s" % h.state)
        h.sock.close()
    ep.close()
    return held, failed


def still_open(held):
    """Held sessions with nothing to read and no EOF (none timed out)."""
    poller = select.poll()
    for s in held:
        poller.register(s, select.POLLIN)
    return len(held) - len(poller.poll(0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--sources", default="2-50", help="last octets of 127.0.0.X to connect from")
    ap.add_argument("--probe", type=int, default=200)
    ap.add_argument("--pids", default="", help="server process ids (their children are counted too)")
    ap.add_argument("--ehlo", action="store_true")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--label", default="server")
    ap.add_argument("--json")
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.sources.split("-"))
    sources = ["127.0.0.%d" % i for i in range(lo, hi + 1)]
    pids = [int(p) for p in a.pids.split()]

    result = {"label": a.label, "count": a.count, "ehlo": a.ehlo, "sources": len(sources)}
    result["mem_start"] = memory(pids)
    t, f = probe(a.port, a.probe)
    result["probe_idle"], result["probe_idle_failures"] = summary(t), len(f)

    t0 = time.monotonic()
    held, failed = open_sessions(a.port, a.count, sources, a.ehlo)
    result["open_seconds"] = round(time.monotonic() - t0, 2)
    result["held"], result["open_failures"] = len(held), len(failed)
    result["open_failure_examples"] = sorted(set(failed))[:5]
    time.sleep(a.settle)
    result["mem_held"] = memory(pids)

    t, f = probe(a.port, a.probe)
    result["probe_held"], result["probe_held_failures"] = summary(t), len(f)
    result["probe_held_failure_examples"] = sorted(set(f))[:3]
    result["mem_after_probe"] = memory(pids)
    result["still_open"] = still_open(held)
    for s in held:
        s.close()
    time.sleep(a.settle)
    result["mem_closed"] = memory(pids)

    text = json.dumps(result, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
