"""plugins/module_utils/loadbalance.py: vectors, round trips, properties, every error path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance as lb

# RFC 3074 section 6, transcribed here in decimal as the RFC prints it, independently of the
# hex string in the module (tests/system also finds the module's table inside the dhcpd binary).
RFC3074_TABLE = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232,
    31, 32, 55, 60, 152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223,
    59, 3, 18, 140, 111, 166, 203, 196, 134, 243, 124, 95, 222, 179, 197, 65,
    180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97, 16,
    40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67,
    207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5,
    20, 113, 71, 35, 128, 13, 182, 94, 25, 226, 227, 199, 75, 27, 41, 245,
    230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241, 73, 88, 105,
    39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84,
    82, 163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239,
    195, 42, 106, 198, 118, 112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253,
    137, 185, 99, 164, 102, 147, 45, 66, 231, 52, 141, 211, 194, 206, 246, 238,
    56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171, 72, 50,
    33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213,
    96, 235, 136, 208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4,
    216, 131, 89, 21, 28, 133, 37, 153, 149, 80, 170, 68, 6, 169, 234, 151,
]


def reference_hash(key):
    """RFC 3074 as written: h = len mod 256, then for i = len-1 down to 0: h = T[h xor key[i]]."""
    h = len(key) % 256
    i = len(key) - 1
    while i >= 0:
        h = RFC3074_TABLE[h ^ key[i]]
        i -= 1
    return h


def reference_primary(hba_bytes, bucket):
    """Bit `bucket` of the hba read as one little-endian 256-bit number."""
    return (int.from_bytes(hba_bytes, "little") >> bucket) & 1 == 1


macs = st.binary(min_size=6, max_size=6)
splits = st.integers(min_value=0, max_value=256)


def test_reference_table_is_a_permutation():
    assert sorted(RFC3074_TABLE) == list(range(256))


# FAILOVER-FACTS.md vectors, measured on dhcpd 4.4.3-P1.
@pytest.mark.parametrize(
    "mac, client_id, bucket, peer",
    [
        ("00:00:00:00:00:01", None, 153, "secondary"),
        ("aa:bb:cc:dd:ee:ff", None, 57, "primary"),
        ("aa:bb:cc:dd:ee:ff", "01:aa:bb:cc:dd:ee:ff", 102, "primary"),
        (None, "01:aa:bb:cc:dd:ee:ff", 102, "primary"),
    ],
)
def test_failover_facts_vectors(mac, client_id, bucket, peer):
    assert lb.lb_hash(lb.client_key(mac, client_id)) == bucket
    assert lb.lb_peer(128, mac=mac, client_id=client_id) == peer
    assert lb.lb_peer(lb.split_to_hba(128), mac=mac, client_id=client_id) == peer


def test_empty_key_hashes_to_zero():
    assert lb.lb_hash(b"") == 0


@given(st.binary(max_size=300))
def test_hash_matches_reference(key):
    assert lb.lb_hash(key) == reference_hash(key)
    assert lb.lb_hash(bytearray(key)) == reference_hash(key)


@given(macs)
def test_every_mac_spelling_hashes_alike(raw):
    text = raw.hex()
    spellings = [
        ":".join(text[i:i + 2] for i in range(0, 12, 2)),
        "-".join(text[i:i + 2] for i in range(0, 12, 2)),
        ".".join(text[i:i + 4] for i in range(0, 12, 4)),
        text,
    ]
    expected = reference_hash(raw)
    for spelling in spellings + [s.upper() for s in spellings]:
        assert lb.parse_mac(spelling) == raw
        assert lb.lb_hash(lb.client_key(spelling)) == expected


@given(macs, splits)
def test_split_gives_the_buckets_below_it_to_the_primary(raw, split):
    mac = ":".join("%02x" % b for b in raw)
    expected = "primary" if reference_hash(raw) < split else "secondary"
    assert lb.lb_peer(split, mac=mac) == expected
    assert lb.lb_peer(str(split), mac=mac) == expected


@given(macs, st.binary(min_size=32, max_size=32))
def test_any_hba_decides_by_its_bit(raw, hba):
    mac = raw.hex()
    expected = "primary" if reference_primary(hba, reference_hash(raw)) else "secondary"
    assert lb.lb_peer(hba, mac=mac) == expected
    assert lb.lb_peer(":".join("%02X" % b for b in hba), mac=mac) == expected


@given(macs, st.binary(min_size=1, max_size=255), splits)
def test_client_id_wins_over_the_mac(raw, client_id, split):
    text = ":".join("%02x" % b for b in client_id)
    expected = "primary" if reference_hash(client_id) < split else "secondary"
    assert lb.lb_peer(split, mac=raw.hex(), client_id=text) == expected
    assert lb.lb_peer(split, client_id=client_id) == expected


def test_split_128_is_sixteen_ff_then_sixteen_00():
    assert lb.split_to_hba(128) == ":".join(["ff"] * 16 + ["00"] * 16)
    assert lb.split_to_hba(0) == ":".join(["00"] * 32)
    assert lb.split_to_hba(256) == ":".join(["ff"] * 32)
    # Bucket 0 is the least significant bit of byte 0.
    assert lb.split_to_hba(1).startswith("01:00:")
    assert lb.split_to_hba(9).startswith("ff:01:00:")


@pytest.mark.parametrize("split", range(257))
def test_split_hba_round_trip(split):
    hba = lb.split_to_hba(split)
    assert len(hba.split(":")) == 32
    assert hba == hba.lower()
    assert lb.hba_to_split(hba) == split
    assert lb.hba_to_split(hba.upper()) == split
    assert lb.hba_to_split(bytes.fromhex(hba.replace(":", ""))) == split
    assert bin(int.from_bytes(bytes.fromhex(hba.replace(":", "")), "little")).count("1") == split


@given(st.binary(min_size=32, max_size=32))
def test_hba_to_split_only_for_prefixes(hba):
    number = int.from_bytes(hba, "little")
    is_prefix = number & (number + 1) == 0  # 0b0..01..1
    result = lb.hba_to_split(hba)
    if is_prefix:
        assert result == bin(number).count("1")
    else:
        assert result is None


def test_hba_bytes_of_one_hex_digit_are_accepted():
    # dhcpd.conf accepts "0" for "00"; dhcpd itself always writes two digits.
    assert lb.hba_to_split(":".join(["ff"] * 16 + ["0"] * 16)) == 128
    assert lb.hba_to_split(":".join(["1"] + ["0"] * 31)) == 1


@pytest.mark.parametrize("split", range(257))
def test_share_round_trip(split):
    share = lb.split_to_share(split)
    assert share == split * 100 / 256
    assert lb.share_to_split(share) == split
    assert lb.share_to_split("%r%%" % share) == split
    assert lb.split_to_share(lb.split_to_hba(split)) == share


@given(st.floats(min_value=0, max_value=100))
def test_share_to_split_is_nearest(share):
    split = lb.share_to_split(share)
    assert 0 <= split <= 256
    assert abs(split * 100 / 256 - share) <= 50 / 256 + 1e-9


def test_share_examples():
    assert lb.share_to_split(30) == 77
    assert lb.share_to_split("30%") == 77
    assert lb.share_to_split(" 50 % ") == 128
    assert lb.share_to_split(0) == 0
    assert lb.share_to_split(100) == 256
    assert lb.split_to_share(":".join(["55"] * 32)) == 50.0


@pytest.mark.parametrize(
    "mac",
    [
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:ff:00",
        "aa:bb:cc:dd:ee:gg",
        "aa:bb-cc:dd:ee:ff",
        "aabb.ccdd.eef",
        "a:b:c:d:e:f",
        "",
        "aa bb cc dd ee ff",
        17,
        b"\x00\x01",
    ],
)
def test_bad_mac(mac):
    with pytest.raises(lb.LoadBalanceError) as err:
        lb.lb_peer(128, mac=mac)
    message = str(err.value)
    assert repr(mac) in message or repr(bytes(mac)) in message
    assert "aa:bb:cc:dd:ee:ff" in message  # says what is valid


def test_bad_mac_is_reported_even_with_a_client_id():
    with pytest.raises(lb.LoadBalanceError, match="invalid MAC address 'nope'"):
        lb.lb_peer(128, mac="nope", client_id="01:aa:bb:cc:dd:ee:ff")


def test_no_client_at_all():
    with pytest.raises(lb.LoadBalanceError, match="no client given"):
        lb.lb_peer(128)


@pytest.mark.parametrize("client_id", ["", "01:zz", "01::02", "0102", ":".join(["00"] * 256), b"", 42])
def test_bad_client_id(client_id):
    with pytest.raises(lb.LoadBalanceError) as err:
        lb.lb_peer(128, client_id=client_id)
    assert "invalid client identifier" in str(err.value)
    assert "colon-separated hex" in str(err.value)


@pytest.mark.parametrize("split", [257, -1, "257", "-1", "abc", 1.5, True, None, [128]])
def test_bad_split(split):
    with pytest.raises(lb.LoadBalanceError) as err:
        lb.split_to_hba(split)
    assert str(err.value) == "invalid split %r: expected %s" % (split, lb.SPLIT_HELP)
    assert "0 to 256" in str(err.value)


@pytest.mark.parametrize(
    "hba, why",
    [
        (":".join(["ff"] * 31), "31 bytes"),
        (":".join(["ff"] * 33), "33 bytes"),
        (":".join(["ff"] * 31 + ["zz"]), "'zz' is not a hex byte"),
        (":".join(["ff"] * 31 + ["fff"]), "'fff' is not a hex byte"),
        (":".join(["ff"] * 31 + [""]), "'' is not a hex byte"),
        ("ff" * 32, "is not a hex byte"),
        ("", "'' is not a hex byte"),
        (b"\xff" * 31, "31 bytes"),
        (128, "(int)"),
    ],
)
def test_bad_hba(hba, why):
    with pytest.raises(lb.LoadBalanceError) as err:
        lb.hba_to_split(hba)
    message = str(err.value)
    assert message.startswith("invalid hba %r" % (hba,))
    assert why in message
    assert "exactly 32 bytes" in message


@pytest.mark.parametrize("value", [257, "x", ":".join(["ff"] * 31), b"\x00" * 33, None])
def test_bad_split_or_hba(value):
    with pytest.raises(lb.LoadBalanceError) as err:
        lb.lb_peer(value, mac="aa:bb:cc:dd:ee:ff")
    message = str(err.value)
    assert repr(value) in message or repr(bytes(value)) in message
    assert "hba" in message


@pytest.mark.parametrize("share", [-1, 100.5, "101%", "abc", "", True, None, float("nan")])
def test_bad_share(share):
    with pytest.raises(lb.LoadBalanceError) as err:
        lb.share_to_split(share)
    assert str(err.value) == "invalid share %r: expected %s" % (share, lb.SHARE_HELP)


def test_lb_hash_wants_bytes():
    with pytest.raises(lb.LoadBalanceError, match="must be bytes"):
        lb.lb_hash("aa:bb:cc:dd:ee:ff")


def test_errors_are_value_errors():
    assert issubclass(lb.LoadBalanceError, ValueError)


# --- Kea HA load-balancing (src/hooks/dhcp/high_availability/query_filter.cc) ------------------


@given(macs, st.one_of(st.none(), st.binary(min_size=2, max_size=255)))
def test_kea_peer_is_the_reference_hash_modulo_two(mac, client_id):
    key = client_id if client_id is not None else mac
    want = "primary" if reference_hash(key) % 2 == 0 else "secondary"
    assert lb.kea_lb_peer(mac=mac, client_id=client_id) == want


def test_kea_client_id_decides_over_the_mac():
    # The MAC alone hashes to 57 (secondary); "01" + MAC hashes to 102 (primary).
    assert lb.kea_lb_peer(mac="aa:bb:cc:dd:ee:ff") == "secondary"
    assert lb.kea_lb_peer(mac="aa:bb:cc:dd:ee:ff", client_id="01:aa:bb:cc:dd:ee:ff") == "primary"
    assert lb.kea_lb_peer(client_id="01:aa:bb:cc:dd:ee:ff") == "primary"


def test_kea_and_dhcpd_disagree_on_some_clients():
    # The migration caveat: hash 153 is below dhcpd's split 154 (primary) but odd for Kea.
    mac = "00:00:00:00:00:01"
    assert lb.lb_hash(lb.client_key(mac)) == 153
    assert (lb.lb_peer(154, mac=mac), lb.kea_lb_peer(mac=mac)) == ("primary", "secondary")


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, "no client given"),
        ({"mac": "aa:bb:cc:dd:ee"}, "invalid MAC address"),
        ({"mac": "aa:bb:cc:dd:ee:ff", "client_id": ""}, "invalid client identifier"),
        ({"mac": "zz:bb:cc:dd:ee:ff", "client_id": "01:aa"}, "invalid MAC address"),
        # Measured on Kea 2.2: a one-byte identifier gets no answer from either server.
        ({"mac": "aa:bb:cc:dd:ee:ff", "client_id": "2a"}, "'2a' has 1 byte: Kea drops a client"),
        ({"client_id": b"\x01"}, "shorter than 2 bytes"),
    ],
)
def test_kea_bad_clients_are_refused(kwargs, expected):
    with pytest.raises(lb.LoadBalanceError, match=expected):
        lb.kea_lb_peer(**kwargs)
