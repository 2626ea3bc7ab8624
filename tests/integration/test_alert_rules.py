"""deploy/prometheus's alert rules pass `promtool check rules` and their unit
tests (`promtool test rules`); they, the Grafana dashboard and the README name
only metrics that Postern declares, and the README lists every one of them."""

from __future__ import annotations

import json
import re
import subprocess
import yaml

from postern_harness import REPO, require_tool

RULES = REPO / "deploy" / "prometheus" / "postern-alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "postern-alerts.test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "postern.json"
README = REPO / "README.md"
# Each module's `help` catalog: "postern_…": "help text",
DECLARED_RE = re.compile(r'^\s*"(postern_[a-z0-9_]+)":\s*"', re.M)
NAME_RE = re.compile(r"\b(postern_[a-z0-9_]+|node_[a-z0-9_]+)\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# What the dashboard and rules may name that Postern does not export.
FOREIGN = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes"}


def declared_metrics() -> set[str]:
    names = set()
    for path in (REPO / "Sources").rglob("*Metrics.swift"):
        names |= set(DECLARED_RE.findall(path.read_text()))
    assert len(names) >= 25, f"metric catalogs not found under Sources/: {sorted(names)}"
    return names


def known(name: str, declared: set[str]) -> bool:
    if name in declared or name in FOREIGN:
        return True
    return any(name.endswith(s) and name[: -len(s)] in declared for s in HISTOGRAM_SUFFIXES)


def test_promtool_checks_the_rules():
    promtool = require_tool("promtool")
    p = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_promtool_unit_tests_of_the_rules():
    promtool = require_tool("promtool")
    p = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_every_alert_has_a_unit_test():
    alerts = set(re.findall(r"^\s*- alert: (\w+)", RULES.read_text(), re.M))
    tested = set(re.findall(r"^\s*alertname: (\w+)", RULE_TESTS.read_text(), re.M))
    assert alerts and alerts == tested, f"untested: {alerts - tested}, unknown: {tested - alerts}"


def test_rules_name_declared_metrics():
    declared = declared_metrics()
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    for rule in rules:
        names = set(NAME_RE.findall(rule["expr"]))
        assert names or "up{" in rule["expr"], f"{rule['alert']} names no metric"
        assert {n for n in names if not known(n, declared)} == set(), rule["alert"]


def dashboard_exprs(panels: list) -> list[str]:
    exprs = []
    for panel in panels:
        exprs += [t["expr"] for t in panel.get("targets", [])]
        exprs += dashboard_exprs(panel.get("panels", []))
    return exprs


def test_dashboard_names_declared_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "postern"
    exprs = dashboard_exprs(dashboard["panels"])
    assert len(exprs) >= 20
    declared = declared_metrics()
    used = set()
    for expr in exprs:
        names = set(NAME_RE.findall(expr))
        assert names, f"expression names no metric: {expr}"
        unknown = {n for n in names if not known(n, declared)}
        assert not unknown, f"{expr} names undeclared metrics {unknown}"
        used |= names
    # Every declared metric has a place on the dashboard.
    shown = {n for n in declared if n in used or any(n + s in used for s in HISTOGRAM_SUFFIXES)}
    assert declared - shown == set()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_readme_lists_every_metric():
    text = README.read_text()
    start = text.index("\n## Metrics\n")
    section = text[start: text.index("\n## ", start + 1)]
    listed = set(re.findall(r"^\| `(postern_[a-z0-9_]+)` \|", section, re.M))
    assert listed == declared_metrics()
