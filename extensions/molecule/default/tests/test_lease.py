"""The client host obtains a lease, from the one peer netboot.dhcp_failover.lb_peer predicts.

dhcp_probe.py (run in the client) collects every OFFER to one DISCOVER, so the test sees that
exactly one server of the pair answered, not only which answer came first. Offers from other
DHCP servers on the shared molecule bridge (another scenario running at the same time) are
left out.
"""

import json
import re
from pathlib import Path

import testinfra
from helpers import CLIENT, NET, SERVERS, lb_peer, lb_peers

testinfra_hosts = [f"podman://{CLIENT}"]
PROBE = (Path(__file__).parent / "dhcp_probe.py").read_text()


def _pair():
    """{'primary': address, 'secondary': address} and the split, from the deployed configs."""
    roles, split = {}, None
    for name, address in SERVERS.items():
        conf = testinfra.get_host(f"podman://{name}").file("/etc/dhcp/dhcpd.conf").content_string
        role = re.search(r"(?m)^\s*(primary|secondary);", conf).group(1)
        roles[role] = address
        if role == "primary":
            split = re.search(r"(?m)^\s*split (\d+);", conf).group(1)
    return roles, split


def _probe(host, mac, server=""):
    host.run(f"cat > /tmp/dhcp_probe.py <<'EOF'\n{PROBE}EOF")
    run = host.run(f"python3 /tmp/dhcp_probe.py {mac} {server}")
    assert run.rc == 0, run.stderr
    return json.loads(run.stdout)


def test_exactly_the_predicted_peer_offers_and_acks(host):
    mac = host.file("/sys/class/net/eth0/address").content_string.strip()
    roles, split = _pair()
    predicted = lb_peer(mac, split)
    result = _probe(host, mac, roles[predicted])
    ours = [offer for offer in result["offers"] if offer["server"] in SERVERS.values()]
    assert [offer["server"] for offer in ours] == [roles[predicted]], (predicted, result)
    assert result["ack"] is not None, result
    assert result["ack"]["server"] == roles[predicted]
    last = int(result["ack"]["address"].rsplit(".", 1)[1])
    assert result["ack"]["address"].startswith(f"{NET}.") and 100 <= last <= 199, result


def test_client_of_the_other_bucket_goes_to_the_other_peer(host):
    # A made-up MAC whose hash bucket belongs to the other peer, so both peers are seen serving.
    mac = host.file("/sys/class/net/eth0/address").content_string.strip()
    roles, split = _pair()
    mine = lb_peer(mac, split)
    candidates = [f"02:00:00:00:00:{n:02x}" for n in range(16)]
    other, expected = next((m, p) for m, p in zip(candidates, lb_peers(candidates, split)) if p != mine)
    result = _probe(host, other, roles[expected])
    ours = [offer["server"] for offer in result["offers"] if offer["server"] in SERVERS.values()]
    assert ours == [roles[expected]], (other, expected, result)
    assert result["ack"] and result["ack"]["server"] == roles[expected], result
