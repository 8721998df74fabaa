"""The dhcp_probe module against a real dhcpd pair (tests/dhcplab).

The module runs through ansible (connection local) inside a lab server's namespace, i.e. on the
"node", posing as a client of one peer's hash bucket:

* NORMAL: the probe for the partner's bucket is answered by the partner only; the probe leaves no
  lease in either lease file, and the offered address stays reserved for the probe client (a
  second probe is offered the same address).
* The node's own dhcpd does not answer a probe sent on the node itself (so the probe tests the
  other servers on the link).
* Partner killed: no offer from it, although the surviving node (communications-interrupted)
  serves the partner's clients (seen from the controller).
"""

import json
import os
import subprocess
import sys

import collection_path
import pytest

from dhcplab import configs

collection_path.ensure()

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance as lb  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions  # noqa: E402

pytestmark = pytest.mark.system

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPLIT = 128


@pytest.fixture(scope="module")
def collections_path():
    path = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if not path:
        subprocess.run(["make", "--no-print-directory", "collection", "COLL_BASE=build/probe"], cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
        path = os.path.join(REPO, "build", "probe")
    return path


def probe(server, collections, tmp_path, *, check=False, **args):
    """Run netboot.dhcp_failover.dhcp_probe on the server's node; return its result."""
    args = dict({"interface": server.iface, "split": SPLIT, "timeout": 1.5}, **args)
    argv = ["ip", "netns", "exec", server.netns, os.path.join(os.path.dirname(sys.executable), "ansible"),
            "localhost", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
            "-m", "netboot.dhcp_failover.dhcp_probe", "-a", json.dumps(args)]  # fmt: skip
    if check:
        argv.append("--check")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_HOME=str(tmp_path / "ansible"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")  # fmt: skip
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is False
    return result


def probe_bindings(server):
    """Bindings of probe clients (02:6e:62:...) in the server's lease file."""
    bindings = leases.latest(leases.parse(server.leases())["entries"])
    return {address: record for address, record in bindings.items()
            if str(record.get("hardware_address", "")).startswith("02:6e:62:")}  # fmt: skip


def test_probe_sees_who_serves_the_partners_bucket(dhcp_lab, tmp_path, collections_path):
    pair = dhcp_lab.start_pair(*configs.failover_pair(split=SPLIT)).wait_normal()
    pair.wait_balanced()
    primary, secondary = pair.servers

    from_primary = probe(primary, collections_path, tmp_path, bucket_of="secondary")
    mac = from_primary["mac"]
    assert lb.lb_peer(SPLIT, mac=mac) == "secondary" == from_primary["bucket_of"]
    assert int(mac.split(":")[0], 16) & 0x03 == 0x02  # locally administered unicast
    assert from_primary["servers"] == [secondary.address], from_primary
    offer = from_primary["offers"][0]
    assert offer["src_ip"] == secondary.address and 0 <= offer["elapsed"] < 1.5
    assert configs.POOL_START.rsplit(".", 1)[0] == offer["yiaddr"].rsplit(".", 1)[0]

    from_secondary = probe(secondary, collections_path, tmp_path, bucket_of="primary", check=True)
    assert from_secondary["bucket_of"] == "primary"
    assert from_secondary["servers"] == [primary.address], from_secondary

    # Its own dhcpd never answers a probe sent on the node: only the other server is tested.
    own = probe(secondary, collections_path, tmp_path, bucket_of="secondary")
    assert own["mac"] == mac and own["offers"] == [], own

    # Read-only: nothing bound; the offer only reserves the address (the same one is offered again).
    again = probe(primary, collections_path, tmp_path, bucket_of="secondary")
    assert [o["yiaddr"] for o in again["offers"]] == [offer["yiaddr"]]
    assert probe_bindings(primary) == {} and probe_bindings(secondary) == {}
    assert secondary.lease_states().get(offer["yiaddr"]) in ("free", "backup")

    # The partner dies: no offer from it, though the survivor now serves the partner's clients.
    secondary.kill()
    primary.wait_for_state("communications-interrupted", 5)
    dead = probe(primary, collections_path, tmp_path, bucket_of="secondary")
    assert dead["mac"] == mac and dead["offers"] == [] and dead["servers"] == [], dead
    seen = dhcp_lab.client().discover(mac, timeout=1.5)
    assert [o.server_id for o in seen] == [primary.address]


def test_the_probe_refuses_partner_down_while_the_partner_serves(dhcp_lab, tmp_path, collections_path):
    """The decision the playbooks take before partner-down, on what the module saw (issue: ISC's
    warning about partner-down with a live partner)."""
    pair = dhcp_lab.start_pair(*configs.failover_pair(split=SPLIT, max_response_delay=5)).wait_normal()
    pair.wait_balanced()
    primary, secondary = pair.servers

    # Only the failover link is cut: both peers go communications-interrupted and both serve.
    for server, peer in ((primary, secondary), (secondary, primary)):
        subprocess.run(["ip", "-n", server.netns, "route", "add", "blackhole", "%s/32" % peer.address], check=True)
    primary.wait_for_state("communications-interrupted", 30)
    secondary.wait_for_state("communications-interrupted", 30)
    cut = probe(primary, collections_path, tmp_path, bucket_of="secondary")
    verdict = decisions.partner_down_probe(cut, "s2", secondary.address)
    assert (verdict["allow"], verdict["partner_offered"]) == (False, True), verdict
    assert "refused" in verdict["why"] and secondary.address in verdict["why"]
    forced = decisions.partner_down_probe(cut, "s2", secondary.address, force=True)
    assert forced["allow"] and "forced" in forced["why"]

    # The partner is killed: nobody offers for its bucket from the link but the survivor.
    secondary.kill()
    dead = probe(primary, collections_path, tmp_path, bucket_of="secondary")
    verdict = decisions.partner_down_probe(dead, "s2", secondary.address)
    assert (verdict["allow"], verdict["partner_offered"]) == (True, False), verdict
