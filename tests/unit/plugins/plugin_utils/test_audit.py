"""plugins/plugin_utils/audit.py: one test per rule of the cross-peer lease audit, and the audit of
lease files written by a real healthy pair (tests/unit/plugins/module_utils/fixtures/leases)."""

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter.audit import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import audit

NOW = 1_800_000_000
OLD = NOW - 3600
A = "198.18.100.100"
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils", "fixtures",
                        "leases")
SUBNETS = [{"network": "198.18.100.0/24", "pools": [{"failover": True, "ranges": ["198.18.100.100 198.18.100.199"]}]}]
lease_audit = FilterModule().filters()["lease_audit"]


def rec(state, address=A, *, mac="02:00:00:00:00:01", uid=None, starts=OLD, ends=NOW + 600, **extra):
    record = {"address": address, "binding_state": state, "starts": starts, "ends": ends}
    if mac:
        record["hardware_address"] = mac
    if uid:
        record["uid"] = uid
    record.update(extra)
    return record


def result(*records, read_at=NOW):
    return {"changed": False, "records": list(records), "read_at": read_at, "failover": {}, "path": "/x"}


def run(primary_records, secondary_records, **kwargs):
    peers = {"primary": {"host": "dhcp1", "leases": result(*primary_records)},
             "secondary": {"host": "dhcp2", "leases": result(*secondary_records)}}
    return audit.lease_audit(peers, **kwargs)


def kinds(audited):
    return [(f["address"], f["severity"], f["kind"]) for f in audited["findings"]]


def test_active_on_both_for_different_clients_is_a_conflict():
    audited = run([rec("active", mac="02:00:00:00:00:01")], [rec("active", mac="02:00:00:00:00:02")])
    assert kinds(audited) == [(A, "conflict", "held_by_two")]
    assert audited["verdict"] == "conflicts" and audited["counts"]["conflict"] == 1
    finding = audited["findings"][0]
    assert finding["primary"]["hardware_address"] == "02:00:00:00:00:01"
    assert finding["secondary"]["hardware_address"] == "02:00:00:00:00:02"
    assert "02:00:00:00:00:01 on the primary, 02:00:00:00:00:02 on the secondary" in finding["why"]


def test_a_conflict_gets_no_grace_however_recent():
    audited = run([rec("active", starts=NOW - 1)], [rec("active", mac="02:00:00:00:00:09", starts=NOW - 1)])
    assert kinds(audited) == [(A, "conflict", "held_by_two")]


def test_the_client_is_the_uid_when_both_entries_have_one():
    # The same client identifier behind another NIC is the same client; another uid behind the
    # same MAC is another client (dhcpd keys leases by uid first).
    same = run([rec("active", uid="01:aa", mac="02:00:00:00:00:01")],
               [rec("active", uid="01:aa", mac="02:00:00:00:00:02")])
    assert kinds(same) == []
    other = run([rec("active", uid="01:aa")], [rec("active", uid="01:bb")])
    assert kinds(other) == [(A, "conflict", "held_by_two")]
    # A uid on one side only: the MAC decides.
    assert kinds(run([rec("active", uid="01:aa")], [rec("active")])) == []


def test_the_same_client_with_different_ends_tstp_tsfp_is_agreement():
    audited = run([rec("active", ends=NOW + 30, tstp=NOW + 10, tsfp=NOW + 700)],
                  [rec("active", ends=NOW + 600, tstp=NOW + 700, tsfp=NOW + 700, cltt=NOW - 5)])
    assert kinds(audited) == [] and audited["verdict"] == "clean"


def test_an_active_lease_whose_end_passed_counts_as_ended():
    # dhcpd writes the expiry when its timer runs: "active, ended" against free is not a divergence,
    # and two ended "active" entries of different clients are not a conflict.
    assert kinds(run([rec("active", ends=NOW - 5)], [rec("free", mac=None, ends=NOW - 5)])) == []
    assert kinds(run([rec("active", ends=NOW - 5)], [rec("active", mac="02:00:00:00:00:02", ends=NOW - 1)])) == []


def test_expired_or_released_against_free_or_backup_is_agreement():
    for one, two in (("expired", "free"), ("released", "backup"), ("free", "expired")):
        assert kinds(run([rec(one, ends=OLD)], [rec(two, ends=OLD)])) == [], (one, two)


def test_held_on_one_and_free_or_backup_on_the_other_is_a_divergence():
    audited = run([rec("active")], [rec("free", mac=None, ends=OLD)])
    assert kinds(audited) == [(A, "divergence", "held_vs_free")]
    assert audited["verdict"] == "divergence"
    assert "on the primary, FREE on the secondary, which may hand it to another client" in audited["findings"][0]["why"]
    assert kinds(run([rec("backup", mac=None, ends=OLD)], [rec("active")])) == [(A, "divergence", "held_vs_free")]


def test_a_divergence_younger_than_settle_is_pending():
    fresh = run([rec("active", starts=NOW - 4)], [rec("free", mac=None, ends=OLD)], settle=30)
    assert kinds(fresh) == [(A, "pending", "held_vs_free")]
    assert fresh["verdict"] == "clean" and "changed 4 s before the read" in fresh["findings"][0]["why"]
    # The same entry with settle 0 is a divergence: the rule is the settle window, nothing else.
    assert kinds(run([rec("active", starts=NOW - 4)], [rec("free", mac=None, ends=OLD)], settle=0)) == [
        (A, "divergence", "held_vs_free")]
    # The window counts from the earlier of the two reads: 45 s before the primary's read is
    # 25 s before the secondary's, within 30.
    peers = {"primary": {"host": "p", "leases": result(rec("active", starts=NOW - 45), read_at=NOW)},
             "secondary": {"host": "s", "leases": result(rec("free", mac=None, ends=OLD), read_at=NOW - 20)}}
    assert kinds(audit.lease_audit(peers, settle=30)) == [(A, "pending", "held_vs_free")]
    peers["secondary"]["leases"]["read_at"] = NOW
    assert kinds(audit.lease_audit(peers, settle=30)) == [(A, "divergence", "held_vs_free")]


def test_nothing_is_pending_while_the_peers_are_not_in_contact():
    # Partner-down (or any state but NORMAL) saved in a lease file: no updates flow, so a fresh
    # difference is a divergence at once.
    peers = {"primary": {"host": "p", "leases": result(rec("active", starts=NOW - 4))},
             "secondary": {"host": "s", "leases": result(rec("free", mac=None, ends=OLD))}}
    assert kinds(audit.lease_audit(peers))[0][1] == "pending"
    peers["secondary"]["leases"]["failover"] = {"pair": {"name": "pair", "my_state": "partner-down"}}
    audited = audit.lease_audit(peers)
    assert kinds(audited) == [(A, "divergence", "held_vs_free")]
    assert audited["in_contact"] is False and audited["states"]["secondary"] == {"pair": "partner-down"}
    peers["secondary"]["leases"]["failover"] = {"pair": {"name": "pair", "my_state": "normal"}}
    assert kinds(audit.lease_audit(peers))[0][1] == "pending"


def test_free_on_the_primary_and_backup_on_the_secondary_is_owned_twice():
    audited = run([rec("free", mac=None, ends=OLD)], [rec("backup", mac=None, ends=OLD)], pools=SUBNETS)
    assert kinds(audited) == [(A, "divergence", "both_own")]
    assert audited["pools"][0]["both_own"] == 1


def test_backup_on_the_primary_and_free_on_the_secondary_is_owned_by_nobody():
    audited = run([rec("backup", mac=None, ends=OLD)], [rec("free", mac=None, ends=OLD)], pools=SUBNETS)
    assert kinds(audited) == [(A, "note", "neither_owns")] and audited["verdict"] == "clean"
    assert audited["pools"][0]["neither_owns"] == 1


def test_held_on_one_and_ended_on_the_other_is_a_note():
    audited = run([rec("active")], [rec("released", ends=OLD)])
    assert kinds(audited) == [(A, "note", "held_vs_ended")] and audited["verdict"] == "clean"


def test_an_address_in_one_file_only_is_a_note():
    audited = run([rec("free", mac=None)], [])
    assert kinds(audited) == [(A, "note", "one_file_only")]
    assert "only the primary lists it" in audited["findings"][0]["why"]


def test_pools_count_each_peers_free_backup_and_held_addresses():
    primary = [rec("free", "198.18.100.100", mac=None), rec("free", "198.18.100.101", mac=None),
               rec("backup", "198.18.100.102", mac=None), rec("active", "198.18.100.103"),
               rec("active", "198.18.100.104", ends=NOW - 1), rec("free", "198.18.101.5", mac=None)]
    secondary = [rec("free", "198.18.100.100", mac=None), rec("free", "198.18.100.101", mac=None),
                 rec("backup", "198.18.100.102", mac=None), rec("active", "198.18.100.103"),
                 rec("free", "198.18.100.104", mac=None, ends=NOW - 1), rec("free", "198.18.101.5", mac=None)]
    audited = run(primary, secondary, pools=SUBNETS)
    pool = audited["pools"][0]
    assert pool["pool"] == "198.18.100.0/24 pool 0" and pool["ranges"] == ["198.18.100.100 198.18.100.199"]
    assert pool["primary"] == {"free": 2, "backup": 1, "active": 1, "other": 1, "own": 2}
    assert pool["secondary"] == {"free": 3, "backup": 1, "active": 1, "other": 0, "own": 1}
    assert audited["counts"]["addresses"] == 6 and kinds(audited) == []
    assert any(line.startswith("198.18.100.0/24 pool 0") and " secondary " in line for line in audited["table"])


def test_an_unread_lease_file_makes_the_audit_incomplete_and_fails_when_asked():
    peers = {"primary": {"host": "p", "leases": result(rec("active"))},
             "secondary": {"host": "s", "leases": {"failed": True, "msg": "cannot read the lease file /x"}}}
    audited = audit.lease_audit(peers)
    assert audited["verdict"] == "incomplete" and audited["errors"] == ["s (secondary): cannot read the lease file /x"]
    assert audit.should_fail(audited, "never") is None
    assert "could not compare the peers: s (secondary): cannot read" in audit.should_fail(audited, "conflicts")
    # Registered under failed_when: false, the failure keeps its message but not its flag.
    ignored = dict(peers, secondary={"host": "s", "leases": {"failed": False, "msg": "cannot read the lease file /x"}})
    assert audit.lease_audit(ignored)["errors"] == ["s (secondary): cannot read the lease file /x"]
    unreachable = dict(peers, secondary={"host": "s", "leases": {"unreachable": True, "msg": "no route"}})
    assert audit.lease_audit(unreachable)["errors"] == ["s (secondary): no route"]


def test_fail_on_conflicts_ignores_divergence_and_fail_on_divergence_does_not():
    divergent = run([rec("active")], [rec("free", mac=None, ends=OLD)])
    assert audit.should_fail(divergent, "conflicts") is None
    assert audit.should_fail(divergent, "divergence").endswith("198.18.100.100 (held_vs_free)")
    conflicting = run([rec("active")], [rec("active", mac="02:00:00:00:00:02")])
    assert "1 conflicts" in audit.should_fail(conflicting, "conflicts")
    assert audit.should_fail(conflicting, "never") is None


def test_the_table_lists_the_worst_first_and_cuts_long_lists():
    primary = [rec("free", "198.18.100.%d" % i, mac=None, ends=OLD) for i in range(100, 130)] + [
        rec("active", "198.18.100.150")]
    secondary = [rec("backup", "198.18.100.%d" % i, mac=None, ends=OLD) for i in range(100, 130)] + [
        rec("active", "198.18.100.150", mac="02:00:00:00:00:02")]
    audited = run(primary, secondary)
    assert audited["table"][0] == audited["summary"] == (
        "lease audit: 1 conflicts, 30 divergences, 0 pending, 0 notes over 31 addresses")
    assert audited["table"][1].startswith("CONFLICT   198.18.100.150 ")
    assert audited["table"][-1] == "... 11 more findings in the data (dhcp_ops_audit_format=json)"
    assert len(audited["findings"]) == 31


def test_the_filter_takes_a_list_with_roles_and_sets_fail():
    peers = [{"host": "s", "role": "secondary", "leases": result(rec("active", mac="02:00:00:00:00:02"))},
             {"host": "p", "role": "primary", "leases": result(rec("active"))}]
    audited = lease_audit(peers, fail_on="conflicts")
    assert audited["hosts"] == {"primary": "p", "secondary": "s"} and audited["fail"].startswith("lease audit: 1 ")


@pytest.mark.parametrize("peers,kwargs,message", [
    ({"primary": {}}, {}, "expected the two peers of one pair"),
    ({"primary": {"leases": {}}, "secondary": {"leases": {}}}, {},
     "the primary lease_info result has no records: call lease_info with records: true"),
    ({"primary": {"leases": result()}, "secondary": {"leases": result()}}, {"settle": -1}, "settle=-1 is invalid"),
    ({"primary": {"leases": result()}, "secondary": {"leases": result()}}, {"fail_on": "always"},
     "fail_on='always' is invalid: expected one of never, conflicts, divergence"),
    ({"primary": {"leases": result()}, "secondary": {"leases": result()}},
     {"pools": [{"network": "n", "pools": [{"ranges": ["198.18.100.9 198.18.100.1"]}]}]},
     "pool 0 of n: range '198.18.100.9 198.18.100.1' is invalid"),
])
def test_bad_input_is_named(peers, kwargs, message):
    with pytest.raises(AnsibleFilterError, match="netboot.dhcp_failover.lease_audit: ") as caught:
        lease_audit(peers, **kwargs)
    assert message in str(caught.value)


def fixture_result(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        text = handle.read()
    found = leases.summary(text, records=True)
    # record.py copied the files 2 s after the last client exchange (the epoch/hex pair 12 s).
    times = [r.get(k) for r in found["records"] for k in ("starts", "cltt") if r.get(k) is not None]
    found["read_at"] = max(times) + (12 if name.startswith("epoch") else 2)
    return found


@pytest.mark.parametrize("scenario", ["normal", "epoch-hex"])
def test_a_healthy_real_pair_is_clean(scenario):
    peers = {"primary": {"host": "p", "leases": fixture_result(scenario + "-primary.leases")},
             "secondary": {"host": "s", "leases": fixture_result(scenario + "-secondary.leases")}}
    audited = audit.lease_audit(peers, pools=SUBNETS, settle=0)
    assert audited["verdict"] == "clean" and audited["findings"] == [], audited["findings"]
    pool = audited["pools"][0]
    for role in ("primary", "secondary"):
        counted = peers[role]["leases"]["counts"]
        assert (pool[role]["free"], pool[role]["backup"]) == (counted["free"], counted["backup"])
    if scenario == "normal":
        # Three clients still held their leases when the files were copied (record.py).
        assert pool["primary"]["active"] == pool["secondary"]["active"] == 3
