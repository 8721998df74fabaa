"""The load-balancing filters and subnet_errors, proven against the real dhcpd 4.4.

* lb_peer predicts, client by client, which peer of a real pair in NORMAL answers a DISCOVER
  (split 128, split 77, a random hba that is not a prefix; 300 MACs + 50 client identifiers each).
* secs above `load balance max seconds` makes both peers answer; secs equal to it does not.
* Every definition subnet_errors accepts renders to configs that pass `dhcpd -t`, and definitions
  dhcpd refuses are refused by subnet_errors too.
"""

import ipaddress
import os
import random
import subprocess
import textwrap
import time

import collection_path
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dhcplab import configs

collection_path.ensure()

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance as lb  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.subnets import subnet_errors  # noqa: E402

pytestmark = pytest.mark.system

DHCPD = "/usr/sbin/dhcpd"
# Both peers hold about half of this range; a round must stay well below that per peer, or a
# peer that runs out of leases makes the other answer everything (dhcpd cancels balancing).
POOL = ("198.18.100.10", "198.18.100.250")
ROUND = 110
ADDRESS = {"primary": configs.PRIMARY_ADDRESS, "secondary": configs.SECONDARY_ADDRESS}
LB_MAX_SECS = 3
SEED = 20261126


def random_clients(rng, macs=300, client_ids=50):
    """(mac, client_id or None) pairs; the MACs are unicast, locally administered and distinct."""
    seen = set()
    clients = []
    while len(clients) < macs + client_ids:
        raw = bytes([(rng.randrange(256) & 0xFC) | 0x02] + list(rng.randbytes(5)))
        if raw in seen:
            continue
        seen.add(raw)
        mac = ":".join("%02x" % b for b in raw)
        client_id = None
        if len(clients) >= macs:
            # Half of them the usual 01 + MAC (hashing differently from the MAC alone), half an
            # opaque identifier of random length, as RFC 4361 DUID-based ones are.
            if len(clients) % 2:
                client_id = "01:" + mac
            else:
                client_id = ":".join("%02x" % b for b in rng.randbytes(rng.randrange(1, 40)))
        clients.append((mac, client_id))
    return clients


def wait_backup_leases(pair, timeout=10.0):
    """Wait until the secondary holds the BACKUP leases the primary gave it on entering NORMAL.

    A fresh primary owns the whole pool; it hands half to the secondary by binding updates just
    after NORMAL. Until they land, the secondary has nothing to offer and dhcpd lets the primary
    answer the secondary's clients too ("peer holds all free leases"), which is not balancing.
    """
    balanced = pair.primary.wait_for_log(r"balanced pool \S+ \S+\s+total \d+\s+free \d+\s+backup (\d+)", timeout)
    wanted = int(balanced.group(1))
    deadline = time.monotonic() + timeout
    while True:
        backup = pair.secondary.count_leases("backup")
        if backup >= wanted:
            return backup
        if time.monotonic() > deadline:
            raise AssertionError("secondary has %d of %d backup leases after %.0fs" % (backup, wanted, timeout))
        time.sleep(0.02)


def fresh_pair(lab, primary_conf, secondary_conf, pair=None):
    """A pair on empty lease files, in NORMAL, the pool split: every round starts alike."""
    if pair is None:
        pair = lab.start_pair(primary_conf, secondary_conf).wait_normal()
        wait_backup_leases(pair)
        return pair
    for server in pair.servers:
        server.kill()
    for server in pair.servers:
        for path in (server.lease_file, server.lease_file + "~"):
            if os.path.exists(path):
                os.remove(path)
        open(server.lease_file, "w").close()
    for server in pair.servers:
        server.start()
    pair.wait_normal()
    wait_backup_leases(pair)
    return pair


def hba_of(case, rng):
    if case == "random-hba":
        while True:
            hba = ":".join("%02x" % b for b in rng.randbytes(32))
            if lb.hba_to_split(hba) is None:
                return hba
    return lb.split_to_hba(int(case.split("-")[1]))


@pytest.mark.parametrize("case", ["split-128", "split-77", "random-hba"])
def test_every_client_is_answered_by_the_predicted_peer(dhcp_lab, case):
    rng = random.Random("%s-%s" % (SEED, case))  # noqa: S311 - reproducible test clients
    split_or_hba = hba_of(case, rng)
    if case.startswith("split"):
        split, hba = int(case.split("-")[1]), None
    else:
        split, hba = None, split_or_hba
    primary_conf, secondary_conf = configs.failover_pair(split=split, hba=hba, lb_max_secs=LB_MAX_SECS, pool=POOL)
    if hba is not None:
        assert "hba %s;" % hba in primary_conf

    clients = random_clients(rng)
    rng.shuffle(clients)
    predicted = {(mac, cid): lb.lb_peer(split_or_hba, mac=mac, client_id=cid) for mac, cid in clients}
    assert set(predicted.values()) == {"primary", "secondary"}, "the sample must exercise both peers"

    mismatches = []
    checked = 0
    pair = None
    client = dhcp_lab.client()
    for start in range(0, len(clients), ROUND):
        pair = fresh_pair(dhcp_lab, primary_conf, secondary_conf, pair)
        batch = clients[start:start + ROUND]
        answers = client.discover_many(
            [mac for mac, _cid in batch],
            client_ids=[bytes.fromhex(cid.replace(":", "")) if cid else None for mac, cid in batch],
            expect=1,
            timeout=10,
            rate=400,
        )
        for mac, cid in batch:
            servers = sorted(offer.server_id for offer in answers[mac])
            want = [ADDRESS[predicted[(mac, cid)]]]
            checked += 1
            if servers != want:
                mismatches.append("%s client_id=%s hash=%d: predicted %s, answered by %s" % (
                    mac, cid, lb.lb_hash(lb.client_key(mac, cid)), want, servers or "nobody"))
    assert checked == 350
    assert not mismatches, "%d of %d clients answered by another peer than lb_peer predicts (%s):\n%s" % (
        len(mismatches), checked, case, "\n".join(mismatches))


def test_secs_above_load_balance_max_seconds_makes_both_peers_answer(dhcp_lab):
    primary_conf, secondary_conf = configs.failover_pair(split=77, lb_max_secs=LB_MAX_SECS, pool=POOL)
    fresh_pair(dhcp_lab, primary_conf, secondary_conf)
    rng = random.Random(SEED)  # noqa: S311 - reproducible test clients
    clients = random_clients(rng, macs=40, client_ids=0)
    macs = [mac for mac, _cid in clients]
    client = dhcp_lab.client()

    # secs == max seconds is not "above": still balanced.
    at_limit = client.discover_many(macs[:20], secs=LB_MAX_SECS, expect=1, timeout=10)
    for mac in macs[:20]:
        assert [offer.server_id for offer in at_limit[mac]] == [ADDRESS[lb.lb_peer(77, mac=mac)]], mac

    above = client.discover_many(macs[20:], secs=LB_MAX_SECS + 1, expect=2, timeout=10)
    for mac in macs[20:]:
        assert sorted(offer.server_id for offer in above[mac]) == sorted(ADDRESS.values()), mac


def test_hash_table_is_the_one_inside_dhcpd():
    # T[j] == hash of the one-byte key j ^ 1 (start value 1), so the public API yields the table.
    table = bytes(lb.lb_hash(bytes([j ^ 1])) for j in range(256))
    assert sorted(table) == list(range(256))
    with open(DHCPD, "rb") as handle:
        binary = handle.read()
    assert binary.count(table) == 1


# --- subnet definitions against dhcpd -t ---------------------------------------------------

SERVERS = [configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS]


def render(subnets, failover, role):
    """A dhcpd.conf for one peer; the roles have their own template, this one is just enough."""
    lines = ["authoritative;", "ddns-update-style none;"]
    if failover:
        me, peer = (SERVERS if role == "primary" else SERVERS[::-1])
        lines += ['failover peer "pair" {', "  %s;" % role, "  address %s;" % me, "  peer address %s;" % peer,
                  "  load balance max seconds 3;"]
        if role == "primary":
            lines += ["  mclt 30;", "  split 128;"]
        lines.append("}")
    for subnet in subnets:
        net = ipaddress.ip_network(subnet["network"])
        lines.append("subnet %s netmask %s {" % (net.network_address, net.netmask))
        if subnet.get("routers"):
            lines.append("  option routers %s;" % ", ".join(subnet["routers"]))
        for pool in subnet.get("pools", []):
            lines.append("  pool {")
            if pool.get("failover", failover):
                lines.append('    failover peer "pair";')
            ranges = pool["range"] if isinstance(pool["range"], list) else [pool["range"]]
            lines += ["    range %s;" % " ".join(text.split()) for text in ranges]
            lines.append("  }")
        lines.append("}")
        for host in subnet.get("reservations", []):
            mac = ":".join("%02x" % b for b in lb.parse_mac(host["mac"]))
            lines.append("host %s { hardware ethernet %s; fixed-address %s; }" % (host["name"], mac, host["ip"]))
    return "\n".join(lines) + "\n"


def dhcpd_test(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text)
    result = subprocess.run(
        [DHCPD, "-4", "-t", "-cf", str(path), "-lf", str(tmp_path / "unused.leases"), "-pf", str(tmp_path / "pid")],
        capture_output=True, text=True, timeout=30, check=False,
    )
    return result.returncode, result.stderr


def assert_dhcpd_accepts(tmp_path, subnets, failover):
    roles = ["primary", "secondary"] if failover else ["standalone"]
    for role in roles:
        text = render(subnets, failover, role)
        rc, err = dhcpd_test(tmp_path, text, "%s.conf" % role)
        assert rc == 0, "subnet_errors accepted it, dhcpd -t refused the %s config:\n%s\n%s" % (
            role, textwrap.indent(text, "  "), err[-1500:])


VALID = [
    ([{"network": "198.18.10.0/24", "routers": ["198.18.10.1"],
       "pools": [{"range": "198.18.10.100 198.18.10.199"}],
       "reservations": [{"name": "pxe-01", "mac": "52:54:00:12:34:56", "ip": "198.18.10.20"}]}], True),
    # The smallest network allowed, a range of its two hosts; a /15 with a range across octets.
    ([{"network": "198.18.20.0/30", "pools": [{"range": "198.18.20.1 198.18.20.2"}]},
      {"network": "198.19.0.0/16", "routers": ["198.19.255.254"],
       "pools": [{"range": ["198.19.0.1 198.19.1.250", "198.19.2.0 198.19.2.0"]}, {"range": "198.19.3.0 198.19.3.9"}],
       "reservations": [{"name": "1e5", "mac": "AABB.CCDD.EEFF", "ip": "198.19.4.1"},
                        {"name": "a.1", "mac": "aa-bb-cc-dd-ee-00", "ip": "198.19.4.2"},
                        {"name": "0x1", "mac": "aabbccddee01", "ip": "198.19.255.1"}]}], True),
    # Subnets without pools next to one with; the same MAC reserved in two subnets.
    ([{"network": "198.18.30.0/25", "pools": [{"range": "198.18.30.10 198.18.30.20"}],
       "reservations": [{"name": "roam-a", "mac": "02:00:00:00:00:01", "ip": "198.18.30.30"}]},
      {"network": "198.18.30.128/25",
       "reservations": [{"name": "roam-b", "mac": "02:00:00:00:00:01", "ip": "198.18.30.130"}]},
      {"network": "198.18.100.0/24", "routers": ["198.18.100.254"]}], True),
    ([{"network": "198.18.40.0/24", "pools": [{"range": "198.18.40.10 198.18.40.20"}]}], False),
    ([], False),
]


@pytest.mark.parametrize("subnets, failover", VALID)
def test_accepted_definitions_pass_dhcpd_t(tmp_path, subnets, failover):
    assert subnet_errors(subnets, server_addresses=SERVERS, failover=failover) == []
    assert_dhcpd_accepts(tmp_path, subnets, failover)


# Definitions dhcpd itself refuses: subnet_errors must refuse them before any host is touched.
REFUSED_BY_DHCPD = [
    ("overlapping ranges", [{"network": "198.18.10.0/24", "pools": [
        {"range": "198.18.10.10 198.18.10.20"}, {"range": "198.18.10.20 198.18.10.30"}]}], True, "overlaps"),
    ("duplicate host", [{"network": "198.18.10.0/24", "pools": [{"range": "198.18.10.10 198.18.10.20"}],
                         "reservations": [{"name": "a", "mac": "02:00:00:00:00:01", "ip": "198.18.10.30"},
                                          {"name": "a", "mac": "02:00:00:00:00:02", "ip": "198.18.10.31"}]}],
     True, "duplicates dhcpd_subnets[0].reservations[0].name"),
    ("failover peer without pools", [{"network": "198.18.10.0/24"}], True, "has no pool that uses failover"),
    ("range off the subnet", [{"network": "198.18.10.0/24", "pools": [{"range": "198.18.10.10 198.18.11.20"}]}],
     True, "is outside the subnet"),
    ("host name dhcpd cannot parse",
     [{"network": "198.18.10.0/24", "pools": [{"range": "198.18.10.10 198.18.10.20"}],
       "reservations": [{"name": "_", "mac": "02:00:00:00:00:01", "ip": "198.18.10.30"}]}],
     True, "is not a valid host name"),
]


@pytest.mark.parametrize("title, subnets, failover, expected", REFUSED_BY_DHCPD, ids=[r[0] for r in REFUSED_BY_DHCPD])
def test_definitions_dhcpd_refuses_are_refused_first(tmp_path, title, subnets, failover, expected):
    rc, _err = dhcpd_test(tmp_path, render(subnets, failover, "primary"), "refused.conf")
    assert rc != 0, "dhcpd -t accepted %s: this row proves nothing" % title
    errors = subnet_errors(subnets, server_addresses=SERVERS, failover=failover)
    assert any(expected in message for message in errors), errors


# Mostly names the validator should accept, sometimes anything made of the characters around them.
GOOD_NAMES = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9_-]{0,6}[A-Za-z0-9])?(\.[a-z0-9]{1,4})?\Z")
ANY_NAMES = st.from_regex(r"\A[A-Za-z0-9_.-]{1,12}\Z")


@st.composite
def definitions(draw):
    """Mostly valid-by-construction subnets in 198.18.0.0/15, with random slips now and then."""
    failover = draw(st.booleans())
    subnets = []
    for _position in range(draw(st.integers(0, 3))):
        prefix = draw(st.integers(16, 30) if draw(st.integers(0, 4)) == 0 else st.integers(23, 30))
        base = draw(st.integers(0, 2 ** 17 - 1))
        net = ipaddress.ip_network((int(ipaddress.ip_address("198.18.0.0")) + base, 32)).supernet(new_prefix=prefix)
        hosts = net.num_addresses - 2
        wanted = draw(st.integers(0, min(12, hosts)))
        offsets = sorted(draw(st.lists(st.integers(1, hosts), min_size=wanted, max_size=wanted, unique=True)))
        if draw(st.integers(0, 9)) == 0:  # a slip: anything goes, subnet_errors must sort it out
            offsets = draw(st.lists(st.integers(-1, hosts + 2), max_size=12))

        def address(offset, net=net):
            return str(net.network_address + offset)

        pairs = len(offsets) // 2 if draw(st.booleans()) else len(offsets) // 4
        ranges = ["%s %s" % (address(offsets[2 * i]), address(offsets[2 * i + 1])) for i in range(pairs)]
        rest = offsets[2 * pairs:]
        subnet = {"network": str(net)}
        pools, chunk = [], draw(st.integers(1, 3))
        for i in range(0, len(ranges), chunk):
            group = ranges[i:i + chunk]
            pool = {"range": group if len(group) > 1 or draw(st.booleans()) else group[0]}
            if draw(st.integers(0, 19)) == 0:
                pool["failover"] = not failover
            pools.append(pool)
        if pools or draw(st.booleans()):
            subnet["pools"] = pools
        routers = rest[:draw(st.integers(0, min(2, len(rest))))]
        if routers:
            subnet["routers"] = [address(o) for o in routers]
        reservations = []
        for offset in rest[len(routers):]:
            mac = draw(st.binary(min_size=6, max_size=6)).hex()
            spelling = draw(st.sampled_from(["colon", "dash", "dot", "bare"]))
            if spelling == "colon":
                mac = ":".join(mac[i:i + 2] for i in range(0, 12, 2))
            elif spelling == "dash":
                mac = "-".join(mac[i:i + 2] for i in range(0, 12, 2)).upper()
            elif spelling == "dot":
                mac = ".".join(mac[i:i + 4] for i in range(0, 12, 4))
            name = draw(ANY_NAMES if draw(st.integers(0, 9)) == 0 else GOOD_NAMES)
            reservations.append({"name": name, "mac": mac, "ip": address(offset)})
        if reservations:
            subnet["reservations"] = reservations
        subnets.append(subnet)
    return subnets, failover


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(definitions())
def test_every_accepted_definition_passes_dhcpd_t(tmp_path, definition):
    subnets, failover = definition
    errors = subnet_errors(subnets, server_addresses=SERVERS, failover=failover)
    event("refused by subnet_errors" if errors else "accepted, checked with dhcpd -t")
    if errors:
        return
    assert_dhcpd_accepts(tmp_path, subnets, failover)
