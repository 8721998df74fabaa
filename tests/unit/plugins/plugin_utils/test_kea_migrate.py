"""plugins/plugin_utils/kea_migrate.py (the decisions of migrate_to_kea.yml) and the way back of
kea_leases.py (Kea's memfile as dhcpd lease entries): one test per rule, and the entries read by
the real dhcpd 4.4 (dhcpd -T) and by the collection's lease parser."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter.kea_migrate import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea_leases as kl
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea_migrate as km

NOW = calendar.timegm((2026, 12, 3, 12, 0, 0, 0, 0, 0))
P, S = "dhcp1", "dhcp2"
FILTERS = FilterModule().filters()
SUBNETS = [{"network": "198.18.20.0/24", "pools": [{"ranges": ["198.18.20.100 198.18.20.199"]}]}]
DHCPD = "/usr/sbin/dhcpd"


# --- helpers ----------------------------------------------------------------------------------------


def status(state, scopes=(), partner="hot-standby", mode="hot-standby"):
    """A registered uri result of status-get."""
    return {"status": 200, "json": [{"result": 0, "arguments": {"high-availability": [{"ha-mode": mode, "ha-servers": {
        "local": {"role": "primary", "scopes": list(scopes), "state": state},
        "remote": {"last-state": partner, "in-touch": True}}}]}}]}  # fmt: skip


NO_AGENT = {
    "status": -1,
    "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>",
    "failed": True,
}


def dhcpd(state="normal", running=True, reachable=True):
    return {
        "reachable": reachable,
        "dhcpd_running": running,
        "state": state,
        "error": None if state else "connection refused",
    }


def stat(checksum="aa", exists=True):
    return {"stat": {"exists": exists, "checksum": checksum} if exists else {"exists": False}}


def node(host, role, *, d=None, kea=None, kea_rc=1, copy=None, live=None):
    return {
        "host": host,
        "role": role,
        "dhcpd": d or dhcpd(),
        "kea_pgrep": {"rc": kea_rc},
        "kea_status": kea or NO_AGENT,
        "copy_stat": copy or stat(exists=False),
        "lease_stat": live or stat(),
    }


def on_dhcpd(**kwargs):
    return [node(P, "primary", **kwargs), node(S, "secondary", **kwargs)]


def on_kea(mode="hot-standby", copy="aa", live="aa"):
    return [
        node(
            P, "primary", d=dhcpd(None, False), kea=status(mode, [P], mode), kea_rc=0, copy=stat(copy), live=stat(live)
        ),
        node(
            S, "secondary", d=dhcpd(None, False), kea=status(mode, [], mode), kea_rc=0, copy=stat(copy), live=stat(live)
        ),
    ]


CLEAN = {
    "verdict": "clean",
    "summary": "lease audit: 0 conflicts, 0 divergences, 0 pending, 0 notes over 100 addresses",
}


_CLEAN = object()


def plan(nodes, action="migrate", mode="hot-standby", audit=_CLEAN):
    return km.migrate_plan(nodes, action, mode, CLEAN if audit is _CLEAN else audit)


# --- kea_ha_status --------------------------------------------------------------------------------


def test_status_in_the_modes_state_serves():
    seen = km.kea_ha_status(status("hot-standby", [P]), "hot-standby")
    assert seen == {
        "answered": True,
        "state": "hot-standby",
        "partner_state": "hot-standby",
        "scopes": [P],
        "serving": True,
        "error": None,
        "mode": "hot-standby",
    }


@pytest.mark.parametrize("state", ["waiting", "syncing", "ready", "partner-down", "terminated"])
def test_status_in_another_state_does_not_serve_as_the_mode_says(state):
    assert km.kea_ha_status(status(state), "hot-standby")["serving"] is False


def test_status_without_an_agent_says_why():
    seen = km.kea_ha_status(NO_AGENT, "load-balancing")
    assert (seen["answered"], seen["serving"]) == (False, False)
    assert "Connection refused" in seen["error"]


def test_status_of_kea_without_the_ha_hook():
    seen = km.kea_ha_status({"json": [{"result": 0, "arguments": {"pid": 1}}]}, "hot-standby")
    assert (seen["answered"], seen["state"], seen["error"]) == (True, None, "kea-dhcp4 answers but runs no HA hook")


def test_status_error_answer_from_the_agent():
    seen = km.kea_ha_status({"json": [{"result": 1, "text": "server is likely to be offline"}]}, "hot-standby")
    assert seen["answered"] is False and "likely to be offline" in seen["error"]


def test_status_bad_mode_is_refused():
    with pytest.raises(km.MigrateError, match="kea_ha_mode='standby' is invalid"):
        km.kea_ha_status(status("hot-standby"), "standby")


# --- pair_serves ----------------------------------------------------------------------------------


def pair(p, s):
    return {"primary": p, "secondary": s, "hosts": {"primary": P, "secondary": S}}


def test_hot_standby_pair_serves_when_both_are_in_hot_standby():
    verdict = km.pair_serves(pair(status("hot-standby", [P]), status("hot-standby", [])), "hot-standby")
    assert verdict["serves"] is True
    assert verdict["states"] == {"primary": "hot-standby", "secondary": "hot-standby"}


def test_pair_does_not_serve_while_a_node_is_still_syncing():
    verdict = km.pair_serves(pair(status("hot-standby", [P]), status("syncing")), "hot-standby")
    assert verdict["serves"] is False
    assert verdict["why"] == "the Kea HA pair does not serve as hot-standby yet: dhcp2 is syncing"


def test_a_lone_partner_down_node_is_not_a_cutover_to_keep():
    verdict = km.pair_serves(pair(status("partner-down", [P, S]), NO_AGENT), "hot-standby")
    assert verdict["serves"] is False
    assert "dhcp2 has no HA state: no Kea control agent answers (Status code was -1" in verdict["why"]


def test_a_node_whose_run_failed_halfway_is_not_counted_on():
    # migrate_to_kea.yml's judge passes None for a node that failed before it asked its Kea.
    seen = km.kea_ha_status(None, "hot-standby")
    assert (seen["answered"], seen["serving"], seen["state"]) == (False, False, None)
    verdict = km.pair_serves(pair(status("hot-standby", [P]), None), "hot-standby")
    assert verdict["serves"] is False
    assert verdict["why"] == ("the Kea HA pair does not serve as hot-standby yet: dhcp2 has no HA state: its run "
                              "failed before Kea was asked (see its error)")


def test_load_balancing_needs_both_scopes_served():
    verdict = km.pair_serves(pair(status("load-balancing", [P]), status("load-balancing", [])), "load-balancing")
    assert verdict["serves"] is False and "nobody serves the scope(s) of dhcp2" in verdict["why"]
    verdict = km.pair_serves(pair(status("load-balancing", [P]), status("load-balancing", [S])), "load-balancing")
    assert verdict["serves"] is True


def test_pair_serves_reads_ha_status_results_too():
    seen = {
        "primary": km.kea_ha_status(status("hot-standby", [P]), "hot-standby"),
        "secondary": km.kea_ha_status(status("hot-standby"), "hot-standby"),
        "hosts": {"primary": P, "secondary": S},
    }
    assert km.pair_serves(seen, "hot-standby")["serves"] is True


def test_pair_serves_needs_both_roles():
    with pytest.raises(km.MigrateError, match="expected {primary"):
        km.pair_serves({"primary": status("hot-standby")}, "hot-standby")


# --- migrate_plan: migrate ------------------------------------------------------------------------


def test_normal_pair_with_a_clean_audit_is_migrated():
    decided = plan(on_dhcpd())
    assert decided["action"] == "migrate"
    assert decided["findings"][0].startswith("dhcp1 (primary): dhcpd normal; Kea not running")


def test_already_on_kea_is_nothing_to_do():
    decided = plan(on_kea())
    assert decided["action"] == "nothing" and "already on Kea" in decided["why"]


def test_already_on_kea_in_the_other_mode_is_not_nothing():
    decided = plan(on_kea("load-balancing"), mode="hot-standby")
    assert decided["action"] == "refuse" and "interrupted" in decided["why"]


def test_a_peer_not_normal_is_refused_naming_its_state():
    decided = plan(
        [node(P, "primary", d=dhcpd("communications-interrupted")), node(S, "secondary", d=dhcpd(None, False))]
    )
    assert decided["action"] == "refuse"
    assert "dhcp1 is dhcpd communications-interrupted; dhcp2 is dhcpd stopped" in decided["why"]


@pytest.mark.parametrize(
    "audit",
    [
        {"verdict": "conflicts", "summary": "lease audit: 1 conflicts"},
        {"verdict": "divergence", "summary": "x"},
        {"verdict": "incomplete"},
        None,
    ],
)
def test_an_audit_that_is_not_clean_is_refused(audit):
    decided = plan(on_dhcpd(), audit=audit)
    assert decided["action"] == "refuse" and "lease audit must be clean" in decided["why"]


def test_kea_ha_running_beside_dhcpd_is_refused_as_an_interrupted_cutover():
    nodes = on_dhcpd()
    nodes[1]["kea_status"] = status("waiting")
    decided = plan(nodes)
    assert decided["action"] == "refuse" and "Kea HA already runs on dhcp2" in decided["why"]
    assert "migrate_action=rollback" in decided["why"]


def test_a_packaged_kea_without_ha_does_not_stop_a_migration():
    nodes = on_dhcpd(kea_rc=0, kea={"json": [{"result": 0, "arguments": {"pid": 7}}]})
    assert plan(nodes)["action"] == "migrate"


def test_an_unreachable_node_is_refused():
    nodes = on_dhcpd()
    nodes[0]["dhcpd"] = dhcpd(None, None, reachable=False)
    decided = plan(nodes)
    assert decided["action"] == "refuse" and "Ansible cannot reach dhcp1" in decided["why"]


def test_a_bad_action_names_the_variable_and_the_valid_values():
    with pytest.raises(km.MigrateError, match="migrate_action='back' is invalid: expected one of migrate, rollback"):
        plan(on_dhcpd(), action="back")


def test_nodes_of_two_different_roles_are_needed():
    with pytest.raises(km.MigrateError, match="not the primary and secondary"):
        plan([node(P, "primary"), node(S, "primary")])


# --- migrate_plan: rollback -----------------------------------------------------------------------


def test_a_pair_on_kea_is_rolled_back():
    decided = plan(on_kea(), action="rollback")
    assert decided["action"] == "rollback" and "carry the leases" in decided["why"]


def test_rollback_on_a_pair_back_on_dhcpd_is_nothing():
    decided = plan(on_dhcpd(), action="rollback")
    assert decided["action"] == "nothing" and "already on dhcpd" in decided["why"]


def test_rollback_refuses_while_dhcpd_runs_beside_kea():
    nodes = on_kea()
    nodes[0]["dhcpd"] = dhcpd("partner-down")
    decided = plan(nodes, action="rollback")
    assert decided["action"] == "refuse" and "dhcpd runs on dhcp1" in decided["why"]


def test_rollback_refuses_when_the_lease_file_changed_since_the_cutover():
    decided = plan(on_kea(copy="aa", live="bb"), action="rollback")
    assert decided["action"] == "refuse" and "changed since the cutover" in decided["why"]


def test_rollback_with_kea_dead_on_both_still_rolls_back():
    nodes = on_kea()
    for item in nodes:
        item["kea_status"], item["kea_pgrep"] = NO_AGENT, {"rc": 1}
    assert plan(nodes, action="rollback")["action"] == "rollback"


def test_rollback_without_a_copy_carries_every_kea_lease_and_says_so():
    nodes = on_kea()
    nodes[1]["copy_stat"] = stat(exists=False)
    decided = plan(nodes, action="rollback")
    assert decided["action"] == "rollback" and "No copy from a cutover on dhcp2" in decided["why"]


# --- lease_file_action ----------------------------------------------------------------------------


def test_identical_file_and_nothing_to_carry_is_left_untouched():
    decided = km.lease_file_action(0, stat("aa"), stat("aa"))
    assert (decided["restore"], decided["append"], decided["untouched"]) == (False, False, True)
    assert "byte-identical" in decided["why"]


def test_identical_file_gets_kea_leases_appended():
    decided = km.lease_file_action(3, stat("aa"), stat("aa"))
    assert (decided["restore"], decided["append"], decided["untouched"]) == (False, True, False)


def test_a_changed_file_is_replaced_by_the_copy():
    decided = km.lease_file_action(0, stat("bb"), stat("aa"))
    assert (decided["restore"], decided["append"]) == (True, False) and "DIFFERS" in decided["why"]


def test_without_a_copy_the_live_file_is_the_base():
    decided = km.lease_file_action(2, stat("bb"), stat(exists=False))
    assert (decided["restore"], decided["append"]) == (False, True) and "no copy" in decided["why"]


def test_carried_must_be_a_count():
    with pytest.raises(km.MigrateError, match="carried=-1 is invalid"):
        km.lease_file_action(-1, stat(), stat())


# --- dhcpd_lease_entries: Kea's memfile back into dhcpd -------------------------------------------------


def row(address, *, mac="02:4b:00:00:00:01", cid="", lifetime=600, expire=NOW + 300, hostname="", state=0):
    return "%s,%s,%s,%d,%d,1,0,0,%s,%d," % (address, mac, cid, lifetime, expire, hostname, state)


def memfile(*rows):
    return "\n".join((kl.HEADER,) + rows) + "\n"


def back(files, exported=None, now=NOW):
    return kl.dhcpd_lease_entries(files, exported, SUBNETS, now)


def test_a_lease_kea_granted_becomes_an_active_dhcpd_entry_both_peers_agree_on():
    text, summary = back({P: [memfile(row("198.18.20.120", hostname="pc&#x2c1"))], S: [memfile()]})
    assert summary["carried"] == 1 and summary["addresses"] == ["198.18.20.120"]
    record = leases.parse(text)["entries"][0]
    assert record["binding_state"] == "active"
    assert (record["starts"], record["ends"], record["tsfp"]) == (NOW - 300, NOW + 300, NOW + 300)
    assert record["hardware_address"] == "02:4b:00:00:00:01" and record["client_hostname"] == "pc,1"


def test_client_id_goes_back_as_uid():
    text, _summary = back({P: [memfile(row("198.18.20.121", cid="ff:00:0a:22:5c:01"))]})
    assert leases.parse(text)["entries"][0]["uid"] == "ff:00:0a:22:5c:01"


def test_a_lease_unchanged_since_the_cutover_is_left_out():
    exported = memfile(row("198.18.20.120"))
    text, summary = back({P: [exported], S: [exported]}, exported=exported)
    assert (text, summary["unchanged"], summary["carried"]) == ("", 1, 0)


def test_a_lease_renewed_by_kea_goes_back():
    exported = memfile(row("198.18.20.120"))
    _text, summary = back({P: [exported + row("198.18.20.120", expire=NOW + 900) + "\n"]}, exported=exported)
    assert summary["carried"] == 1


def test_expired_released_and_declined_leases_do_not_go_back():
    files = {
        P: [
            memfile(
                row("198.18.20.120", expire=NOW - 1),
                row("198.18.20.121", lifetime=0),
                row("198.18.20.122", state=1),
                row("198.18.20.123", state=2),
            )
        ]
    }
    text, summary = back(files)
    assert (text, summary["held"]) == ("", 0)


def test_the_last_row_of_an_address_wins_and_lifetime_0_deletes_it():
    first = memfile(row("198.18.20.120"), row("198.18.20.121"))
    text, summary = back({P: [first, memfile(row("198.18.20.120", lifetime=0))]})
    assert summary["addresses"] == ["198.18.20.121"]


def test_cleanup_files_load_before_the_memfile_and_completed_replaces_2_and_1():
    base = "/var/lib/kea/kea-leases4.csv"
    old = memfile(row("198.18.20.120"), row("198.18.20.121"))
    files = {
        base + ".2": memfile(row("198.18.20.125")),
        base + ".1": old,
        base: memfile(row("198.18.20.121", lifetime=0)),
    }
    assert back({P: files})[1]["addresses"] == ["198.18.20.120", "198.18.20.125"]
    files[base + ".completed"] = memfile(row("198.18.20.130"))
    assert back({P: files})[1]["addresses"] == ["198.18.20.130"]
    with pytest.raises(kl.KeaLeasesError, match="expected one memfile"):
        back({P: {base + ".1": old}})


def test_both_servers_holding_an_address_for_different_clients_is_refused():
    with pytest.raises(kl.KeaLeasesError, match="198.18.20.120 .02:4b:00:00:00:01 on dhcp1, 02:4b:00:00:00:02 on"):
        back({P: [memfile(row("198.18.20.120"))], S: [memfile(row("198.18.20.120", mac="02:4b:00:00:00:02"))]})


def test_the_same_client_on_both_servers_takes_the_later_expiry():
    text, _summary = back(
        {P: [memfile(row("198.18.20.120", expire=NOW + 100))], S: [memfile(row("198.18.20.120", expire=NOW + 700))]}
    )
    assert leases.parse(text)["entries"][0]["ends"] == NOW + 700


def test_an_address_outside_the_dhcpd_pools_stays_out():
    _text, summary = back({P: [memfile(row("198.18.20.50"))]})
    assert (summary["carried"], summary["outside_dhcpd_pools"]) == (0, 1)


def test_a_file_that_is_not_a_memfile_is_refused():
    with pytest.raises(kl.KeaLeasesError, match="not a Kea lease4 memfile header"):
        back({P: ["lease 1.2.3.4 {\n}\n"]})


def test_a_node_not_read_is_named_and_the_other_nodes_leases_go_back():
    # A cutover that failed halfway: the peer's Kea files were never read (None).
    text, summary = back({P: [memfile(row("198.18.20.120"))], S: None})
    assert summary["carried"] == 1 and summary["unread"] == [S]
    assert summary["lines"][-1] == "not read: the Kea lease files of dhcp2; only those of dhcp1 are carried back"
    assert leases.parse(text)["entries"][0]["address"] == "198.18.20.120"
    assert back({P: [memfile()], S: [memfile()]})[1]["unread"] == []


def test_no_node_read_is_refused():
    with pytest.raises(kl.KeaLeasesError, match=r"no Kea server's lease files were read \(dhcp1, dhcp2\)"):
        back({P: None, S: None})


def test_filter_wraps_the_errors_and_returns_text_and_summary():
    result = FILTERS["kea_to_dhcpd_leases"]({P: [memfile(row("198.18.20.120"))]}, SUBNETS, now=NOW)
    assert result["summary"]["carried"] == 1 and result["text"].startswith("# Leases granted")
    with pytest.raises(AnsibleFilterError, match="netboot.dhcp_failover.kea_migrate_plan: migrate_action="):
        FILTERS["kea_migrate_plan"](on_dhcpd(), "later")


def test_real_dhcpd_reads_the_entries(tmp_path):
    files = {
        P: [
            memfile(
                row("198.18.20.120", hostname='a "quoted" name'),
                row("198.18.20.121", cid="01:02:4b:00:00:00:02", mac="02:4b:00:00:00:02"),
                row("198.18.20.122", mac="", cid="ff:00:0a:22:5c:01"),
            )
        ]
    }
    text, summary = back(files, now=NOW - 60)
    assert summary["carried"] == 3
    (tmp_path / "dhcpd.leases").write_text(text)
    (tmp_path / "dhcpd.conf").write_text(
        "subnet 198.18.20.0 netmask 255.255.255.0 {\n  range 198.18.20.100 198.18.20.199;\n}\n"
    )
    proc = subprocess.run(  # noqa: S603 - the test's own files
        [
            DHCPD,
            "-4",
            "-T",
            "-cf",
            str(tmp_path / "dhcpd.conf"),
            "-lf",
            str(tmp_path / "dhcpd.leases"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # dhcpd -T exits 0 even on a corrupt file: what it says counts.
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Corrupt" not in output and "expecting" not in output, output
    assert "Wrote 3 leases to leases file." in output, output
    parsed = leases.latest(leases.parse(text)["entries"])
    assert sorted(parsed) == ["198.18.20.120", "198.18.20.121", "198.18.20.122"]
    assert parsed["198.18.20.120"]["client_hostname"] == 'a "quoted" name'
