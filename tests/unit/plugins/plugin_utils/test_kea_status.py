"""plugins/plugin_utils/kea_migrate.pair_status (status.yml's verdict on a pair that runs Kea HA)
through its filter netboot.dhcp_failover.kea_pair_status: one test per rule.

The status-get answers here have the shape of the real ones captured from Kea 2.2 in the molecule
scenario kea (tests/unit/plugins/module_utils/fixtures/kea/); the exporter's tests read those files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter.kea_migrate import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea_migrate as km

P, S = "dhcp1", "dhcp2"
STATUS = FilterModule().filters()["kea_pair_status"]
NOT_ASKED = {"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}


def answer(state, scopes=(), partner="hot-standby", mode="hot-standby"):
    """A registered uri result of status-get through kea-ctrl-agent."""
    ha = {"ha-mode": mode, "ha-servers": {
        "local": {"role": "primary", "scopes": list(scopes), "state": state},
        "remote": {"last-state": partner, "in-touch": partner is not None, "role": "standby"}}}  # fmt: skip
    return {"status": 200, "json": [{"result": 0, "arguments": {"high-availability": [ha], "pid": 7}}]}


def node(host, role, kea=None, *, kea_rc=0, dhcpd_running=False, reachable=True):
    observation = {"reachable": reachable, "dhcpd_running": dhcpd_running,
                   "state": "normal" if dhcpd_running else None,
                   "error": None if dhcpd_running else "connection refused"}  # fmt: skip
    return {"host": host, "role": role, "dhcpd": observation, "kea_pgrep": {"rc": kea_rc},
            "kea_status": kea or dict(NOT_ASKED)}


def judge(primary, secondary, mode="hot-standby"):
    return STATUS([primary, secondary], mode)


def test_neither_node_runs_kea_is_a_dhcpd_pair_without_a_verdict():
    seen = judge(node(P, "primary", kea_rc=1, dhcpd_running=True), node(S, "secondary", kea_rc=1, dhcpd_running=True))
    assert seen["kea"] is False and seen["verdict"] is None
    assert [n["daemon"] for n in seen["nodes"]] == ["dhcpd", "dhcpd"]


def test_a_kea_dhcp4_without_an_ha_answer_on_the_pairs_address_is_not_a_kea_pair():
    # Another pair's kea-dhcp4 on the same host (containers, namespaces), or a packaged Kea without HA.
    no_agent = {"status": -1, "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"}
    no_hook = {"status": 200, "json": [{"result": 0, "arguments": {"pid": 7}}]}
    seen = judge(node(P, "primary", no_agent, dhcpd_running=True), node(S, "secondary", no_hook, dhcpd_running=True))
    assert seen["kea"] is False and seen["verdict"] is None
    assert seen["nodes"][0]["daemon"] == "kea-dhcp4 and dhcpd"


def test_both_in_hot_standby_and_in_touch_is_healthy_with_each_nodes_line():
    seen = judge(node(P, "primary", answer("hot-standby", [P])), node(S, "secondary", answer("hot-standby")))
    assert seen["kea"] is True and seen["verdict"] == "healthy"
    assert seen["table"] == [
        "dhcp1 (primary): daemon kea-dhcp4, HA mode hot-standby, state hot-standby, partner seen as hot-standby, "
        "serves scopes dhcp1",
        "dhcp2 (secondary): daemon kea-dhcp4, HA mode hot-standby, state hot-standby, partner seen as hot-standby, "
        "serves scopes none",
    ]


def test_load_balancing_is_healthy_only_with_both_scopes_served():
    def lb(scopes):
        return answer("load-balancing", scopes, "load-balancing", "load-balancing")

    assert judge(node(P, "primary", lb([P])), node(S, "secondary", lb([S])), "load-balancing")["verdict"] == "healthy"
    assert judge(node(P, "primary", lb([P])), node(S, "secondary", lb([])), "load-balancing")["verdict"] == (
        "needs action")


def test_one_node_in_partner_down_is_degraded_and_named():
    seen = judge(node(P, "primary", kea_rc=1), node(S, "secondary", answer("partner-down", [P], "unavailable")))
    assert seen["verdict"] == "degraded"
    assert seen["why"].startswith("dhcp2 (secondary) is in partner-down and serves every client alone; "
                                  "kea-dhcp4 does not run on dhcp1. Bring kea-dhcp4 back on dhcp1")
    assert seen["table"][0] == "dhcp1 (primary): daemon none (kea-dhcp4 and dhcpd both stopped)"


def test_both_in_partner_down_needs_action():
    seen = judge(node(P, "primary", answer("partner-down", [P])), node(S, "secondary", answer("partner-down", [S])))
    assert seen["verdict"] == "needs action" and "both nodes are in partner-down" in seen["why"]


def test_dhcpd_beside_kea_needs_action_first():
    seen = judge(node(P, "primary", answer("hot-standby", [P]), dhcpd_running=True),
                 node(S, "secondary", answer("hot-standby")))
    assert seen["verdict"] == "needs action" and seen["why"].startswith("dhcpd runs on dhcp1 beside the Kea HA pair")
    assert seen["nodes"][0]["daemon"] == "kea-dhcp4 and dhcpd"


def test_terminated_needs_the_clocks_fixed():
    seen = judge(node(P, "primary", answer("terminated", [])), node(S, "secondary", answer("terminated", [])))
    assert seen["verdict"] == "needs action" and "clocks" in seen["why"]


@pytest.mark.parametrize("state", ["syncing", "waiting", "ready", "in-maintenance"])
def test_a_node_on_its_way_while_the_other_serves_is_degraded(state):
    seen = judge(node(P, "primary", answer("hot-standby", [P], state)), node(S, "secondary", answer(state)))
    assert seen["verdict"] == "degraded" and "dhcp1 serves; dhcp2 is %s" % state in seen["why"]


def test_no_node_serving_needs_action_and_says_how_to_go_back():
    seen = judge(node(P, "primary", answer("waiting", [])), node(S, "secondary", answer("waiting", [])))
    assert seen["verdict"] == "needs action" and "migrate_action=rollback" in seen["why"]


def test_kea_running_without_an_answering_agent_is_shown_with_the_error():
    no_agent = {"status": -1, "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"}
    seen = judge(node(P, "primary", no_agent), node(S, "secondary", answer("partner-down", [P], None)))
    assert seen["verdict"] == "degraded"
    assert seen["table"][0].startswith("dhcp1 (primary): daemon kea-dhcp4, no HA state (no Kea control agent answers")
    assert "dhcp1 does not answer status-get" in seen["why"]


def test_an_unreachable_node_is_said_so():
    unreachable = {"unreachable": True, "msg": "ssh: connect timed out"}
    seen = judge(node(P, "primary", unreachable, kea_rc=None, reachable=False),
                 node(S, "secondary", answer("partner-down", [P, S])))
    assert seen["verdict"] == "degraded" and "Ansible cannot reach dhcp1" in seen["why"]
    assert seen["table"][0] == "dhcp1 (primary): Ansible cannot reach it"


def test_a_bad_mode_or_pair_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="kea_ha_mode"):
        judge(node(P, "primary"), node(S, "secondary"), "standby")
    with pytest.raises(AnsibleFilterError, match="primary and secondary"):
        judge(node(P, "primary"), node(S, "primary"))


def test_the_verdicts_are_pair_verdicts_words_so_fail_on_means_the_same():
    assert (km.HEALTHY, km.DEGRADED, km.NEEDS_ACTION) == (decisions.HEALTHY, decisions.DEGRADED, decisions.NEEDS_ACTION)
