#!/usr/bin/env python3
"""Runs the OpenSPF RFC 7208 test suite against `postern spf check`, end to end.

For each scenario of the suite, a DNS server on 127.0.0.1 (zoneserver.py, beside this
file) serves the scenario's zone data; every test case then runs the real binary,

    POSTERN spf check --ip HOST --sender MAILFROM --helo HELO --dns 127.0.0.1:PORT
                      --timeout T --default-explanation DEFAULT

and compares the first output line with the expected result (any of them, when the
suite lists several) and, for a fail, the second line with the expected explanation
where the suite gives one (`DEFAULT` is the default explanation, set to that literal).
Failures are printed with their details; the last line is `N passed, M failed`. The
exit status is 0 only when every case passed.

Usage: run_conformance.py --postern .build/debug/postern [--suite FILE] [--jobs N]
       [--timeout-mode servfail|drop] [--timeout SECONDS] [--only NAME ...]
"""

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoneserver import Zone, ZoneServer  # noqa: E402

DEFAULT_SUITE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "conformance", "spf", "rfc7208-tests.yml")
SUITE_CANDIDATES = [
    os.environ.get("SPF_SUITE", ""),
    DEFAULT_SUITE,
    "/work/shared/conformance/spf/rfc7208-tests.yml",
]


class Case:
    def __init__(self, scenario, name, spec):
        self.scenario = scenario
        self.name = name
        self.ip = str(spec["host"])
        self.sender = str(spec.get("mailfrom") or "")
        self.helo = str(spec.get("helo") or "")
        expected = spec["result"]
        self.results = [str(r) for r in (expected if isinstance(expected, list) else [expected])]
        self.explanation = spec.get("explanation")


def load_suite(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def command(postern, case, port, timeout):
    # `--sender=VALUE` keeps a sender that starts with "-" a value; an empty sender
    # must be a separate empty argument.
    sender = ["--sender", ""] if case.sender == "" else [f"--sender={case.sender}"]
    return [postern, "spf", "check", f"--ip={case.ip}", *sender, f"--helo={case.helo}",
            f"--dns=127.0.0.1:{port}", f"--timeout={timeout}", "--attempts=1",
            "--default-explanation=DEFAULT"]


def run_case(postern, case, port, timeout):
    """Returns None when the case passed, else a description of what went wrong."""
    argv = command(postern, case, port, timeout)
    started = time.monotonic()
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return f"did not finish within 60 s\n  command: {argv}"
    elapsed = time.monotonic() - started
    lines = completed.stdout.split("\n")
    result = lines[0] if lines else ""
    explanation = lines[1] if len(lines) > 1 else ""
    decided = lines[2] if len(lines) > 2 else ""
    problems = []
    if completed.returncode != 0:
        problems.append(f"exit status {completed.returncode}")
    if result not in case.results:
        problems.append(f"result {result!r}, expected {' or '.join(case.results)}")
    elif result == "fail" and case.explanation is not None and explanation != case.explanation:
        problems.append(f"explanation {explanation!r}, expected {case.explanation!r}")
    if not problems:
        return None
    return "\n".join([
        "; ".join(problems),
        f"  command:   {argv}",
        f"  output:    result={result!r} explanation={explanation!r} decided-by={decided!r}",
        f"  stderr:    {completed.stderr.strip()!r}",
        f"  time:      {elapsed:.2f} s",
    ])


def main():
    parser = argparse.ArgumentParser(description="Run the RFC 7208 suite against postern spf check.")
    parser.add_argument("--postern", required=True, help="path to the postern binary")
    parser.add_argument("--suite", help="the suite YAML (default: shared/conformance/spf/rfc7208-tests.yml)")
    parser.add_argument("--jobs", type=int, default=max(2, (os.cpu_count() or 2) * 2))
    parser.add_argument("--timeout-mode", choices=["servfail", "drop"], default="servfail",
                        help="how TIMEOUT entries are served: SERVFAIL, or no answer at all")
    parser.add_argument("--timeout", type=float, default=None,
                        help="--timeout given to postern (default 2 s; 0.3 s in drop mode)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these test names")
    args = parser.parse_args()

    suite_path = args.suite or next(p for p in SUITE_CANDIDATES if p and os.path.exists(p))
    timeout = args.timeout if args.timeout is not None else (0.3 if args.timeout_mode == "drop" else 2.0)
    postern = os.path.abspath(args.postern)
    if not os.access(postern, os.X_OK):
        print(f"not an executable: {postern}", file=sys.stderr)
        return 2

    scenarios = load_suite(suite_path)
    servers = []
    jobs = []
    try:
        for scenario in scenarios:
            server = ZoneServer(Zone(scenario.get("zonedata")), timeout_mode=args.timeout_mode).start()
            servers.append(server)
            for name, spec in scenario["tests"].items():
                if args.only is None or name in args.only:
                    jobs.append((Case(scenario["description"], name, spec), server.port))
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(lambda job: (job[0], run_case(postern, job[0], job[1], timeout)), jobs))
        elapsed = time.monotonic() - started
    finally:
        for server in servers:
            server.close()

    failed = [(case, problem) for case, problem in outcomes if problem is not None]
    for case, problem in failed:
        print(f"FAIL {case.scenario} / {case.name}: {problem}")
    passed = len(outcomes) - len(failed)
    print(f"suite: {suite_path}; {len(scenarios)} scenarios, {len(outcomes)} cases in {elapsed:.1f} s "
          f"(TIMEOUT served as {args.timeout_mode})")
    print(f"{passed} passed, {len(failed)} failed")
    return 0 if not failed and outcomes else 1


if __name__ == "__main__":
    sys.exit(main())
