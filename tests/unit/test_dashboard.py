"""The Grafana dashboard shipped with the collection: every panel query is valid PromQL (promtool
parses it as a recording rule) over metrics the exporter writes, and the README describes every
panel. tests/system/test_metrics_exporter.py checks the same names against a real exporter's file.
"""

import json
import os
import re
import subprocess

import yaml

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import metrics

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(REPO, "roles", "metrics", "files", "dhcpd-failover-dashboard.json")


def load():
    with open(DASHBOARD, encoding="utf-8") as handle:
        return json.load(handle)


def queries():
    """(panel title, expr) with Grafana's $instance variable as its "All" value."""
    return [(panel["title"], target["expr"].replace("$instance", ".*"))
            for panel in load()["panels"] for target in panel["targets"]]


def used_metrics():
    return {name for _title, expr in queries() for name in re.findall(r"\b(dhcpd_failover_[a-z_]+)\b", expr)}


def test_every_panel_query_is_valid_promql(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:query%d" % index, "expr": expr} for index, (_title, expr) in enumerate(queries())]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    answer = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "SUCCESS: %d rules found" % len(queries()) in answer.stdout


def test_every_panel_queries_metrics_the_exporter_writes():
    assert all(re.search(r"\bdhcpd_failover_", expr) for _title, expr in queries())
    assert used_metrics() <= set(metrics.METRIC_NAMES), used_metrics() - set(metrics.METRIC_NAMES)


def test_panel_ids_are_unique_and_the_readme_describes_every_panel():
    panels = load()["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        section = handle.read().split("\n## Metrics and alerts\n", 1)[1].split("\n## ", 1)[0]
    described = set(re.findall(r"^\| \*(.+?)\* \|", section, re.MULTILINE))
    assert described == {panel["title"] for panel in panels}
