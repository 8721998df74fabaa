"""From a dhcpd failover pair to a Kea HA pair without losing a lease (kea_leases on real daemons).

A dhcpd pair (the dhcpd role's configuration of the lab's pair definition) gives 40 clients
leases, from both peers (load balancing), some with client identifiers and hostnames. dhcpd stops;
both lease files become the Kea memfile (netboot.dhcp_failover.kea_leases) of each Kea server,
whose configuration kea_config renders from the SAME pair definition; the Kea HA pair starts
(hot-standby, and load-balancing). Then:

* both Kea servers hold every exported lease for its client (lease4-get-all);
* new clients get addresses nobody holds;
* hot-standby: every old client's INIT-REBOOT REQUEST for its address is ACKed with that address;
  load-balancing: only the clients whose address lies in the half of the pool of the server
  kea_lb_peer names are, the others are NAKed (22 of the 40);
* a probe client renewing every 50 ms through the whole cutover measures the longest time a
  client went unanswered (printed).
"""

import ipaddress
import time

import pytest
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance
from dhcplab import configs
from dhcplab import kea as labkea
from dhcplab.client import Ack
from dhcplab.cutover import PAIR, cut_over_probed, lease_all

pytestmark = pytest.mark.system

CLIENTS = 40
NEW_CLIENTS = 10
PROBE_MAC = "02:4b:00:00:00:ff"


def clients():
    """(mac, client_id bytes or None, hostname or None): 28 by MAC, 6 with 01+MAC, 6 with an
    opaque identifier (with bytes dhcpd escapes in octal: 00, 0a, 22, 5c, ff)."""
    out = []
    for index in range(CLIENTS):
        mac = "02:4b:00:00:00:%02x" % index
        client_id = None
        if 28 <= index < 34:
            client_id = bytes.fromhex("01" + mac.replace(":", ""))
        elif index >= 34:
            client_id = bytes([0xFF, 0x00, 0x0A, 0x22, 0x5C, index])
        out.append((mac, client_id, "pc-%02d" % index if index % 3 == 0 else None))
    return out


def renew_all(client, wanted, addresses):
    """INIT-REBOOT REQUEST (requested address, no server id) for every client; {mac: [replies]}."""
    xids = {mac: client.send("request", mac, client_id=cid, requested_ip=addresses[mac]) for mac, cid, _n in wanted}
    answers = client.collect(xids.values(), timeout=5, expect=1, grace=0.2)
    return {mac: answers[xid] for mac, xid in xids.items()}


def kea_leases_of(server):
    answer = server.command("lease4-get-all")
    assert answer["result"] == 0, answer
    return {lease["ip-address"]: lease for lease in answer["arguments"]["leases"]}


def check_kea_holds(kea_pair, wanted, addresses, exported):
    """Both Kea servers hold every exported lease, each for its own client."""
    for server in kea_pair.servers:
        held = kea_leases_of(server)
        assert exported <= set(held), (server.name, sorted(exported - set(held)))
        for mac, cid, name in wanted:
            lease = held[addresses[mac]]
            assert lease["hw-address"] == mac
            assert lease.get("client-id", "") == (cid.hex(":") if cid else ""), (mac, lease)
            assert lease["hostname"] == (name or ""), (mac, lease)


@pytest.mark.parametrize("mode", ["hot-standby", "load-balancing"])
def test_every_dhcpd_lease_is_renewed_by_kea_with_the_same_address(dhcp_lab, mode):
    started = time.monotonic()
    pair = dhcp_lab.start_pair(*configs.failover_pair(**PAIR)).wait_normal()
    pair.wait_balanced()
    model = labkea.pair_model(**PAIR)
    client = dhcp_lab.client()
    wanted = clients()
    acks = lease_all(client, wanted)
    addresses = {mac: ack.yiaddr for mac, ack in acks.items()}
    by_server = {}
    for ack in acks.values():
        by_server[ack.server_id] = by_server.get(ack.server_id, 0) + 1
    assert set(by_server) == {configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS}, by_server
    assert len(set(addresses.values())) == CLIENTS

    cutover, probe, dhcpd_acks = cut_over_probed(dhcp_lab, pair, model, PROBE_MAC, mode)
    kea_pair, summaries, stopped = cutover.kea_pair, cutover.summaries, cutover.stopped

    summary = summaries[0]
    print("\n".join(summary["lines"]))
    assert summaries[0] == summaries[1]
    assert summary["exported"] == CLIENTS + 1  # and the probe
    assert summary["skipped"].get("expired", 0) == 0 and "outside_kea_subnets" not in summary["skipped"]
    exported = set(addresses.values()) | {probe.address}
    check_kea_holds(kea_pair, wanted, addresses, exported)

    # New clients: addresses nobody holds.
    new = [("02:4b:00:00:01:%02x" % index, None, None) for index in range(NEW_CLIENTS)]
    new_acks = lease_all(client, new)
    new_addresses = {ack.yiaddr for ack in new_acks.values()}
    assert len(new_addresses) == NEW_CLIENTS and not new_addresses & exported, sorted(new_addresses & exported)
    if mode == "hot-standby":
        assert {ack.server_id for ack in new_acks.values()} == {configs.PRIMARY_ADDRESS}

    # Every old client renews its address with Kea; in load-balancing mode, only those whose
    # address is in the half of the pool of the server kea_lb_peer names: the others are NAKed.
    answers = renew_all(client, wanted, addresses)
    keeps = {mac: keeps_address(kea_pair, mode, mac, cid, addresses[mac]) for mac, cid, _name in wanted}
    same = [mac for mac, replies in answers.items()
            if len(replies) == 1 and isinstance(replies[0], Ack) and replies[0].yiaddr == addresses[mac]]
    naks = [mac for mac, replies in answers.items() if [reply.kind for reply in replies] == ["nak"]]
    mismatches = {mac: replies for mac, replies in answers.items() if (mac in same) != keeps[mac]}

    gap, last_dhcpd, first_kea = probe.longest_gap()
    print("migrate to kea (%s): %d of %d clients (%d leased by the primary, %d by the secondary) renewed with the "
          "same address, %d NAKed (predicted %d), %d mismatches; %d new clients got free addresses; probe: %d "
          "answers from dhcpd, longest unanswered %.2f s (from dhcpd's stop: %.2f s); test %.0f s"
          % (mode, len(same), CLIENTS, by_server[configs.PRIMARY_ADDRESS], by_server[configs.SECONDARY_ADDRESS],
             len(naks), sum(1 for keep in keeps.values() if not keep), len(mismatches), NEW_CLIENTS, dhcpd_acks,
             gap, first_kea - stopped, time.monotonic() - started))
    assert not mismatches, mismatches
    assert sorted(same + naks) == sorted(addresses)
    if mode == "hot-standby":
        assert len(same) == CLIENTS
    assert [reply.kind for reply in probe.wrong] == (
        [] if keeps_address(kea_pair, mode, PROBE_MAC, None, probe.address) else ["nak"] * len(probe.wrong))
    assert dhcpd_acks > 0 and first_kea > stopped > last_dhcpd


def keeps_address(kea_pair, mode, mac, client_id, address):
    """Whether Kea renews the client's address: always in hot-standby; in load-balancing only when
    it lies in a pool of the class HA_<server kea_lb_peer names>."""
    if mode == "hot-standby":
        return True
    peer = loadbalance.kea_lb_peer(mac=mac, client_id=client_id.hex(":") if client_id else None)
    name = kea_pair.primary.name if peer == "primary" else kea_pair.secondary.name
    for pool in kea_pair.primary.config["dhcp4"]["Dhcp4"]["subnet4"][0]["pools"]:
        first, last = (ipaddress.ip_address(part.strip()) for part in pool["pool"].split("-"))
        if pool["client-class"] == "HA_" + name and first <= ipaddress.ip_address(address) <= last:
            return True
    return False
