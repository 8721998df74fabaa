"""plugins/plugin_utils/decisions.py: one test per row of the README's decision tables, per status
verdict, and properties over every combination of observations (hypothesis)."""

import base64
import json

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.netboot.dhcp_failover.plugins.filter.decisions import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions

NOW = 1_800_000_000
P, S = "dhcp1", "dhcp2"
FILTERS = FilterModule().filters()


def node(host, state="normal", **kwargs):
    """An observation of a node that answers OMAPI in ``state`` (keyword arguments override)."""
    role = "primary" if host == P else "secondary"
    obs = {
        "host": host,
        "role": role,
        "peer": S if host == P else P,
        "reachable": True,
        "dhcpd_running": True,
        "omapi": True,
        "error": None,
        "state": state,
        "partner_state": "normal",
        "stos": NOW - 3600,
        "partner_stos": NOW - 3600,
        "mclt": 600,
        "split": 128 if role == "primary" else None,
        "unacked": 0,
        "max_unacked": 10,
        "partner_port": True,
        "partner_ping": True,
        "leases": {"free": 50, "backup": 50, "active": 3, "allocated_since": 0},
        "leases_error": None,
        "maintenance": None,
    }
    obs.update(kwargs)
    return obs


def stopped(host, **kwargs):
    """dhcpd stopped on a reachable host."""
    values = dict(dhcpd_running=False, omapi=False, error="connection refused", state=None, partner_state=None,
                  stos=None, partner_stos=None, mclt=None, split=None, unacked=None, max_unacked=None)
    values.update(kwargs)
    return node(host, **values)


def gone(host, **kwargs):
    """Ansible cannot reach the host: nothing is known from it."""
    return stopped(host, reachable=False, dhcpd_running=None, error="UNREACHABLE", partner_port=None,
                   partner_ping=None, leases=None, **kwargs)


def hung(host, **kwargs):
    return stopped(host, dhcpd_running=True, error="timed out", **kwargs)


def verdict(p, s, now=NOW):
    return decisions.pair_verdict([p, s], now)


def plan(p, s, now=NOW):
    return decisions.recover_plan([p, s], now)


# --- status: one test per row of the README's status table -------------------------------------


def test_status_healthy_both_normal():
    result = verdict(node(P), node(S))
    assert result["verdict"] == "healthy" and result["issues"] == [] and result["node"] is None
    assert [row["state"] for row in result["rows"]] == ["normal", "normal"]
    assert result["rows"][0]["own"] == 50 and result["rows"][1]["own"] == 50


def test_status_degraded_node_in_maintenance():
    result = verdict(node(P, "partner-down", stos=NOW - 60, mclt=30), stopped(S, maintenance={"clean": True}))
    assert result["verdict"] == "degraded", result
    assert any(i["node"] == S and "is in maintenance" in i["why"] and "dhcp_ops_action=end" in i["why"]
               for i in result["issues"])
    assert not any("Bring dhcp2 back" in i["why"] for i in result["issues"])


def test_status_degraded_partner_down_with_enough_own_addresses():
    survivor = node(P, "partner-down", stos=NOW - 60, mclt=600,
                    leases={"free": 40, "backup": 50, "active": 10, "allocated_since": 1})
    result = verdict(survivor, stopped(S, maintenance={"clean": True}))
    assert result["verdict"] == "degraded"
    own = [i for i in result["issues"] if i["node"] == P]
    assert len(own) == 1 and "has 40 addresses of its own" in own[0]["why"]
    assert decisions.when(NOW - 60 + 600) in own[0]["why"]


def test_status_degraded_recover_wait_shows_the_deadline():
    result = verdict(node(P, "partner-down"), node(S, "recover-wait", stos=NOW - 10, mclt=600),)
    levels = {i["node"]: i["level"] for i in result["issues"]}
    assert levels[S] == "degraded"
    assert decisions.when(NOW - 10 + 600) in next(i["why"] for i in result["issues"] if i["node"] == S)


@pytest.mark.parametrize("state", decisions.PASSING)
def test_status_degraded_passing_state(state):
    partner = "communications-interrupted" if state == "recover-done" else "normal"
    result = verdict(node(P, partner if state != "recover-done" else "normal"), node(S, state))
    if state == "recover-done":
        # With a NORMAL partner recover-done is stuck, not passing (row of its own below).
        assert result["verdict"] == "needs action"
    else:
        assert result["verdict"] == "degraded"
        assert "a passing state" in result["why"]


def test_status_degraded_normal_without_own_addresses():
    result = verdict(node(P, leases={"free": 0, "backup": 50, "active": 50}), node(S))
    assert result["verdict"] == "degraded" and result["node"] == P and "no addresses of its own" in result["why"]


def test_status_degraded_unacked_at_the_maximum():
    result = verdict(node(P), node(S, unacked=10, max_unacked=10))
    assert result["verdict"] == "degraded" and result["node"] == S and "10 unacknowledged updates" in result["why"]


def test_status_needs_action_node_not_answering_and_not_in_maintenance():
    result = verdict(node(P, "communications-interrupted"), stopped(S))
    assert result["verdict"] == "needs action"
    why = next(i["why"] for i in result["issues"] if i["node"] == S)
    assert "dhcp2 does not answer (connection refused): start dhcpd there" in why
    assert "recover puts dhcp1 in partner-down" in why


def test_status_needs_action_unreachable_host():
    result = verdict(node(P, "normal"), gone(S))
    assert result["verdict"] == "needs action" and result["node"] == S
    assert result["why"].startswith("dhcp2 does not answer (UNREACHABLE)")


@pytest.mark.parametrize("state", decisions.STUCK)
def test_status_needs_action_stuck_state(state):
    result = verdict(node(P, state), node(S, "normal"))
    assert result["verdict"] == "needs action" and result["node"] == P
    assert "netboot.dhcp_failover.recover" in result["why"]


def test_status_needs_action_partner_down_without_record():
    result = verdict(node(P, "partner-down", stos=NOW - 7200), stopped(S))
    assert result["verdict"] == "needs action" and result["node"] == P
    assert "Bring dhcp2 back" in result["why"]


def test_status_needs_action_own_addresses_run_out_before_stos_plus_mclt():
    survivor = node(P, "partner-down", stos=NOW - 10, mclt=600,
                    leases={"free": 6, "backup": 10, "active": 4, "allocated_since": 4})
    result = verdict(survivor, stopped(S, maintenance={"clean": True}))
    warning = [i for i in result["issues"] if "WARNING" in i["why"]]
    assert result["verdict"] == "needs action" and len(warning) == 1
    assert "(4 new leases in 10 s)" in warning[0]["why"]


def test_status_needs_action_no_own_addresses_before_stos_plus_mclt():
    survivor = node(P, "partner-down", stos=NOW - 10, mclt=600, leases={"free": 0, "backup": 10, "active": 10})
    result = verdict(survivor, stopped(S, maintenance={}))
    assert result["verdict"] == "needs action" and "no addresses of its own left" in result["why"]


@pytest.mark.parametrize("state", ["unknown-state", "shutdown", "paused"])
def test_status_needs_action_state_that_answers_nobody(state):
    result = verdict(node(P, "communications-interrupted"), node(S, state))
    assert result["verdict"] == "needs action"
    assert any(i["node"] == S and i["level"] == "needs action" for i in result["issues"])


def test_status_needs_action_recover_done_with_a_normal_partner():
    result = verdict(node(P), node(S, "recover-done"))
    assert result["verdict"] == "needs action" and result["node"] == S and "stuck in recover-done" in result["why"]


def test_status_needs_action_recover_stuck_behind_a_partner_down_partner():
    stuck = node(S, "recover", partner_state="partner-down", stos=NOW - decisions.STUCK_RECOVER - 1)
    result = verdict(node(P, "partner-down", partner_state="recover"), stuck)
    assert result["verdict"] == "needs action" and result["node"] == S
    assert "stuck in recover" in result["why"] and "restarts dhcpd on dhcp1" in result["why"]
    # The survivor's own line does not send the operator to bring dhcp2 back: it runs already.
    assert not any("Bring dhcp2 back" in i["why"] for i in result["issues"])
    # Younger than the bound: a recover passing through.
    young = verdict(node(P, "partner-down", partner_state="recover"), dict(stuck, stos=NOW - 5))
    assert any(i["node"] == S and "a passing state" in i["why"] for i in young["issues"])


def test_status_hung_dhcpd_is_its_own_finding():
    result = verdict(node(P, "communications-interrupted"), hung(S))
    why = next(i["why"] for i in result["issues"] if i["node"] == S)
    assert "process runs but does not answer OMAPI" in why and "Restart dhcpd there" in why
    assert "does not answer (" not in why
    assert "RUNNING, NO OMAPI" in result["table"][2]


def test_status_unreadable_lease_file_is_degraded():
    result = verdict(node(P), node(S, leases=None, leases_error="No such file"))
    assert result["verdict"] == "degraded" and "lease file of dhcp2 not readable: No such file" in result["why"]


def test_status_table_formats_the_rows():
    table = verdict(node(P, stos=NOW - 90), stopped(S))["table"]
    assert table[1].split() == ["dhcp1", "primary", "normal", "1m30s", "600", "128", "0", "50", "50", "50", "3"]
    assert table[2].split()[:4] == ["dhcp2", "secondary", "NOT", "ANSWERING"]


# --- recover: one test per row of the README's recover table -----------------------------------


def test_recover_both_normal():
    assert plan(node(P), node(S))["action"] is None


def test_recover_unknown_state():
    result = plan(node(P, "communications-interrupted"), node(S, "unknown-state"))
    assert (result["action"], result["node"]) == ("recover", S)


def test_recover_late_recover_done_restarts_it():
    result = plan(node(P), node(S, "recover-done", stos=NOW - 11))
    assert (result["action"], result["node"]) == ("restart", S)
    # Fresh recover-done is passing through.
    assert plan(node(P), node(S, "recover-done", stos=NOW - 5))["action"] is None


def test_recover_stuck_recover_restarts_the_partner_down_side():
    stuck = node(S, "recover", partner_state="partner-down", stos=NOW - decisions.STUCK_RECOVER - 1)
    survivor = node(P, "partner-down", partner_state="recover")
    result = plan(survivor, stuck)
    assert (result["action"], result["node"], result["rule"]) == ("restart", P, "stuck_recover")
    # Not yet past the bound, the partner not hearing the recover, or the two not talking: no restart.
    assert plan(survivor, dict(stuck, stos=NOW - 5))["action"] is None
    assert plan(dict(survivor, partner_state="normal"), stuck)["action"] is None
    assert plan(dict(survivor, partner_port=False), stuck)["action"] is None


def test_recover_partner_confirmed_down_dhcpd_not_running():
    result = plan(node(P, "communications-interrupted", partner_port=False), stopped(S))
    assert (result["action"], result["node"]) == ("partner-down", P)
    assert "dhcpd is not running there" in result["why"]


def test_recover_partner_confirmed_down_unreachable_no_ping():
    result = plan(node(P, "communications-interrupted", partner_port=False, partner_ping=False), gone(S))
    assert (result["action"], result["node"]) == ("partner-down", P)
    assert "does not answer ping" in result["why"]


def test_recover_restart_the_stuck_side_when_both_talk():
    result = plan(node(P, "normal"), node(S, "communications-interrupted"))
    assert (result["action"], result["node"]) == ("restart", S)


def test_recover_both_stuck_restarts_the_one_in_resolution_interrupted():
    result = plan(node(P, "resolution-interrupted"), node(S, "communications-interrupted"))
    assert (result["action"], result["node"]) == ("restart", P)
    result = plan(node(P, "communications-interrupted"), node(S, "communications-interrupted"))
    assert (result["action"], result["node"]) == ("restart", S)


def test_recover_stuck_waits_for_a_partner_in_a_passing_state():
    result = plan(node(P, "potential-conflict"), node(S, "communications-interrupted"))
    assert result["action"] is None and "a passing state" in result["why"]


def test_recover_never_restarts_the_only_serving_node():
    result = plan(node(P, "communications-interrupted"), node(S, "shutdown"))
    assert result["action"] is None and "would leave nobody serving" in result["why"]


def test_recover_stuck_but_not_both_reaching_each_other():
    result = plan(node(P, "communications-interrupted", partner_port=False), node(S, "normal", partner_port=False))
    assert result["action"] is None and "network problem" in result["why"]


def test_recover_stuck_death_not_confirmed():
    result = plan(node(P, "communications-interrupted", partner_port=False, partner_ping=True), gone(S))
    assert result["action"] is None and "cannot be confirmed" in result["why"]


def test_recover_partner_down_with_partner_in_recover_wait():
    result = plan(node(P, "partner-down"), node(S, "recover-wait", stos=NOW, mclt=60))
    assert result["action"] is None and decisions.when(NOW + 60) in result["why"]


def test_recover_partner_down_with_partner_stopped():
    result = plan(node(P, "partner-down", partner_port=False), stopped(S))
    assert result["action"] is None and "dhcp_ops_node=dhcp2 -e dhcp_ops_action=end" in result["why"]


def test_recover_no_dhcpd_answers():
    result = plan(stopped(P, partner_port=False), stopped(S, partner_port=False))
    assert result["action"] is None and "No dhcpd of this pair answers" in result["why"]


def test_recover_hung_dhcpd_is_reported_not_declared_down():
    # SIGSTOP: the kernel still accepts connections on the listening failover port.
    result = plan(node(P, "communications-interrupted"), hung(S))
    assert result["action"] is None and result["node"] == S
    assert "does not answer OMAPI" in result["why"] and "None" not in result["why"]
    assert "running but not answering OMAPI" in result["findings"][1]


def test_findings_tell_unrun_probes_from_failed_ones():
    found = decisions.findings([node(P, partner_ping=None, partner_port=None), node(S, partner_ping=None)])
    assert found[1].endswith("seen from dhcp1: not probed")
    assert found[0].endswith("seen from dhcp2: ping not checkable (ping failed to run on dhcp2), failover port open")


def test_recover_findings_say_what_each_side_sees():
    found = plan(node(P, "communications-interrupted", partner_port=False, partner_ping=True), gone(S))["findings"]
    assert found[1] == "dhcp2 (secondary): Ansible cannot reach it; seen from dhcp1: ping answers, failover port closed"
    assert found[0].endswith("seen from dhcp2: not checkable (Ansible cannot reach dhcp2)")


# --- maintenance ---------------------------------------------------------------------------------


def mplan(p, s, target, action, **kwargs):
    return decisions.maintenance_plan([p, s], target, action, NOW, **kwargs)


@pytest.mark.parametrize("partner", [None, "recover-wait", "startup", "shutdown", "resolution-interrupted"])
def test_maintenance_start_refuses_when_the_partner_is_not_serving(partner):
    other = stopped(S) if partner is None else node(S, partner)
    result = mplan(node(P, "communications-interrupted"), other, P, "start")
    assert result["action"] == "refuse" and "Refusing maintenance of dhcp1" in result["why"]


@pytest.mark.parametrize("partner", decisions.SERVING)
def test_maintenance_start_stops_when_the_partner_serves(partner):
    assert mplan(node(P, partner), node(S), S, "start")["action"] == "stop"


def test_maintenance_start_twice_does_nothing():
    assert mplan(node(P, "partner-down"), stopped(S), S, "start")["action"] == "nothing"


def test_maintenance_start_of_a_hung_node_stops_it():
    assert mplan(node(P, "communications-interrupted"), hung(S), S, "start")["action"] == "stop"


STAT = {"exists": True, "inode": 7, "size": 100, "mtime": 1.5}
COUNT = {"local_state": "normal", "partner_state": "normal", "cur_unacked_updates": 3}
MAC = "02:00:00:00:00:01"


def lease(address, state="active", mac=MAC, uid=None, ends=NOW + 100, **extra):
    """A lease_info record; the times the peers write differently (tstp, cltt) are left out."""
    record = {"address": address, "binding_state": state, "starts": NOW - 20, "ends": ends}
    if mac:
        record.update(hardware_type="ethernet", hardware_address=mac)
    if uid:
        record["uid"] = uid
    record.update(extra)
    return record


def leases_result(*records, **extra):
    """What lease_info registers with records=true."""
    result = {"changed": False, "records": list(records), "partial_tail": None}
    result.update(extra)
    return result


def record_plan(mine, theirs, target=None, **kwargs):
    target = node(S) if target is None else target
    return mplan(node(P), target, S, "record", count=COUNT, lease_stat=STAT, node_leases=mine,
                 partner_leases=theirs, **kwargs)


# One rule per row of binding_unknown: the partner holds the node's binding the same way or not.
def test_binding_known_when_the_partner_holds_it_identically():
    assert decisions.binding_unknown(lease("198.18.100.5"), lease("198.18.100.5")) is None


def test_binding_known_when_the_partner_holds_it_longer():
    # e.g. the client renewed through the partner after the stop
    assert decisions.binding_unknown(lease("198.18.100.5"), lease("198.18.100.5", ends=NOW + 300)) is None


def test_binding_unknown_when_missing_from_the_partner():
    assert decisions.binding_unknown(lease("198.18.100.5"), None) == "not in the partner's lease file"


def test_binding_unknown_when_the_partner_has_another_state():
    assert decisions.binding_unknown(lease("198.18.100.5"), lease("198.18.100.5", "free")) == "the partner has it free"


@pytest.mark.parametrize("theirs", [lease("198.18.100.5", mac="02:00:00:00:00:02"),
                                    lease("198.18.100.5", uid="01:02:00:00:00:00:01")])
def test_binding_unknown_when_the_partner_has_another_client(theirs):
    assert "another client" in decisions.binding_unknown(lease("198.18.100.5"), theirs)


def test_binding_unknown_when_the_partner_lets_it_end_earlier():
    why = decisions.binding_unknown(lease("198.18.100.5", ends=NOW + 100), lease("198.18.100.5", ends=NOW + 99))
    assert why.startswith("the partner has it ending ") and "before" in why


def test_binding_known_when_the_partner_recorded_it_and_the_client_released_it_since():
    released = lease("198.18.100.5", "released", ends=NOW + 1)
    history = [lease("198.18.100.5", "backup", mac=None), lease("198.18.100.5"), released]
    assert decisions.binding_unknown(lease("198.18.100.5"), released, history) is None


def test_binding_unknown_when_only_an_older_binding_of_the_client_was_recorded():
    # The client held the address before (starting earlier, even ending later) and released it;
    # the node's new binding of it never reached the partner.
    older = lease("198.18.100.5", starts=NOW - 500, ends=NOW + 200)
    released = lease("198.18.100.5", "released", starts=NOW - 500, ends=NOW - 30)
    why = decisions.binding_unknown(lease("198.18.100.5"), released, [older, released])
    assert why == "the partner has it released"


def test_binding_never_ending_is_known_only_as_never_ending():
    assert decisions.binding_unknown(lease("198.18.100.5", ends=None), lease("198.18.100.5", ends=None)) is None
    assert "before never" in decisions.binding_unknown(lease("198.18.100.5", ends=None), lease("198.18.100.5"))


def test_maintenance_record_of_a_clean_stop_under_load():
    # Free and backup addresses differ between the peers (pool balancing): they bind nobody.
    mine = leases_result(lease("198.18.100.5"), lease("198.18.100.6", mac="02:00:00:00:00:02"),
                         lease("198.18.100.7", "free"), lease("198.18.100.8", "backup", mac=None))
    theirs = leases_result(lease("198.18.100.5", ends=NOW + 200), lease("198.18.100.6", mac="02:00:00:00:00:02"),
                           lease("198.18.100.7", "backup"), lease("198.18.100.9"))
    result = record_plan(mine, theirs)
    record = result["record"]
    assert (record["clean"], record["why_not_clean"], record["bindings"], record["unknown_count"]) == (True, [], 2, 0)
    assert record["lease_file_at_proof"] == [7, 100, 1.5] and record["recover_wait_until_epoch"] is None
    assert record["started_epoch"] == NOW and record["unacked_updates"] == 3
    assert result["why"].startswith("Clean stop: every one of the 2 bindings of dhcp2 is held the same way by dhcp1")


def test_maintenance_record_reads_the_partners_history():
    mine = leases_result(lease("198.18.100.5"))
    released = lease("198.18.100.5", "released", ends=NOW + 1)
    theirs = leases_result(released, history=[lease("198.18.100.5"), released])
    assert record_plan(mine, theirs)["record"]["clean"] is True
    assert record_plan(mine, leases_result(released))["record"]["clean"] is False


def test_maintenance_record_of_a_node_without_bindings_is_clean():
    result = record_plan(leases_result(lease("198.18.100.7", "free")), {"failed": True, "msg": "gone"})
    assert result["record"]["clean"] is True and result["record"]["bindings"] == 0
    assert "holds no binding for any client" in result["why"]


def test_maintenance_record_names_the_unknown_bindings_and_the_deadline():
    target = node(S, stos=NOW - 100, mclt=600)
    mine = leases_result(*[lease("198.18.100.%d" % i) for i in range(1, 9)])
    theirs = leases_result(lease("198.18.100.1"), lease("198.18.100.2", "free"))
    result = record_plan(mine, theirs, target=target)
    record = result["record"]
    assert (record["clean"], record["bindings"], record["unknown_count"]) == (False, 8, 7)
    assert [u["address"] for u in record["unknown_bindings"]] == ["198.18.100.%d" % i for i in range(2, 7)]
    assert record["unknown_bindings"][0] == {"address": "198.18.100.2", "client": MAC,
                                             "why": "the partner has it free"}
    assert "7 of the node's 8 bindings are not known to the partner the same way" in record["why_not_clean"][0]
    assert record["why_not_clean"][0].endswith(" and 2 more")
    assert record["recover_wait_until_epoch"] == NOW + 500
    assert result["why"].startswith("NOT a clean stop: ")
    assert result["why"].endswith("End will wait in recover-wait until %s (old stos + MCLT, 500 s from now)."
                                  % decisions.when(NOW + 500))


@pytest.mark.parametrize(
    "mine, theirs, target, reason",
    [
        ({"failed": True, "msg": "No such file"}, leases_result(), node(S), "the node's lease file could not be read"),
        ({"skipped": True}, leases_result(), node(S), "the node's lease file was not read"),
        (leases_result(lease("198.18.100.5"), partial_tail=40), leases_result(lease("198.18.100.5")), node(S),
         "half-written entry (line 40)"),
        (leases_result(lease("198.18.100.5")), {"failed": True, "msg": "denied"}, node(S),
         "the partner's lease file could not be read (denied)"),
        (leases_result(), leases_result(), stopped(S), "dhcpd was not running"),
    ],
)
def test_maintenance_record_of_a_stop_that_is_not_proven(mine, theirs, target, reason):
    result = record_plan(mine, theirs, target=target)
    assert result["record"]["clean"] is False and any(reason in r for r in result["record"]["why_not_clean"]), result
    assert "None" not in result["why"]


def clean_record():
    return {"clean": True, "why_not_clean": [], "lease_file_at_proof": [7, 100, 1.5]}


def test_maintenance_end_trusts_a_clean_record_with_an_unchanged_lease_file():
    result = mplan(node(P, "partner-down"), stopped(S, maintenance=clean_record()), S, "end", lease_stat=STAT)
    assert (result["action"], result["clean"], result["doubts"]) == ("start", True, [])


@pytest.mark.parametrize(
    "target, stat, doubt",
    [
        (stopped(S), STAT, "no maintenance record"),
        (stopped(S, maintenance=clean_record()), dict(STAT, size=101), "the lease file changed"),
        (node(S, "recover-wait", maintenance=clean_record()), STAT, "dhcpd already runs"),
        (stopped(S, maintenance=dict(clean_record(), clean=False, why_not_clean=["x"])), STAT, "x"),
        # A record of the old "file unchanged since the count" rule proves nothing about bindings.
        (stopped(S, maintenance={"clean": True, "why_not_clean": [], "lease_file_at_count": [7, 100, 1.5]}), STAT,
         "the lease file changed"),
    ],
)
def test_maintenance_end_doubts(target, stat, doubt):
    result = mplan(node(P, "partner-down"), target, S, "end", lease_stat=stat)
    assert result["clean"] is False and any(doubt in d for d in result["doubts"]), result


def test_maintenance_recover_wait_decisions():
    waiting = node(S, "recover-wait", stos=NOW - 10, mclt=60)
    done = mplan(node(P, "partner-down"), waiting, S, "recover-wait", clean=True)
    assert done["action"] == "recover-done" and done["deadline_epoch"] == NOW + 50 and done["seconds_left"] == 50
    assert mplan(node(P, "partner-down"), waiting, S, "recover-wait", clean=False)["action"] == "wait"
    assert mplan(node(P), node(S), S, "recover-wait", clean=True)["action"] == "none"


def test_maintenance_rejects_a_node_of_another_pair():
    with pytest.raises(decisions.DecisionError, match="not a node of the pair"):
        mplan(node(P), node(S), "dhcp9", "start")


# --- observe: from registered results to the schema ----------------------------------------------


def test_observe_a_healthy_node():
    failover = {"local_state": "normal", "partner_state": "normal", "local_stos_epoch": 5, "partner_stos_epoch": 6,
                "mclt": 600, "split": 128, "cur_unacked_updates": 0, "max_unacked_updates": 10}
    record = base64.b64encode(json.dumps({"clean": True}).encode()).decode()
    obs = decisions.observe({
        "host": P, "role": "primary", "peer": S, "read": {"failover": failover}, "pgrep": {"rc": 0},
        "icmp": {"rc": 1}, "port": {"state": "started"}, "record": {"content": record},
        "leases": {"counts": {"free": 3}, "allocated_since": None},
    })
    assert sorted(obs) == sorted(decisions.OBSERVATION_KEYS)
    assert (obs["state"], obs["stos"], obs["unacked"], obs["omapi"], obs["error"]) == ("normal", 5, 0, True, None)
    assert (obs["dhcpd_running"], obs["partner_ping"], obs["partner_port"]) == (True, False, True)
    assert obs["maintenance"] == {"clean": True} and obs["leases"] == {"free": 3, "allocated_since": 0}


def test_observe_probes_that_prove_nothing_are_none():
    obs = decisions.observe({"host": S, "role": "secondary", "peer": P, "read": {"msg": "refused"},
                             "pgrep": {"rc": 2}, "icmp": {"rc": 127}, "port": {"skipped": True},
                             "leases": {"failed": True, "msg": "gone"}, "record": {"failed": True}})
    assert (obs["dhcpd_running"], obs["partner_ping"], obs["partner_port"]) == (None, None, None)
    assert (obs["omapi"], obs["error"], obs["leases"], obs["leases_error"]) == (False, "refused", None, "gone")
    assert obs["maintenance"] is None


def test_observe_an_unreachable_host():
    obs = decisions.observe({"host": S, "role": "secondary", "peer": P,
                             "read": {"unreachable": True, "msg": "ssh: port 22 refused"}, "pgrep": {"rc": 0}})
    assert (obs["reachable"], obs["error"], obs["dhcpd_running"]) == (False, "ssh: port 22 refused", None)


def test_filters_name_the_filter_on_bad_input():
    with pytest.raises(AnsibleFilterError, match="netboot.dhcp_failover.pair_verdict: expected the observations"):
        FILTERS["pair_verdict"]([node(P)])
    assert FILTERS["recover_plan"]({P: node(P), S: node(S)}, now=NOW)["action"] is None


# --- properties ----------------------------------------------------------------------------------

STATES = [None, "unknown-state", *decisions.SERVING, *decisions.PASSING, *decisions.HALTED,
          "resolution-interrupted", "recover-wait"]
TRI = st.sampled_from([True, False, None])


@st.composite
def observation(draw, host):
    state = draw(st.sampled_from(STATES))
    reachable = draw(st.booleans())
    omapi = reachable and state is not None
    running = draw(TRI) if reachable else None
    if omapi and running is False:
        running = True  # OMAPI answers only from a running dhcpd
    return node(
        host,
        state=state if omapi else None,
        reachable=reachable,
        omapi=omapi,
        dhcpd_running=running,
        error=None if omapi else "refused",
        stos=draw(st.integers(NOW - 7200, NOW)) if omapi else None,
        mclt=draw(st.integers(1, 3600)) if omapi else None,
        unacked=draw(st.integers(0, 12)) if omapi else None,
        partner_port=draw(TRI) if reachable else None,
        partner_ping=draw(TRI) if reachable else None,
        leases=draw(st.fixed_dictionaries({"free": st.integers(0, 5), "backup": st.integers(0, 5),
                                           "allocated_since": st.integers(0, 5)})),
        maintenance=draw(st.sampled_from([None, {}, clean_record()])),
    )


@settings(max_examples=500)
@given(observation(P), observation(S))
def test_property_partner_down_never_while_the_partner_may_live(p, s):
    result = plan(p, s)
    if result["action"] == "partner-down":
        survivor = p if result["node"] == P else s
        partner = s if survivor is p else p
        assert survivor["partner_port"] is False, result
        assert partner["dhcpd_running"] is not True, result
        assert partner["state"] is None, result


@settings(max_examples=500)
@given(observation(P), observation(S))
def test_property_healthy_only_when_both_normal(p, s):
    if verdict(p, s)["verdict"] == "healthy":
        assert p["state"] == "normal" and s["state"] == "normal"


@settings(max_examples=500)
@given(observation(P), observation(S), st.sampled_from([P, S]))
def test_property_maintenance_never_takes_the_last_serving_node(p, s, target):
    result = mplan(p, s, target, "start")
    partner = s if target == P else p
    if result["action"] == "stop":
        assert partner["state"] in decisions.SERVING


@settings(max_examples=300)
@given(observation(P), observation(S))
def test_property_every_decision_explains_itself(p, s):
    for result in (plan(p, s), verdict(p, s)):
        assert result["why"] and "None" not in result["why"], result
        assert len(result["findings"]) == 2


# --- properties of the stop proof ----------------------------------------------------------------

# Lease files are large examples; a loaded machine must not fail the run for being slow.
PROOF_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large]
ADDRESSES = ["198.18.100.%d" % i for i in range(1, 9)]


@st.composite
def lease_file(draw):
    """lease_info records of a small pool: any state, one of three clients, any end (or never)."""
    records = []
    for address in draw(st.lists(st.sampled_from(ADDRESSES), unique=True, max_size=len(ADDRESSES))):
        state = draw(st.sampled_from(["active", "free", "backup", "expired", "released", "abandoned", "bootp",
                                      "reserved"]))
        records.append(lease(address, state,
                             mac=draw(st.sampled_from([None, MAC, "02:00:00:00:00:02"])),
                             uid=draw(st.sampled_from([None, "01:02:00:00:00:00:01"])),
                             ends=draw(st.sampled_from([None, NOW - 5, NOW + 100, NOW + 300]))))
    return records


def ends_key(record):
    return float("inf") if record["ends"] is None else record["ends"]


@settings(max_examples=500, suppress_health_check=PROOF_CHECKS)
@given(lease_file(), lease_file())
def test_property_a_clean_stop_leaves_no_client_the_partner_does_not_protect(mine, theirs):
    record = record_plan(leases_result(*mine), leases_result(*theirs))["record"]
    partner = {r["address"]: r for r in theirs}
    held = [r for r in mine if r["binding_state"] in decisions.HELD]
    assert record["bindings"] == len(held)
    if record["clean"]:
        for binding in held:
            other = partner.get(binding["address"])
            assert other is not None and other["binding_state"] == binding["binding_state"], (binding, other)
            assert (other.get("hardware_address"), other.get("uid")) == (binding.get("hardware_address"),
                                                                         binding.get("uid"))
            assert ends_key(other) >= ends_key(binding)
    else:
        assert record["unknown_count"] > 0 and record["recover_wait_until_epoch"] == NOW - 3600 + 600


@settings(max_examples=300, suppress_health_check=PROOF_CHECKS)
@given(lease_file(), lease_file())
def test_property_the_partner_knowing_more_never_spoils_a_clean_stop(mine, extra):
    known = {r["address"] for r in mine}
    theirs = mine + [r for r in extra if r["address"] not in known]
    assert record_plan(leases_result(*mine), leases_result(*theirs))["record"]["clean"] is True


@settings(max_examples=300, suppress_health_check=PROOF_CHECKS)
@given(lease_file(), lease_file(), st.sampled_from(["backup", "free", "expired", "released", "abandoned"]))
def test_property_addresses_bound_to_nobody_on_the_node_never_decide(mine, theirs, state):
    unbound = [dict(r, binding_state=state) for r in mine]
    assert record_plan(leases_result(*unbound), leases_result(*theirs))["record"]["clean"] is True


# --- the liveness probe before partner-down ---------------------------------------------------------


def probe(*servers, mac="02:6e:62:00:00:01"):
    offers = [{"server_id": s, "yiaddr": "198.18.100.150", "elapsed": 0.004} for s in servers]
    return {"mac": mac, "offers": offers, "servers": sorted(set(servers)), "changed": False}


def test_probe_a_partner_that_offers_refuses_partner_down_unless_forced():
    verdict = decisions.partner_down_probe(probe("198.18.100.1", "198.18.100.2"), S, "198.18.100.2")
    assert (verdict["allow"], verdict["partner_offered"]) == (False, True)
    assert "dhcp2 (198.18.100.2) offered 198.18.100.150 to 02:6e:62:00:00:01" in verdict["why"]
    assert "refused" in verdict["why"] and "force=true" in verdict["why"]
    forced = decisions.partner_down_probe(probe("198.18.100.2"), S, "198.18.100.2", force=True)
    assert (forced["allow"], forced["partner_offered"]) == (True, True) and "forced" in forced["why"]


def test_probe_a_partner_that_does_not_offer_allows_partner_down():
    # The node itself answering its partner's client (communications-interrupted) is no sign of the partner.
    verdict = decisions.partner_down_probe(probe("198.18.100.1"), S, "198.18.100.2")
    assert (verdict["allow"], verdict["partner_offered"]) == (True, False)
    assert "did not offer" in verdict["why"] and "198.18.100.1" in verdict["why"]
    assert decisions.partner_down_probe(probe(), S, "198.18.100.2")["allow"] is True


def test_probe_that_did_not_run_refuses_unless_forced():
    for result in (None, {"failed": True, "msg": "no such interface"}, {"skipped": True}):
        verdict = decisions.partner_down_probe(result, S, "198.18.100.2")
        assert (verdict["allow"], verdict["partner_offered"]) == (False, None), result
        assert "unknown" in verdict["why"]
    assert "no such interface" in decisions.partner_down_probe({"failed": True, "msg": "no such interface"}, S,
                                                               "198.18.100.2")["why"]
    assert decisions.partner_down_probe(None, S, "198.18.100.2", force=True)["allow"] is True


def test_probe_bad_input_is_named():
    with pytest.raises(decisions.DecisionError, match="partner and partner_address are required"):
        decisions.partner_down_probe(probe(), S, None)
    with pytest.raises(decisions.DecisionError, match="registered dhcp_probe result"):
        decisions.partner_down_probe(["198.18.100.2"], S, "198.18.100.2")
