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


# --- Back to dhcpd: Kea's memfile as dhcpd lease entries (playbooks/migrate_to_kea.yml rollback) ----

# Lease::STATE_DEFAULT, STATE_DECLINED, STATE_EXPIRED_RECLAIMED.
KEA_STATES = {0: 'assigned', 1: 'declined', 2: 'expired-reclaimed'}
_KEA_ESCAPE = re.compile(r'&#x([0-9a-fA-F]{2})')
_MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')
_HEX_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2})*$')


def _kea_rows(text, where):
    """{address: row dict} of one memfile (the last row of an address wins; Kea appends)."""
    if not isinstance(text, str):
        raise KeaLeasesError('%s: expected the text of a Kea memfile, got %s' % (where, type(text).__name__))
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    columns = lines[0].split(',')
    missing = [name for name in ('address', 'hwaddr', 'client_id', 'valid_lifetime', 'expire', 'subnet_id',
                                 'hostname', 'state') if name not in columns]
    if missing:
        raise KeaLeasesError('%s: the first line is not a Kea lease4 memfile header (no %s): %r'
                             % (where, ', '.join(missing), lines[0][:120]))
    rows = {}
    for number, line in enumerate(lines[1:], start=2):
        values = line.split(',')
        if len(values) != len(columns):
            raise KeaLeasesError('%s line %d: %d fields, the header has %d'
                                 % (where, number, len(values), len(columns)))
        row = dict(zip(columns, (_KEA_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), v) for v in values)))
        try:
            ipaddress.IPv4Address(row['address'])
            row['valid_lifetime'] = int(row['valid_lifetime'])
            row['expire'] = int(row['expire'])
            row['state'] = int(row['state'] or 0)
        except ValueError as exc:
            raise KeaLeasesError('%s line %d: %s' % (where, number, exc)) from None
        row['hwaddr'] = row['hwaddr'].lower()
        row['client_id'] = row['client_id'].lower()
        rows[row['address']] = row
    return rows


def _kea_node(files, where):
    """The leases one Kea server would load from its memfile and the files of its lease file cleanup
    (LFC), given in Kea's load order (``.completed``, else ``.2`` and ``.1``, then the file)."""
    if isinstance(files, str):
        files = [files]
    if isinstance(files, dict):
        files = _load_order(files)
    if not isinstance(files, (list, tuple)):
        raise KeaLeasesError('%s: expected a memfile text or a list of them, got %s' % (where, type(files).__name__))
    rows = {}
    for index, text in enumerate(files):
        for address, row in _kea_rows(text, '%s file %d' % (where, index + 1)).items():
            if row['valid_lifetime'] == 0:
                rows.pop(address, None)  # Kea writes a deleted lease as a row with lifetime 0
            else:
                rows[address] = row
    return rows


def _load_order(files):
    """[text] of {path: text} (the memfile and the files of its cleanup) in the order Kea loads
    them: ``.completed`` if present, else ``.2`` then ``.1``; then the memfile itself (the path
    without a suffix). ``.output`` is a cleanup in progress, which Kea does not read."""
    suffixes = ('.completed', '.2', '.1', '.output')
    if not files:
        return []  # Kea never ran there: no lease
    base = [path for path in files if not path.endswith(suffixes)]
    if len(base) != 1:
        raise KeaLeasesError('expected one memfile and the files of its cleanup (%s), got %s'
                             % (', '.join(suffixes), ', '.join(sorted(files)) or 'nothing'))
    base = base[0]
    order = [base + '.completed'] if base + '.completed' in files else [base + '.2', base + '.1']
    return [files[path] for path in order + [base] if path in files]


def _kea_held(row, now):
    if row['state'] != STATE_ASSIGNED:
        return False
    return row['valid_lifetime'] == INFINITE_LIFETIME or row['expire'] > now


def _kea_client(row):
    return row['client_id'] or row['hwaddr']


def _same_kea_client(one, two):
    if one['client_id'] and two['client_id']:
        return one['client_id'] == two['client_id']
    return bool(one['hwaddr']) and one['hwaddr'] == two['hwaddr']


def _dhcpd_time(epoch):
    moment = time.gmtime(epoch)
    return '%d %s' % ((moment.tm_wday + 1) % 7, time.strftime('%Y/%m/%d %H:%M:%S', moment))


def _dhcpd_string(text):
    """A dhcpd quoted string: printable ASCII as is, quotes, backslashes and other bytes in octal."""
    out = []
    for byte in text.encode('utf-8'):
        char = chr(byte)
        out.append(char if 0x20 <= byte < 0x7f and char not in '"\\' else '\\%03o' % byte)
    return '"%s"' % ''.join(out)


def _dhcpd_entry(row):
    """One dhcpd lease entry, as a peer that served the client and heard the partner agree writes it."""
    infinite = row['valid_lifetime'] == INFINITE_LIFETIME
    start = row['expire'] - row['valid_lifetime']
    ends = 'never' if infinite else _dhcpd_time(row['expire'])
    lines = ['lease %s {' % row['address'],
             '  starts %s;' % _dhcpd_time(start),
             '  ends %s;' % ends,
             # The partner acknowledged it: neither peer sends an update for it after the restart.
             '  tstp %s;' % ends, '  tsfp %s;' % ends, '  atsfp %s;' % ends,
             '  cltt %s;' % _dhcpd_time(start),
             '  binding state active;',
             '  next binding state expired;']
    if _MAC_RE.match(row['hwaddr']):
        lines.append('  hardware ethernet %s;' % row['hwaddr'])
    if row['client_id'] and _HEX_RE.match(row['client_id']):
        lines.append('  uid %s;' % row['client_id'])
    if row['hostname']:
        lines.append('  client-hostname %s;' % _dhcpd_string(row['hostname']))
    lines.append('}')
    return '\n'.join(lines)


def _dhcpd_pools(subnets):
    """[(first, last)] address numbers of the dhcpd pools of the pair model's subnets."""
    bounds = []
    for subnet in subnets or []:
        for pool in subnet.get('pools') or []:
            ranges = pool.get('ranges') or pool.get('range') or []
            for text in [ranges] if isinstance(ranges, str) else ranges:
                try:
                    bounds.append(leases.parse_range(text))
                except ValueError as exc:
                    raise KeaLeasesError('pool %r of %s: %s' % (text, subnet.get('network'), exc)) from None
    if not bounds:
        raise KeaLeasesError('expected the pair model\'s subnets (dhcpd_pair_info.subnets) with at least one pool')
    return bounds


def _kea_held_by_either(kea_files, now):
    """{address: row} of the leases either Kea server holds; the same client on both: the later
    expiry; different clients: KeaLeasesError naming them."""
    nodes = dict((host, _kea_node(files, host)) for host, files in sorted(kea_files.items()) if files is not None)
    chosen, conflicts = {}, []
    for host, rows in nodes.items():
        for address, row in rows.items():
            if not _kea_held(row, now):
                continue
            other = chosen.get(address)
            if other is None:
                chosen[address] = dict(row, host=host)
            elif not _same_kea_client(other, row):
                conflicts.append('%s (%s on %s, %s on %s)' % (address, _kea_client(other), other['host'],
                                                              _kea_client(row), host))
            elif row['expire'] > other['expire']:
                chosen[address] = dict(row, host=host)
    if conflicts:
        raise KeaLeasesError('%d address(es) held by the two Kea servers for different clients: %s'
                             % (len(conflicts), ', '.join(sorted(conflicts))))
    return chosen


def dhcpd_lease_entries(kea_files, exported=None, subnets=None, now=None):
    """``(text, summary)``: the leases Kea holds that dhcpd must learn, as dhcpd lease entries.

    ``kea_files``: {host: files} of both Kea servers, files a list of memfile texts in Kea's load
    order, or {path: text} of the memfile and its cleanup's files (put in that order here).
    ``exported``: the memfile written at the cutover (kea_leases_csv's csv), or None when unknown.
    ``subnets``: the pair model's subnets (dhcpd_pair_info.subnets). A host whose files are None
    was not read (a cutover that failed there before it got so far, or Ansible lost it): the
    other server's leases are carried alone (the HA peers send each other every lease), and the
    summary names it. At least one host must have been read. Rules:

    * A lease Kea holds (state assigned, not expired) on either server is a candidate; both
      servers holding one address for different clients is refused (KeaLeasesError); for the
      same client the later expiry wins.
    * Unchanged since the cutover (same client and expiry as the exported row): left out, the
      dhcpd lease files already hold it as it was.
    * Outside every dhcpd pool (a reservation: dhcpd gives it by its host declaration): left out.
    * Everything else (granted or renewed by Kea) becomes an active lease entry that both peers
      agree on (tsfp = ends), appended to dhcpd's lease file: a later entry of an address
      supersedes the earlier ones when dhcpd loads the file.

    A lease Kea released or let expire is not written: dhcpd's old entry stays until its own end
    (the address is only unavailable for a while, never given twice).
    """
    if now is None:
        now = time.time()
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise KeaLeasesError('now=%r is invalid: expected seconds since 1970' % (now,))
    if not isinstance(kea_files, dict) or not kea_files:
        raise KeaLeasesError('expected {host: [memfile text, ...]} of the Kea servers, got %r'
                             % (type(kea_files).__name__,))
    unread = sorted(host for host, files in kea_files.items() if files is None)
    if len(unread) == len(kea_files):
        raise KeaLeasesError('no Kea server\'s lease files were read (%s)' % ', '.join(unread))
    pools = _dhcpd_pools(subnets)
    chosen = _kea_held_by_either(kea_files, now)
    before = _kea_rows(exported, 'the exported memfile') if exported else None
    entries = []
    counts = {'held': len(chosen), 'carried': 0, 'unchanged': 0, 'outside_dhcpd_pools': 0}
    carried = []
    for address in sorted(chosen, key=leases.address_number):
        row = chosen[address]
        number = leases.address_number(address)
        if not any(first <= number <= last for first, last in pools):
            counts['outside_dhcpd_pools'] += 1
            continue
        old = (before or {}).get(address)
        if old is not None and _same_kea_client(old, row) and old['expire'] == row['expire']:
            counts['unchanged'] += 1
            continue
        counts['carried'] += 1
        carried.append(address)
        entries.append(_dhcpd_entry(row))
    summary = dict(counts, addresses=carried, exported_known=before is not None, now=now)
    summary['lines'] = ['kea -> dhcpd: Kea holds %d lease(s); %d granted or renewed by Kea go back into dhcpd\'s '
                        'lease file, %d unchanged since the cutover (dhcpd\'s file has them), %d outside dhcpd\'s '
                        'pools (reservations)' % (counts['held'], counts['carried'], counts['unchanged'],
                                                  counts['outside_dhcpd_pools'])]
    if before is None:
        summary['lines'].append('no memfile from the cutover to compare with: every lease Kea holds is carried back')
    summary['unread'] = unread
    if unread:
        summary['lines'].append('not read: the Kea lease files of %s; only those of %s are carried back'
                                % (', '.join(unread), ', '.join(sorted(set(kea_files) - set(unread)))))
    text = ''
    if entries:
        text = ('# Leases granted or renewed by Kea HA, carried back by netboot.dhcp_failover.migrate_to_kea\n'
                + '\n'.join(entries) + '\n')
    return text, summary
