"""plugins/plugin_utils/single_node.py: one test per rule of single-node mode (dhcpd_single_node),
never_served and join_plan, and the status/recover advice for a partner never deployed."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter.single_node import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import single_node as sn

NOW = 1_800_000_000
P, S = "dhcp1", "dhcp2"
PAIRS = {"dhcp_pair_a": [P, S], "dhcp_pair_b": ["dhcp3", "dhcp4"]}
FILTERS = FilterModule().filters()
LEASES = "/var/lib/dhcp/dhcpd.leases"


def model(host=P):
    peer = S if host == P else P
    return {
        "host": host, "peer_host": peer, "role": "primary" if host == P else "secondary",
        "peer_address": "198.18.20.12" if host == P else "198.18.20.11", "peer_failover_port": 647, "mclt": 60,
        "nodes": {P: {"role": "primary"}, S: {"role": "secondary"}},
    }  # fmt: skip


def offer(server):
    return {"server_id": server, "src_ip": server, "yiaddr": "198.18.20.150"}


def seen(**kwargs):
    """The missing node confirmed down: unreachable, port closed, no offer (keyword arguments override)."""
    values = {
        "reach": {"unreachable": True, "msg": "container not running"},
        "pgrep": {"skipped": True},
        "port": {"failed": False, "msg": "Timeout when waiting for 198.18.20.12:647", "elapsed": 3},
        "probe": {"mac": "02:6e:62:00:00:01", "offers": [], "servers": []},
    }
    values.update(kwargs)
    return values


def plan(**kwargs):
    return sn.single_node_plan(model(kwargs.pop("host", P)), seen(**kwargs.pop("seen", {})), NOW, **kwargs)


# --- single_node_mode: dhcpd_single_node, checked before any host is touched ---------------------


@pytest.mark.parametrize("value", [None, "", "  ", False, []])
def test_mode_off_when_unset(value):
    assert sn.single_node_mode(value, P, [P, S], PAIRS) == {"errors": [], "enabled": False, "node": None,
                                                            "absent": None}  # fmt: skip


@pytest.mark.parametrize("host", [P, S])
def test_mode_names_the_node_and_its_partner_on_both_members(host):
    assert sn.single_node_mode(P, host, [P, S], PAIRS) == {"errors": [], "enabled": True, "node": P, "absent": S}


def test_mode_a_node_of_another_pair_leaves_this_pair_as_usual():
    result = sn.single_node_mode("dhcp3", P, [P, S], PAIRS)
    assert result["enabled"] is False and result["errors"] == []


def test_mode_refuses_a_host_that_is_no_pair_member():
    (error,) = sn.single_node_mode("client", P, [P, S], PAIRS)["errors"]
    assert "dhcpd_single_node='client' is not a member of any DHCP failover pair" in error
    assert "dhcp1, dhcp2, dhcp3, dhcp4" in error


@pytest.mark.parametrize("value", ["dhcp1,dhcp2", [P, S], "dhcp2, dhcp1"])
def test_mode_refuses_both_nodes_named(value):
    (error,) = sn.single_node_mode(value, P, [P, S], PAIRS)["errors"]
    assert "dhcpd_single_node=" in error and "both nodes of the pair dhcp_pair_a are named" in error


def test_mode_refuses_several_nodes_of_different_pairs():
    (error,) = sn.single_node_mode("dhcp1,dhcp3", P, [P, S], PAIRS)["errors"]
    assert "names 2 nodes" in error


@pytest.mark.parametrize("value", [True, 3, {"a": 1}])
def test_mode_refuses_a_value_that_is_no_name(value):
    (error,) = sn.single_node_mode(value, P, [P, S], PAIRS)["errors"]
    assert error.startswith("dhcpd_single_node=%r is invalid" % (value,))


def test_mode_host_outside_its_pair_is_a_programming_error():
    with pytest.raises(decisions.DecisionError):
        sn.single_node_mode(P, "dhcp9", [P, S], PAIRS)


# --- single_node_plan: go only when the missing node is confirmed not serving ---------------------


def test_plan_go_when_unreachable_port_closed_and_no_offer():
    result = plan()
    assert result["action"] == "go" and result["absent"] == S
    assert "Ansible cannot reach dhcp2 (container not running)" in result["findings"][0]
    assert "closed from dhcp1" in result["findings"][0] and "got no offer" in result["findings"][0]


def test_plan_go_when_reachable_without_dhcpd():
    result = plan(seen={"reach": {"ping": "pong"}, "pgrep": {"rc": 1, "stdout": ""}})
    assert result["action"] == "go"
    assert "no dhcpd process runs there" in result["findings"][0]


def test_plan_refuses_when_dhcpd_runs_there():
    result = plan(seen={"reach": {"ping": "pong"}, "pgrep": {"rc": 0, "stdout": "812 /usr/sbin/dhcpd -4"}})
    assert result["action"] == "refuse" and "dhcpd runs on dhcp2" in result["why"]
    assert "812 /usr/sbin/dhcpd -4" in result["findings"][0]


def test_plan_refuses_when_the_failover_port_is_open():
    result = plan(seen={"port": {"state": "started", "port": 647}})
    assert result["action"] == "refuse" and "failover port 198.18.20.12:647 is open from dhcp1" in result["why"]


def test_plan_refuses_when_the_missing_node_offers_to_its_bucket():
    probe = {"mac": "02:6e:62:00:00:01", "offers": [offer("198.18.20.12")], "servers": ["198.18.20.12"]}
    result = plan(seen={"probe": probe})
    assert result["action"] == "refuse"
    assert "dhcp2 answers clients of its hash bucket (offered 198.18.20.150 to 02:6e:62:00:00:01)" in result["why"]


def test_plan_other_servers_offers_do_not_refuse_but_are_named():
    probe = {"mac": "02:6e:62:00:00:01", "offers": [offer("198.18.20.99")], "servers": ["198.18.20.99"]}
    result = plan(seen={"probe": probe})
    assert result["action"] == "go" and "other servers offered: 198.18.20.99" in result["findings"][0]


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("probe", {"skipped": True}, "could not ask whether dhcp2 answers its clients"),
        ("probe", {"failed": True, "msg": "no such interface"}, "could not ask whether dhcp2 answers its clients"),
        ("port", {"skipped": True}, "the failover port of dhcp2 could not be checked"),
        ("pgrep", {"rc": 2, "msg": "pgrep: bad option"}, "could not tell whether dhcpd runs on dhcp2"),
    ],
)
def test_plan_refuses_what_could_not_be_checked(key, value, why):
    seen_values = {key: value}
    if key == "pgrep":
        seen_values["reach"] = {"ping": "pong"}
    result = plan(seen=seen_values)
    assert result["action"] == "refuse" and why in result["why"]


def test_plan_fresh_primary_serves_every_client_at_once():
    state = {"local_state": "partner-down", "local_stos_epoch": NOW - 10, "mclt": 60}
    result = plan(host_state=state, host_leases={"own": 100, "theirs": 0})
    assert result["serves_now"] == "every client" and "serves every client at once, from its 100 own" in result["why"]
    assert result["usable_at"] == NOW + 50 and result["seconds_left"] == 50
    assert "without waiting out MCLT" in result["advice"]


def test_plan_fresh_secondary_serves_nobody_until_stos_plus_mclt():
    state = {"local_state": "partner-down", "local_stos_epoch": NOW - 10, "mclt": 60}
    result = plan(host=S, host_state=state, host_leases={"own": 0, "theirs": 100})
    assert result["serves_now"] == "nobody" and result["usable_at"] == NOW + 50
    assert "serves NOBODY yet" in result["why"] and sn.when(NOW + 50) in result["why"]
    assert result["advice"].startswith("Bring up the primary first")


def test_plan_secondary_without_counts_is_judged_by_its_role():
    state = {"local_state": "partner-down", "local_stos_epoch": NOW, "mclt": 60}
    assert plan(host=S, host_state=state, host_leases={"failed": True})["serves_now"] == "nobody"


def test_plan_node_not_in_partner_down_after_the_run_is_refused():
    result = plan(host_state={"local_state": "recover", "local_stos_epoch": NOW, "mclt": 60})
    assert result["action"] == "refuse" and "is recover, not partner-down" in result["why"]


def test_plan_stos_is_when_partner_down_was_set_not_the_process_start():
    # Gotcha: the deadline counts from partner-down (local stos), whatever ran before.
    state = {"local_state": "partner-down", "local_stos_epoch": NOW - 5, "mclt": 600}
    assert plan(host=S, host_state=state, host_leases={"own": 0, "theirs": 50})["usable_at"] == NOW + 595


# --- never_served: judged from content, not existence --------------------------------------------


def leases(total=0, failover=None, **kwargs):
    result = {"counts": {"free": total}, "total": total, "failover": failover or {}, "partial_tail": None}
    result.update(kwargs)
    return result


def test_never_served_empty_file_and_postinst_backup():
    # Debian's postinst starts dhcpd once: an empty dhcpd.leases and a dhcpd.leases~ are not service.
    result = sn.never_served({LEASES: leases(), LEASES + "~": leases()}, False)
    assert result["never_served"] is True and result["doubts"] == []


def test_never_served_no_lease_file_at_all():
    assert sn.never_served({}, False)["never_served"] is True
    assert sn.never_served({LEASES: None}, False)["never_served"] is True


def test_never_served_false_with_lease_records():
    result = sn.never_served({LEASES: leases(total=100)}, False)
    assert result["never_served"] is False and "lists 100 addresses" in result["why"]


def test_never_served_false_with_a_saved_failover_state():
    result = sn.never_served({LEASES: leases(failover={"pair": {"my_state": "recover"}})}, False)
    assert result["never_served"] is False and "saved failover state for pair" in result["why"]


def test_never_served_false_in_the_backup_file_too():
    assert sn.never_served({LEASES: leases(), LEASES + "~": leases(total=3)}, False)["never_served"] is False


@pytest.mark.parametrize("result", [{"failed": True, "msg": "permission denied"}, {"skipped": True},
                                    leases(partial_tail=7)])  # fmt: skip
def test_never_served_false_when_a_file_is_in_doubt(result):
    assert sn.never_served({LEASES: result}, False)["never_served"] is False


@pytest.mark.parametrize("running", [True, None])
def test_never_served_false_unless_dhcpd_was_known_stopped(running):
    assert sn.never_served({LEASES: leases()}, running)["never_served"] is False


def test_never_served_false_when_the_files_were_not_listed():
    assert sn.never_served(None, False)["never_served"] is False


# --- join_plan: recover-done only for a node in recover-wait that never served --------------------


def read(state="recover-wait", stos=NOW - 5, mclt=60):
    return {"failover": {"local_state": state, "partner_state": "partner-down", "local_stos_epoch": stos, "mclt": mclt}}


def test_join_recover_done_when_never_served():
    result = sn.join_plan(S, read(), {"never_served": True, "why": "never served: empty"}, NOW)
    assert result["action"] == "recover-done" and result["seconds_left"] == 55
    assert "Moving it to recover-done now" in result["why"] and "never served: empty" in result["why"]


@pytest.mark.parametrize("never", [None, {"never_served": False, "why": "not proven never to have served: x"}])
def test_join_full_wait_when_in_doubt(never):
    result = sn.join_plan(S, read(), never, NOW)
    assert result["action"] == "wait" and result["deadline_epoch"] == NOW + 55
    assert "waits out the full MCLT" in result["why"]


@pytest.mark.parametrize("state", ["normal", "potential-conflict", "communications-interrupted"])
def test_join_nothing_outside_recover_wait(state):
    assert sn.join_plan(S, read(state=state), {"never_served": True, "why": ""}, NOW)["action"] == "none"


def test_join_nothing_without_omapi():
    result = sn.join_plan(S, {"failed": True, "msg": "connection refused"}, None, NOW)
    assert result["action"] == "none" and "connection refused" in result["why"]


# --- status and recover on a pair with one node never deployed -----------------------------------


def obs(host, **kwargs):
    role = "primary" if host == P else "secondary"
    values = {
        "host": host, "role": role, "peer": S if host == P else P, "reachable": True, "dhcpd_running": True,
        "omapi": True, "error": None, "state": "partner-down", "partner_state": "unknown-state", "stos": NOW - 60,
        "partner_stos": 0, "mclt": 60, "split": 128, "unacked": 0, "max_unacked": 10, "partner_port": False,
        "partner_ping": False, "leases": {"free": 100, "backup": 0, "active": 2, "allocated_since": 2},
        "leases_error": None, "maintenance": None,
    }  # fmt: skip
    values.update(kwargs)
    return values


def never_deployed(host):
    return obs(host, reachable=False, dhcpd_running=None, omapi=False, error="UNREACHABLE", state=None,
               partner_state=None, stos=None, partner_stos=None, mclt=None, split=None, unacked=None,
               max_unacked=None, partner_port=None, partner_ping=None, leases=None)  # fmt: skip


def test_status_partner_never_deployed_says_to_deploy_it_with_site():
    result = decisions.pair_verdict([obs(P), never_deployed(S)], NOW)
    assert result["verdict"] == "needs action"
    assert "dhcp2 has never talked to dhcp1" in result["why"] and "netboot.dhcp_failover.site" in result["why"]


def test_recover_partner_never_deployed_says_to_deploy_it_with_site():
    result = decisions.recover_plan([obs(P), never_deployed(S)], NOW)
    assert result["action"] is None and "never talked to" in result["why"]
    assert "netboot.dhcp_failover.site" in result["why"]


def test_status_partner_never_heard_with_a_partner_stos_is_never_met():
    # Measured: a fresh primary alone in partner-down reports partner unknown-state with a non-zero stos.
    result = decisions.pair_verdict([obs(P, partner_stos=NOW - 120), never_deployed(S)], NOW)
    assert "never talked to" in result["why"]


def test_status_unwritten_pool_is_not_reported_as_no_own_addresses():
    leases = {"free": 0, "backup": 0, "active": 2, "allocated_since": 2}
    result = decisions.pair_verdict([obs(P, leases=leases), never_deployed(S)], NOW)
    assert not any("no addresses of its own" in issue["why"] for issue in result["issues"])


def test_plan_unwritten_pool_is_judged_by_the_role():
    state = {"local_state": "partner-down", "local_stos_epoch": NOW, "mclt": 60}
    assert plan(host_state=state, host_leases={"own": 0, "theirs": 0})["serves_now"] == "every client"
    assert plan(host=S, host_state=state, host_leases={"own": 0, "theirs": 0})["serves_now"] == "nobody"


def test_status_partner_that_was_met_is_still_a_maintenance_matter():
    result = decisions.pair_verdict([obs(P, partner_state="normal", partner_stos=NOW - 600), never_deployed(S)], NOW)
    assert "netboot.dhcp_failover.maintenance" in result["why"]


# --- the filters -----------------------------------------------------------------------------------


def test_filters_wrap_the_decisions():
    assert set(FILTERS) == {"single_node_mode", "single_node_plan", "never_served", "join_plan"}
    assert FILTERS["single_node_mode"](P, S, [P, S], PAIRS)["absent"] == S
    assert FILTERS["join_plan"](read(), S, {"never_served": True, "why": ""}, now=NOW)["action"] == "recover-done"
    assert FILTERS["never_served"]({LEASES: leases()}, False)["never_served"] is True
    assert FILTERS["single_node_plan"](model(), seen(), now=NOW)["action"] == "go"


def test_filters_name_themselves_on_bad_input():
    with pytest.raises(AnsibleFilterError, match="netboot.dhcp_failover.single_node_plan"):
        FILTERS["single_node_plan"]("nonsense", {})


def test_plan_fresh_secondary_with_mclt_zero_hands_out_zero_second_leases():
    # Measured: a secondary with no mclt in dhcpd.conf (deployed by an older role) that never met its
    # primary reports MCLT 0 over OMAPI.
    state = {"local_state": "partner-down", "local_stos_epoch": NOW - 10, "mclt": 0}
    result = plan(host=S, host_state=state, host_leases={"own": 0, "theirs": 0})
    assert result["action"] == "go" and result["serves_now"] == "every client, with leases of 0 s"
    assert "with MCLT 0" in result["why"] and result["usable_at"] == NOW - 10 and result["seconds_left"] == 0
    assert result["advice"].startswith("Bring up the primary first (-e dhcpd_single_node=dhcp1)")
