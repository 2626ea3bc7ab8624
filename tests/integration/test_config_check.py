"""`postern config check FILE`: OK, or FILE:LINE: KEY: message for every mistake."""

import re
import subprocess


def config_check(binary: str, path) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "config", "check", str(path)], capture_output=True, text=True, timeout=30)


def test_good_file(postern_bin, tmp_path, tls_cert):
    path = tmp_path / "postern.toml"
    path.write_text(f"""# a complete configuration
hostname = "relay.test"

[[listener]]
address = "127.0.0.1:2525"

[[listener]]
address = "[::1]:2526"

[queue]
directory = "spool"
sync = "fsync"

[limits]
max_message_size = 10485760
max_recipients = 50
max_errors = 5
max_connections = 100
max_connections_per_ip = 10
command_timeout = 300
data_timeout = 180
max_header_size = 65536
shutdown_grace = 5

[tls]
certificate = "{tls_cert[0]}"
key = "{tls_cert[1]}"

[log]
level = "debug"
format = "json"
""")
    p = config_check(postern_bin, path)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stdout}{p.stderr}"
    assert p.stdout.startswith(f"{path}: OK ("), p.stdout
    assert "relay.test" in p.stdout and "127.0.0.1:2525" in p.stdout, p.stdout
    assert f"{tmp_path}/spool" in p.stdout, "queue directory not resolved relative to the file: " + p.stdout


def test_bad_file_names_line_and_key(postern_bin, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("\n".join([
        'hostname = "relay.test"',          # 1
        'colour = "blue"',                  # 2  unknown top-level key
        "",                                 # 3
        "[[listener]]",                     # 4
        'address = "127.0.0.1:99999"',      # 5  bad listener address
        "",                                 # 6
        "[queue]",                          # 7
        'directory = "q"',                  # 8
        "",                                 # 9
        "[limits]",                         # 10
        'max_recipients = "ten"',           # 11 wrong type
        "max_errors = 5",                   # 12
        "max_frobs = 3",                    # 13 unknown key in a table
        "",
    ]))
    p = config_check(postern_bin, path)
    assert p.returncode == 1, f"exit {p.returncode}: {p.stdout}{p.stderr}"
    lines = p.stdout.strip().splitlines()
    expected = {
        (2, "colour"): "unknown key",
        (5, "listener.address"): "HOST:PORT",
        (11, "limits.max_recipients"): "integer",
        (13, "limits.max_frobs"): "unknown key",
    }
    found = {}
    for line in lines:
        m = re.fullmatch(re.escape(str(path)) + r":(\d+): ([\w.]+): (.+)", line)
        assert m, f"not FILE:LINE: KEY: message: {line!r}"
        found[(int(m.group(1)), m.group(2))] = m.group(3)
    assert set(found) == set(expected), f"reported {sorted(found)}, expected {sorted(expected)}:\n{p.stdout}"
    for where, word in expected.items():
        assert word in found[where], f"{where}: {found[where]!r} does not mention {word!r}"


def test_toml_syntax_error_names_line(postern_bin, tmp_path):
    path = tmp_path / "syntax.toml"
    path.write_text('hostname = "relay.test"\n\n[limits]\nmax_errors = = 3\n')
    p = config_check(postern_bin, path)
    assert p.returncode == 1, p.stdout
    assert re.match(re.escape(str(path)) + r":4: ", p.stdout), p.stdout


def test_serve_refuses_bad_file(postern_bin, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[limits]\nmax_recipients = "ten"\n')
    p = subprocess.run([postern_bin, "serve", "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 78, f"exit {p.returncode}: {p.stderr}"  # EX_CONFIG
    assert f"{path}:2: limits.max_recipients:" in p.stderr, p.stderr
