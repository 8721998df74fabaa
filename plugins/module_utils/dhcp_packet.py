# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DHCPv4 frames for the liveness probe (module dhcp_probe): a DISCOVER out, offers back.

Pure standard library and no I/O: the module owns the socket. It runs on managed nodes, so it
stays importable on old target Pythons (no annotations, no f-strings).

Only what a probe needs: an Ethernet + IPv4 + UDP frame carrying a BOOTREQUEST DHCPDISCOVER from
0.0.0.0:68 to 255.255.255.255:67, and the decoding of BOOTREPLY frames to port 68 (RFC 2131, RFC 2132).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance

ETH_P_IP = 0x0800
BROADCAST_MAC = b'\xff' * 6
MAGIC_COOKIE = b'\x63\x82\x53\x63'
BOOTREQUEST = 1
BOOTREPLY = 2
FLAG_BROADCAST = 0x8000
CLIENT_PORT = 68
SERVER_PORT = 67
# A client without an address sends from 0.0.0.0 (RFC 2131 4.1); nothing binds to it.
NO_ADDRESS = '0.0.0.0'  # noqa: S104
LIMITED_BROADCAST = '255.255.255.255'
MESSAGE_TYPES = {1: 'discover', 2: 'offer', 3: 'request', 4: 'decline', 5: 'ack', 6: 'nak',
                 7: 'release', 8: 'inform'}
OPT_PAD = 0
OPT_END = 255
OPT_MESSAGE_TYPE = 53
OPT_SERVER_ID = 54
OPT_LEASE_TIME = 51
OPT_PARAMETER_REQUEST = 55
OPT_CLIENT_ID = 61
# Locally administered (bit 0x02), unicast (bit 0x01 clear), and "nb" for netboot: a probe MAC
# can never be a real NIC's (those carry an IEEE OUI), and the lease file shows whose it is.
PROBE_MAC_PREFIX = b'\x02\x6e\x62'
PROBE_MAC_CANDIDATES = 1 << 24
PROBE_HELP = 'peer must be primary or secondary (whose hash bucket the probe client falls in)'


class DhcpPacketError(ValueError):
    """Bad input to the encoder (names the value and what is valid)."""


def _checksum(data):
    """RFC 1071 ones' complement sum, as IPv4 and UDP headers use it."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return (~total) & 0xffff


def is_locally_administered(mac):
    first = bytearray(loadbalance.parse_mac(mac))[0]
    return bool(first & 0x02) and not first & 0x01


def format_mac(raw):
    return ':'.join('%02x' % byte for byte in bytearray(raw))


def probe_mac(split_or_hba, peer):
    """The first MAC 02:6e:62:xx:xx:xx (counting up) whose DISCOVER the ``peer`` answers in NORMAL.

    Deterministic on purpose: every probe of a pair reuses the same client, so repeated probes
    reuse the one address dhcpd reserves for an offer instead of reserving a new one each time.
    """
    if peer not in (loadbalance.PRIMARY, loadbalance.SECONDARY):
        raise DhcpPacketError('invalid peer %r: %s' % (peer, PROBE_HELP))
    hba = bytearray(loadbalance._hba_of(split_or_hba))
    wanted = peer == loadbalance.PRIMARY
    if not any(loadbalance.bucket_is_primary(hba, bucket) == wanted for bucket in range(loadbalance.BUCKETS)):
        raise DhcpPacketError('the %s serves no hash bucket with split_or_hba %r: in NORMAL every client goes '
                              'to the other node, so there is no client of the %s to probe with'
                              % (peer, split_or_hba, peer))
    for counter in range(PROBE_MAC_CANDIDATES):
        raw = PROBE_MAC_PREFIX + struct.pack('!I', counter)[1:]
        if loadbalance.bucket_is_primary(hba, loadbalance.lb_hash(raw)) == wanted:
            return format_mac(raw)
    # Unreachable: 3 varying bytes reach every one of the 256 buckets.
    raise DhcpPacketError('no probe MAC found for the %s' % peer)


def discover_payload(mac, xid, secs=0, broadcast=True, client_id=None):
    """The BOOTP/DHCP payload of a DHCPDISCOVER for ``mac`` (no client identifier unless given)."""
    chaddr = loadbalance.parse_mac(mac)
    if not 0 <= xid <= 0xffffffff:
        raise DhcpPacketError('invalid xid %r: expected 0..4294967295' % (xid,))
    if not 0 <= secs <= 0xffff:
        raise DhcpPacketError('invalid secs %r: expected 0..65535' % (secs,))
    header = struct.pack(
        '!BBBBIHH4s4s4s4s16s64s128s',
        BOOTREQUEST, 1, 6, 0, xid, secs, FLAG_BROADCAST if broadcast else 0,
        b'\0' * 4, b'\0' * 4, b'\0' * 4, b'\0' * 4, chaddr + b'\0' * 10, b'', b'')
    options = bytearray(MAGIC_COOKIE)
    options += bytearray([OPT_MESSAGE_TYPE, 1, 1])
    if client_id is not None:
        raw_id = loadbalance.parse_client_id(client_id)
        options += bytearray([OPT_CLIENT_ID, len(raw_id)]) + bytearray(raw_id)
    requested = [1, 3, 6, 15, 51, 54]
    options += bytearray([OPT_PARAMETER_REQUEST, len(requested)] + requested)
    options.append(OPT_END)
    payload = header + bytes(options)
    # Some relays and old servers drop BOOTP messages under the historic 300-byte minimum.
    return payload + b'\0' * max(0, 300 - len(payload))


def udp_frame(src_mac, payload):
    """Ethernet + IPv4 + UDP around ``payload``, from a client without an address to every server,
    checksums filled in."""
    src = socket.inet_aton(NO_ADDRESS)
    dst = socket.inet_aton(LIMITED_BROADCAST)
    udp_len = 8 + len(payload)
    pseudo = src + dst + struct.pack('!BBH', 0, 17, udp_len)
    udp = struct.pack('!HHHH', CLIENT_PORT, SERVER_PORT, udp_len, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xffff
    udp = udp[:6] + struct.pack('!H', udp_sum) + udp[8:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0x10, 20 + udp_len, 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', _checksum(ip)) + ip[12:]
    return BROADCAST_MAC + loadbalance.parse_mac(src_mac) + struct.pack('!H', ETH_P_IP) + ip + udp


def discover_frame(mac, xid, secs=0, broadcast=True, client_id=None):
    """A complete broadcast DHCPDISCOVER frame from ``mac``, ready for a packet socket."""
    return udp_frame(mac, discover_payload(mac, xid, secs=secs, broadcast=broadcast, client_id=client_id))


def parse_options(data):
    """{code: bytes} of a DHCP options field (after the magic cookie); a truncated option ends it."""
    options = {}
    index = 0
    data = bytearray(data)
    while index < len(data):
        code = data[index]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            index += 1
            continue
        if index + 1 >= len(data):
            break
        length = data[index + 1]
        value = bytes(data[index + 2:index + 2 + length])
        if len(value) < length:
            break
        # RFC 3396: a repeated option continues the first one.
        options[code] = options.get(code, b'') + value
        index += 2 + length
    return options


def parse_reply_frame(frame):
    """A dict describing a BOOTREPLY carried in an Ethernet/IPv4/UDP frame to port 68, else None.

    Keys: kind (offer, ack, nak, ... or bootp), xid, yiaddr, siaddr, chaddr, server_id (option 54,
    or the IP source when absent), src_ip, src_mac, lease_time (or None), file.
    """
    frame = bytes(frame)
    if len(frame) < 14 + 20 + 8 + 236 or struct.unpack('!H', frame[12:14])[0] != ETH_P_IP:
        return None
    ip = frame[14:]
    ihl = (bytearray(ip)[0] & 0x0f) * 4
    if bytearray(ip)[0] >> 4 != 4 or ihl < 20 or bytearray(ip)[9] != 17:
        return None
    udp = ip[ihl:]
    if len(udp) < 8 + 236:
        return None
    dst_port = struct.unpack('!H', udp[2:4])[0]
    if dst_port != CLIENT_PORT:
        return None
    bootp = udp[8:]
    op, htype, hlen = struct.unpack('!BBB', bootp[:3])
    if op != BOOTREPLY:
        return None
    xid = struct.unpack('!I', bootp[4:8])[0]
    yiaddr = socket.inet_ntoa(bootp[16:20])
    siaddr = socket.inet_ntoa(bootp[20:24])
    chaddr = bootp[28:28 + min(hlen, 16)]
    options = {}
    if len(bootp) >= 240 and bootp[236:240] == MAGIC_COOKIE:
        options = parse_options(bootp[240:])
    kind = 'bootp'
    if OPT_MESSAGE_TYPE in options and len(options[OPT_MESSAGE_TYPE]) == 1:
        kind = MESSAGE_TYPES.get(bytearray(options[OPT_MESSAGE_TYPE])[0], 'unknown')
    src_ip = socket.inet_ntoa(ip[12:16])
    server_id = src_ip
    if len(options.get(OPT_SERVER_ID, b'')) == 4:
        server_id = socket.inet_ntoa(options[OPT_SERVER_ID])
    lease_time = None
    if len(options.get(OPT_LEASE_TIME, b'')) == 4:
        lease_time = struct.unpack('!I', options[OPT_LEASE_TIME])[0]
    return dict(
        kind=kind, xid=xid, yiaddr=yiaddr, siaddr=siaddr, chaddr=format_mac(chaddr), htype=htype,
        server_id=server_id, src_ip=src_ip, src_mac=format_mac(frame[6:12]), lease_time=lease_time,
        file=bootp[108:236].split(b'\0', 1)[0].decode('latin-1'),
    )
