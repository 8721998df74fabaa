"""audit.yml (the cross-peer lease audit) against one real dhcpd pair, shared by the tests here.

First the pair is healthy with clients leased: 0 conflicts, 0 divergences, in the audit and in
status.yml's summary line. Then a real conflict is made the way ISC warns it happens: the
failover link is cut (a blackhole route in each server's namespace; clients still reach both),
both servers are put in partner-down, and after stos + MCLT each hands the whole pool to its own
clients. The reference for what the audit must find is what the clients were told on the wire
(which server ACKed which address to which MAC, and for how long), not the lease files.
Leases are capped at MCLT while the peers cannot talk, so MCLT is the time the audit has to see
them live; the tests check that it did.
"""

import os
import time
from types import SimpleNamespace

import pytest

import test_ops_playbooks
from test_ops_playbooks import Ops, new_secret, omapi, wait_all_acked

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import objects
from dhcplab import configs
from dhcplab.client import DhcpError
from dhcplab.lab import Lab, run

pytestmark = pytest.mark.system
# The session's collection copy, shared with test_ops_playbooks.py (a fixture found by its name here).
collections_path = test_ops_playbooks.collections_path

POOL = ("198.18.100.100", "198.18.100.105")
# Long enough for an audit run on a loaded 2-core machine (25 s was not, in CI).
MCLT = 60
# A lease must still run this long after the audit read the file to count as clearly live.
MARGIN = 2


@pytest.fixture(scope="module")
def shared(tmp_path_factory, collections_path):
    """One pair for the module: started once, partitioned by the last test that needs it."""
    if os.geteuid() != 0:
        pytest.fail("system tests need root (network namespaces, raw sockets, dhcpd)")
    lab = Lab(workdir=tmp_path_factory.mktemp("audit-lab"))
    try:
        secret = new_secret()
        pair = lab.start_pair(
            *configs.failover_pair(omapi_key=secret, pool=POOL, mclt=MCLT, max_response_delay=3)
        ).wait_normal()
        pair.wait_balanced()
        ops = Ops(tmp_path_factory.mktemp("audit-ops"), collections_path, pair, secret, POOL)
        yield SimpleNamespace(lab=lab, pair=pair, secret=secret, ops=ops)
    finally:
        lab.close()


def audit(ops, *extra, expect_rc=0, fmt="json"):
    parsed = ops.run("audit", "-e", "dhcp_ops_audit_format=%s" % fmt, *extra, expect_rc=expect_rc)
    task = "Report the audit as data" if fmt == "json" else "Report the audit"
    return parsed, ops.task_results(parsed, task)["s1"]["msg"]


def read_at(parsed):
    return min(r["read_at"] for r in Ops.task_results(parsed, "Read the lease file with every binding").values())


def macs_for(peer, count, prefix):
    """MACs whose DISCOVERs the given peer answers while NORMAL (split 128, the lab default)."""
    found = []
    for index in range(256):
        mac = "%s:%02x" % (prefix, index)
        if loadbalance.lb_peer(128, mac=mac) == peer:
            found.append(mac)
            if len(found) == count:
                return found
    raise AssertionError("no %d MACs for the %s under %s" % (count, peer, prefix))


def test_a_healthy_pair_with_clients_leased_is_clean(shared):
    pair, ops = shared.pair, shared.ops
    macs = macs_for("primary", 2, "02:00:00:00:0c") + macs_for("secondary", 2, "02:00:00:00:0d")
    with shared.lab.client() as client:
        acks = [(client.lease(mac, timeout=5), time.time()) for mac in macs]
    assert {ack.server_id for ack, _at in acks} == {configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS}
    assert wait_all_acked(pair, shared.secret) == [0, 0]

    parsed, audited = audit(ops, "-e", "dhcp_ops_audit_fail_on=divergence")
    seen = read_at(parsed)
    assert all(at + ack.lease_time > seen + MARGIN for ack, at in acks), (
        "the audit read the files after the leases (MCLT %d s) ended: too slow to check anything" % MCLT
    )
    assert audited["verdict"] == "clean", audited["findings"]
    assert (audited["counts"]["conflict"], audited["counts"]["divergence"]) == (0, 0), audited["counts"]
    assert audited["errors"] == [] and audited["counts"]["addresses"] == 6
    assert (audited["pair"], audited["hosts"]) == ("dhcp_pair_lab", {"primary": "s1", "secondary": "s2"})
    pool = audited["pools"][0]
    assert pool["ranges"] == ["%s %s" % POOL]
    # Every client's lease is held on both peers; the rest is FREE or BACKUP, 6 addresses per peer.
    for role in ("primary", "secondary"):
        counts = pool[role]
        assert counts["active"] == len(macs), (role, counts)
        assert counts["free"] + counts["backup"] + counts["active"] + counts["other"] == 6, (role, counts)
    assert audited["transient"] and audited["settle"] == 30

    status = ops.status()
    assert status["verdict"] == "healthy", status["issues"]
    assert status["audit"]["verdict"] == "clean"
    assert status["audit"]["summary"].startswith("lease audit: 0 conflicts, 0 divergences, "), status["audit"]


def test_partner_down_on_both_sides_of_a_cut_link_is_found_as_conflicts(shared):
    pair, ops, secret = shared.pair, shared.ops, shared.secret
    # Cut the failover link only (clients and OMAPI still reach both): each server drops what it
    # would send to the other.
    for server, other in ((pair.primary, pair.secondary), (pair.secondary, pair.primary)):
        run("ip", "route", "add", "blackhole", "%s/32" % other.address, netns=server.netns)
    for server in pair.servers:
        server.wait_for_state("communications-interrupted", timeout=20)
    for server in pair.servers:
        with omapi(server, secret) as conn:
            handle, _info = objects.read_failover_state(conn, "pair")
            objects.set_local_state(conn, handle, "partner-down")
        server.wait_for_state("partner-down", timeout=10)
    # Each may take its partner's addresses once stos + MCLT has passed.
    time.sleep(MCLT + 1)
    told = {}  # address -> [(server id, mac, end of the lease)]
    refused = []
    with shared.lab.client() as client:
        # Each side's clients reach only their server (an offer from the other would hold an
        # address there for two minutes): the partitioned network of ISC's warning.
        for server, away, prefix in (
            (pair.primary, pair.secondary, "02:00:00:00:0e"),
            (pair.secondary, pair.primary, "02:00:00:00:0f"),
        ):
            away.link_down()
            try:
                for index in range(6):
                    try:
                        ack = client.lease("%s:%02x" % (prefix, index), timeout=3, server_id=server.address)
                    except DhcpError as exc:
                        refused.append("%s: %s" % (server.name, exc))
                        break
                    told.setdefault(ack.yiaddr, []).append((ack.server_id, ack.chaddr, time.time() + ack.lease_time))
            finally:
                away.link_up()
    duplicates = {
        address
        for address, grants in told.items()
        if len({server for server, _mac, _end in grants}) == 2 and len({mac for _s, mac, _e in grants}) == 2
    }
    assert duplicates, "dhcpd handed out no address twice: %r %r\n%s\n%s" % (
        told,
        refused,
        pair.primary.lease_states(),
        pair.secondary.log_tail(60),
    )
    print("granted %r, then %r" % (told, refused))

    # One run while the leases (MCLT long) are live: check mode, data, and fail_on.
    parsed, audited = audit(ops, "--check", "-e", "dhcp_ops_audit_fail_on=conflicts", expect_rc=2)
    print("\n".join(audited["table"]))
    seen = read_at(parsed)
    assert all(end > seen + MARGIN for grants in told.values() for _s, _m, end in grants), (
        "the audit read the files after the leases (MCLT %d s) ended: too slow to check anything" % MCLT
    )
    conflicts = {f["address"]: f for f in audited["findings"] if f["severity"] == "conflict"}
    assert set(conflicts) == duplicates, audited["findings"]
    for address, finding in conflicts.items():
        by_server = {server: mac for server, mac, _end in told[address]}
        assert finding["primary"]["hardware_address"] == by_server[configs.PRIMARY_ADDRESS]
        assert finding["secondary"]["hardware_address"] == by_server[configs.SECONDARY_ADDRESS]
    assert audited["verdict"] == "conflicts" and audited["counts"]["conflict"] == len(duplicates)
    # Both sides saved partner-down: nothing is excused as an update in flight.
    assert audited["in_contact"] is False and audited["counts"]["pending"] == 0, audited["findings"]
    assert {line.split()[1] for line in audited["table"] if line.startswith("CONFLICT ")} == duplicates
    failed = ops.task_results(parsed, "Fail when the audit is as bad as dhcp_ops_audit_fail_on")["s1"]
    assert failed["failed"] and "%d conflicts" % len(duplicates) in failed["msg"], failed
    # The text report (whatever has ended by now) and no fail_on: reported, not failed.
    _parsed, lines = audit(ops, fmt="text")
    assert lines[0].startswith("pair dhcp_pair_lab (failover peer pair): "), lines
    assert lines[1].startswith("lease audit: ") and lines[2].split()[:2] == ["pool", "peer"], lines
    assert lines[-1].startswith("treated as transient (settle 30 s): an active lease whose end has passed"), lines


def test_bad_audit_settings_are_named_before_any_host_is_read(shared):
    parsed = shared.ops.run("audit", "-e", "dhcp_ops_audit_fail_on=always", expect_rc=2)
    message = next(r["msg"] for r in Ops.task_results(parsed, "Check the audit settings").values() if r.get("failed"))
    assert 'dhcp_ops_audit_fail_on="always"' in message and "never, conflicts or divergence" in message, message
    assert Ops.task_results(parsed, "Read the lease file with every binding") == {}
