"""plugins/plugin_utils/pair.py and the pair_model filters: one refusal per rule, typed options,
rendering through the role's template, and the rendered pair checked by the real dhcpd -t."""

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from dhcplab import template

from ansible_collections.netboot.dhcp_failover.plugins.filter.pair import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pair

ROOT = Path(__file__).resolve().parents[4]
DEFAULTS = yaml.safe_load((ROOT / "roles/dhcpd/defaults/main.yml").read_text())
FILTERS = FilterModule().filters()
DHCPD = "/usr/sbin/dhcpd"

SUBNETS = [
    {
        "network": "198.18.10.0/24",
        "routers": ["198.18.10.1"],
        "next_server": "198.18.10.5",
        "filename": "ipxe.efi",
        "options": {"domain-name-servers": "198.18.250.2, 198.18.250.3"},
        "pools": [{"range": ["198.18.10.100 198.18.10.149", "198.18.10.150  198.18.10.199"]}],
        "reservations": [{"name": "pxe-01", "mac": "5254.0012.3456", "ip": "198.18.10.20"}],
    },
    {"network": "198.18.12.0/23", "pools": [{"range": "198.18.12.10 198.18.13.200"}]},
]
SHARED_EXTRA = {"network": "198.18.14.0/24", "shared_network": "wire-1",
                "pools": [{"range": "198.18.14.10 198.18.14.20"}]}


def settings(**changes):
    values = copy.deepcopy(DEFAULTS)
    values.update(dhcpd_subnets=copy.deepcopy(SUBNETS), service="isc-dhcp-server")
    values.update(changes)
    return values


def nodes(**changes):
    values = {
        "nblab-dhcp1": {"dhcp_failover_address": "198.18.10.11", "dhcpd_failover_port": 647},
        "nblab-dhcp2": {"dhcp_failover_address": "198.18.10.12", "dhcpd_failover_port": 847},
    }
    for host, update in changes.items():
        values[host.replace("_", "-")].update(update)
    return values


def build(settings_=None, nodes_=None):
    return pair.pair_model("dhcp_pair_lab", settings_ or settings(), nodes_ or nodes())


def errors_of(settings_=None, nodes_=None):
    return build(settings_, nodes_)[1]


def only_error(settings_=None, nodes_=None):
    errors = errors_of(settings_, nodes_)
    assert len(errors) == 1, errors
    return errors[0]


# --- the model ---------------------------------------------------------------------------------


def test_valid_pair_has_the_documented_model():
    model, errors = build()
    assert errors == []
    assert model["group"] == model["peer_name"] == "dhcp_pair_lab"
    assert (model["primary"], model["secondary"]) == ("nblab-dhcp1", "nblab-dhcp2")
    assert model["balance"] == {"split": 128, "hba": None}
    assert model["mclt"] == DEFAULTS["dhcpd_mclt"]
    assert model["nodes"]["nblab-dhcp2"] == {
        "host": "nblab-dhcp2", "role": "secondary", "address": "198.18.10.12", "failover_port": 847,
        "peer": "nblab-dhcp1", "omapi_port": 7911, "omapi_key_name": "omapi_key", "service": "isc-dhcp-server",
    }
    subnet = model["subnets"][0]
    assert (subnet["address"], subnet["netmask"]) == ("198.18.10.0", "255.255.255.0")
    assert subnet["options"] == [
        {"name": "routers", "value": "198.18.10.1"},
        {"name": "domain-name-servers", "value": "198.18.250.2, 198.18.250.3"},
    ]
    assert subnet["filename"] == '"ipxe.efi"'
    assert subnet["pools"] == [{"failover": True, "ranges": ["198.18.10.100 198.18.10.149",
                                                             "198.18.10.150 198.18.10.199"]}]
    assert subnet["reservations"] == [{"name": "pxe-01", "mac": "52:54:00:12:34:56", "ip": "198.18.10.20"}]
    assert model["subnets"][1]["netmask"] == "255.255.254.0"


def test_primary_is_the_lower_address_numerically_not_textually():
    model = build(nodes_=nodes(nblab_dhcp1={"dhcp_failover_address": "198.18.10.100"},
                               nblab_dhcp2={"dhcp_failover_address": "198.18.10.99"}),
                  settings_=settings(dhcpd_subnets=[{"network": "198.18.11.0/24",
                                                     "pools": [{"range": "198.18.11.10 198.18.11.20"}]}]))[0]
    assert model["primary"] == "nblab-dhcp2"


def test_named_primary_and_peer_name():
    model, errors = build(settings(dhcpd_failover_primary="nblab-dhcp2", dhcpd_failover_peer_name="lab.pair-1"))
    assert errors == []
    assert (model["primary"], model["peer_name"]) == ("nblab-dhcp2", "lab.pair-1")
    assert model["nodes"]["nblab-dhcp1"]["role"] == "secondary"


@pytest.mark.parametrize(
    ("changes", "balance"),
    [
        ({"dhcpd_split": 200}, {"split": 200, "hba": None}),
        ({"dhcpd_split": "0"}, {"split": 0, "hba": None}),
        ({"dhcpd_share": "25%"}, {"split": 64, "hba": None}),
        ({"dhcpd_hba": ":".join(["ff"] * 16 + ["00"] * 16)}, {"split": 128, "hba": None}),
        ({"dhcpd_hba": ":".join(["ff"] * 16 + ["00"] * 15 + ["1"])},
         {"split": None, "hba": ":".join(["ff"] * 16 + ["00"] * 15 + ["01"])}),
    ],
)
def test_balance_is_data(changes, balance):
    model, errors = build(settings(**changes))
    assert errors == []
    assert model["balance"] == balance


def test_node_view_adds_this_hosts_keys():
    model = build()[0]
    view = pair.node_view(model, "nblab-dhcp2")
    assert (view["role"], view["peer_host"], view["peer_address"]) == ("secondary", "nblab-dhcp1", "198.18.10.11")
    assert (view["failover_port"], view["peer_failover_port"]) == (847, 647)
    assert view["nodes"] == model["nodes"]


def test_filter_returns_model_and_errors():
    result = FILTERS["pair_model"]("dhcp_pair_lab", settings(), nodes(), host="nblab-dhcp1")
    assert result["errors"] == [] and result["model"]["role"] == "primary"
    bad = FILTERS["pair_model"]("dhcp_pair_lab", settings(dhcpd_mclt=0), nodes(), host="nblab-dhcp1")
    assert bad["errors"] == ["dhcpd_mclt=0 is invalid: expected an integer from 1 up, seconds"]


def test_model_differences_ignore_the_node_keys_and_name_what_differs():
    one = build()[0]
    two = build(settings(dhcpd_failover_primary="nblab-dhcp2"))[0]
    same = FILTERS["pair_model_diff"](pair.node_view(one, "nblab-dhcp1"), pair.node_view(one, "nblab-dhcp2"))
    assert same == []
    differences = FILTERS["pair_model_diff"](one, two, me="a", them="b")
    assert 'primary: a has "nblab-dhcp1", b has "nblab-dhcp2"' in differences
    assert {line.split(":")[0] for line in differences} == {"primary", "secondary", "nodes"}


# --- refusals: each names the user's variable ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("dhcpd_mclt", 0, "dhcpd_mclt=0 is invalid: expected an integer from 1 up"),
        ("dhcpd_omapi_port", 70000, "dhcpd_omapi_port=70000 is invalid: expected an integer from 1 to 65535"),
        ("dhcpd_load_balance_max_seconds", 0, "dhcpd_load_balance_max_seconds=0 is invalid"),
        ("dhcpd_max_response_delay", "ten", 'dhcpd_max_response_delay="ten" is invalid'),
        ("dhcpd_max_unacked_updates", True, "dhcpd_max_unacked_updates=true is invalid"),
        ("dhcpd_auto_partner_down", -1, "dhcpd_auto_partner_down=-1 is invalid"),
        ("dhcpd_max_lease_time", 60, "dhcpd_max_lease_time=60 is invalid: expected an integer from 3600 up"),
        ("dhcpd_normal_timeout", "", 'dhcpd_normal_timeout="" is invalid'),
        ("dhcpd_authoritative", "yes", 'dhcpd_authoritative="yes" is invalid: expected true or false'),
        ("dhcpd_failover_primary", "nblab-dhcp3", 'dhcpd_failover_primary="nblab-dhcp3" is invalid: expected empty '
                                                  'or one of'),
        ("dhcpd_failover_peer_name", "x\n", 'dhcpd_failover_peer_name="x\\n" is invalid'),
        ("dhcpd_failover_peer_name", 'a"b', 'dhcpd_failover_peer_name="a\\"b" is invalid'),
        ("dhcpd_omapi_key_name", "key name", 'dhcpd_omapi_key_name="key name" is invalid'),
        ("dhcpd_omapi_key_name", "k\n", 'dhcpd_omapi_key_name="k\\n" is invalid'),
        ("dhcpd_max_clock_skew", 60, "dhcpd_max_clock_skew=60 is invalid: expected seconds above 0 and below 60"),
        ("dhcpd_split", 257, "dhcpd_split=257 is invalid: invalid split"),
        ("dhcpd_share", "101%", 'dhcpd_share="101%" is invalid'),
        ("dhcpd_hba", "ff:00", 'dhcpd_hba="ff:00" is invalid'),
        ("dhcpd_interfaces", ["eth0", "eth0; x"], 'dhcpd_interfaces[1]="eth0; x" is invalid'),
        ("dhcpd_interfaces", ["a-very-long-interface"], "dhcpd_interfaces[0]"),
        ("dhcpd_subnets", [], "dhcpd_subnets=[] is empty"),
    ],
)
def test_bad_pair_setting_is_refused_with_its_variable(name, value, expected):
    assert only_error(settings(**{name: value})).startswith(expected)


def test_two_balance_settings_are_refused():
    assert only_error(settings(dhcpd_split=128, dhcpd_share=50)).startswith(
        "dhcpd_split=128, dhcpd_share=50: expected at most one of")


def test_bad_failover_address_names_the_host():
    error = only_error(nodes_=nodes(nblab_dhcp2={"dhcp_failover_address": "198.18.10.300"}))
    assert error.startswith('nblab-dhcp2: dhcp_failover_address="198.18.10.300" is not valid')


def test_missing_failover_address_names_the_host():
    error = only_error(nodes_=nodes(nblab_dhcp1={"dhcp_failover_address": None}))
    assert error.startswith("nblab-dhcp1: dhcp_failover_address=null is not valid")


def test_same_failover_address_on_both_is_refused():
    error = only_error(nodes_=nodes(nblab_dhcp2={"dhcp_failover_address": "198.18.10.11"}))
    assert "is the same on both peers" in error


def test_failover_port_equal_to_omapi_port_is_refused():
    error = only_error(nodes_=nodes(nblab_dhcp2={"dhcpd_failover_port": 7911}))
    assert error == ("nblab-dhcp2: dhcpd_failover_port=7911 is the same as dhcpd_omapi_port=7911: expected "
                     "different ports (dhcpd listens on both on this host)")


def test_bad_failover_port_names_the_host():
    assert only_error(nodes_=nodes(nblab_dhcp1={"dhcpd_failover_port": 0})).startswith(
        "nblab-dhcp1: dhcpd_failover_port=0 is invalid")


def test_server_address_in_a_pool_names_the_users_variable():
    error = only_error(nodes_=nodes(nblab_dhcp2={"dhcp_failover_address": "198.18.10.120"}))
    assert error.startswith("nblab-dhcp2: dhcp_failover_address: '198.18.10.120' is inside the dynamic range "
                            "dhcpd_subnets[0].pools[0].range[0]")
    assert "server_addresses" not in error


def test_subnet_errors_keep_their_paths():
    broken = settings()
    broken["dhcpd_subnets"][0]["pools"].append({"range": "198.18.10.140 198.18.10.160"})
    assert errors_of(broken)[0].startswith("dhcpd_subnets[0].pools[1].range: '198.18.10.140 198.18.10.160' overlaps")


def test_a_pair_of_three_is_refused():
    three = nodes()
    three["nblab-dhcp3"] = {"dhcp_failover_address": "198.18.10.13", "dhcpd_failover_port": 647}
    model, errors = build(nodes_=three)
    assert model is None and "a failover pair is exactly two hosts" in errors[0]


def test_dynamic_bootp_pool_is_refused_with_the_reason():
    bootp = settings()
    bootp["dhcpd_subnets"][1]["pools"][0]["bootp"] = True
    error = only_error(bootp)
    assert error.startswith("dhcpd_subnets[1].pools[0].bootp=true is refused: dhcpd does not allow dynamic BOOTP")


def test_bad_reservation_name_is_refused():
    bad = settings()
    bad["dhcpd_subnets"][0]["reservations"][0]["name"] = "pxe-01\n"
    assert only_error(bad).startswith("dhcpd_subnets[0].reservations[0].name")


def test_bad_next_server_and_filename_are_refused():
    bad = settings()
    bad["dhcpd_subnets"][0].update(next_server="boot; deny booting", filename="a\nb")
    errors = errors_of(bad)
    assert [error.split("=")[0] for error in errors] == ["dhcpd_subnets[0].next_server", "dhcpd_subnets[0].filename"]


# --- typed options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("routers", ["198.18.10.1", "198.18.10.2"], "198.18.10.1, 198.18.10.2"),
        ("domain-name-servers", "198.18.250.2,198.18.250.3", "198.18.250.2, 198.18.250.3"),
        ("ntp-servers", "198.18.250.2", "198.18.250.2"),
        ("subnet-mask", "255.255.255.0", "255.255.255.0"),
        ("domain-name", "lab.example", '"lab.example"'),
        ("domain-name", '"lab.example"', '"lab.example"'),  # the old "quote it yourself" form
        ("host-name", "pxe-01", '"pxe-01"'),
        ("domain-search", ["lab.example", "example.net"], '"lab.example", "example.net"'),
        ("root-path", 'nfs:/srv/"root"', '"nfs:/srv/\\"root\\""'),
        ("tftp-server-name", "boot\\server", '"boot\\\\server"'),
        ("ip-forwarding", False, "false"),
        ("interface-mtu", 1500, "1500"),
        ("time-offset", "-3600", "-3600"),
        ("default-ip-ttl", 64, "64"),
        ("no-such-option", {"raw": "1"}, "1"),
        ("vendor.thing", {"raw": '"a;b" , 2'}, None),  # ";" even inside quotes could end the statement
    ],
)
def test_typed_option_values(name, value, text):
    if text is None:
        with pytest.raises(pair.OptionError):
            pair.option_value(name, value)
    else:
        assert pair.option_value(name, value) == text


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("domain-name-servers", "198.18.250.2; deny booting", "is not a list of IPv4 addresses"),
        ("domain-name-servers", "198.18.250.300", "is not a list of IPv4 addresses"),
        ("routers", [], "is not a list of IPv4 addresses"),
        ("ntp-servers", 3, "is not a list of IPv4 addresses"),
        ("subnet-mask", "255.255.255.0, 255.0.0.0", "is not one IPv4 address"),
        ("domain-name", "lab example", "is not a DNS name"),
        ("domain-name", 'lab.example"; deny booting; "', "is not a DNS name"),
        ("domain-name", ["a.example", "b.example"], "is not one DNS name"),
        ("host-name", "-pxe", "is not a DNS name"),
        ("domain-search", ["ok.example", "not ok"], "is not a list of DNS names"),
        ("root-path", "a\nb", "is not text"),
        ("root-path", 5, "is not text"),
        ("ip-forwarding", "yes", "is not a boolean"),
        ("interface-mtu", 65536, "is not an integer from 0 to 65535"),
        ("time-offset", 2 ** 31, "is not an integer from -2147483648 to 2147483647"),
        ("interface-mtu", True, "is not an integer"),
        ("no-such-option", "1", "does not know the type of: give the value as {raw: TEXT}"),
        ("no-such-option", {"raw": "1; deny booting"}, 'contains ";", which would end the statement'),
        ("no-such-option", {"raw": "{ x"}, 'contains "{"'),
        ("no-such-option", {"raw": "x }"}, 'contains "}"'),
        ("no-such-option", {"raw": "1\n2"}, 'contains "\\n"'),
        ("no-such-option", {"raw": '"open'}, "has an unbalanced double quote"),
        ("no-such-option", {"raw": '"a\\"'}, "has an unbalanced double quote"),
        ("no-such-option", {"raw": ""}, "is not a valid raw option"),
        ("no-such-option", {"raw": "1", "x": 2}, "is not a valid raw option"),
    ],
)
def test_bad_option_values_are_refused(name, value, why):
    with pytest.raises(pair.OptionError, match=re.escape(why)):
        pair.option_value(name, value)


def test_bad_option_is_reported_with_its_path():
    errors = errors_of(settings(dhcpd_global_options={"domain-name": "lab example", "Bad Name": 1}))
    assert errors[0].startswith('dhcpd_global_options="Bad Name" is not an option name')
    assert errors[1].startswith('dhcpd_global_options.domain-name="lab example" is not a DNS name')
    bad = settings()
    bad["dhcpd_subnets"][0]["options"] = {"domain-name-servers": "198.18.250.2; deny booting"}
    assert only_error(bad).startswith(
        'dhcpd_subnets[0].options.domain-name-servers="198.18.250.2; deny booting" is not a list of IPv4')


def test_routers_given_twice_is_refused():
    bad = settings()
    bad["dhcpd_subnets"][0]["options"] = {"routers": "198.18.10.1"}
    assert only_error(bad).startswith('dhcpd_subnets[0].options.routers="198.18.10.1" is given twice')


# --- rendering through the role's template ------------------------------------------------------


def render(model, host, key_file="/etc/dhcp/dhcpd-omapi.key"):
    return template.render(model, host, key_file=key_file)


def rich_model():
    values = settings(
        dhcpd_hba=":".join(["ff"] * 16 + ["00"] * 15 + ["1"]), dhcpd_auto_partner_down=3600,
        dhcpd_global_options={"domain-name": "lab.example", "domain-search": ["lab.example", "example.net"],
                              "ntp-servers": ["198.18.250.2"], "ip-forwarding": False, "interface-mtu": 1500,
                              "root-path": 'srv "root"', "host-name": "pxe"},
    )
    # The /23 shares its wire with one more subnet, so dhcpd -t below also judges a shared-network.
    values["dhcpd_subnets"][1]["shared_network"] = "wire-1"
    values["dhcpd_subnets"].append(copy.deepcopy(SHARED_EXTRA))
    model, errors = build(values)
    assert errors == []
    return model


def test_rendered_peers_mirror_each_other():
    model = rich_model()
    primary, secondary = render(model, "nblab-dhcp1"), render(model, "nblab-dhcp2")
    assert "  primary;\n  address 198.18.10.11;\n  port 647;\n  peer address 198.18.10.12;\n  peer port 847;" in primary
    assert "  secondary;\n  address 198.18.10.12;\n  port 847;\n  peer address 198.18.10.11;\n  peer port 647;" \
        in secondary
    assert "  hba %s;" % model["balance"]["hba"] in primary and "hba" not in secondary
    # Both carry the MCLT: a secondary that never met its primary would run with MCLT 0 otherwise.
    assert "  mclt %d;" % model["mclt"] in primary and "  mclt %d;" % model["mclt"] in secondary
    assert 'option domain-search "lab.example", "example.net";' in primary
    assert 'option root-path "srv \\"root\\"";' in primary
    assert "subnet 198.18.12.0 netmask 255.255.254.0 {" in primary
    assert "    range 198.18.10.150 198.18.10.199;" in primary
    assert "  hardware ethernet 52:54:00:12:34:56;" in primary

    def common(text):
        # Everything outside the failover peer block and its comment header is pair-wide.
        head, _sep, rest = text.partition('failover peer "dhcp_pair_lab" {')
        return head.split("\n", 6)[-1] + rest.split("\n}\n", 1)[1]

    assert common(primary) == common(secondary)


def test_split_renders_as_split():
    model = build(settings(dhcpd_share=50))[0]
    assert "  split 128;" in render(model, "nblab-dhcp1")


@pytest.mark.parametrize("host", ["nblab-dhcp1", "nblab-dhcp2"])
def test_real_dhcpd_accepts_the_rendered_configuration(tmp_path, host):
    key = tmp_path / "omapi.key"
    key.write_text('key omapi_key { algorithm hmac-md5; secret "c2VjcmV0c2VjcmV0c2VjcmV0"; }\n')
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(render(rich_model(), host, key_file=str(key)))
    leases = tmp_path / "dhcpd.leases"
    leases.write_text("")
    check = subprocess.run([DHCPD, "-t", "-4", "-cf", str(conf), "-lf", str(leases)],
                           capture_output=True, text=True, check=False, timeout=60)
    assert check.returncode == 0, check.stderr + conf.read_text()
    assert "WARNING" not in check.stderr, check.stderr


def test_real_dhcpd_rejects_what_the_raw_form_lets_through(tmp_path):
    # The raw form is checked only for what could end a statement: dhcpd still judges the rest,
    # and this test shows the check above is a real one.
    model, errors = build(settings(dhcpd_global_options={"no-such-option": {"raw": "1"}}))
    assert errors == []
    key = tmp_path / "omapi.key"
    key.write_text('key omapi_key { algorithm hmac-md5; secret "c2VjcmV0c2VjcmV0c2VjcmV0"; }\n')
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(render(model, "nblab-dhcp1", key_file=str(key)))
    check = subprocess.run([DHCPD, "-t", "-4", "-cf", str(conf), "-lf", str(tmp_path / "leases")],
                           capture_output=True, text=True, check=False, timeout=60)
    assert check.returncode != 0 and "no-such-option" in check.stderr


def test_next_server_may_be_a_dns_name():
    named = settings()
    named["dhcpd_subnets"][0]["next_server"] = "boot.lab.example"
    model, errors = build(named)
    assert errors == [] and model["subnets"][0]["next_server"] == "boot.lab.example"


def test_a_group_name_unfit_as_peer_name_says_where_it_came_from():
    errors = pair.pair_model("dhcp pair", settings(), nodes())[1]
    assert errors == ['dhcpd_failover_peer_name="dhcp pair" is invalid (empty, so the pair group name is used: '
                      'set dhcpd_failover_peer_name): expected 1 to 64 letters, digits, "_", "." or "-" (it is '
                      'written in quotes and comments of dhcpd.conf)']


# --- shared networks ---------------------------------------------------------------------------


def shared_settings(first="wire-1", second="wire-1"):
    values = settings()
    values["dhcpd_subnets"][1]["shared_network"] = first
    values["dhcpd_subnets"].append(dict(SHARED_EXTRA, shared_network=second))
    return values


def test_shared_network_names_are_model_data():
    model, errors = build(shared_settings("wire-2", "wire-1"))
    assert errors == []
    assert [subnet["shared_network"] for subnet in model["subnets"]] == [None, "wire-2", "wire-1"]
    assert model["shared_networks"] == ["wire-2", "wire-1"]
    assert build()[0]["shared_networks"] == []


@pytest.mark.parametrize("name", ["wire 1", 'wire"', "wire\n", "x" * 65, 7, ["wire-1"]])
def test_bad_shared_network_name_is_refused(name):
    error = only_error(shared_settings(second=name))
    assert error.startswith("dhcpd_subnets[2].shared_network=%s is invalid: expected 1 to 64 letters" % pair.show(name))


def test_subnets_of_one_shared_network_render_in_one_block():
    text = render(build(shared_settings())[0], "nblab-dhcp1")
    assert text.count("shared-network") == 1
    head, _sep, block = text.partition('shared-network "wire-1" {\n')
    block = block.split("\n}\n", 1)[0]
    # Indented inside the block; the subnet without a name stays outside it.
    assert re.findall(r"^  subnet (\S+) ", block, re.MULTILINE) == ["198.18.12.0", "198.18.14.0"]
    assert re.findall(r"^subnet (\S+) ", head, re.MULTILINE) == ["198.18.10.0"]
    assert "198.18.10.0" not in block


def test_no_shared_network_block_without_names():
    assert "shared-network" not in render(build()[0], "nblab-dhcp1")
