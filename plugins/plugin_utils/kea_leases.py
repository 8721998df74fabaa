# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The active leases of a dhcpd failover pair as a Kea 2.2 memfile lease file (controller side).

``kea_leases_csv(primary, secondary, kea, now)`` takes both peers' lease files (the text, the
``parse()`` of plugins/module_utils/leases.py, or a ``lease_info`` result with ``records``), the
Kea configuration ``kea_config`` rendered from the same pair model (or its subnets) and the
moment of the cutover; it returns ``(csv_text, summary)`` and raises KeaLeasesError on a
conflict or on input it cannot read.

Which addresses carry over, decided as the lease audit (plugins/plugin_utils/audit.py) does:

* An address is HELD by a peer when the peer's last entry of it is ``active`` and its ``ends``
  is after ``now`` (or ``never``). The client is the ``uid`` when both entries have one, else
  the hardware address.
* Held by either peer: carried over. Only a peer that answered the client (or heard of it
  through a binding update) holds it, so a lease missing from the partner's file, or one the
  partner has not yet heard renewed, is still the client's. Leaving it out would let Kea hand
  the address to another client while its owner still uses it.
* Held by both for different clients: refused (KeaLeasesError), as the audit's ``held_by_two``.
* Held by both for the same client: the entry that changed last (``cltt``, else ``starts``; in
  the same second the one with ``cltt``, written by the peer that answered the client) gives
  the client and the hostname (else the other entry's: binding updates carry none); the expiry
  is the later of the two ``ends`` (the answering peer caps a lease at the MCLT, its partner
  keeps the expiry it acknowledged), so Kea never frees the address before either dhcpd would.
* Not held by anybody: not carried over, counted under the state of the entry that changed last
  (``expired`` for an active lease whose end has passed). Kea has no FREE or BACKUP ownership:
  every address without a lease is free for either Kea server, so those states have nothing to
  become.

A Kea lease row: the address, the hardware address (``hwaddr``, without its type), the client
identifier as colon hex (dhcpd writes the ``uid`` as a quoted string with octal escapes; the
parser already turns it into hex), ``valid_lifetime`` (``ends`` minus ``cltt``, else minus
``starts``; Kea derives its cltt as ``expire - valid_lifetime``), ``expire`` (``ends``, epoch
seconds), the ``subnet_id`` of the Kea subnet holding the address, no DNS updates, the
``client-hostname`` lowercased as Kea keeps it, state 0 (default: assigned) and no user context.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import time

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases

# src/lib/dhcpsrv/csv_lease_file4.cc (Kea 2.2) initColumns(); kea-dhcp4 2.2.0 writes this line
# into a new memfile.
HEADER = 'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context'
# Lease::STATE_DEFAULT: an assigned lease.
STATE_ASSIGNED = 0
# Lease::INFINITY_LFT: Kea's infinite lifetime, what dhcpd's "ends never" becomes.
INFINITE_LIFETIME = 0xffffffff
# ClientId::MIN_CLIENT_ID_LEN and MAX_CLIENT_ID_LEN (DUID::MAX_DUID_LEN), HWAddr::MAX_HWADDR_LEN.
CLIENT_ID_LENGTH = (2, 128)
MAX_HWADDR_LENGTH = 20
# CSVRow::escapeCharacters: the separator and the first character of the escape tag "&#x".
ESCAPED = {',': '&#x2c', '&': '&#x26'}
# Hostnames Kea reads back unchanged: printable ASCII (a control character or a newline would
# cut the row, and Kea escapes bytes above 127 as four hex digits that it cannot read back).
_HOSTNAME_RE = re.compile(r'^[\x20-\x7e]*$')
ROLES = ('primary', 'secondary')
NOT_CARRIED = ('Kea has no FREE or BACKUP ownership: an address nobody holds is free for either Kea '
               'server, so dhcpd\'s free, backup, expired, released, abandoned and reset addresses '
               'are not carried over')


class KeaLeasesError(ValueError):
    """A conflict between the peers, or input that is not a lease file or a Kea configuration."""


def _records(value, role):
    """{address: last entry} of one peer's lease file in any of the accepted shapes."""
    try:
        if isinstance(value, str):
            return leases.latest(leases.parse(value)['entries'])
        if isinstance(value, dict) and isinstance(value.get('entries'), list):
            return leases.latest(value['entries'])
        if isinstance(value, dict) and isinstance(value.get('records'), list):
            return leases.latest(value['records'])
        if isinstance(value, list) and all(isinstance(item, dict) and 'address' in item for item in value):
            return leases.latest(value)
    except leases.LeaseFileError as exc:
        raise KeaLeasesError('the %s lease file cannot be read: %s' % (role, exc)) from None
    if isinstance(value, dict) and (value.get('failed') or value.get('msg')):
        raise KeaLeasesError('the %s lease file was not read: %s' % (role, value.get('msg') or 'lease_info failed'))
    raise KeaLeasesError('the %s leases must be the lease file text, its parse or a lease_info result with '
                         'records: true, got %s' % (role, type(value).__name__))


def kea_subnets(kea):
    """[(network, id)] of a kea_config result, its config, its Dhcp4 document or a subnet4 list."""
    found = kea
    for key in ('config', 'dhcp4', 'Dhcp4'):
        if isinstance(found, dict) and key in found:
            found = found[key]
    if isinstance(found, dict):
        subnets = list(found.get('subnet4') or [])
        for shared in found.get('shared-networks') or []:
            subnets += shared.get('subnet4') or []
    elif isinstance(found, list):
        subnets = found
    else:
        subnets = None
    if not subnets or not all(isinstance(s, dict) and 'id' in s and 'subnet' in s for s in subnets):
        raise KeaLeasesError('expected the Kea configuration of netboot.dhcp_failover.kea_config (or its subnet4 '
                             'list) with at least one subnet, got %r' % (kea if kea is None else type(kea).__name__))
    try:
        return [(ipaddress.IPv4Network(s['subnet']), int(s['id'])) for s in subnets]
    except (ValueError, TypeError) as exc:
        raise KeaLeasesError('a Kea subnet is invalid: %s' % exc) from None


def _held(record, now):
    if record is None or record.get('binding_state') != 'active':
        return False
    ends = record.get('ends')
    return ends is None or ends > now


def _client(record):
    return record.get('uid') or record.get('hardware_address')


def _same_client(one, two):
    if one.get('uid') and two.get('uid'):
        return one['uid'] == two['uid']
    return bool(one.get('hardware_address')) and one.get('hardware_address') == two.get('hardware_address')


def _changed(record):
    for key in ('cltt', 'starts'):
        if record.get(key) is not None:
            return record[key]
    return 0


def _newest(records):
    """The entry that changed last. In the same second the answering peer's wins: only it writes
    cltt and client-hostname (a binding update carries neither)."""
    return max(records, key=lambda record: (_changed(record), record.get('cltt') is not None))


def _not_held_reason(records):
    """Why an address nobody holds is left out: the state of its newest entry."""
    newest = _newest(records)
    state = newest.get('binding_state') or 'unknown'
    if state == 'active':
        return 'expired'  # its end has passed: dhcpd writes "expired" when its timer runs
    return state


def _escape(text):
    return ''.join(ESCAPED.get(char, char) for char in text)


def _length(hex_text):
    return len(hex_text.split(':')) if hex_text else 0


def _row(address, chosen, ends, subnet_id, notes):
    hwaddr = chosen.get('hardware_address') or ''
    if _length(hwaddr) > MAX_HWADDR_LENGTH:
        notes.append('%s: hardware address %s is longer than Kea\'s %d bytes: left out of the row'
                     % (address, hwaddr, MAX_HWADDR_LENGTH))
        hwaddr = ''
    client_id = chosen.get('uid') or ''
    if client_id and not CLIENT_ID_LENGTH[0] <= _length(client_id) <= CLIENT_ID_LENGTH[1]:
        notes.append('%s: client identifier %s is not %d to %d bytes long, which Kea refuses (and Kea drops '
                     'such a client\'s packets): left out of the row' % ((address, client_id) + CLIENT_ID_LENGTH))
        client_id = ''
    if not hwaddr and not client_id:
        return None
    hostname = chosen.get('client_hostname') or ''
    if not _HOSTNAME_RE.match(hostname):
        notes.append('%s: client-hostname %r has bytes Kea cannot keep in its lease file: left out'
                     % (address, hostname))
        hostname = ''
    start = chosen.get('cltt') if chosen.get('cltt') is not None else chosen.get('starts')
    if ends is None:
        start = start if start is not None else 0
        lifetime, expire = INFINITE_LIFETIME, start + INFINITE_LIFETIME
    else:
        # A start after the end (clock steps) would make Kea's cltt later than its expiry.
        lifetime = max(0, ends - start) if start is not None else 0
        expire = ends
    return ','.join([address, hwaddr, client_id, str(lifetime), str(expire), str(subnet_id), '0', '0',
                     _escape(hostname.lower()), str(STATE_ASSIGNED), ''])


def _subnet_id(address, subnets):
    value = ipaddress.IPv4Address(address)
    for network, subnet_id in subnets:
        if value in network:
            return subnet_id
    return None


def kea_leases_csv(primary, secondary, kea, now=None):
    """``(csv_text, summary)``: the addresses either peer holds as Kea lease rows; see the docstring.

    ``summary``: ``exported`` (rows written), ``held_by`` ({both, primary, secondary}: who held
    the exported addresses), ``skipped`` ({reason: count}), ``skipped_addresses`` ({reason:
    [address, ...]}), ``notes`` (rows written without a field Kea cannot take), ``not_carried``
    (what Kea has no notion of) and ``lines`` (the same as text, for a playbook to print).
    """
    if now is None:
        now = time.time()
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise KeaLeasesError('now=%r is invalid: expected seconds since 1970' % (now,))
    subnets = kea_subnets(kea)
    peers = {'primary': _records(primary, 'primary'), 'secondary': _records(secondary, 'secondary')}
    addresses = sorted(set(peers['primary']) | set(peers['secondary']), key=leases.address_number)
    rows, notes, conflicts = [], [], []
    held_by = dict.fromkeys(('both',) + ROLES, 0)
    skipped = {}

    def skip(reason, address):
        skipped.setdefault(reason, []).append(address)

    for address in addresses:
        entries = dict((role, peers[role].get(address)) for role in ROLES)
        holders = [role for role in ROLES if _held(entries[role], now)]
        if not holders:
            skip(_not_held_reason([e for e in entries.values() if e is not None]), address)
            continue
        held = [entries[role] for role in holders]
        if len(held) == 2 and not _same_client(*held):
            conflicts.append('%s (%s on the primary, %s on the secondary)'
                             % (address, _client(held[0]), _client(held[1])))
            continue
        chosen = _newest(held)
        if not chosen.get('client_hostname'):
            named = [e for e in held if e.get('client_hostname')]
            chosen = dict(chosen, client_hostname=named[0]['client_hostname']) if named else chosen
        ends = None if any(e.get('ends') is None for e in held) else max(e['ends'] for e in held)
        subnet_id = _subnet_id(address, subnets)
        if subnet_id is None:
            skip('outside_kea_subnets', address)
            continue
        row = _row(address, chosen, ends, subnet_id, notes)
        if row is None:
            skip('no_client', address)
            continue
        rows.append(row)
        held_by['both' if len(held) == 2 else holders[0]] += 1
    if conflicts:
        raise KeaLeasesError('%d address(es) active on both peers for different clients, which Kea cannot hold '
                             'twice; run the lease audit and resolve them first: %s'
                             % (len(conflicts), ', '.join(conflicts)))
    summary = {
        'exported': len(rows),
        'held_by': held_by,
        'skipped': dict((reason, len(found)) for reason, found in sorted(skipped.items())),
        'skipped_addresses': dict(sorted(skipped.items())),
        'notes': notes,
        'not_carried': NOT_CARRIED,
        'now': now,
    }
    summary['lines'] = summary_lines(summary)
    return '\n'.join([HEADER] + rows) + '\n', summary


def summary_lines(summary):
    """What a playbook prints: one line of counts, the reasons, the notes."""
    held = summary['held_by']
    skipped = sum(summary['skipped'].values())
    lines = ['kea leases: %d active leases exported (held by both peers %d, by the primary only %d, by the '
             'secondary only %d), %d addresses not carried over'
             % (summary['exported'], held['both'], held['primary'], held['secondary'], skipped)]
    if summary['skipped']:
        lines.append('not carried over: %s' % ', '.join('%s %d' % item for item in summary['skipped'].items()))
    lines.append(summary['not_carried'])
    lines += summary['notes']
    return lines
