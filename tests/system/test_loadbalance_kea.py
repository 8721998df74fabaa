"""kea_lb_peer proven against a real Kea 2.2 HA pair (kea-dhcp4 + kea-ctrl-agent, dhcplab.kea).

* load-balancing: with both servers in the load-balancing state, each of 300 MACs and 100 client
  identifiers is answered by exactly the server kea_lb_peer predicts, with an address from that
  server's half of the pool (the HA_<server> pools kea_config renders); a client whose identifier
  is one byte long, which kea_lb_peer refuses, is answered by nobody.
* hot-standby: the primary answers every client, the standby none.
* The RFC 3074 table of plugins/module_utils/loadbalance.py is the one inside libdhcp_ha.so.
"""

import ipaddress
import random

import pytest
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance as lb
from dhcplab import configs
from dhcplab import kea as labkea
from test_loadbalance_dhcpd import random_clients

pytestmark = pytest.mark.system

HA_LIBRARY = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so"
ADDRESS = {"primary": configs.PRIMARY_ADDRESS, "secondary": configs.SECONDARY_ADDRESS}
SEED = 20261202


def _cid_bytes(cid):
    return bytes.fromhex(cid.replace(":", "")) if cid else None


def _peer(mac, cid):
    """kea_lb_peer's answer, or None where it refuses the client (too short an identifier)."""
    try:
        return lb.kea_lb_peer(mac=mac, client_id=cid)
    except lb.LoadBalanceError as exc:
        assert "Kea drops a client" in str(exc)
        return None


def _pool_of(server):
    """{class name: [(first, last)]} of the server's rendered subnet 1 pools."""
    subnet = server.config["dhcp4"]["Dhcp4"]["subnet4"][0]
    out = {}
    for pool in subnet["pools"]:
        first, last = (ipaddress.ip_address(part.strip()) for part in pool["pool"].split("-"))
        out.setdefault(pool["client-class"], []).append((first, last))
    return out


def test_every_client_is_answered_by_the_server_kea_lb_peer_predicts(dhcp_lab):
    model = labkea.pair_model()
    pair = dhcp_lab.start_kea_pair(model, {"kea_ha_mode": "load-balancing"})
    pair.wait_states("load-balancing", "load-balancing")

    rng = random.Random(SEED)  # noqa: S311 - reproducible test clients
    clients = random_clients(rng, macs=300, client_ids=100)
    rng.shuffle(clients)
    predicted = {(mac, cid): _peer(mac, cid) for mac, cid in clients}
    assert set(predicted.values()) == {"primary", "secondary", None}
    # The sample must tell Kea's rule from dhcpd's: many of these clients change peer.
    moved = sum(1 for (mac, cid), peer in predicted.items()
                if peer and lb.lb_peer(128, mac=mac, client_id=cid) != peer)
    assert moved > 100

    halves = _pool_of(pair.primary)
    owner_pool = {"primary": halves["HA_" + model["primary"]], "secondary": halves["HA_" + model["secondary"]]}
    client = dhcp_lab.client()
    answers = client.discover_many([mac for mac, _cid in clients], client_ids=[_cid_bytes(c) for _m, c in clients],
                                   expect=1, timeout=10, rate=400)
    mismatches = []
    for mac, cid in clients:
        peer = predicted[(mac, cid)]
        got = [(offer.server_id, offer.yiaddr) for offer in answers[mac]]
        if peer is None:  # kea_lb_peer refused it: nobody may answer
            if got:
                mismatches.append("%s client_id=%s: kea_lb_peer says nobody answers, got %s" % (mac, cid, got))
            continue
        in_half = len(got) == 1 and any(first <= ipaddress.ip_address(got[0][1]) <= last
                                        for first, last in owner_pool[peer])
        if [server for server, _addr in got] != [ADDRESS[peer]] or not in_half:
            mismatches.append("%s client_id=%s hash=%d: predicted %s, got %s" % (
                mac, cid, lb.lb_hash(lb.client_key(mac, cid)), peer, got or "nothing"))
    # Both still balancing: nobody answered for a partner it had declared down.
    assert [server.ha_state() for server in pair.servers] == ["load-balancing", "load-balancing"]
    assert len(clients) == 400
    assert not mismatches, "%d of %d clients answered otherwise than kea_lb_peer predicts:\n%s" % (
        len(mismatches), len(clients), "\n".join(mismatches))


def test_hot_standby_primary_answers_every_client(dhcp_lab):
    model = labkea.pair_model()
    pair = dhcp_lab.start_kea_pair(model)  # kea_ha_mode defaults to hot-standby
    pair.wait_states("hot-standby", "hot-standby")
    rng = random.Random(SEED + 1)  # noqa: S311 - reproducible test clients
    clients = random_clients(rng, macs=30, client_ids=10)
    answers = dhcp_lab.client().discover_many([mac for mac, _cid in clients],
                                              client_ids=[_cid_bytes(c) for _m, c in clients], expect=1, timeout=10)
    servers = sorted({offer.server_id for offers in answers.values() for offer in offers})
    assert servers == [configs.PRIMARY_ADDRESS]
    assert all(len(offers) == 1 for offers in answers.values()), answers


def test_hash_table_is_the_one_inside_kea_ha_hook():
    table = bytes(lb.lb_hash(bytes([j ^ 1])) for j in range(256))
    with open(HA_LIBRARY, "rb") as handle:
        assert handle.read().count(table) == 1
