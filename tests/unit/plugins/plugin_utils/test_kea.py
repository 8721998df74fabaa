"""plugins/plugin_utils/kea.py: one test per rendering rule and refusal, and the rendered JSON of
several pair definitions, in both HA modes, checked by the real kea-dhcp4 -t and kea-ctrl-agent -t."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea, pair

ROOT = Path(__file__).resolve().parents[4]
DEFAULTS = yaml.safe_load((ROOT / "roles/dhcpd/defaults/main.yml").read_text())
KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
KEA_CTRL_AGENT = "/usr/sbin/kea-ctrl-agent"
PXE = {"ipxe_http": True, "http_base": "http://198.18.10.11/netboot", "bios_file": "undionly.kpxe",
       "uefi_file": "ipxe.efi", "uefi_arches": ["00:07", "00:09"], "bios_loader": "ipxe", "hosts": [],
       "uefi_http_boot": False, "arch_files": [{"arch": "00:0b", "path": "arm64/grubaa64.efi"}]}
SUBNETS = [
    {"network": "198.18.10.0/24", "routers": ["198.18.10.1"], "next_server": "198.18.10.5", "filename": "ipxe.efi",
     "options": {"domain-name-servers": "198.18.250.2, 198.18.250.3", "domain-search": ["lab.example", "b.example"]},
     "pools": [{"range": ["198.18.10.100 198.18.10.149", "198.18.10.150  198.18.10.198"]}],
     "reservations": [{"name": "pxe-01", "mac": "5254.0012.3456", "ip": "198.18.10.20"}]},
    {"network": "198.18.12.0/23", "pools": [{"range": "198.18.12.10 198.18.13.200"}]},
    {"network": "198.18.14.0/24", "shared_network": "wire-1", "pools": [{"range": "198.18.14.10 198.18.14.11"}]},
    {"network": "198.18.15.0/24", "shared_network": "wire-1"},
]
NODES = {"nblab-dhcp1": {"dhcp_failover_address": "198.18.10.11", "dhcpd_failover_port": 647},
         "nblab-dhcp2": {"dhcp_failover_address": "198.18.10.12", "dhcpd_failover_port": 847}}
SETTINGS = {"kea_interfaces": ["eth0"]}


def model(**changes):
    values = copy.deepcopy(DEFAULTS)
    values.update(dhcpd_subnets=copy.deepcopy(SUBNETS), service="kea-dhcp4-server")
    values.update(changes)
    built, errors = pair.pair_model("dhcp_pair_lab", values, NODES)
    assert errors == []
    return built


def render(host="nblab-dhcp1", built=None, pxe=None, **settings):
    config, errors = kea.kea_config(built or model(), host, dict(SETTINGS, **settings), pxe=pxe)
    assert errors == []
    return config["dhcp4"]["Dhcp4"], config["agent"]["Control-agent"]


def addresses(pools):
    out = []
    for pool in pools:
        first, last = (int(ipaddress.ip_address(part.strip())) for part in pool["pool"].split("-"))
        out += range(first, last + 1)
    return out


def ha(dhcp4):
    return dhcp4["hooks-libraries"][1]["parameters"]["high-availability"][0]


def test_hot_standby_is_the_default_and_the_secondary_is_the_standby():
    config = ha(render()[0])
    assert config["mode"] == "hot-standby"
    assert [(p["name"], p["role"], p["url"]) for p in config["peers"]] == [
        ("nblab-dhcp1", "primary", "http://198.18.10.11:8000/"), ("nblab-dhcp2", "standby", "http://198.18.10.12:8000/")]
    assert config["this-server-name"] == "nblab-dhcp1"
    assert ha(render("nblab-dhcp2")[0])["this-server-name"] == "nblab-dhcp2"


def test_hot_standby_pools_are_not_split():
    subnet = render()[0]["subnet4"][0]
    assert subnet["pools"] == [{"pool": "198.18.10.100 - 198.18.10.149"}, {"pool": "198.18.10.150 - 198.18.10.198"}]


def test_load_balancing_gives_each_server_half_of_every_pool():
    dhcp4 = render(kea_ha_mode="load-balancing")[0]
    assert [p["role"] for p in ha(dhcp4)["peers"]] == ["primary", "secondary"]
    pools = dhcp4["subnet4"][0]["pools"]
    first = [p for p in pools if p["client-class"] == "HA_nblab-dhcp1"]
    second = [p for p in pools if p["client-class"] == "HA_nblab-dhcp2"]
    assert len(first) + len(second) == len(pools)
    # 99 addresses over two ranges: 50 and 49, together exactly the pool, the cut inside range two.
    assert (len(addresses(first)), len(addresses(second))) == (50, 49)
    assert sorted(addresses(first) + addresses(second)) == addresses(render()[0]["subnet4"][0]["pools"])
    assert max(addresses(first)) < min(addresses(second))
    # A two-address pool still gives one to each.
    wire = dhcp4["shared-networks"][0]["subnet4"][0]["pools"]
    assert wire == [{"pool": "198.18.14.10 - 198.18.14.10", "client-class": "HA_nblab-dhcp1"},
                    {"pool": "198.18.14.11 - 198.18.14.11", "client-class": "HA_nblab-dhcp2"}]


def test_load_balancing_refuses_a_pool_of_one_address():
    one = copy.deepcopy(SUBNETS)
    one[1]["pools"] = [{"range": "198.18.12.10 198.18.12.10"}]
    settings = dict(SETTINGS, kea_ha_mode="load-balancing")
    config, errors = kea.kea_config(model(dhcpd_subnets=one), "nblab-dhcp1", settings)
    assert config is None
    assert errors == ['dhcpd_subnets[1].pools[0].range=["198.18.12.10 198.18.12.10"] is invalid: kea_ha_mode='
                      'load-balancing gives each server half of every pool: a pool needs at least 2 addresses']


def test_subnet_ids_follow_the_definition_order_and_shared_networks_group_subnets():
    dhcp4 = render()[0]
    assert [(s["id"], s["subnet"]) for s in dhcp4["subnet4"]] == [(1, "198.18.10.0/24"), (2, "198.18.12.0/23")]
    assert dhcp4["shared-networks"] == [{"name": "wire-1", "subnet4": [
        {"id": 3, "subnet": "198.18.14.0/24", "pools": [{"pool": "198.18.14.10 - 198.18.14.11"}], "option-data": [],
         "reservations": []},
        {"id": 4, "subnet": "198.18.15.0/24", "pools": [], "option-data": [], "reservations": []}]}]


def test_typed_options_reservations_and_boot_fields():
    subnet = render(built=model(dhcpd_global_options={"domain-name": "lab.example", "bootfile-name": "a b.efi",
                                                      "ip-forwarding": False, "time-offset": -3600}))
    assert subnet[0]["option-data"] == [
        {"name": "boot-file-name", "data": "a b.efi"}, {"name": "domain-name", "data": "lab.example"},
        {"name": "ip-forwarding", "data": "false"}, {"name": "time-offset", "data": "-3600"}]
    first = subnet[0]["subnet4"][0]
    assert first["option-data"] == [
        {"name": "routers", "data": "198.18.10.1"},
        {"name": "domain-name-servers", "data": "198.18.250.2, 198.18.250.3"},
        {"name": "domain-search", "data": "lab.example, b.example"}]
    assert first["reservations"] == [{"hw-address": "52:54:00:12:34:56", "ip-address": "198.18.10.20",
                                      "hostname": "pxe-01"}]
    assert (first["next-server"], first["boot-file-name"]) == ("198.18.10.5", "ipxe.efi")


def test_an_untyped_raw_option_is_refused_naming_the_variable():
    config, errors = kea.kea_config(model(dhcpd_global_options={"pxe-x": {"raw": "1"}}), "nblab-dhcp1", SETTINGS)
    assert config is None
    assert errors[0].startswith('dhcpd_global_options.pxe-x={"raw": "1"} is invalid: a raw option is dhcpd '
                                'syntax, which Kea cannot read')


def test_each_node_names_itself_as_boot_server():
    for host, address in (("nblab-dhcp1", "198.18.10.11"), ("nblab-dhcp2", "198.18.10.12")):
        classes = render(host, pxe=PXE)[0]["client-classes"]
        assert {c["next-server"] for c in classes} == {address}
        assert [c["name"] for c in classes] == ["netboot-ipxe", "netboot-bios", "netboot-uefi", "netboot-arch-0"]


def test_pxe_settings_kea_cannot_render_yet_are_refused():
    config, errors = kea.kea_config(model(), "nblab-dhcp1", SETTINGS, pxe=dict(PXE, uefi_http_boot=True))
    assert config is None
    assert errors == ["pxe_uefi_http_boot=true is not rendered for Kea yet"]


def test_control_channel_for_status_get():
    dhcp4, agent = render(kea_control_socket="/run/kea/x.sock", kea_ctrl_agent_port=8080)
    assert dhcp4["control-socket"] == {"socket-type": "unix", "socket-name": "/run/kea/x.sock"}
    assert agent["control-sockets"] == {"dhcp4": {"socket-type": "unix", "socket-name": "/run/kea/x.sock"}}
    assert (agent["http-host"], agent["http-port"]) == ("198.18.10.11", 8080)


@pytest.mark.parametrize("name, value, expected", [
    ("kea_ha_mode", "passive-backup", "expected one of hot-standby, load-balancing"),
    ("kea_ctrl_agent_port", 0, "expected an integer from 1 to 65535"),
    ("kea_heartbeat_delay", 70000, "expected an integer from 1 to 65535"),
    ("kea_control_socket", "relative/x.sock", "expected an absolute path"),
    ("kea_lease_file", "/var/lib/kea/../x", "expected an absolute path"),
    ("kea_log_output", "syslog;x", "expected syslog, stdout, stderr or an absolute path"),
    ("kea_interfaces", [], "expected the interfaces kea-dhcp4 listens on"),
])
def test_bad_settings_are_refused_naming_the_variable(name, value, expected):
    config, errors = kea.kea_config(model(), "nblab-dhcp1", dict(SETTINGS, **{name: value}))
    assert config is None
    assert len(errors) == 1 and errors[0].startswith("%s=" % name) and expected in errors[0], errors


def test_a_host_outside_the_pair_is_refused():
    assert kea.kea_config(model(), "other", SETTINGS) == (
        None, ["inventory_hostname=\"other\" is invalid: is not a member of the pair dhcp_pair_lab "
               "(nblab-dhcp1, nblab-dhcp2)"])


def test_the_split_means_nothing_to_kea():
    assert render(built=model(dhcpd_split=30), kea_ha_mode="load-balancing") == render(kea_ha_mode="load-balancing")
    assert loadbalance.KEA_ACTIVE_SERVERS == 2


# --- the real kea-dhcp4 -t and kea-ctrl-agent -t ---------------------------------------------

DEFINITIONS = {
    "lab subnets with PXE": (SUBNETS, {"domain-name": "lab.example"}, PXE),
    "one /30 of two addresses": ([{"network": "198.18.20.0/30", "pools": [{"range": "198.18.20.1 198.18.20.2"}]}],
                                 {}, None),
    "every typed option": ([{"network": "198.18.30.0/24", "pools": [{"range": "198.18.30.10 198.18.30.20"}],
                             "options": dict((
                                 ("ntp-servers", ["198.18.30.1"]), ("root-path", "/srv/root"),
                                 ("tftp-server-name", "boot.lab.example"), ("interface-mtu", 1500),
                                 ("netbios-node-type", 8), ("host-name", "h1"), ("nis-domain", "nis.example"),
                                 ("time-servers", "198.18.30.2"), ("log-servers", "198.18.30.3"),
                                 ("netbios-name-servers", "198.18.30.4"), ("nis-servers", "198.18.30.5"),
                                 ("smtp-server", "198.18.30.6"), ("subnet-mask", "255.255.255.0"),
                                 ("broadcast-address", "198.18.30.255"), ("swap-server", "198.18.30.7"),
                                 ("router-solicitation-address", "198.18.30.8"), ("extensions-path", "/x"),
                                 ("merit-dump", "/dump"), ("uap-servers", "http://uap.example/"),
                                 ("non-local-source-routing", True), ("ip-forwarding", False),
                                 ("all-subnets-local", False),
                                 ("mask-supplier", False), ("router-discovery", True),
                                 ("trailer-encapsulation", False), ("ieee802-3-encapsulation", False),
                                 ("tcp-keepalive-garbage", True), ("default-ip-ttl", 64), ("default-tcp-ttl", 64),
                                 ("arp-cache-timeout", 60), ("tcp-keepalive-interval", 7200),
                                 ("path-mtu-aging-timeout", 600), ("time-offset", -7200)))}],
                           {"bootfile-name": "pxelinux.0"}, None),
}


def kea_check(tmp_path, program, document, name):
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2))
    result = subprocess.run([program, "-t", str(path)], capture_output=True, text=True, timeout=60, check=False)
    return result.returncode, result.stdout[-2000:] + result.stderr[-1000:]


def test_every_typed_option_of_the_model_is_in_the_definitions():
    named = set(DEFINITIONS["every typed option"][0][0]["options"])
    named |= {"routers", "domain-name-servers", "domain-name", "domain-search", "bootfile-name"}
    assert named == set(pair.OPTION_TYPES)


@pytest.mark.parametrize("mode", kea.MODES)
@pytest.mark.parametrize("title", sorted(DEFINITIONS))
def test_rendered_configs_pass_kea_t(tmp_path, title, mode):
    subnets, options, pxe = DEFINITIONS[title]
    built = model(dhcpd_subnets=subnets, dhcpd_global_options=options)
    for host in built["members"]:
        config, errors = kea.kea_config(built, host, dict(SETTINGS, kea_ha_mode=mode,
                                                          kea_control_socket=str(tmp_path / "k.sock"),
                                                          kea_lease_file=str(tmp_path / "leases.csv")), pxe=pxe)
        assert errors == []
        rc, out = kea_check(tmp_path, KEA_DHCP4, config["dhcp4"], "%s-dhcp4.json" % host)
        assert rc == 0, "kea-dhcp4 -t refused %s (%s, %s):\n%s" % (title, mode, host, out)
        rc, out = kea_check(tmp_path, KEA_CTRL_AGENT, config["agent"], "%s-agent.json" % host)
        assert rc == 0, "kea-ctrl-agent -t refused %s (%s):\n%s" % (title, host, out)


def test_kea_t_refuses_what_kea_config_must_not_produce(tmp_path):
    # The check above can fail: an option name Kea does not know is refused by kea-dhcp4 -t.
    dhcp4, _agent = render(kea_control_socket=str(tmp_path / "k.sock"), kea_lease_file=str(tmp_path / "l.csv"))
    bad = copy.deepcopy(dhcp4)
    bad["option-data"] = [{"name": "bootfile-name", "data": "x"}]
    rc, out = kea_check(tmp_path, KEA_DHCP4, {"Dhcp4": bad}, "bad.json")
    assert rc != 0, out
