"""plugins/module_utils/dhcp_packet.py: frames checked by an independent decoder (scapy), probe MACs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import dhcp_packet as dp
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance as lb

MAC = "02:6e:62:00:00:07"


def scapy_options(pkt):
    return {opt[0]: opt[1] for opt in pkt[DHCP].options if isinstance(opt, tuple)}


def test_discover_frame_decodes_as_a_broadcast_discover_with_valid_checksums():
    frame = dp.discover_frame(MAC, 0xDEADBEEF)
    pkt = Ether(frame)
    assert pkt.src == MAC and pkt.dst == "ff:ff:ff:ff:ff:ff"
    assert (pkt[IP].src, pkt[IP].dst, pkt[UDP].sport, pkt[UDP].dport) == (dp.NO_ADDRESS, "255.255.255.255", 68, 67)
    # scapy recomputes checksums of a rebuilt copy: equal means ours were right.
    rebuilt = Ether(frame)
    del rebuilt[IP].chksum, rebuilt[UDP].chksum
    rebuilt = Ether(bytes(rebuilt))
    assert (pkt[IP].chksum, pkt[UDP].chksum) == (rebuilt[IP].chksum, rebuilt[UDP].chksum)
    bootp = pkt[BOOTP]
    assert (bootp.op, bootp.htype, bootp.hlen, bootp.xid, bootp.secs, bootp.flags) == (1, 1, 6, 0xDEADBEEF, 0, 0x8000)
    assert bytes(bootp.chaddr)[:6] == bytes.fromhex("026e62000007")
    assert bootp.ciaddr == dp.NO_ADDRESS
    options = scapy_options(pkt)
    assert options["message-type"] == 1
    assert "client_id" not in options  # the hash key is then chaddr, as probe_mac assumes
    assert "requested_addr" not in options and "server_id" not in options
    assert len(frame) - 14 - 20 - 8 >= 300


def test_discover_options_secs_flags_and_client_id():
    pkt = Ether(dp.discover_frame(MAC, 1, secs=7, broadcast=False, client_id="01:02:6e:62:00:00:07"))
    assert (pkt[BOOTP].secs, pkt[BOOTP].flags) == (7, 0)
    assert scapy_options(pkt)["client_id"] == bytes.fromhex("01026e62000007")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xid": -1}, "invalid xid"),
        ({"xid": 1 << 32}, "invalid xid"),
        ({"xid": 1, "secs": 70000}, "invalid secs"),
    ],
)
def test_discover_rejects_bad_fields(kwargs, message):
    with pytest.raises(dp.DhcpPacketError, match=message):
        dp.discover_payload(MAC, **kwargs)


def test_discover_rejects_bad_mac():
    with pytest.raises(lb.LoadBalanceError, match="invalid MAC address"):
        dp.discover_frame("02:6e:62", 1)


def offer_frame(xid=42, chaddr=MAC, server_id="198.18.100.2", yiaddr="198.18.100.150", message_type=2, **extra):
    options = [("message-type", message_type), ("lease_time", 120)]
    if server_id:
        options.append(("server_id", server_id))
    options.append("end")
    return bytes(
        Ether(src="52:54:00:00:00:02", dst="ff:ff:ff:ff:ff:ff")
        / IP(src="198.18.100.2", dst="255.255.255.255")
        / UDP(sport=67, dport=extra.get("dport", 68))
        / BOOTP(op=extra.get("op", 2), xid=xid, yiaddr=yiaddr, siaddr="198.18.100.2",
                chaddr=bytes.fromhex(chaddr.replace(":", "")) + b"\0" * 10, file=b"pxelinux.0")
        / DHCP(options=options)
    )  # fmt: skip


def test_parse_offer():
    reply = dp.parse_reply_frame(offer_frame())
    assert reply == {
        "kind": "offer", "xid": 42, "yiaddr": "198.18.100.150", "siaddr": "198.18.100.2", "chaddr": MAC,
        "htype": 1, "server_id": "198.18.100.2", "src_ip": "198.18.100.2", "src_mac": "52:54:00:00:00:02",
        "lease_time": 120, "file": "pxelinux.0",
    }  # fmt: skip


def test_parse_ack_and_missing_server_id():
    reply = dp.parse_reply_frame(offer_frame(message_type=5, server_id=None))
    assert reply["kind"] == "ack"
    assert reply["server_id"] == "198.18.100.2"  # the IP source stands in


@pytest.mark.parametrize(
    "frame",
    [
        offer_frame(op=1),  # a request (our own DISCOVER seen on the socket)
        offer_frame(dport=67),  # to a server
        offer_frame()[:100],  # truncated
        b"\0" * 12 + b"\x86\xdd" + b"\0" * 400,  # IPv6
    ],
)
def test_parse_ignores_what_is_not_a_reply(frame):
    assert dp.parse_reply_frame(frame) is None


def test_parse_options_pad_repeat_truncation():
    assert dp.parse_options(bytes([0, 0, 53, 1, 2, 255, 54, 4, 1, 2, 3, 4])) == {53: b"\x02"}
    # RFC 3396: a repeated option is one long option
    assert dp.parse_options(bytes([12, 2, 97, 98, 12, 1, 99])) == {12: b"abc"}
    assert dp.parse_options(bytes([53, 1, 2, 54, 4, 1, 2])) == {53: b"\x02"}
    assert dp.parse_options(bytes([53])) == {}


@pytest.mark.parametrize("split", [0, 1, 77, 128, 200, 255, 256, "ff:" * 31 + "00"])
@pytest.mark.parametrize("peer", ["primary", "secondary"])
def test_probe_mac_falls_in_the_bucket_and_is_locally_administered(split, peer):
    primary_buckets = sum(lb.bucket_is_primary(lb._hba_of(split), b) for b in range(256))
    if (peer == "primary" and primary_buckets == 0) or (peer == "secondary" and primary_buckets == 256):
        with pytest.raises(dp.DhcpPacketError, match="serves no hash bucket"):
            dp.probe_mac(split, peer)
        return
    mac = dp.probe_mac(split, peer)
    assert lb.lb_peer(split, mac=mac) == peer
    assert dp.is_locally_administered(mac)
    assert mac.startswith("02:6e:62:")
    assert dp.probe_mac(split, peer) == mac  # the same client every time


def test_probe_mac_split_128_vectors():
    # The first candidates are 02:6e:62:00:00:00, :01, ...: pinned so a change of choice shows.
    assert dp.probe_mac(128, "primary") == "02:6e:62:00:00:%02x" % next(
        n for n in range(256) if lb.lb_hash(bytes([2, 0x6E, 0x62, 0, 0, n])) < 128
    )
    assert dp.probe_mac(128, "secondary") == "02:6e:62:00:00:%02x" % next(
        n for n in range(256) if lb.lb_hash(bytes([2, 0x6E, 0x62, 0, 0, n])) >= 128
    )


def test_probe_mac_bad_input():
    with pytest.raises(dp.DhcpPacketError, match="peer must be primary or secondary"):
        dp.probe_mac(128, "backup")
    with pytest.raises(lb.LoadBalanceError, match="invalid split_or_hba"):
        dp.probe_mac(300, "primary")


@pytest.mark.parametrize(
    ("mac", "local"),
    [("02:00:00:00:00:01", True), ("06:00:00:00:00:01", True), ("00:16:3e:00:00:01", False),
     ("03:00:00:00:00:01", False), ("aa:bb:cc:dd:ee:ff", True), ("ab:bb:cc:dd:ee:ff", False)],
)  # fmt: skip
def test_is_locally_administered(mac, local):
    assert dp.is_locally_administered(mac) is local
