# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load-balancing arithmetic of ISC dhcpd 4.4 failover (RFC 3074).

Pure standard library: it is imported by filter plugins on the controller and by modules on
managed nodes, so it must stay importable on old target Pythons (no annotations, no f-strings).

Facts this encodes (checked against a real dhcpd, see tests/system/test_loadbalance_dhcpd.py):

* hash = Pearson hash with the RFC 3074 table; start value = key length mod 256; the key is
  walked from its LAST byte to its FIRST.
* key = the option 61 (client identifier) payload when the DISCOVER carries one, else the
  hardware address bytes (no htype byte).
* bucket b (0..255) belongs to the PRIMARY when bit ``1 << (b & 7)`` of ``hba[b >> 3]`` is set.
* ``split N`` sets buckets 0..N-1, i.e. the hba is a prefix bitmap.

Kea's HA hook (load-balancing mode) hashes the same key with the same function but assigns by
``hash % active servers`` (2: primary and secondary; backups do not count), index 0 being the
primary: even hashes go to the primary, odd ones to the secondary, whatever dhcpd's split was.
Checked against a real Kea 2.2 pair, see tests/system/test_loadbalance_kea.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import re

HBA_BYTES = 32
BUCKETS = 256
PRIMARY = 'primary'
SECONDARY = 'secondary'

# RFC 3074 section 6 permutation table. The same 256 bytes are embedded in the dhcpd binary
# (tests/system checks that), which is why it is kept as one hex string to compare easily.
_TABLE = bytearray(binascii.unhexlify(
    'fbaf77d7510e4fbf6731b58fba9d00e81f20373c983a11edae46a090dc5a39df'
    '3b03128c6fa6cbc486f37c5fdeb3c541b430240f6b2ee982a51e7ba1d1176110'
    '285bdb3d640ad26dfa7f168a1d6cf443cf09b2cc4a627ef9a774224dc1c87905'
    '14714723800db65e19e2e3c74b1b29f5e6e02be1b11a9b96d48eda73f1495869'
    '27723effc0c991d6a89edd949a7a0c5452a32c8be4eccdf2d90bbb929f4056ef'
    'c32a6ac67670b8ac5702ad75b0e5f7fd89b963a466932d42e7348dd3c2cef6ee'
    '386e4ef83ff0bd5d5c3335b713ab48322168654508fc53784c875536ca7dbcd5'
    '60eb88d0a281be849c262f0107fe1804d88359151c8525999550aa4406a9ea97'
))

_HEX_BYTE = re.compile(r'^[0-9a-fA-F]{1,2}$')
_MAC_SPELLINGS = (
    re.compile(r'^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$'),
    re.compile(r'^[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5}$'),
    re.compile(r'^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2}$'),
    re.compile(r'^[0-9a-fA-F]{12}$'),
)
MAC_HELP = ('a MAC address of 6 bytes written aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, '
            'aabb.ccdd.eeff or aabbccddeeff (any case)')
CLIENT_ID_HELP = ('a client identifier (option 61 payload) of 1 to 255 bytes written as colon-separated '
                  'hex, e.g. 01:aa:bb:cc:dd:ee:ff')
SPLIT_HELP = 'a split: an integer from 0 to 256 (the number of hash buckets the primary serves)'
HBA_HELP = ('an hba: exactly 32 bytes written as colon-separated hex '
            '(e.g. ff:ff:...:00, as dhcpd prints it)')
SHARE_HELP = 'a share: the percentage of clients the primary serves, a number from 0 to 100 (e.g. 30 or "30%")'


class LoadBalanceError(ValueError):
    """Bad input to the load-balancing helpers; the message names the value and what is valid."""


def _is_bytes(value):
    return isinstance(value, (bytes, bytearray))


def _parse_colon_hex(value):
    """Bytes of 'aa:b:CC' style text, or None when it is not colon-separated hex."""
    parts = value.split(':')
    if not all(_HEX_BYTE.match(part) for part in parts):
        return None
    return bytearray(int(part, 16) for part in parts)


def lb_hash(key):
    """RFC 3074 hash (0..255) of ``key`` (bytes), as dhcpd's failover code computes it."""
    if not _is_bytes(key):
        raise LoadBalanceError('lb_hash key must be bytes, got %s %r' % (type(key).__name__, key))
    value = len(key) % BUCKETS
    for byte in reversed(bytearray(key)):
        value = _TABLE[value ^ byte]
    return value


def parse_mac(mac):
    """The 6 bytes of a MAC address given in one of the usual spellings (or as 6 bytes)."""
    if _is_bytes(mac):
        if len(mac) != 6:
            raise LoadBalanceError('invalid MAC address %r: %d bytes, expected %s' % (bytes(mac), len(mac), MAC_HELP))
        return bytes(mac)
    if isinstance(mac, str):
        text = mac.strip()
        if any(spelling.match(text) for spelling in _MAC_SPELLINGS):
            return binascii.unhexlify(re.sub(r'[:.-]', '', text))
    raise LoadBalanceError('invalid MAC address %r: expected %s' % (mac, MAC_HELP))


def parse_client_id(client_id):
    """The bytes of a client identifier given as colon-separated hex (or as bytes)."""
    if _is_bytes(client_id):
        raw = bytes(client_id)
    elif isinstance(client_id, str):
        raw = _parse_colon_hex(client_id.strip())
        if raw is None:
            raise LoadBalanceError('invalid client identifier %r: expected %s' % (client_id, CLIENT_ID_HELP))
        raw = bytes(raw)
    else:
        raise LoadBalanceError('invalid client identifier %r (%s): expected %s'
                               % (client_id, type(client_id).__name__, CLIENT_ID_HELP))
    # Option 61 carries a one-byte length; RFC 2132 requires at least one byte of payload.
    if not 1 <= len(raw) <= 255:
        raise LoadBalanceError('invalid client identifier %r: %d bytes, expected %s'
                               % (client_id, len(raw), CLIENT_ID_HELP))
    return raw


def client_key(mac=None, client_id=None):
    """The bytes dhcpd hashes for a client: its identifier when it sends one, else its MAC.

    The MAC is validated even when a client identifier wins, so a typo never goes unnoticed.
    """
    if mac is None and client_id is None:
        raise LoadBalanceError('no client given: expected %s, or a client_id: %s' % (MAC_HELP, CLIENT_ID_HELP))
    mac_bytes = parse_mac(mac) if mac is not None else None
    if client_id is not None:
        return parse_client_id(client_id)
    return mac_bytes


def check_split(split):
    """``split`` as an int 0..256; decimal strings are accepted because Ansible extra vars are text."""
    value = split
    if isinstance(split, str) and re.match(r'^\s*[0-9]+\s*$', split):
        value = int(split)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BUCKETS:
        raise LoadBalanceError('invalid split %r: expected %s' % (split, SPLIT_HELP))
    return value


def parse_hba(hba):
    """The 32 bytes of an hba given as colon-separated hex text or as bytes."""
    if _is_bytes(hba):
        raw = bytearray(hba)
    elif isinstance(hba, str):
        raw = _parse_colon_hex(hba.strip())
        if raw is None:
            bad = [part for part in hba.strip().split(':') if not _HEX_BYTE.match(part)]
            raise LoadBalanceError('invalid hba %r: %r is not a hex byte; expected %s' % (hba, bad[0], HBA_HELP))
    else:
        raise LoadBalanceError('invalid hba %r (%s): expected %s' % (hba, type(hba).__name__, HBA_HELP))
    if len(raw) != HBA_BYTES:
        raise LoadBalanceError('invalid hba %r: %d bytes; expected %s' % (hba, len(raw), HBA_HELP))
    return bytes(raw)


def format_hba(raw):
    """Colon-separated lower-case hex, the way dhcpd writes an hba."""
    return ':'.join('%02x' % byte for byte in bytearray(raw))


def split_to_hba_bytes(split):
    split = check_split(split)
    raw = bytearray(HBA_BYTES)
    for bucket in range(split):
        raw[bucket >> 3] |= 1 << (bucket & 7)
    return bytes(raw)


def split_to_hba(split):
    """The hba dhcpd derives from ``split N``: buckets 0..N-1 set, least significant bit first."""
    return format_hba(split_to_hba_bytes(split))


def hba_to_split(hba):
    """The split whose hba this is, or None when the bitmap is not a prefix of set buckets."""
    raw = bytearray(parse_hba(hba))
    primary = [bucket_is_primary(raw, bucket) for bucket in range(BUCKETS)]
    split = primary.count(True)
    if primary != [True] * split + [False] * (BUCKETS - split):
        return None
    return split


def bucket_is_primary(hba_raw, bucket):
    return bool(bytearray(hba_raw)[bucket >> 3] & (1 << (bucket & 7)))


def _hba_of(split_or_hba):
    """Bytes of an hba from either a split (int or decimal text) or an hba (text or bytes)."""
    if isinstance(split_or_hba, (bytes, bytearray)):
        return parse_hba(split_or_hba)
    if isinstance(split_or_hba, str) and ':' in split_or_hba:
        return parse_hba(split_or_hba)
    try:
        return split_to_hba_bytes(split_or_hba)
    except LoadBalanceError:
        raise LoadBalanceError('invalid split_or_hba %r: expected %s, or %s'
                               % (split_or_hba, SPLIT_HELP, HBA_HELP)) from None


def lb_peer(split_or_hba, mac=None, client_id=None):
    """``primary`` or ``secondary``: which peer answers this client's DISCOVER in NORMAL state."""
    bucket = lb_hash(client_key(mac, client_id))
    return PRIMARY if bucket_is_primary(_hba_of(split_or_hba), bucket) else SECONDARY


def check_share(share):
    """A share (percent of clients to the primary) as a float 0..100; accepts 30, 30.5, '30', '30%'."""
    value = share
    if isinstance(share, str):
        text = share.strip()
        text = text[:-1].strip() if text.endswith('%') else text
        try:
            value = float(text)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise LoadBalanceError('invalid share %r: expected %s' % (share, SHARE_HELP))
    return float(value)


def share_to_split(share):
    """The split closest to ``share`` percent of the hash buckets (half a bucket rounds up)."""
    value = check_share(share)
    # int(x + 0.5) instead of round(): Python 3 rounds halves to even, which reads as a bug here.
    return int(value * BUCKETS / 100 + 0.5)


def split_to_share(split_or_hba):
    """Percentage of hash buckets the primary serves for a split or any hba (exact: n * 100 / 256)."""
    raw = bytearray(_hba_of(split_or_hba))
    buckets = sum(1 for bucket in range(BUCKETS) if bucket_is_primary(raw, bucket))
    return buckets * 100.0 / BUCKETS


# A Kea HA pair in load-balancing mode has exactly two active servers (primary and secondary).
KEA_ACTIVE_SERVERS = 2


# Kea builds a ClientId from option 61 and refuses one shorter than this (src/lib/dhcp/duid.h):
# such a DISCOVER is dropped by both servers, whichever the hash picks.
KEA_MIN_CLIENT_ID = 2


def kea_lb_peer(mac=None, client_id=None):
    """``primary`` or ``secondary``: which Kea server answers this client in load-balancing state."""
    key = client_key(mac, client_id)
    if client_id is not None and len(key) < KEA_MIN_CLIENT_ID:
        raise LoadBalanceError('client identifier %r has %d byte: Kea drops a client whose identifier is shorter '
                               'than %d bytes, so no server answers it' % (client_id, len(key), KEA_MIN_CLIENT_ID))
    index = lb_hash(key) % KEA_ACTIVE_SERVERS
    return PRIMARY if index == 0 else SECONDARY
