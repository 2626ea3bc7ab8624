#!/usr/bin/env python3
"""SPF checks per second through `postern spf bench`: real evaluator, real ldns path,
against a DNS server on 127.0.0.1 (tests/spf/zoneserver.py) serving a synthetic zone.

The zone has DOMAINS sender domains whose records look like real ones:

    d<i>.bench.example  "v=spf1 ip4:198.51.100.<k>/32 mx a:relay.d<i>.bench.example
                         include:_spf.esp<j>.bench.example -all"
    _spf.esp<j>        "v=spf1 include:_n1.esp<j>… include:_n2.esp<j>… ~all"   (10 providers)
    _n1/_n2.esp<j>     "v=spf1 ip4:… ip4:… ip6:… ~all"

and each domain is checked from three client addresses: one passing on ip4 at once, one
passing deep in a provider's nested include, one failing after every mechanism (7–10
DNS queries on an empty cache). Reported:

- cold: one pass over the workload starting with an empty cache (each domain's records
  are fetched once; the providers' records are shared between domains, as in life);
- warm: the same workload again with the cache filled;
- no cache: every look-up goes to the server.

Cold and no-cache figures are bounded by the Python test server (one UDP thread).
Usage: bench/spf.py [--postern .build/release/postern] [--domains 500] [--concurrency 32]
Traffic goes to 127.0.0.1 only. Runs in well under a minute.
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "spf"))
from zoneserver import Zone, ZoneServer  # noqa: E402

PROVIDERS = 10


def build_zone(domains):
    zone = {}
    for j in range(PROVIDERS):
        esp = f"esp{j}.bench.example"
        zone[f"_spf.{esp}"] = [{"TXT": f"v=spf1 include:_n1.{esp} include:_n2.{esp} ~all"}]
        zone[f"_n1.{esp}"] = [{"TXT": f"v=spf1 ip4:203.0.{j}.0/25 ip4:203.0.{j + 100}.0/24 ip6:2001:db8:{j}::/48 ~all"}]
        zone[f"_n2.{esp}"] = [{"TXT": f"v=spf1 ip4:192.0.{j}.128/25 ip4:198.18.{j}.0/24 ip6:2001:db8:1{j}::/48 ~all"}]
    workload = []
    for i in range(domains):
        domain = f"d{i}.bench.example"
        j = i % PROVIDERS
        k = i % 250 + 1
        zone[domain] = [
            {"TXT": f"v=spf1 ip4:198.51.100.{k}/32 mx a:relay.{domain} include:_spf.esp{j}.bench.example -all"},
            {"TXT": "google-site-verification=abcdefghijklmnopqrstuvwxyz0123456789"},
            {"MX": [10, f"mx1.{domain}"]},
            {"MX": [20, f"mx2.{domain}"]},
        ]
        zone[f"mx1.{domain}"] = [{"A": f"10.1.{i // 250}.{k}"}]
        zone[f"mx2.{domain}"] = [{"A": f"10.2.{i // 250}.{k}"}]
        zone[f"relay.{domain}"] = [{"A": f"10.3.{i // 250}.{k}"}]
        workload.append(f"198.51.100.{k} user{i}@{domain} mail.{domain}")        # pass at once
        workload.append(f"192.0.{j}.{130 + i % 100} user{i}@{domain} mail.{domain}")  # pass in _n2
        workload.append(f"233.252.0.{k} user{i}@{domain} mail.{domain}")           # fail at the end
    return zone, workload


def run_bench(postern, port, workload_path, extra):
    argv = [postern, "spf", "bench", f"--dns=127.0.0.1:{port}", f"--workload={workload_path}", *extra]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if completed.returncode != 0:
        sys.exit(f"postern spf bench failed ({completed.returncode}): {completed.stderr.strip()}")
    return [dict(field.split("=", 1) for field in line.split()) for line in completed.stdout.splitlines() if line]


def main():
    parser = argparse.ArgumentParser(description="SPF checks per second, cold and warm cache.")
    parser.add_argument("--postern", default=os.path.join(HERE, "..", ".build", "release", "postern"))
    parser.add_argument("--domains", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--threads", type=int, default=4, help="ldns pool threads")
    parser.add_argument("--warm-rounds", type=int, default=3)
    args = parser.parse_args()
    postern = os.path.abspath(args.postern)
    if not os.access(postern, os.X_OK):
        sys.exit(f"build postern first (swift build -c release): {postern} not found")

    zone, workload = build_zone(args.domains)
    with tempfile.TemporaryDirectory() as tmp, ZoneServer(Zone(zone)) as server:
        workload_path = os.path.join(tmp, "workload.txt")
        with open(workload_path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(workload) + "\n")
        common = [f"--concurrency={args.concurrency}", f"--threads={args.threads}"]
        cached = run_bench(postern, server.port, workload_path, common + [f"--rounds={1 + args.warm_rounds}"])
        uncached = run_bench(postern, server.port, workload_path, common + ["--rounds=1", "--no-cache"])

    checks = len(workload)
    cold = cached[0]
    warm = cached[1:]
    best_warm = max(int(r["checks_per_second"]) for r in warm)
    print(f"SPF bench: {checks} checks per round ({args.domains} domains x 3 clients), "
          f"concurrency {args.concurrency}, {args.threads} ldns threads, DNS on 127.0.0.1 (Python dnslib)")
    print(f"  verdicts:   {' '.join(f'{k}={v}' for k, v in cold.items() if k in ('pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'))}")
    print(f"  no cache:   {int(uncached[0]['checks_per_second']):>8} checks/s  ({uncached[0]['seconds']} s)")
    print(f"  cold cache: {int(cold['checks_per_second']):>8} checks/s  ({cold['seconds']} s, {cold['dns_queries']} DNS queries)")
    print(f"  warm cache: {best_warm:>8} checks/s  (best of {len(warm)} rounds: "
          f"{', '.join(r['checks_per_second'] for r in warm)}; {warm[-1]['dns_queries']} DNS queries in the last)")
    bad = [r for r in cached + uncached if r.get("temperror") or r.get("permerror")]
    if bad:
        sys.exit("unexpected temperror/permerror results: the server or the workload is broken")


if __name__ == "__main__":
    main()
