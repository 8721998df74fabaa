# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cross-peer lease audit of a failover pair (playbook audit.yml, filter ``lease_audit``).

Input: what ``netboot.dhcp_failover.lease_info`` (with ``records: true``) returned on each peer.
Every address of either file is compared between the peers, from the last entry of the address
in each file (the binding dhcpd would load).

An address is HELD by a peer when its binding state is ``active`` and its ``ends`` is after the
moment that peer's file was read (``read_at``), or is ``never``. The client is the ``uid`` when
both entries have one, else the hardware address.

Findings, by severity:

- ``conflict`` (``held_by_two``): both peers hold the address for different clients. Failover
  never allows it (each peer allocates only its own FREE or BACKUP addresses and a freed address
  needs the partner's acknowledgement before it is handed out again), so no grace applies.
- ``divergence``: the peers disagree in a way that can lead to a conflict:
  ``held_vs_free`` (held on one, FREE or BACKUP on the other, which may hand it to another
  client) and ``both_own`` (FREE on the primary and BACKUP on the secondary: each thinks the
  address is its own to allocate).
- ``pending``: one of those, but the newer of the two entries changed less than ``settle``
  seconds before the earlier of the two reads, and both peers last saved the state NORMAL: a
  binding update on its way to the partner, or two files read a moment apart while dhcpd writes
  them. Not a problem; run the audit again to see it settle. Peers that are not in contact
  (any other saved state, e.g. partner-down) send no updates, so nothing is excused as in flight.
- ``note``: disagreements without a risk of duplicates: ``neither_owns`` (BACKUP on the primary,
  FREE on the secondary: nobody hands it out until pool balancing moves it), ``held_vs_ended``
  (held on one, expired/released/abandoned/reset on the other, which will not allocate it before
  it is FREE or BACKUP, a move that needs its partner's acknowledgement) and ``one_file_only``
  (an address one peer does not know: the peers' pools differ).

Treated as agreement (legitimately different between healthy peers, never reported): an ``active``
entry whose ``ends`` has passed against ``expired``/``free``/``backup`` (dhcpd writes the expiry
when its timer runs); expired/released against free/backup (the states an ended lease passes
through); the same client with different ``ends``, ``tstp``, ``tsfp`` or ``cltt`` (the peer that
answered the client knows the MCLT-capped end, its partner the potential expiry it acknowledged).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.leases import parse_range

ROLES = ('primary', 'secondary')
SEVERITIES = ('conflict', 'divergence', 'pending', 'note')
FAIL_ON = {'never': (), 'conflicts': ('conflict',), 'divergence': ('conflict', 'divergence')}
OWN = {'primary': 'free', 'secondary': 'backup'}
POOL_COUNTS = ('own', 'free', 'backup', 'active', 'other')
ENDED = ('expired', 'released', 'abandoned', 'reset')
# Seconds an update may take to reach the partner's lease file before a difference counts.
DEFAULT_SETTLE = 30
# What the text report lists one by one; the data holds every finding.
TABLE_FINDINGS = 20
DETAIL_KEYS = ('binding_state', 'hardware_address', 'uid', 'starts', 'ends', 'tstp', 'tsfp', 'cltt')

TRANSIENT = [
    'an active lease whose end has passed counts as ended (dhcpd writes the expiry when its timer runs)',
    'expired or released on one peer and free or backup on the other: the states an ended lease passes through',
    'the same client with different ends, tstp, tsfp or cltt (the answering peer caps the lease at MCLT, '
    'its partner keeps the potential expiry it acknowledged)',
    'a difference whose newer entry changed less than settle seconds before the files were read, while both '
    'peers are NORMAL: an update in flight (reported as pending)',
]


class AuditError(ValueError):
    """Input the audit cannot compare (a programming error in the playbook, not a finding)."""


def _ip(address):
    return int.from_bytes(socket.inet_aton(address), 'big')


def _peer(entry, role):
    if not isinstance(entry, dict):
        raise AuditError('the %s entry must be a dict with host and leases, got %r' % (role, entry))
    leases = entry.get('leases')
    if not isinstance(leases, dict):
        raise AuditError('the %s entry has no leases result (register lease_info with records: true)' % role)
    error = None
    if leases.get('unreachable'):
        error = leases.get('msg') or 'Ansible cannot reach the host'
    elif leases.get('skipped'):
        error = 'the lease file was not read (task skipped)'
    elif leases.get('failed') or (leases.get('msg') and not isinstance(leases.get('records'), list)):
        # A lease_info failure registered under failed_when: false keeps its msg, not its failed flag.
        error = leases.get('msg') or 'the lease file could not be read'
    elif not isinstance(leases.get('records'), list):
        raise AuditError('the %s lease_info result has no records: call lease_info with records: true' % role)
    records = {}
    if error is None:
        for record in leases['records']:
            records[record['address']] = record
    return {'host': entry.get('host') or role, 'role': role, 'error': error, 'records': records,
            'read_at': leases.get('read_at'), 'path': leases.get('path'),
            'failover': leases.get('failover') or {}}


def _pair(peers):
    if isinstance(peers, dict) and set(peers) == set(ROLES):
        return _peer(peers['primary'], 'primary'), _peer(peers['secondary'], 'secondary')
    if isinstance(peers, (list, tuple)) and len(peers) == 2 and all(isinstance(p, dict) for p in peers):
        roles = [p.get('role') for p in peers]
        if sorted(roles) == sorted(ROLES):
            primary, secondary = peers if roles[0] == 'primary' else peers[::-1]
            return _peer(primary, 'primary'), _peer(secondary, 'secondary')
    raise AuditError('expected the two peers of one pair as {primary: ..., secondary: ...} or a list of two '
                     'dicts with role primary and secondary, got %r' % (peers,))


def _pools(subnets):
    """[(name, [(first, last), ...])] of the failover pools of the pair model's subnets."""
    pools = []
    for subnet in subnets or []:
        for index, pool in enumerate(subnet.get('pools') or []):
            if not pool.get('failover', True):
                continue
            ranges = pool.get('ranges') or pool.get('range') or []
            ranges = [ranges] if isinstance(ranges, str) else ranges
            try:
                bounds = [parse_range(text) for text in ranges]
            except ValueError as exc:
                raise AuditError('pool %d of %s: %s' % (index, subnet.get('network'), exc)) from None
            pools.append(('%s pool %d' % (subnet.get('network'), index), list(ranges), bounds))
    return pools


def _held(record, read_at):
    if record is None or record.get('binding_state') != 'active':
        return False
    ends = record.get('ends')
    return ends is None or read_at is None or ends > read_at


def _same_client(one, two):
    if one.get('uid') and two.get('uid'):
        return one['uid'] == two['uid']
    return bool(one.get('hardware_address')) and one.get('hardware_address') == two.get('hardware_address')


def _client(record):
    if record is None:
        return None
    return record.get('uid') or record.get('hardware_address')


def _changed(record, read_at):
    """When the entry last changed, as far as its times tell (never later than its read)."""
    if record is None:
        return None
    times = [record.get(key) for key in ('starts', 'cltt') if record.get(key) is not None]
    ends = record.get('ends')
    if ends is not None and (read_at is None or ends <= read_at):
        times.append(ends)
    return max(times) if times else None


def _detail(record):
    if record is None:
        return None
    return dict((key, record.get(key)) for key in DETAIL_KEYS)


def _classify_held(pr, sr, p_held):
    """A finding for an address that exactly one peer holds."""
    holder, other = ('primary', 'secondary') if p_held else ('secondary', 'primary')
    other_state = (sr if p_held else pr).get('binding_state')
    client = _client(pr if p_held else sr)
    if other_state in ('free', 'backup'):
        return 'divergence', 'held_vs_free', ('active for %s on the %s, %s on the %s, which may hand it to '
                                              'another client' % (client, holder, other_state.upper(), other))
    kind = 'held_vs_ended' if other_state in ENDED else 'other'
    later = ' (not handed out again before it is free)' if kind == 'held_vs_ended' else ''
    return 'note', kind, 'active for %s on the %s, %s on the %s%s' % (client, holder, other_state, other, later)


def _classify(pr, sr, p_read, s_read):
    """(severity, kind, why) for one address, or None when the peers agree."""
    if pr is None or sr is None:
        known = 'primary' if sr is None else 'secondary'
        return 'note', 'one_file_only', ('only the %s lists it: the peers\' pools differ' % known)
    p_held, s_held = _held(pr, p_read), _held(sr, s_read)
    if p_held and s_held:
        if _same_client(pr, sr):
            return None
        return 'conflict', 'held_by_two', ('active on both peers for different clients: %s on the primary, %s on '
                                           'the secondary' % (_client(pr), _client(sr)))
    if p_held or s_held:
        return _classify_held(pr, sr, p_held)
    return {
        ('free', 'backup'): ('divergence', 'both_own', 'FREE on the primary and BACKUP on the secondary: each may '
                             'hand it out'),
        ('backup', 'free'): ('note', 'neither_owns', 'BACKUP on the primary and FREE on the secondary: neither '
                             'hands it out'),
    }.get((pr.get('binding_state'), sr.get('binding_state')))


def _count(row, record, read_at, role):
    """Count one peer's entry in its pool row; an active lease whose end has passed is "other"."""
    if record is None:
        return
    state = record.get('binding_state')
    if _held(record, read_at):
        state = 'active'
    elif state not in ('free', 'backup'):
        state = 'other'
    row[role][state] += 1
    if state == OWN[role]:
        row[role]['own'] += 1


def _pool_of(address, pools):
    value = _ip(address)
    for name, _ranges, bounds in pools:
        if any(first <= value <= last for first, last in bounds):
            return name
    return None


def lease_audit(peers, now=None, pools=None, settle=DEFAULT_SETTLE):
    """Compare the lease files of the two peers of a pair (see the module docstring).

    ``peers``: {primary: {host, leases}, secondary: {host, leases}} or a list of two
    {host, role, leases}; ``leases`` is a registered lease_info result (records: true).
    ``pools``: the pair model's ``subnets`` (their failover pools are counted separately).
    ``now``: the time the files were read when lease_info did not say (``read_at``).
    """
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or settle < 0:
        raise AuditError('settle=%r is invalid: expected seconds, 0 or more' % (settle,))
    primary, secondary = _pair(peers)
    now = time.time() if now is None else float(now)
    p_read = primary['read_at'] if primary['read_at'] is not None else now
    s_read = secondary['read_at'] if secondary['read_at'] is not None else now
    pool_list = _pools(pools)
    errors = ['%s (%s): %s' % (peer['host'], peer['role'], peer['error']) for peer in (primary, secondary)
              if peer['error']]
    states = dict((peer['role'], dict((name, block.get('my_state')) for name, block in peer['failover'].items()))
                  for peer in (primary, secondary))
    # Updates flow only between NORMAL peers (a file without a state block has not left it).
    in_contact = all(state in (None, 'normal') for by_name in states.values() for state in by_name.values())
    findings = []
    pool_rows = [{'pool': name, 'ranges': ranges, 'primary': dict.fromkeys(POOL_COUNTS, 0),
                  'secondary': dict.fromkeys(POOL_COUNTS, 0), 'both_own': 0, 'neither_owns': 0}
                 for name, ranges, _bounds in pool_list]
    by_pool = dict((row['pool'], row) for row in pool_rows)
    compared = 0
    if not errors:
        addresses = sorted(set(primary['records']) | set(secondary['records']), key=_ip)
        compared = len(addresses)
        for address in addresses:
            pr, sr = primary['records'].get(address), secondary['records'].get(address)
            pool = _pool_of(address, pool_list)
            if pool is not None:
                _count(by_pool[pool], pr, p_read, 'primary')
                _count(by_pool[pool], sr, s_read, 'secondary')
            found = _classify(pr, sr, p_read, s_read)
            if found is None:
                continue
            severity, kind, why = found
            if pool is not None and kind in ('both_own', 'neither_owns'):
                by_pool[pool][kind] += 1
            changed = [c for c in (_changed(pr, p_read), _changed(sr, s_read)) if c is not None]
            newest = max(changed) if changed else None
            if (severity == 'divergence' and in_contact and newest is not None
                    and newest > min(p_read, s_read) - settle):
                severity = 'pending'
                why = '%s; changed %d s before the read: an update in flight' % (
                    why, max(int(min(p_read, s_read) - newest), 0))
            findings.append({'address': address, 'pool': pool, 'severity': severity, 'kind': kind, 'why': why,
                             'primary': _detail(pr), 'secondary': _detail(sr)})
    counts = dict((severity, sum(1 for f in findings if f['severity'] == severity)) for severity in SEVERITIES)
    counts['addresses'] = compared
    if errors:
        verdict = 'incomplete'
    elif counts['conflict']:
        verdict = 'conflicts'
    elif counts['divergence']:
        verdict = 'divergence'
    else:
        verdict = 'clean'
    result = {
        'verdict': verdict,
        'counts': counts,
        'errors': errors,
        'findings': findings,
        'pools': pool_rows,
        'settle': settle,
        'transient': TRANSIENT,
        'states': states,
        'in_contact': in_contact,
        'hosts': {'primary': primary['host'], 'secondary': secondary['host']},
    }
    result['summary'] = summary_line(result)
    result['table'] = table(result)
    return result


def summary_line(result):
    """One line: what status.yml prints."""
    if result['errors']:
        return 'lease audit incomplete: %s' % '; '.join(result['errors'])
    c = result['counts']
    return ('lease audit: %d conflicts, %d divergences, %d pending, %d notes over %d addresses'
            % (c['conflict'], c['divergence'], c['pending'], c['note'], c['addresses']))


def table(result):
    """The text report: the summary, one row per pool, then the findings (the worst first)."""
    lines = [result['summary']]
    if result['pools']:
        fmt = '%-24s %-9s %6s %6s %6s %6s %8s %8s'
        lines.append(fmt % ('pool', 'peer', 'own', 'free', 'backup', 'active', 'both_own', 'nobody'))
        for row in result['pools']:
            for role in ROLES:
                counts = row[role]
                lines.append(fmt % (row['pool'], role, counts['own'], counts['free'], counts['backup'],
                                    counts['active'], row['both_own'] if role == 'primary' else '',
                                    row['neither_owns'] if role == 'primary' else ''))
    ordered = sorted(result['findings'], key=lambda f: SEVERITIES.index(f['severity']))
    for finding in ordered[:TABLE_FINDINGS]:
        lines.append('%-10s %-15s %s' % (finding['severity'].upper(), finding['address'], finding['why']))
    if len(ordered) > TABLE_FINDINGS:
        lines.append('... %d more findings in the data (dhcp_ops_audit_format=json)' % (len(ordered) - TABLE_FINDINGS))
    return lines


def should_fail(result, fail_on):
    """The message to fail with under ``fail_on`` (never, conflicts, divergence), or None."""
    if fail_on not in FAIL_ON:
        raise AuditError('fail_on=%r is invalid: expected one of %s' % (fail_on, ', '.join(FAIL_ON)))
    if fail_on == 'never':
        return None
    if result['errors']:
        return 'the lease audit could not compare the peers: %s' % '; '.join(result['errors'])
    bad = [f for f in result['findings'] if f['severity'] in FAIL_ON[fail_on]]
    if not bad:
        return None
    shown = ', '.join('%s (%s)' % (f['address'], f['kind']) for f in bad[:10])
    return '%s; %s%s' % (result['summary'], shown, ' ...' if len(bad) > 10 else '')
