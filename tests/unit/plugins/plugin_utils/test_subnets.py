"""plugins/plugin_utils/subnets.py and the subnet_errors filter: one bad definition per row."""

import copy

import pytest
from ansible.errors import AnsibleError, AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter.subnet_errors import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import subnets

subnet_errors = FilterModule().filters()["subnet_errors"]
SERVERS = ["198.18.10.2", "198.18.10.3"]
VALID = [
    {
        "network": "198.18.10.0/24",
        "routers": ["198.18.10.1"],
        "pools": [
            {"range": "198.18.10.100 198.18.10.149"},
            {"range": ["198.18.10.150 198.18.10.179", "198.18.10.200 198.18.10.254"], "failover": True},
        ],
        "reservations": [
            {"name": "pxe-01", "mac": "52:54:00:12:34:56", "ip": "198.18.10.20"},
            {"name": "pxe-02.lab", "mac": "5254.0012.3457", "ip": "198.18.10.21"},
        ],
        "domain_name": "lab.example",  # keys of the roles are not this filter's business
    },
    {"network": "198.18.11.0/25", "pools": [{"range": "198.18.11.10 198.18.11.126"}]},
    {"network": "198.18.12.0/24"},
]


def test_valid_definition_has_no_errors():
    assert subnet_errors(VALID, server_addresses=SERVERS) == []


def test_valid_definition_without_failover():
    plain = copy.deepcopy(VALID)
    del plain[0]["pools"][1]["failover"]
    assert subnet_errors(plain, server_addresses=SERVERS, failover=False) == []


def test_empty_list_is_valid_without_failover():
    assert subnet_errors([], failover=False) == []


def mutated(change):
    data = copy.deepcopy(VALID)
    change(data)
    return data


def setter(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def appender(path, value):
    def change(data):
        target = data
        for key in path:
            target = target[key]
        target.append(value)

    return change


P0 = "dhcpd_subnets[0]"
BAD = [
    # invalid network
    ("no network", setter([2], {"pools": []}),
     "dhcpd_subnets[2]: {'pools': []} has no \"network\" (expected e.g. network: 198.18.10.0/24)"),
    ("not an address", setter([1, "network"], "198.18.300.0/24"),
     "dhcpd_subnets[1].network: '198.18.300.0/24' is not a network: '198.18.300.0' is not an IPv4 address"),
    ("no prefix", setter([2, "network"], "198.18.12.0"),
     "dhcpd_subnets[2].network: '198.18.12.0' is not a network: expected an IPv4 network with prefix"),
    ("prefix too long", setter([2, "network"], "198.18.12.0/31"),
     "dhcpd_subnets[2].network: '198.18.12.0/31' has an invalid prefix length '31': expected /8 to /30"),
    ("prefix junk", setter([2, "network"], "198.18.12.0/x"),
     "dhcpd_subnets[2].network: '198.18.12.0/x' has an invalid prefix length 'x'"),
    ("host bits", setter([2, "network"], "198.18.12.7/24"),
     "dhcpd_subnets[2].network: '198.18.12.7/24' has host bits set: the network address of 198.18.12.7/24 "
     "is 198.18.12.0/24"),
    ("ipv6", setter([2, "network"], "2001:db8::/64"),
     "dhcpd_subnets[2].network: '2001:db8::/64' is not a network: '2001:db8::' is not an IPv4 address"),
    ("not a string", setter([2, "network"], 42), "dhcpd_subnets[2].network: 42 is not a network"),
    ("subnet not a dict", setter([2], "198.18.12.0/24"),
     "dhcpd_subnets[2]: '198.18.12.0/24' is not a subnet definition"),
    # duplicate and overlapping subnets
    ("duplicate subnet", setter([2, "network"], "198.18.11.0/25"),
     "dhcpd_subnets[2].network: '198.18.11.0/25' duplicates dhcpd_subnets[1].network"),
    ("overlapping subnet", setter([2, "network"], "198.18.8.0/22"),
     "dhcpd_subnets[2].network: '198.18.8.0/22' overlaps dhcpd_subnets[0].network (198.18.10.0/24)"),
    # ranges
    ("start after end", setter([1, "pools", 0, "range"], "198.18.11.100 198.18.11.10"),
     "dhcpd_subnets[1].pools[0].range: '198.18.11.100 198.18.11.10' starts after it ends "
     "(198.18.11.100 > 198.18.11.10)"),
    ("range outside", setter([1, "pools", 0, "range"], "198.18.11.100 198.18.11.200"),
     "dhcpd_subnets[1].pools[0].range: '198.18.11.100 198.18.11.200' is outside the subnet 198.18.11.0/25"),
    ("range with network address", setter([1, "pools", 0, "range"], "198.18.11.0 198.18.11.20"),
     "dhcpd_subnets[1].pools[0].range: '198.18.11.0 198.18.11.20' contains the network address 198.18.11.0 "
     "of 198.18.11.0/25"),
    ("range with broadcast", setter([1, "pools", 0, "range"], "198.18.11.10 198.18.11.127"),
     "dhcpd_subnets[1].pools[0].range: '198.18.11.10 198.18.11.127' contains the broadcast address "
     "198.18.11.127 of 198.18.11.0/25"),
    ("range one word", setter([1, "pools", 0, "range"], "198.18.11.10"),
     "dhcpd_subnets[1].pools[0].range: '198.18.11.10' is not a range: expected \"START END\""),
    ("range dict", setter([1, "pools", 0, "range"], {"start": "198.18.11.10", "end": "198.18.11.20"}),
     "dhcpd_subnets[1].pools[0].range: {'start': '198.18.11.10', 'end': '198.18.11.20'} is not a range"),
    ("range bad address", setter([1, "pools", 0, "range"], "198.18.11.10 198.18.11.x"),
     "dhcpd_subnets[1].pools[0].range: '198.18.11.x' is not an IPv4 address"),
    ("empty range list", setter([1, "pools", 0, "range"], []),
     "dhcpd_subnets[1].pools[0].range: [] is empty"),
    ("pool without range", setter([1, "pools", 0], {"failover": True}),
     "dhcpd_subnets[1].pools[0]: {'failover': True} has no \"range\""),
    ("pool not a dict", setter([1, "pools", 0], "198.18.11.10 198.18.11.20"),
     "dhcpd_subnets[1].pools[0]: '198.18.11.10 198.18.11.20' is not a pool"),
    ("pools not a list", setter([1, "pools"], {"range": "198.18.11.10 198.18.11.20"}),
     "dhcpd_subnets[1].pools: {'range': '198.18.11.10 198.18.11.20'} is not a list"),
    # overlapping ranges
    ("overlap within a pool",
     setter([0, "pools", 1, "range"], ["198.18.10.150 198.18.10.179", "198.18.10.170 198.18.10.180"]),
     P0 + ".pools[1].range[1]: '198.18.10.170 198.18.10.180' overlaps dhcpd_subnets[0].pools[1].range[0] "
     "('198.18.10.150 198.18.10.179')"),
    ("overlap across pools", appender([0, "pools"], {"range": "198.18.10.140 198.18.10.140"}),
     P0 + ".pools[2].range: '198.18.10.140 198.18.10.140' overlaps dhcpd_subnets[0].pools[0].range "
     "('198.18.10.100 198.18.10.149')"),
    ("overlap across subnets",
     setter([2], {"network": "198.18.11.0/24", "pools": [{"range": "198.18.11.50 198.18.11.60"}]}),
     "dhcpd_subnets[2].pools[0].range: '198.18.11.50 198.18.11.60' overlaps dhcpd_subnets[1].pools[0].range "
     "('198.18.11.10 198.18.11.126')"),
    # routers
    ("router in range", setter([0, "routers"], ["198.18.10.120"]),
     P0 + ".routers[0]: '198.18.10.120' is inside the dynamic range dhcpd_subnets[0].pools[0].range "
     "('198.18.10.100 198.18.10.149'): dhcpd could lease this router address to a client"),
    ("router off subnet", setter([0, "routers"], ["198.18.11.1"]),
     P0 + ".routers[0]: '198.18.11.1' is outside the subnet 198.18.10.0/24"),
    ("router broadcast", setter([0, "routers"], ["198.18.10.255"]),
     P0 + ".routers[0]: '198.18.10.255' is the broadcast address of 198.18.10.0/24"),
    ("router not an address", setter([0, "routers"], ["gateway"]),
     P0 + ".routers[0]: 'gateway' is not an IPv4 address"),
    ("routers a string", setter([0, "routers"], "198.18.10.1"),
     P0 + ".routers: '198.18.10.1' is not a list"),
    # reservations
    ("reservation in range", setter([0, "reservations", 0, "ip"], "198.18.10.160"),
     P0 + ".reservations[0].ip: '198.18.10.160' is inside the dynamic range dhcpd_subnets[0].pools[1].range[0] "
     "('198.18.10.150 198.18.10.179'): dhcpd could lease this fixed address to a client"),
    ("reservation off subnet", setter([0, "reservations", 0, "ip"], "198.18.11.20"),
     P0 + ".reservations[0].ip: '198.18.11.20' is outside the subnet 198.18.10.0/24"),
    ("reservation network address", setter([0, "reservations", 0, "ip"], "198.18.10.0"),
     P0 + ".reservations[0].ip: '198.18.10.0' is the network address of 198.18.10.0/24"),
    ("reservation bad mac", setter([0, "reservations", 0, "mac"], "52:54:00:12:34"),
     P0 + ".reservations[0].mac: '52:54:00:12:34' is invalid: invalid MAC address '52:54:00:12:34'"),
    ("reservation bad name", setter([0, "reservations", 0, "name"], "pxe 01"),
     P0 + ".reservations[0].name: 'pxe 01' is not a valid host name"),
    ("reservation name underscore only", setter([0, "reservations", 0, "name"], "_"),
     P0 + ".reservations[0].name: '_' is not a valid host name"),
    ("reservation missing keys", setter([0, "reservations", 0], {"name": "pxe-01"}),
     P0 + ".reservations[0]: {'name': 'pxe-01'} lacks mac, ip"),
    ("duplicate name", setter([0, "reservations", 1, "name"], "pxe-01"),
     P0 + ".reservations[1].name: 'pxe-01' duplicates dhcpd_subnets[0].reservations[0].name"),
    ("duplicate ip", setter([0, "reservations", 1, "ip"], "198.18.10.20"),
     P0 + ".reservations[1].ip: '198.18.10.20' duplicates dhcpd_subnets[0].reservations[0].ip"),
    ("duplicate mac", setter([0, "reservations", 1, "mac"], "52-54-00-12-34-56"),
     P0 + ".reservations[1].mac: '52-54-00-12-34-56' duplicates dhcpd_subnets[0].reservations[0].mac"),
    ("reservation is the router", setter([0, "reservations", 1, "ip"], "198.18.10.1"),
     P0 + ".reservations[1].ip: '198.18.10.1' is the router address dhcpd_subnets[0].routers[0]"),
    ("reservation is a server", setter([0, "reservations", 1, "ip"], "198.18.10.3"),
     P0 + ".reservations[1].ip: '198.18.10.3' is the DHCP server address server_addresses[1]"),
    # failover
    ("pool without failover", setter([1, "pools", 0, "failover"], False),
     "dhcpd_subnets[1].pools[0].failover: False leaves this pool without a failover peer although the pair "
     "uses failover"),
    ("failover not a bool", setter([1, "pools", 0, "failover"], "yes"),
     "dhcpd_subnets[1].pools[0].failover: 'yes' is not a boolean"),
]


@pytest.mark.parametrize("title, change, expected", BAD, ids=[row[0] for row in BAD])
def test_bad_definition_names_path_value_and_reason(title, change, expected):
    errors = subnet_errors(mutated(change), server_addresses=SERVERS)
    assert any(message.startswith(expected) for message in errors), "\n".join(errors)


@pytest.mark.parametrize(
    "servers, expected",
    [
        (["198.18.10.120"], "server_addresses[0]: '198.18.10.120' is inside the dynamic range "
                            "dhcpd_subnets[0].pools[0].range ('198.18.10.100 198.18.10.149'): dhcpd could lease "
                            "this server's own address to a client"),
        (["198.18.10.2", "dhcp1"], "server_addresses[1]: 'dhcp1' is not an IPv4 address"),
        ("198.18.10.2", "server_addresses: '198.18.10.2' is not a list"),
    ],
)
def test_bad_server_addresses(servers, expected):
    errors = subnet_errors(VALID, server_addresses=servers)
    assert any(message.startswith(expected) for message in errors), errors


def test_pool_asking_for_failover_when_the_pair_has_none():
    errors = subnet_errors(VALID, server_addresses=SERVERS, failover=False)
    assert errors == [
        "dhcpd_subnets[0].pools[1].failover: True asks for a failover peer but the pair is configured without "
        "failover"
    ]


def test_failover_without_any_pool_is_refused_like_dhcpd_does():
    errors = subnet_errors([{"network": "198.18.12.0/24"}])
    assert errors == [
        "dhcpd_subnets: ['198.18.12.0/24'] has no pool that uses failover: dhcpd refuses a failover peer without "
        "referring pools (give at least one subnet a pool, or set failover to false)"
    ]


def test_every_problem_is_reported_not_just_the_first():
    data = mutated(setter([0, "routers"], ["198.18.10.120", "198.18.11.1"]))
    data[1]["pools"][0]["range"] = "198.18.11.100 198.18.11.10"
    errors = subnet_errors(data, server_addresses=SERVERS)
    assert len(errors) == 3, errors


def test_custom_variable_name_in_paths():
    errors = subnet_errors([{"network": "nope/24"}], name="pxe_subnets", failover=False)
    assert errors[0].startswith("pxe_subnets[0].network: 'nope/24' is not a network")


def test_not_a_list():
    assert subnet_errors({"network": "198.18.10.0/24"}) == [
        "dhcpd_subnets: {'network': '198.18.10.0/24'} is not a list of subnet definitions "
        "(dicts with \"network\", \"pools\", ...)"
    ]


def test_failover_option_must_be_boolean():
    with pytest.raises(AnsibleFilterError, match="failover must be a boolean .* got 'yes'"):
        subnet_errors(VALID, failover="yes")


def test_missing_netaddr_names_the_package(monkeypatch):
    monkeypatch.setattr(subnets, "netaddr", None)
    monkeypatch.setattr(subnets, "NETADDR_IMPORT_ERROR", ImportError("No module named 'netaddr'"))
    with pytest.raises(AnsibleError, match='needs the Python package "netaddr" on the Ansible controller'):
        subnet_errors(VALID)
