"""The deployed pair: packages, services, configs, keys, failover state and chrony."""

import re
import time

import testinfra
from helpers import DHCP1, DHCP2, NET, SERVERS, failover_info

testinfra_hosts = [f"podman://{name}" for name in SERVERS]


def _hosts():
    return {name: testinfra.get_host(f"podman://{name}") for name in SERVERS}


def test_packages_and_services(host):
    for package in ("isc-dhcp-server", "chrony"):
        assert host.package(package).is_installed, package
    for service in ("isc-dhcp-server", "chrony"):
        assert host.service(service).is_running, service
        assert host.service(service).is_enabled, service


def test_live_config_passes_dhcpd_t_and_is_the_tested_candidate(host):
    check = host.run("dhcpd -t -4 -cf /etc/dhcp/dhcpd.conf")
    assert check.rc == 0, check.stderr
    live = host.file("/etc/dhcp/dhcpd.conf")
    assert live.sha256sum == host.file("/etc/dhcp/dhcpd.conf.candidate").sha256sum
    assert live.content_string.startswith("#\n# Ansible managed")


def test_interfaces_are_set(host):
    assert 'INTERFACESv4="eth0"' in host.file("/etc/default/isc-dhcp-server").content_string.splitlines()


def test_key_file_is_private_and_bound(host):
    key = host.file("/etc/dhcp/dhcpd-omapi.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o640)
    assert "algorithm hmac-md5;" in key.content_string
    conf = host.file("/etc/dhcp/dhcpd.conf").content_string
    assert "omapi-key omapi_key;" in conf
    assert "secret" not in conf


def test_one_pair_definition_renders_both_peers():
    confs = {name: h.file("/etc/dhcp/dhcpd.conf").content_string for name, h in _hosts().items()}
    roles = {name: re.findall(r"(?m)^\s*(primary|secondary);", conf) for name, conf in confs.items()}
    # Derived primary: the lower failover address.
    assert roles == {DHCP1: ["primary"], DHCP2: ["secondary"]}
    primary, secondary = confs[DHCP1], confs[DHCP2]
    assert "split 128;" in primary and "mclt 300;" in primary
    # mclt on both (a secondary that never met its primary would run with MCLT 0), split on the primary only.
    assert "split" not in secondary and "mclt 300;" in secondary
    for conf in confs.values():
        assert "load balance max seconds 3;" in conf
        assert "server-id-check true;" in conf
        assert re.search(r'pool \{\n\s*failover peer "dhcp_pair_molecule";', conf)
    assert f"address {NET}.11;\n  port 647;\n  peer address {NET}.12;" in primary
    assert f"address {NET}.12;\n  port 647;\n  peer address {NET}.11;" in secondary
    # Same key on both sides, without reading it into the test output.
    sums = {h.file("/etc/dhcp/dhcpd-omapi.key").sha256sum for h in _hosts().values()}
    assert len(sums) == 1


def test_both_peers_normal_through_failover_info():
    infos = {name: failover_info(name) for name in SERVERS}
    for name, info in infos.items():
        assert (info["local_state"], info["partner_state"]) == ("normal", "normal"), (name, info)
        assert info["mclt"] == 300
        assert info["load_balance_max_secs"] == 3
    assert (infos[DHCP1]["role"], infos[DHCP1]["split"]) == ("primary", 128)
    assert infos[DHCP2]["role"] == "secondary"


def _chrony_sources(host):
    """chronyc's sources as {address: (mode, state, reach)}."""
    out = host.check_output("chronyc -n -c sources")
    sources = {}
    for line in out.splitlines():
        fields = line.split(",")
        sources[fields[2]] = (fields[0], fields[1], int(fields[5], 8))
    return sources


def test_chrony_peers_the_other_node(host):
    name = host.backend.get_hostname()
    (peer_address,) = [address for other, address in SERVERS.items() if other != name]
    sources = _chrony_sources(host)
    assert list(sources) == [peer_address], sources
    mode, _state, reach = sources[peer_address]
    assert mode == "=" and reach > 0, sources


def test_chrony_pair_is_synchronised():
    # Orphan mode: one node is the local reference, the other selects it ('*').
    hosts = _hosts()
    deadline = time.monotonic() + 60
    while True:
        selected = [name for name, h in hosts.items() if any(s[1] == "*" for s in _chrony_sources(h).values())]
        if selected or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(selected) == 1, {name: _chrony_sources(h) for name, h in hosts.items()}
    tracking = hosts[selected[0]].check_output("chronyc -n tracking")
    (other,) = [address for name, address in SERVERS.items() if name != selected[0]]
    assert f"({other})" in tracking.splitlines()[0], tracking
