"""`postern passwd USER --file PATH`: the SMTP AUTH password file editor.

Adding, changing and deleting users (the one-line reports on stdout), the hash
scheme of each `--scheme` (checked with the system's crypt(3)), the file's mode
(0600 when created, kept when it exists), other lines kept as they are, and the
refusals: bad user names (usage error, exit 2), an empty or missing password,
deleting a user who is not there. The password never appears in any output.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import stat
import subprocess
from pathlib import Path

import pytest

PASSWORD = "correct horse battery staple"


def passwd(binary: str, *args: str, stdin: bytes | None = b"") -> subprocess.CompletedProcess:
    """Runs `postern passwd ARGS…` with `stdin` (not a terminal, so no prompt)."""
    return subprocess.run([binary, "passwd", *args], input=stdin, capture_output=True, timeout=60)


def entries(path: Path) -> dict[str, str]:
    """user -> hash for the USER:HASH lines of the file."""
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            user, _, rest = line.partition(":")
            out[user] = rest.split(":")[0]
    return out


_libcrypt = None


def crypt(password: str, setting: str) -> str | None:
    """crypt(3) from libcrypt (libxcrypt knows $y$, $6$ and $2b$)."""
    global _libcrypt
    if _libcrypt is None:
        name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
        _libcrypt = ctypes.CDLL(name)
        _libcrypt.crypt.restype = ctypes.c_char_p
        _libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    result = _libcrypt.crypt(password.encode(), setting.encode())
    return result.decode() if result else None


def assert_no_secret(p: subprocess.CompletedProcess, secret: str = PASSWORD) -> None:
    for stream in (p.stdout, p.stderr):
        assert secret.encode() not in stream, f"the password appears in the output: {stream!r}"


def test_add_creates_a_0600_file_with_a_yescrypt_hash(postern_bin, tmp_path):
    path = tmp_path / "passwd"
    p = passwd(postern_bin, "alice", "--file", str(path), stdin=(PASSWORD + "\n").encode())
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode() == f"added alice to {path}\n"
    assert_no_secret(p)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    hash_ = entries(path)["alice"]
    assert hash_.startswith("$y$"), hash_
    assert crypt(PASSWORD, hash_) == hash_
    assert crypt("wrong", hash_) != hash_


@pytest.mark.parametrize("scheme, prefix", [("yescrypt", "$y$"), ("sha512", "$6$"), ("bcrypt", "$2b$")])
def test_each_scheme_writes_its_hash_prefix(postern_bin, tmp_path, scheme, prefix):
    path = tmp_path / "passwd"
    p = passwd(postern_bin, "alice", "--file", str(path), "--scheme", scheme, stdin=(PASSWORD + "\n").encode())
    assert p.returncode == 0, p.stderr.decode()
    hash_ = entries(path)["alice"]
    assert hash_.startswith(prefix), f"--scheme {scheme}: {hash_}"
    assert crypt(PASSWORD, hash_) == hash_, f"--scheme {scheme}: crypt(3) does not verify {hash_}"


def test_change_keeps_other_lines_and_the_mode(postern_bin, tmp_path):
    path = tmp_path / "passwd"
    path.write_text("# SMTP users\n\nbob:$6$salt$somethingsomething\nalice:*:extra:fields\ncarol:!\n")
    path.chmod(0o640)
    p = passwd(postern_bin, "alice", "--file", str(path), "--scheme", "sha512", stdin=b"new password\n")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode() == f"changed alice in {path}\n"
    lines = path.read_text().splitlines()
    assert lines[:3] == ["# SMTP users", "", "bob:$6$salt$somethingsomething"]
    assert lines[4] == "carol:!"
    user, hash_, *extra = lines[3].split(":")
    assert user == "alice" and hash_.startswith("$6$") and extra == ["extra", "fields"], lines[3]
    assert crypt("new password", hash_) == hash_
    assert stat.S_IMODE(path.stat().st_mode) == 0o640, "an existing file keeps its mode"

    # A second user is appended; the first keeps its hash.
    p = passwd(postern_bin, "dave", "--file", str(path), stdin=b"x\n")
    assert p.stdout.decode() == f"added dave to {path}\n"
    assert entries(path)["alice"] == hash_
    assert path.read_text().splitlines()[-1].startswith("dave:$y$")


def test_only_the_first_line_of_stdin_is_the_password(postern_bin, tmp_path):
    path = tmp_path / "passwd"
    p = passwd(postern_bin, "alice", "--file", str(path), stdin=b"first line\nsecond line\n")
    assert p.returncode == 0, p.stderr.decode()
    hash_ = entries(path)["alice"]
    assert crypt("first line", hash_) == hash_


def test_delete(postern_bin, tmp_path):
    path = tmp_path / "passwd"
    for user in ("alice", "bob"):
        assert passwd(postern_bin, user, "--file", str(path), stdin=b"pw\n").returncode == 0
    p = passwd(postern_bin, "alice", "--file", str(path), "--delete", stdin=None)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode() == f"deleted alice from {path}\n"
    assert list(entries(path)) == ["bob"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    p = passwd(postern_bin, "alice", "--file", str(path), "--delete", stdin=None)
    assert p.returncode == 1
    assert p.stdout == b""
    assert f"no user alice in {path}" in p.stderr.decode()
    assert list(entries(path)) == ["bob"]


@pytest.mark.parametrize("user", ["a:b", "a b", "a\tb", "#alice", "", "al\x01ce", "x" * 256],
                         ids=["colon", "space", "tab", "hash", "empty", "control", "too-long"])
def test_bad_user_names_are_usage_errors(postern_bin, tmp_path, user):
    path = tmp_path / "passwd"
    p = passwd(postern_bin, user, "--file", str(path), stdin=(PASSWORD + "\n").encode())
    assert p.returncode == 2, f"exit {p.returncode}: {p.stderr.decode()}"
    assert "invalid user name" in p.stderr.decode(), p.stderr.decode()
    assert not path.exists(), "nothing may be written for a bad user name"
    assert_no_secret(p)


@pytest.mark.parametrize("stdin", [b"\n", b""], ids=["empty-line", "no-input"])
def test_empty_or_missing_password_is_refused(postern_bin, tmp_path, stdin):
    path = tmp_path / "passwd"
    path.write_text("bob:$6$salt$hash\n")
    before = path.read_bytes()
    p = passwd(postern_bin, "alice", "--file", str(path), stdin=stdin)
    assert p.returncode == 1, f"exit {p.returncode}: {p.stderr.decode()}"
    message = p.stderr.decode()
    assert "empty password refused" in message or "no password on standard input" in message, message
    assert path.read_bytes() == before
    assert p.stdout == b""


def test_file_is_required(postern_bin, tmp_path):
    p = passwd(postern_bin, "alice", stdin=b"pw\n")
    assert p.returncode == 2, p.stderr.decode()
    assert "--file" in p.stderr.decode()
    assert not any(tmp_path.iterdir())
