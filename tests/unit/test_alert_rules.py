"""The alerting rules shipped with the collection, through Prometheus' own promtool.

roles/metrics/files/dhcpd-failover-alerts.yml is tested by tests/unit/prometheus/*.test.yml
(`promtool test rules`); this module runs them so that `make test` counts them, and holds the
rules, their tests, the exporter's metric names and the README together.
"""

import os
import re
import subprocess

import yaml

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import metrics

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(REPO, "roles", "metrics", "files", "dhcpd-failover-alerts.yml")
TESTS = os.path.join(REPO, "tests", "unit", "prometheus", "dhcpd-failover-alerts.test.yml")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def rules():
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def promtool(*argv):
    answer = subprocess.run(["promtool", *argv], capture_output=True, text=True, check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


def test_promtool_checks_the_rules_file():
    assert "SUCCESS: %d rules found" % len(rules()) in promtool("check", "rules", RULES)


def test_promtool_unit_tests_of_the_alerts_pass():
    assert "SUCCESS" in promtool("test", "rules", TESTS)


def test_every_alert_is_tested_firing():
    fired = {case["alertname"] for test in load(TESTS)["tests"] for case in test["alert_rule_test"]
             if case["exp_alerts"]}
    assert fired == {rule["alert"] for rule in rules()}


def test_the_rules_use_only_metrics_the_exporter_writes():
    used = set()
    for rule in rules():
        used |= set(re.findall(r"\b(dhcpd_failover_[a-z_]+)\b", rule["expr"]))
    assert used and used <= set(metrics.METRIC_NAMES), used - set(metrics.METRIC_NAMES)


def test_the_readme_lists_every_alert():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        section = handle.read().split("\n## Metrics and alerts\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `((?:Dhcpd|Kea)[A-Za-z]+)`", section, re.MULTILINE))
    assert listed == {rule["alert"] for rule in rules()}
