"""plugins/filter/loadbalance.py: the filters as Jinja calls them, and every error path."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter.loadbalance import FilterModule

FILTERS = FilterModule().filters()
HBA_128 = ":".join(["ff"] * 16 + ["00"] * 16)


def test_exposes_the_documented_filters():
    assert sorted(FILTERS) == sorted(
        ["split_to_hba", "hba_to_split", "lb_hash", "lb_peer", "kea_lb_peer", "share_to_split", "split_to_share"]
    )


def test_vectors_through_the_filters():
    assert FILTERS["lb_hash"]("00:00:00:00:00:01") == 153
    assert FILTERS["lb_hash"]("AA-BB-CC-DD-EE-FF") == 57
    assert FILTERS["lb_hash"]("aa:bb:cc:dd:ee:ff", client_id="01:aa:bb:cc:dd:ee:ff") == 102
    assert FILTERS["lb_hash"](None, client_id="01:aa:bb:cc:dd:ee:ff") == 102
    assert FILTERS["lb_peer"]("0000.0000.0001", 128) == "secondary"
    assert FILTERS["lb_peer"]("aabb.ccdd.eeff", HBA_128) == "primary"
    assert FILTERS["lb_peer"]("00:00:00:00:00:01", 128, client_id="01:aa:bb:cc:dd:ee:ff") == "primary"
    assert FILTERS["lb_peer"]("00:00:00:00:00:01", 154) == "primary"
    assert FILTERS["lb_peer"]("00:00:00:00:00:01", 153) == "secondary"


def test_kea_lb_peer_through_the_filter():
    # hash 153 (odd): Kea's secondary, although dhcpd with split 154 gives it to the primary.
    assert FILTERS["kea_lb_peer"]("00:00:00:00:00:01") == "secondary"
    assert FILTERS["lb_peer"]("00:00:00:00:00:01", 154) == "primary"
    assert FILTERS["kea_lb_peer"]("0000.0000.0002") == "primary"  # hash 102
    assert FILTERS["kea_lb_peer"]("aa:bb:cc:dd:ee:ff") == "secondary"  # hash 57
    assert FILTERS["kea_lb_peer"]("aa:bb:cc:dd:ee:ff", client_id="01:aa:bb:cc:dd:ee:ff") == "primary"  # 102
    assert FILTERS["kea_lb_peer"](None, client_id="01:aa:bb:cc:dd:ee:ff") == "primary"


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        (("zz:bb:cc:dd:ee:ff",), {}, "netboot.dhcp_failover.kea_lb_peer: invalid MAC address 'zz:bb:cc:dd:ee:ff'"),
        ((None,), {}, "no client given"),
        (("aa:bb:cc:dd:ee:ff",), {"client_id": "01:xy"}, "invalid client identifier '01:xy'"),
        (("aa:bb:cc:dd:ee:ff", 128), {}, "kea_lb_peer"),
    ],
)
def test_kea_lb_peer_errors(args, kwargs, expected):
    with pytest.raises(AnsibleFilterError, match=expected):
        FILTERS["kea_lb_peer"](*args, **kwargs)


def test_conversions_through_the_filters():
    assert FILTERS["split_to_hba"](128) == HBA_128
    assert FILTERS["split_to_hba"]("128") == HBA_128
    assert FILTERS["hba_to_split"](HBA_128.upper()) == 128
    assert FILTERS["hba_to_split"](":".join(["55"] * 32)) is None
    assert FILTERS["share_to_split"](30) == 77
    assert FILTERS["split_to_share"](77) == 77 * 100 / 256
    assert FILTERS["split_to_share"](":".join(["55"] * 32)) == 50.0


@pytest.mark.parametrize(
    "name, args, kwargs, expected",
    [
        ("lb_peer", ("zz:bb:cc:dd:ee:ff", 128), {}, "invalid MAC address 'zz:bb:cc:dd:ee:ff'"),
        ("lb_peer", ("aa:bb:cc:dd:ee:ff", 257), {}, "invalid split_or_hba 257"),
        ("lb_peer", ("aa:bb:cc:dd:ee:ff", ":".join(["ff"] * 31)), {}, "31 bytes"),
        ("lb_peer", ("aa:bb:cc:dd:ee:ff", 128), {"client_id": "01:xy"}, "invalid client identifier '01:xy'"),
        ("lb_peer", (None, 128), {}, "no client given"),
        ("lb_peer", ("aa:bb:cc:dd:ee:ff",), {}, "split_or_hba"),
        ("lb_peer", ("aa:bb:cc:dd:ee:ff", 128), {"clientid": "01"}, "clientid"),
        ("lb_hash", ("aa:bb:cc:dd:ee",), {}, "invalid MAC address 'aa:bb:cc:dd:ee'"),
        ("lb_hash", (None,), {"client_id": ""}, "invalid client identifier ''"),
        ("split_to_hba", (257,), {}, "invalid split 257: expected a split: an integer from 0 to 256"),
        ("split_to_hba", ("-3",), {}, "invalid split '-3'"),
        ("hba_to_split", (":".join(["ff"] * 31),), {}, "31 bytes; expected an hba: exactly 32 bytes"),
        ("hba_to_split", (":".join(["ff"] * 31 + ["g0"]),), {}, "'g0' is not a hex byte"),
        ("hba_to_split", (None,), {}, "invalid hba None (NoneType)"),
        ("share_to_split", (101,), {}, "invalid share 101: expected a share"),
        ("share_to_split", ("30 percent",), {}, "invalid share '30 percent'"),
        ("split_to_share", (300,), {}, "invalid split_or_hba 300"),
    ],
)
def test_errors_become_filter_errors_naming_the_value(name, args, kwargs, expected):
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS[name](*args, **kwargs)
    message = str(err.value)
    assert message.startswith("netboot.dhcp_failover.%s: " % name)
    assert expected in message
