"""Real mail clients against Dovecot and Postern on quarantine Maildirs (issue #14).

Each client script below is a function of a server's `Endpoints` that returns what the
client saw (an "observation": plain data keyed by Message-ID or Maildir name, so two servers
can be compared). Every script runs against Dovecot (dovecot-imapd/pop3d, a private instance,
mailaccess.Dovecot) and against Postern's IMAP/POP3 listeners, each on a Maildir of its own
filled with the same files (mailaccess.sample_messages: plain, multipart with attachment,
forwarded message/rfc822, 8-bit UTF-8, one already seen). Each observation is checked
against the files themselves, then Postern's against Dovecot's.

Clients: Python imaplib (LOGIN, LIST, SELECT, FETCH, SEARCH, STORE, EXPUNGE, UID variants,
IDLE) and poplib; curl imap(s):// and pop3(s)://; mbsync (isync) syncing INBOX to a local
Maildir and back; fetchmail over POP3; mutt in batch mode (under `script`, for its tty)
reading a message and saving it to Release.

Postern logs in as its administrator (sees every quarantined message), Dovecot as the
same user (INBOX is the Maildir). The Postern half is skipped while `postern config check`
calls [imap] an unknown key; a missing client or Dovecot fails with CI=true, skips elsewhere.
"""

from __future__ import annotations

import email
import email.utils
import hashlib
import imaplib
import mailbox
import os
import poplib
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mailaccess import (ADMIN, USERS, Dovecot, Endpoints, PosternMail, QuarantinedMessage, body_shape,
                        fetch_items, imap_text, maildir_state, plain_message, postern_has_imap, sample_messages,
                        start_dovecot, visible_to)
from postern_harness import require_tool

KINDS = ["dovecot", "postern"]


@pytest.fixture
def serve(request, tmp_path, tls_cert):
    """serve(kind, messages=sample_messages()) -> a started Dovecot or PosternMail with
    those messages in its Maildir ("Release" exists on both). Logs are printed at
    teardown (pytest shows them for a failing test)."""
    started: list = []
    request.node._postern_servers = []

    def start(kind: str, messages: list[QuarantinedMessage] | None = None):
        messages = sample_messages() if messages is None else messages
        if kind == "dovecot":
            server = start_dovecot(tls_cert, messages=messages)
            started.append(server)
        else:
            binary = request.getfixturevalue("postern_bin")
            if not postern_has_imap(binary):
                pytest.skip("postern has no IMAP/POP3 server yet (`config check` calls [imap] an unknown key)")
            server = PosternMail(binary, tmp_path / f"postern{len(started)}", tls_cert)
            started.append(server)
            request.node._postern_servers.append(server.server)
            server.fill(messages)
            server.start()
        server.create("Release")
        return server

    yield start
    for server in started:
        if isinstance(server, Dovecot):
            print(f"----- dovecot log ({server.dir}):\n{server.log_text()[-15000:]}")
        elif server.unready:
            print(f"----- postern listeners that did not greet: {server.unready}")
        server.close()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def lf(data: bytes) -> bytes:
    """What clients that store mail with LF line ends (mutt, mbsync, fetchmail's MDA) keep."""
    return data.replace(b"\r\n", b"\n")


def by_message_id(messages: list[QuarantinedMessage]) -> dict[str, QuarantinedMessage]:
    return {m.message_id: m for m in messages}


def header_section(contents: bytes) -> bytes:
    return contents[:contents.index(b"\r\n\r\n") + 4]


def header_fields(contents: bytes, *names: str) -> bytes:
    """The named fields of the header section, in order, then the empty line
    (BODY[HEADER.FIELDS (…)], RFC 3501 §6.4.5)."""
    lines = re.findall(rb"[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", header_section(contents)[:-2])
    wanted = {n.lower().encode() for n in names}
    return b"".join(line for line in lines if line.split(b":", 1)[0].strip().lower() in wanted) + b"\r\n"


def ok(response: tuple) -> list:
    typ, data = response
    assert typ == "OK", response
    return data


def flag_set(value) -> list[str]:
    """FLAGS without \\Recent (which session gets it is the server's choice), sorted."""
    return sorted(f.decode() for f in value if f.decode().lower() != "\\recent")


def seq_to_ids(client: imaplib.IMAP4) -> dict[int, str]:
    items = fetch_items(ok(client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")))
    return {n: v["BODY[HEADER.FIELDS (MESSAGE-ID)]"].split(b":", 1)[1].strip().decode() for n, v in items.items()}


def search_ids(client: imaplib.IMAP4, ids: dict[int, str], *criteria, uid: bool = False,
               uid_to_id: dict[int, str] | None = None) -> list[str]:
    data = ok(client.uid("SEARCH", *criteria) if uid else client.search(None, *criteria))
    numbers = [int(n) for n in data[0].split()]
    table = uid_to_id if uid else ids
    return sorted(table[n] for n in numbers)


# --------------------------------------------------------------------------
# Python imaplib


def imap_session(ep: Endpoints) -> dict:
    """LOGIN, LIST, SELECT, FETCH each item kind, SEARCH, STORE, EXPUNGE and their UID forms;
    then a new session: UIDVALIDITY, UIDs and flags as left."""
    obs: dict = {}
    c = ep.imap_client()
    obs["mailboxes"] = sorted(re.search(rb'(?:"[^"]*"|NIL) "?([^"]*)"?$', line).group(1).decode()
                              for line in ok(c.list('""', "*")))
    obs["exists"] = int(ok(c.select("INBOX"))[0])
    uidvalidity = int(c.response("UIDVALIDITY")[1][0])
    ids = seq_to_ids(c)
    items = fetch_items(ok(c.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE "
                                          "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])")))
    bodies = fetch_items(ok(c.fetch("1:*", "(BODY.PEEK[])")))
    uid_to_id = {v["UID"]: ids[n] for n, v in items.items()}
    obs["uid_order"] = [uid_to_id[u] for u in sorted(uid_to_id)]
    obs["messages"] = {ids[n]: {
        "flags": flag_set(v["FLAGS"]), "size": v["RFC822.SIZE"],
        "internaldate": int(time.mktime(imaplib.Internaldate2tuple(b'INTERNALDATE "' + v["INTERNALDATE"] + b'"'))),
        "envelope": imap_text(v["ENVELOPE"]), "subject": v["ENVELOPE"][1], "from": v["ENVELOPE"][2],
        "bodystructure": imap_text(v["BODYSTRUCTURE"]), "shape": body_shape(v["BODYSTRUCTURE"]),
        "from_subject": v["BODY[HEADER.FIELDS (FROM SUBJECT)]"],
        "body": bodies[n]["BODY[]"],
    } for n, v in items.items()}

    # A partial fetch without PEEK sets \Seen (RFC 3501 §6.4.5).
    first = ids[1]
    partial = fetch_items(ok(c.fetch("1", "(BODY[]<0.100>)")))[1]
    obs["partial"] = partial["BODY[]<0>"]
    obs["seen_after_partial"] = "\\Seen" in flag_set(fetch_items(ok(c.fetch("1", "(FLAGS)")))[1]["FLAGS"])

    obs["search"] = {
        "all": search_ids(c, ids, "ALL"),
        "from dora": search_ids(c, ids, "FROM", "dora"),
        "subject": search_ids(c, ids, "SUBJECT", '"plain message"'),
        "unseen": search_ids(c, ids, "UNSEEN"),
        "since": search_ids(c, ids, "SINCE", "1-Jun-2026"),
        "uid from": search_ids(c, ids, "FROM", "frank", uid=True, uid_to_id=uid_to_id),
    }
    c.literal = "Grüße".encode()
    obs["search"]["utf-8 subject"] = sorted(ids[int(n)] for n in ok(c.search("UTF-8", "SUBJECT"))[0].split())

    # STORE and UID STORE; then \Deleted and EXPUNGE ("For carol only").
    id_to_seq = {v: k for k, v in ids.items()}
    id_to_uid = {v: k for k, v in uid_to_id.items()}
    stored = fetch_items(ok(c.store(str(id_to_seq["<attach1@client.example>"]), "+FLAGS", "(\\Seen)")))
    obs["store_reply"] = [flag_set(v["FLAGS"]) for v in stored.values()]
    ok(c.uid("STORE", str(id_to_uid["<forward1@client.example>"]), "+FLAGS", "(\\Flagged)"))
    uid_flags = fetch_items(ok(c.uid("FETCH", str(id_to_uid["<forward1@client.example>"]), "(FLAGS RFC822.SIZE)")))
    # UIDs themselves are each server's own; what they name must agree.
    obs["uid_fetch"] = [(uid_to_id[v["UID"]], flag_set(v["FLAGS"]), v["RFC822.SIZE"]) for v in uid_flags.values()]
    ok(c.store(str(id_to_seq["<plain3@client.example>"]), "+FLAGS", "(\\Deleted)"))
    obs["expunged"] = [int(n) for n in ok(c.expunge()) if n is not None]
    obs["exists_after_expunge"] = len(seq_to_ids(c))
    c.logout()

    # Another session: same UIDVALIDITY, same UIDs, the flags as stored.
    c = ep.imap_client()
    ok(c.select("INBOX"))
    obs["uidvalidity_stable"] = int(c.response("UIDVALIDITY")[1][0]) == uidvalidity
    ids = seq_to_ids(c)
    again = fetch_items(ok(c.fetch("1:*", "(UID FLAGS)")))
    obs["uids_stable"] = all(id_to_uid[ids[n]] == v["UID"] for n, v in again.items())
    obs["flags_after"] = {ids[n]: flag_set(v["FLAGS"]) for n, v in again.items()}
    c.logout()
    obs["disk_after"] = maildir_state(ep.maildir)
    obs["first"] = first
    return obs


def check_imap(obs: dict, messages: list[QuarantinedMessage]) -> None:
    """What imap_session must have seen, from the files alone."""
    want = by_message_id(messages)
    assert {"INBOX", "Release"} <= set(obs["mailboxes"]), obs["mailboxes"]
    assert obs["exists"] == len(messages)
    assert obs["uid_order"] == [m.message_id for m in sorted(messages, key=lambda m: m.base_name)]
    assert set(obs["messages"]) == set(want)
    shapes = {"<attach1@client.example>": "multipart/mixed[text/plain,application/pdf]",
              "<forward1@client.example>":
                  "multipart/mixed[text/plain,message/rfc822[multipart/alternative[text/plain,text/html]]]"}
    for message_id, seen in obs["messages"].items():
        m = want[message_id]
        assert seen["body"] == m.contents, f"{message_id}: BODY[] is not the file"
        assert seen["size"] == len(m.contents), message_id
        assert seen["internaldate"] == m.when, message_id
        assert seen["flags"] == (["\\Seen"] if m.flags == "S" else []), message_id
        assert seen["from_subject"] == header_fields(m.contents, "From", "Subject"), message_id
        assert seen["shape"] == shapes.get(message_id, "text/plain"), message_id
        subject = email.message_from_bytes(m.message)["Subject"]
        assert seen["subject"].decode() == subject, message_id
        assert seen["from"][0][2] + b"@" + seen["from"][0][3] == email.utils.parseaddr(
            email.message_from_bytes(m.message)["From"])[1].encode(), message_id
    assert "text/plain" in obs["messages"]["<eightbit1@client.example>"]["shape"]
    assert '"8bit"' in obs["messages"]["<eightbit1@client.example>"]["bodystructure"].lower()
    assert '"report.pdf"' in obs["messages"]["<attach1@client.example>"]["bodystructure"]
    assert obs["partial"] == want[obs["first"]].contents[:100]
    assert obs["seen_after_partial"]

    seen_before = {m.message_id for m in messages if m.flags == "S"}
    assert obs["search"] == {
        "all": sorted(want),
        "from dora": ["<attach1@client.example>", "<forward1@client.example>"],
        "subject": ["<plain1@client.example>"],
        "unseen": sorted(set(want) - seen_before - {obs["first"]}),
        "since": sorted(m.message_id for m in messages if m.when >= 1_780_272_000),  # 1 Jun 2026
        "uid from": ["<plain2@client.example>"],
        "utf-8 subject": ["<eightbit1@client.example>"],
    }
    assert obs["store_reply"] == [["\\Seen"]]
    assert obs["uid_fetch"] == [("<forward1@client.example>", ["\\Flagged"],
                                 len(want["<forward1@client.example>"].contents))]
    assert obs["expunged"] == [sorted(want, key=lambda i: want[i].base_name).index("<plain3@client.example>") + 1]
    assert obs["exists_after_expunge"] == len(messages) - 1
    assert obs["uidvalidity_stable"] and obs["uids_stable"]
    expected_flags = {i: (["\\Seen"] if want[i].flags == "S" else []) for i in want if i != "<plain3@client.example>"}
    expected_flags[obs["first"]] = ["\\Seen"]
    expected_flags["<attach1@client.example>"] = ["\\Seen"]
    expected_flags["<forward1@client.example>"] = ["\\Flagged"]
    assert obs["flags_after"] == expected_flags
    # On disk: the expunged file is gone, the flags are in the names (":2,S", ":2,F").
    letters = {"\\Seen": "S", "\\Flagged": "F"}
    assert obs["disk_after"] == {want[i].base_name: "".join(sorted(letters[f] for f in fl))
                                 for i, fl in expected_flags.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_imaplib(serve, kind):
    server = serve(kind)
    check_imap(imap_session(server.endpoints()), sample_messages())


@pytest.mark.parametrize("kind", KINDS)
def test_imaplib_tls_modes(serve, kind):
    """LOGIN over implicit TLS, after STARTTLS, and in plaintext (allowed on loopback here)."""
    ep = serve(kind).endpoints()
    counts = {}
    for mode in ("implicit", "starttls", "none"):
        c = ep.imap_client(tls=mode)
        counts[mode] = int(ok(c.select("INBOX", readonly=True))[0])
        c.logout()
    assert counts == dict.fromkeys(counts, len(sample_messages()))


def imap_idle(server, timeout: float = 30.0) -> list[bytes]:
    """IDLE (RFC 2177) in INBOX while a message arrives; the untagged lines until EXISTS."""
    c = server.endpoints().imap_client()
    count = int(ok(c.select("INBOX"))[0])
    tag = c._new_tag()
    c.send(tag + b" IDLE\r\n")
    assert c.readline().startswith(b"+"), "no continuation for IDLE"
    server.add(QuarantinedMessage(plain_message(99, 1_780_600_000, subject="Arrived while idling"),
                                  1_780_600_000))
    c.sock.settimeout(timeout)
    lines = []
    try:
        while not lines or not re.match(rb"\* %d EXISTS" % (count + 1), lines[-1]):
            lines.append(c.readline().rstrip(b"\r\n"))
    except (socket.timeout, TimeoutError):
        raise AssertionError(f"no EXISTS within {timeout}s of a new message; got {lines}") from None
    c.send(b"DONE\r\n")
    while not (line := c.readline()).startswith(tag):
        lines.append(line.rstrip(b"\r\n"))
    assert line.startswith(tag + b" OK"), line
    c.logout()
    return [line for line in lines if b"EXISTS" in line]


@pytest.mark.parametrize("kind", KINDS)
def test_imap_idle_sees_a_new_message(serve, kind):
    assert imap_idle(serve(kind)) == [b"* %d EXISTS" % (len(sample_messages()) + 1)]


# --------------------------------------------------------------------------
# Python poplib


def pop3_client(ep: Endpoints, tls: str) -> poplib.POP3:
    if tls == "implicit":
        client = poplib.POP3_SSL(ep.host, ep.pop3s, context=ep.ssl_context(), timeout=30)
    else:
        client = poplib.POP3(ep.host, ep.pop3, timeout=30)
        if tls == "starttls":
            client.stls(context=ep.ssl_context())
    client.user(ep.user)
    client.pass_(ep.password)
    return client


def pop3_session(ep: Endpoints) -> dict:
    """STAT, LIST, UIDL, TOP n 0, RETR over each kind of connection; DELE 1 and QUIT; then
    the UIDLs again."""
    obs: dict = {}
    for tls in ("none", "starttls"):
        p = pop3_client(ep, tls)
        obs[f"stat {tls}"] = p.stat()
        p.quit()
    p = pop3_client(ep, "implicit")
    obs["stat"] = p.stat()
    sizes = {int(n): int(s) for n, s in (line.split() for line in p.list()[1])}
    uidl = {int(n): u.decode() for n, u in (line.split() for line in p.uidl()[1])}
    obs["list"] = {uidl[n]: s for n, s in sizes.items()}
    obs["top"] = {uidl[n]: b"\r\n".join(p.top(n, 0)[1]) + b"\r\n" for n in sizes}
    obs["retr"] = {uidl[n]: b"\r\n".join(p.retr(n)[1]) + b"\r\n" for n in sizes}
    obs["deleted"] = uidl[1]
    p.dele(1)
    p.quit()
    p = pop3_client(ep, "implicit")
    obs["stat_after"] = p.stat()
    obs["uidl_after"] = sorted(u.decode() for _, u in (line.split() for line in p.uidl()[1]))
    p.quit()
    obs["disk_after"] = sorted(maildir_state(ep.maildir))
    return obs


def check_pop3(obs: dict, messages: list[QuarantinedMessage]) -> None:
    names = {m.base_name: m for m in messages}
    total = (len(messages), sum(len(m.contents) for m in messages))
    assert obs["stat none"] == obs["stat starttls"] == obs["stat"] == total
    assert obs["list"] == {n: len(m.contents) for n, m in names.items()}, "UIDL is the Maildir base name"
    assert obs["top"] == {n: header_section(m.contents) for n, m in names.items()}
    assert obs["retr"] == {n: m.contents for n, m in names.items()}
    assert obs["deleted"] == min(names)
    assert obs["stat_after"] == (total[0] - 1, total[1] - len(names[obs["deleted"]].contents))
    assert obs["uidl_after"] == obs["disk_after"] == sorted(set(names) - {obs["deleted"]})


@pytest.mark.parametrize("kind", KINDS)
def test_poplib(serve, kind):
    server = serve(kind)
    check_pop3(pop3_session(server.endpoints()), sample_messages())


# --------------------------------------------------------------------------
# curl


def curl(ep: Endpoints, url: str, *args: str) -> bytes:
    tool = require_tool("curl")
    p = subprocess.run([tool, "-sS", "--max-time", "30", "--cacert", ep.cafile, "-u", f"{ep.user}:{ep.password}",
                        *args, url], capture_output=True, timeout=60)
    assert p.returncode == 0, f"curl {url} {args}: exit {p.returncode}: {p.stderr.decode(errors='replace')}"
    return p.stdout


def curl_session(ep: Endpoints) -> dict:
    """LIST, SEARCH, a message by UID (imaps://, imap:// with STARTTLS), the POP3 listing,
    UIDL and a message (pop3s://, pop3:// with STLS)."""
    imaps, imap = f"imaps://{ep.host}:{ep.imaps}", f"imap://{ep.host}:{ep.imap}"
    pop3s, pop3 = f"pop3s://{ep.host}:{ep.pop3s}", f"pop3://{ep.host}:{ep.pop3}"
    c = ep.imap_client()
    ok(c.select("INBOX", readonly=True))
    ids = seq_to_ids(c)
    uid_of = {ids[n]: v["UID"] for n, v in fetch_items(ok(c.fetch("1:*", "(UID)"))).items()}
    c.logout()
    uid = uid_of["<forward1@client.example>"]
    obs = {
        "list": sorted(re.findall(rb'^\* LIST \([^)]*\) (?:"[^"]*"|NIL) "?([^"\r\n]*?)"?\r$', curl(ep, imaps + "/"), re.M)),
        "search": curl(ep, imaps + "/INBOX?ALL").strip(),
        "by uid": curl(ep, f"{imaps}/INBOX;UID={uid}"),
        "by uid starttls": curl(ep, f"{imap}/INBOX;UID={uid}", "--ssl-reqd"),
        "header section": curl(ep, f"{imaps}/INBOX;UID={uid};SECTION=HEADER"),
        "pop3 list": curl(ep, pop3s + "/"),
        "pop3 uidl": curl(ep, pop3 + "/", "-X", "UIDL", "--ssl-reqd"),
        "pop3 retr 2": curl(ep, pop3s + "/2"),
    }
    return obs


def check_curl(obs: dict, messages: list[QuarantinedMessage]) -> None:
    ordered = sorted(messages, key=lambda m: m.base_name)
    forward = by_message_id(messages)["<forward1@client.example>"]
    assert {b"INBOX", b"Release"} <= set(obs["list"]), obs["list"]
    assert obs["search"] == b"* SEARCH " + " ".join(str(i + 1) for i in range(len(messages))).encode()
    assert obs["by uid"] == obs["by uid starttls"] == forward.contents
    assert obs["header section"] == header_section(forward.contents)
    assert obs["pop3 list"] == b"".join(b"%d %d\r\n" % (i + 1, len(m.contents)) for i, m in enumerate(ordered))
    assert obs["pop3 uidl"] == b"".join(b"%d %s\r\n" % (i + 1, m.base_name.encode()) for i, m in enumerate(ordered))
    assert obs["pop3 retr 2"] == ordered[1].contents


@pytest.mark.parametrize("kind", KINDS)
def test_curl(serve, kind):
    check_curl(curl_session(serve(kind).endpoints()), sample_messages())


# --------------------------------------------------------------------------
# mbsync (isync)


def without_tuid(stored: bytes) -> bytes:
    """mbsync's copy without the X-TUID field it adds to the header (its own tracking)."""
    return re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", stored, count=1)


def mbsync_session(server, workdir: Path) -> dict:
    """Sync INBOX to a local Maildir; flag one message and delete another locally while a
    new one arrives on the server; sync back; sync a third time (nothing to do). The server
    is then read with imaplib: flags, expunges, UIDVALIDITY and UIDs as mbsync recorded them."""
    tool = require_tool("mbsync")
    ep = server.endpoints()
    local = workdir / "local"
    local.mkdir(parents=True)
    rc = workdir / "mbsyncrc"
    # The certificate names "localhost" (mbsync does not match IP addresses in it).
    rc.write_text(f"""IMAPAccount server
Host localhost
Port {ep.imaps}
User {ep.user}
Pass "{ep.password}"
SSLType IMAPS
CertificateFile {ep.cafile}

IMAPStore remote
Account server

MaildirStore local
Path {local}/
Inbox {local}/INBOX

Channel inbox
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync All
Expunge Both
SyncState *
""")

    def sync() -> str:
        p = subprocess.run([tool, "-c", str(rc), "-a", "-V"], capture_output=True, timeout=120,
                           env={**os.environ, "HOME": str(workdir)})
        out = (p.stdout + p.stderr).decode(errors="replace")
        assert p.returncode == 0, f"mbsync exited {p.returncode}:\n{out}"
        return out

    def local_messages() -> dict[str, tuple[str, Path]]:
        """Message-ID -> (Maildir flags, file) of mbsync's copies."""
        out = {}
        for path in [*(local / "INBOX" / "new").iterdir(), *(local / "INBOX" / "cur").iterdir()]:
            info = path.name.partition(":")[2]
            out[email.message_from_bytes(path.read_bytes())["Message-ID"]] = (info[2:], path)
        return out

    obs: dict = {}
    sync()
    first = local_messages()
    obs["first_sync"] = {i: (flags, digest(without_tuid(path.read_bytes()))) for i, (flags, path) in first.items()}
    # As a MUA does: flag one (rename to cur/…:2,F…), delete another (unlink).
    flags, path = first["<attach1@client.example>"]
    path.rename(local / "INBOX" / "cur" / (path.name.partition(":")[0] + ":2," + "".join(sorted(flags + "F"))))
    first["<plain1@client.example>"][1].unlink()
    server.add(QuarantinedMessage(plain_message(50, 1_780_700_000, subject="Arrived between syncs"),
                                  1_780_700_000))
    sync()
    obs["second_sync"] = {i: flags for i, (flags, _) in local_messages().items()}
    state_before = (local / "INBOX" / ".mbsyncstate").read_text()
    third = sync()
    obs["third_sync_changes"] = [line for line in third.splitlines()
                                 if re.search(r"UIDVALIDITY|[1-9]\d* (new|flag|expunged|deleted)", line, re.I)]
    obs["state_unchanged"] = (local / "INBOX" / ".mbsyncstate").read_text() == state_before

    state = (local / "INBOX" / ".mbsyncstate").read_text()
    far_validity = int(re.search(r"^FarUidValidity (\d+)$", state, re.M).group(1))
    far_uids = sorted(int(line.split()[0]) for line in state.splitlines() if re.match(r"^\d+ \d+ ", line))
    c = ep.imap_client()
    ok(c.select("INBOX"))
    obs["uidvalidity_as_recorded"] = int(c.response("UIDVALIDITY")[1][0]) == far_validity
    ids = seq_to_ids(c)
    items = fetch_items(ok(c.fetch("1:*", "(UID FLAGS)")))
    obs["server_uids_as_recorded"] = sorted(v["UID"] for v in items.values()) == far_uids
    obs["server"] = {ids[n]: flag_set(v["FLAGS"]) for n, v in items.items()}
    c.logout()
    return obs


def check_mbsync(obs: dict, messages: list[QuarantinedMessage], workdir: Path) -> None:
    want = by_message_id(messages)
    assert {i: flags for i, (flags, _) in obs["first_sync"].items()} == {
        i: ("S" if m.flags == "S" else "") for i, m in want.items()}
    box = mailbox.Maildir(str(workdir / "local" / "INBOX"), factory=None, create=False)
    for key in box.keys():
        raw = without_tuid(box.get_bytes(key))
        mid = email.message_from_bytes(raw)["Message-ID"]
        if mid in want:
            assert raw == lf(want[mid].contents), f"{mid}: mbsync's copy differs from the file"
    after = {i: ("S" if m.flags == "S" else "") for i, m in want.items() if i != "<plain1@client.example>"}
    after["<attach1@client.example>"] = "F"
    after["<plain50@client.example>"] = ""
    assert obs["second_sync"] == after
    assert obs["third_sync_changes"] == [] and obs["state_unchanged"], obs["third_sync_changes"]
    assert obs["uidvalidity_as_recorded"] and obs["server_uids_as_recorded"]
    assert obs["server"] == {i: ["\\" + {"S": "Seen", "F": "Flagged"}[f]] if f else [] for i, f in after.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_mbsync_round_trip(serve, kind, tmp_path):
    obs = mbsync_session(serve(kind), tmp_path / "mbsync")
    check_mbsync(obs, sample_messages(), tmp_path / "mbsync")


# --------------------------------------------------------------------------
# fetchmail


def fetchmail_session(ep: Endpoints, workdir: Path) -> dict:
    """Over pop3s: once with `keep` (the server keeps everything), once without (it is
    emptied). Each message goes through an MDA that writes it to a file, as fetched."""
    tool = require_tool("fetchmail")
    workdir.mkdir(parents=True, exist_ok=True)
    obs: dict = {}
    for run, keep in (("keep", "keep"), ("nokeep", "nokeep")):
        out = workdir / run
        out.mkdir()
        deliver = workdir / "deliver.sh"
        deliver.write_text('#!/bin/sh\ncat > "$1/$(date +%s%N).$$"\n')
        deliver.chmod(0o755)
        rc = workdir / "fetchmailrc"
        # "localhost": the name in the certificate; fetchmail checks it (sslcertck).
        rc.write_text(f"""set no syslog
set invisible
poll localhost with proto POP3 port {ep.pop3s}
  user "{ep.user}" there with password "{ep.password}" is "root" here
  ssl sslcertck sslcertfile "{ep.cafile}"
  mda "{deliver} {out}"
  fetchall {keep} no rewrite
""")
        rc.chmod(0o600)
        p = subprocess.run([tool, "-f", str(rc), "-i", str(workdir / "fetchids"), "--nodetach", "-v"],
                           capture_output=True, timeout=120, env={**os.environ, "HOME": str(workdir)})
        log = (p.stdout + p.stderr).decode(errors="replace")
        assert p.returncode == 0, f"fetchmail exited {p.returncode}:\n{log}"
        obs[run] = sorted(digest(f.read_bytes()) for f in out.iterdir())
        c = pop3_client(ep, "implicit")
        obs[f"{run} stat after"] = c.stat()[0]
        c.quit()
    obs["disk_after"] = sorted(maildir_state(ep.maildir))
    return obs


def check_fetchmail(obs: dict, messages: list[QuarantinedMessage]) -> None:
    fetched = sorted(digest(lf(m.contents)) for m in messages)
    assert obs["keep"] == fetched, "fetchmail's messages are the files (LF line ends)"
    assert obs["keep stat after"] == len(messages)
    assert obs["nokeep"] == fetched
    assert obs["nokeep stat after"] == 0 and obs["disk_after"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_fetchmail(serve, kind, tmp_path):
    check_fetchmail(fetchmail_session(serve(kind).endpoints(), tmp_path / "fetchmail"), sample_messages())


# --------------------------------------------------------------------------
# mutt


def mutt_session(ep: Endpoints, workdir: Path) -> dict:
    """mutt on imaps:// in batch mode (keys pushed; `script` gives it the tty it needs):
    limit to one message, pipe it to a file, save it to =Release, sync, quit."""
    tool = require_tool("mutt")
    script = require_tool("script")
    workdir.mkdir(parents=True, exist_ok=True)
    piped = workdir / "piped.eml"
    rc = workdir / "muttrc"
    rc.write_text(f"""set imap_user="{ep.user}"
set imap_pass="{ep.password}"
set ssl_ca_certificates_file="{ep.cafile}"
set folder="imaps://{ep.host}:{ep.imaps}/"
set spoolfile="+INBOX"
set header_cache=""
set message_cachedir=""
set record=""
set postponed=""
set confirmappend=no
set confirmcreate=no
set delete=yes
set move=no
set quit=yes
set wait_key=no
set pipe_decode=no
set mark_old=no
set beep=no
""")
    keys = (f"<limit>~i attach1<enter><first-entry><pipe-message>cat > {piped}<enter>"
            "<save-message>=Release<enter><sync-mailbox><quit>")
    command = f"{tool} -n -F {rc} -e 'push \"{keys}\"'"
    p = subprocess.run([script, "-qec", command, "/dev/null"], capture_output=True, timeout=90,
                       env={**os.environ, "HOME": str(workdir), "TERM": "xterm"}, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"mutt exited {p.returncode}: {p.stdout[-2000:]!r}"
    assert piped.exists(), f"mutt piped nothing: {p.stdout[-2000:]!r}"
    c = ep.imap_client()
    ok(c.select("INBOX", readonly=True))
    inbox = sorted(seq_to_ids(c).values())
    release = int(re.search(rb"MESSAGES (\d+)", ok(c.status("Release", "(MESSAGES)"))[0]).group(1))
    c.logout()
    return {"piped": piped.read_bytes(), "inbox": inbox, "release": release,
            "disk_after": sorted(maildir_state(ep.maildir))}


def check_mutt(obs: dict, messages: list[QuarantinedMessage], kind: str) -> None:
    want = by_message_id(messages)
    moved = want["<attach1@client.example>"]
    assert obs["piped"] == lf(moved.contents)
    assert obs["inbox"] == sorted(set(want) - {moved.message_id})
    assert obs["disk_after"] == sorted(m.base_name for m in messages if m is not moved)
    # Dovecot keeps the message in its Release folder; Postern's Release is always empty:
    # the message was released to its recipients.
    assert obs["release"] == (1 if kind == "dovecot" else 0)


@pytest.mark.parametrize("kind", KINDS)
def test_mutt_reads_and_moves_to_release(serve, kind, tmp_path):
    server = serve(kind)
    check_mutt(mutt_session(server.endpoints(), tmp_path / "mutt"), sample_messages(), kind)
    if kind == "postern":
        # Released to its recipients: back in the queue (delivery is off here), once.
        deadline = time.monotonic() + 20
        while not server.server.queue.ids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.server.queue.ids()) == 1


# --------------------------------------------------------------------------
# Postern beside Dovecot: what each client saw must match


def comparable(obs: dict) -> dict:
    """An observation without what is the server's own business (it is checked against the
    files in each test above): bodies by digest, to keep a failure's diff short."""
    def shorten(value):
        if isinstance(value, bytes) and len(value) > 200:
            return "sha256:" + digest(value)
        if isinstance(value, dict):
            return {k: shorten(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shorten(v) for v in value]
        return value
    return shorten(obs)


SCRIPTS = {
    "imaplib": lambda server, d: imap_session(server.endpoints()),
    "idle": lambda server, d: imap_idle(server),
    "poplib": lambda server, d: pop3_session(server.endpoints()),
    "curl": lambda server, d: curl_session(server.endpoints()),
    "mbsync": lambda server, d: mbsync_session(server, d),
    "fetchmail": lambda server, d: fetchmail_session(server.endpoints(), d),
    "mutt": lambda server, d: {k: v for k, v in mutt_session(server.endpoints(), d).items() if k != "release"},
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_postern_matches_dovecot(serve, script, tmp_path):
    """The same script against both servers, on Maildirs with the same files: the same
    observations (message counts, flags, bodies, sizes, envelopes, body structures, search
    results, UIDs stable across sessions)."""
    postern = serve("postern")
    dovecot = serve("dovecot")
    seen = {kind: comparable(SCRIPTS[script](server, tmp_path / kind))
            for kind, server in (("dovecot", dovecot), ("postern", postern))}
    assert seen["postern"] == seen["dovecot"]


def test_postern_users_see_only_their_messages(serve):
    """Postern alone (Dovecot has no such view): a user whose login is an address sees the
    messages with that recipient; alice those for her granted addresses; both over IMAP and
    POP3."""
    server = serve("postern")
    messages = sample_messages()
    for user in ("bob@local.test", "alice"):
        ep = server.endpoints(user)
        want = visible_to(user, messages)
        assert want and len(want) < len(messages)
        c = ep.imap_client()
        ok(c.select("INBOX", readonly=True))
        assert sorted(seq_to_ids(c).values()) == sorted(m.message_id for m in want), user
        c.logout()
        p = pop3_client(ep, "implicit")
        assert sorted(u.decode() for _, u in (line.split() for line in p.uidl()[1])) == \
            sorted(m.base_name for m in want), user
        p.quit()
    assert ADMIN in USERS
