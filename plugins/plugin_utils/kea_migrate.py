# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What playbooks/migrate_to_kea.yml decides, as pure functions (controller side).

The playbook observes both nodes, calls one of these through a filter, acts on the returned data
and prints it. Nothing here talks to a host.

* ``kea_ha_status(result, mode)``: one node's Kea HA state from a registered ``status-get``
  (ansible.builtin.uri through kea-ctrl-agent) and whether it serves as the mode says.
* ``migrate_plan(nodes, action, mode, audit)``: refuse, migrate, roll back or nothing, and why.
* ``pair_serves(statuses, mode)``: did the Kea HA pair come up (the bounded wait's verdict).
* ``lease_file_action(carried, lease_stat, copy_stat)``: what a rollback does to dhcpd's lease
  file: leave it untouched (verified byte-identical with the copy taken at the cutover), put the
  copy back, and whether Kea's leases are appended.

A node for ``migrate_plan``::

    host: dhcp1                   # inventory hostname
    role: primary                 # or secondary
    dhcpd: {...}                  # decisions.observe() of the node (tasks/observe.yml)
    kea_pgrep: {...}              # registered `pgrep -x kea-dhcp4` (rc 0: running, 1: not)
    kea_status: {...}             # registered status-get (uri, failed_when: false)
    copy_stat: {...}              # registered stat of the lease file copy taken at the cutover
    lease_stat: {...}             # registered stat of the live lease file (with checksum)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import kea_ha

ACTIONS = ('migrate', 'rollback')
MODES = ('hot-standby', 'load-balancing')
ROLES = ('primary', 'secondary')


class MigrateError(ValueError):
    """Input the decisions cannot judge (a programming error in the playbook, not a finding)."""


def _mode(mode):
    if mode not in MODES:
        raise MigrateError('kea_ha_mode=%r is invalid: expected one of %s' % (mode, ', '.join(MODES)))
    return mode


def _skipped(result):
    return not isinstance(result, dict) or bool(result.get('skipped'))


def _unreachable(result):
    return isinstance(result, dict) and bool(result.get('unreachable'))


def kea_ha_status(result, mode):
    """One node's HA state from a registered status-get.

    Returns ``answered`` (kea-dhcp4 answered through its control agent), ``state`` (its local HA
    state or None), ``partner_state`` (the partner's last state as this node heard it),
    ``scopes`` (the HA scopes it serves), ``serving`` (its state is the mode's own:
    ``hot-standby`` or ``load-balancing``, i.e. both nodes in touch), ``mode`` (the ``ha-mode``
    the node reports) and ``error`` (why not). The answer is read by
    module_utils/kea_ha.parse_status_get, as the metrics exporter reads it.
    """
    mode = _mode(mode)
    out = {'answered': False, 'state': None, 'partner_state': None, 'scopes': [], 'serving': False,
           'error': None, 'mode': None}
    # The cutover's judge passes None for a node whose run failed before it asked (its own error
    # says why): the pair must not count on that node.
    if result is None:
        out['error'] = 'its run failed before Kea was asked (see its error)'
        return out
    if _skipped(result):
        out['error'] = 'not asked'
        return out
    if _unreachable(result):
        out['error'] = 'Ansible cannot reach the host'
        return out
    answer = result.get('json')
    if isinstance(answer, list):
        answer = answer[0] if answer else None
    if not isinstance(answer, dict):
        out['error'] = 'no Kea control agent answers (%s)' % (result.get('msg') or 'no JSON')
        out['error'] = out['error'].replace('\n', ' ')[:200]
        return out
    parsed = kea_ha.parse_status_get(answer)
    out['answered'] = parsed['answered']
    out['error'] = parsed['error']
    out['mode'] = parsed['mode']
    if parsed['state'] is None and parsed['answered'] and not parsed['error']:
        out['error'] = 'kea-dhcp4 answers without an HA state'
    out['state'] = parsed['state']
    out['scopes'] = parsed['scopes']
    out['partner_state'] = parsed['partner_state']
    out['serving'] = out['state'] == mode
    return out


def _status_text(status):
    if status['state']:
        return 'Kea HA %s (serves scopes %s, partner seen as %s)' % (
            status['state'], ', '.join(status['scopes']) or 'none', status['partner_state'] or 'unknown')
    if status['answered']:
        return 'Kea answers without HA (%s)' % status['error']
    return 'no Kea HA (%s)' % status['error']


def pair_serves(statuses, mode):
    """Did the Kea HA pair come up? ``statuses``: {primary: kea_ha_status, secondary: ...} (or the
    registered results, which are read with ``kea_ha_status``) plus the host names under ``hosts``.

    It serves when both nodes answer in the mode's state (hot-standby or load-balancing: in touch
    with each other) and their scopes together cover every server that must answer: the primary
    in hot-standby, both in load-balancing. A node alone in partner-down serves too, but a pair
    that has just started and already lost a node is not a cutover to keep.
    """
    mode = _mode(mode)
    if not isinstance(statuses, dict) or not all(role in statuses for role in ROLES):
        raise MigrateError('expected {primary: status, secondary: status, hosts: {...}}, got %r' % (statuses,))
    hosts = statuses.get('hosts') or {'primary': 'primary', 'secondary': 'secondary'}
    seen = {}
    for role in ROLES:
        status = statuses[role]
        if not (isinstance(status, dict) and 'serving' in status):
            status = kea_ha_status(status, mode)
        seen[role] = status
    findings = ['%s (%s): %s' % (hosts[role], role, _status_text(seen[role])) for role in ROLES]
    scopes = set(seen['primary']['scopes']) | set(seen['secondary']['scopes'])
    needed = {hosts['primary']} if mode == 'hot-standby' else {hosts['primary'], hosts['secondary']}
    waiting = [role for role in ROLES if not seen[role]['serving']]
    if waiting:
        why = 'the Kea HA pair does not serve as %s yet: %s' % (mode, '; '.join(
            '%s is %s' % (hosts[role], seen[role]['state']) if seen[role]['state']
            else '%s has no HA state: %s' % (hosts[role], seen[role]['error']) for role in waiting))
        return {'serves': False, 'findings': findings, 'why': why, 'states': _states(seen)}
    if not needed <= scopes:
        why = ('both nodes are in %s but nobody serves the scope(s) of %s'
               % (mode, ', '.join(sorted(needed - scopes))))
        return {'serves': False, 'findings': findings, 'why': why, 'states': _states(seen)}
    return {'serves': True, 'findings': findings, 'states': _states(seen),
            'why': 'the Kea HA pair serves: both nodes in %s, scopes %s served' % (mode, ', '.join(sorted(scopes)))}


def _states(seen):
    return dict((role, seen[role]['state']) for role in ROLES)


def _node(raw, mode):
    """A node for the plan, checked, with its Kea status and process read."""
    if not isinstance(raw, dict):
        raise MigrateError('a node must be a dict, got %r' % (raw,))
    for key in ('host', 'role', 'dhcpd'):
        if not raw.get(key):
            raise MigrateError('a node needs %s' % key)
    if raw['role'] not in ROLES:
        raise MigrateError('role must be primary or secondary, not %r' % (raw['role'],))
    dhcpd = raw['dhcpd']
    if not isinstance(dhcpd, dict) or 'reachable' not in dhcpd:
        raise MigrateError('dhcpd of %s must be its observation (netboot.dhcp_failover.node_observation)'
                           % raw['host'])
    pgrep = raw.get('kea_pgrep')
    kea_running = None
    if not _skipped(pgrep) and not _unreachable(pgrep):
        kea_running = {0: True, 1: False}.get(pgrep.get('rc'))
    copy = raw.get('copy_stat') or {}
    lease = raw.get('lease_stat') or {}
    copy_st = copy.get('stat') or {} if not _skipped(copy) else {}
    lease_st = lease.get('stat') or {} if not _skipped(lease) else {}
    return {
        'host': raw['host'],
        'role': raw['role'],
        'reachable': bool(dhcpd['reachable']) and not _unreachable(raw.get('kea_status')),
        'dhcpd_running': dhcpd.get('dhcpd_running'),
        'dhcpd_state': dhcpd.get('state'),
        'dhcpd_error': dhcpd.get('error'),
        'kea_running': kea_running,
        'kea': kea_ha_status(raw.get('kea_status'), mode),
        'copy': bool(copy_st.get('exists')),
        'copy_checksum': copy_st.get('checksum'),
        'lease_checksum': lease_st.get('checksum'),
        'lease_exists': bool(lease_st.get('exists')),
    }


def _pair(nodes, mode):
    if isinstance(nodes, dict):
        nodes = list(nodes.values())
    if not isinstance(nodes, (list, tuple)) or len(nodes) != 2:
        raise MigrateError('expected the two nodes of one pair, got %r' % (nodes,))
    a, b = (_node(n, mode) for n in nodes)
    if {a['role'], b['role']} != set(ROLES):
        raise MigrateError('%s and %s are not the primary and secondary of one pair' % (a['host'], b['host']))
    return (a, b) if a['role'] == 'primary' else (b, a)


def _dhcpd_text(n):
    if n['dhcpd_state']:
        return 'dhcpd %s' % n['dhcpd_state']
    if n['dhcpd_running'] is True:
        return 'dhcpd running, failover state unreadable (%s)' % n['dhcpd_error']
    if n['dhcpd_running'] is False:
        return 'dhcpd stopped'
    return 'dhcpd unknown (%s)' % n['dhcpd_error']


def _kea_text(n):
    if n['kea']['state']:
        return _status_text(n['kea'])
    if n['kea_running']:
        return 'kea-dhcp4 running, %s' % _status_text(n['kea'])
    return 'Kea not running'


def _copy_text(n):
    if not n['copy']:
        return 'no lease file copy from a cutover'
    same = n['copy_checksum'] and n['copy_checksum'] == n['lease_checksum']
    return 'lease file copy from the cutover (%s the live file)' % ('same as' if same else 'DIFFERS from')


def _plan(action, why, pair, mode, **extra):
    plan = {'action': action, 'why': why, 'mode': mode, 'findings': node_lines_of(pair)}
    plan.update(extra)
    return plan


def node_lines_of(pair):
    return ['%s (%s): %s; %s; %s' % (n['host'], n['role'], _dhcpd_text(n), _kea_text(n), _copy_text(n))
            for n in pair]


def _audit_clean(audit):
    if not isinstance(audit, dict) or 'verdict' not in audit:
        return False, 'the lease audit did not run'
    if audit['verdict'] == 'clean':
        return True, audit.get('summary') or 'lease audit clean'
    return False, '%s (verdict %s)' % (audit.get('summary') or 'lease audit', audit['verdict'])


def migrate_plan(nodes, action, mode, audit=None):
    """What migrate_to_kea.yml does with ``action`` (migrate or rollback); see the module docstring.

    Returns ``action`` (``refuse``, ``nothing``, ``migrate`` or ``rollback``), ``why`` (for the
    operator), ``findings`` (one line per node) and ``mode``.
    """
    if action not in ACTIONS:
        raise MigrateError('migrate_action=%r is invalid: expected one of %s' % (action, ', '.join(ACTIONS)))
    mode = _mode(mode)
    pair = _pair(nodes, mode)
    p, s = pair
    unreachable = [n['host'] for n in pair if not n['reachable']]
    if unreachable:
        return _plan('refuse', 'Refusing migrate_action=%s: Ansible cannot reach %s; both nodes must be reachable '
                     'to move the pair.' % (action, ', '.join(unreachable)), pair, mode)
    if action == 'migrate':
        return _migrate(pair, mode, audit)
    return _rollback(pair, mode)


def _migrate(pair, mode, audit):
    kea_ha = [n for n in pair if n['kea']['state']]
    if all(n['kea']['serving'] for n in pair) and not any(n['dhcpd_running'] for n in pair):
        return _plan('nothing', 'The pair is already on Kea (%s on both nodes, dhcpd stopped on both): nothing to '
                     'migrate. migrate_action=rollback goes back to dhcpd.' % mode, pair, mode)
    if kea_ha:
        return _plan('refuse', 'Refusing migrate_action=migrate: Kea HA already runs on %s while the pair is not '
                     'fully on Kea (%s): a cutover was interrupted. Run migrate_action=rollback to return to dhcpd, '
                     'then migrate again.' % (', '.join(n['host'] for n in kea_ha),
                                              '; '.join(_dhcpd_text(n) for n in pair)), pair, mode)
    not_normal = [n for n in pair if n['dhcpd_state'] != 'normal']
    if not_normal:
        return _plan('refuse', 'Refusing migrate_action=migrate: both dhcpd peers must be NORMAL, so that both lease '
                     'files hold every lease; %s. Bring the pair to NORMAL first (netboot.dhcp_failover.status '
                     'says how).' % '; '.join('%s is %s' % (n['host'], _dhcpd_text(n)) for n in not_normal),
                     pair, mode)
    clean, audit_text = _audit_clean(audit)
    if not clean:
        return _plan('refuse', 'Refusing migrate_action=migrate: the lease audit must be clean, or Kea would '
                     'inherit the disagreement: %s. See netboot.dhcp_failover.audit for the addresses.'
                     % audit_text, pair, mode)
    return _plan('migrate', 'Both dhcpd peers are NORMAL and %s. Will: stop and disable dhcpd on both, keep a '
                 'copy of each lease file, export every active lease into Kea\'s memfile, start Kea %s on both '
                 'and wait for the pair to serve; if it does not within the bound, go back to dhcpd.'
                 % (audit_text, mode), pair, mode)


def _rollback(pair, mode):
    kea_ha = [n for n in pair if n['kea']['state']]
    dhcpd_up = [n for n in pair if n['dhcpd_running'] is True]
    if len(dhcpd_up) == 2 and all(n['dhcpd_state'] == 'normal' for n in pair) and not kea_ha \
            and not any(n['kea_running'] for n in pair):
        return _plan('nothing', 'The pair is already on dhcpd (both NORMAL, Kea stopped on both): nothing to roll '
                     'back.', pair, mode)
    if dhcpd_up:
        return _plan('refuse', 'Refusing migrate_action=rollback: dhcpd runs on %s while the pair is not back on '
                     'dhcpd (%s). A dhcpd serving beside Kea may have handed out addresses Kea does not know: stop '
                     'it, run netboot.dhcp_failover.audit, then roll back.'
                     % (', '.join(n['host'] for n in dhcpd_up), '; '.join(_kea_text(n) for n in pair)), pair, mode)
    changed = [n['host'] for n in pair if n['copy'] and n['copy_checksum'] != n['lease_checksum']]
    if changed:
        return _plan('refuse', 'Refusing migrate_action=rollback: the dhcpd lease file on %s changed since the '
                     'cutover (it differs from the copy taken then): something wrote it while Kea served. Compare '
                     'the two files before going back.' % ', '.join(changed), pair, mode)
    missing = [n['host'] for n in pair if not n['copy']]
    note = (' No copy from a cutover on %s: every lease Kea holds is carried back there.' % ', '.join(missing)
            if missing else '')
    return _plan('rollback', 'The pair is on Kea (%s). Will: stop and disable Kea on both, carry the leases Kea '
                 'granted or renewed back into each dhcpd lease file, start dhcpd on both and wait for NORMAL.%s'
                 % ('; '.join(_kea_text(n) for n in pair), note), pair, mode)


def lease_file_action(carried, lease_stat, copy_stat):
    """What a rollback does to one node's dhcpd lease file.

    ``carried``: how many Kea leases go back into it. ``lease_stat`` / ``copy_stat``: registered
    stat (with checksum) of the live file and of the copy taken at the cutover. Returns
    ``restore`` (put the copy back first), ``append`` (append Kea's leases), ``untouched`` and
    ``why``.
    """
    if isinstance(carried, bool) or not isinstance(carried, int) or carried < 0:
        raise MigrateError('carried=%r is invalid: expected the number of leases to carry back' % (carried,))
    live = (lease_stat or {}).get('stat') or {}
    copy = (copy_stat or {}).get('stat') or {}
    append = carried > 0
    if not copy.get('exists'):
        why = ('no copy from the cutover to compare with; the live lease file is the base'
               + ('; %d Kea lease(s) appended' % carried if append else '; nothing to append, left as it is'))
        return {'restore': False, 'append': append, 'untouched': not append, 'why': why}
    if live.get('exists') and live.get('checksum') == copy.get('checksum'):
        why = ('byte-identical with the copy taken at the cutover (sha1 %s)' % copy.get('checksum')
               + ('; %d Kea lease(s) appended' % carried if append else '; left untouched'))
        return {'restore': False, 'append': append, 'untouched': not append, 'why': why}
    why = ('DIFFERS from the copy taken at the cutover (sha1 %s, live %s): the copy is put back'
           % (copy.get('checksum'), live.get('checksum') if live.get('exists') else 'missing')
           + ('; %d Kea lease(s) appended' % carried if append else ''))
    return {'restore': True, 'append': append, 'untouched': False, 'why': why}


# --- status.yml on a Kea pair -----------------------------------------------------------------------

HEALTHY = 'healthy'
DEGRADED = 'degraded'
# The words of netboot.dhcp_failover.pair_verdict, so that dhcp_ops_status_fail_on means the same
# on a dhcpd pair and on a Kea pair.
NEEDS_ACTION = 'needs action'
# States in which a node is on its way to the mode's own state (or to partner-down) by itself.
TRANSIENT_STATES = ('waiting', 'syncing', 'ready', 'communication-recovery')
MAINTENANCE_STATES = ('in-maintenance', 'partner-in-maintenance')
ROLLBACK = 'netboot.dhcp_failover.migrate_to_kea with -e migrate_action=rollback'


def _daemon(n):
    kea = bool(n['kea_running']) or bool(n['kea']['state'])
    if kea and n['dhcpd_running']:
        return 'kea-dhcp4 and dhcpd'
    if kea:
        return 'kea-dhcp4'
    if n['dhcpd_running']:
        return 'dhcpd'
    if n['dhcpd_running'] is False and n['kea_running'] is False:
        return 'none'
    return 'unknown'


def _status_node(n, mode):
    kea = n['kea']
    return {
        'host': n['host'],
        'role': n['role'],
        'reachable': n['reachable'],
        'daemon': _daemon(n),
        'ha_mode': kea['mode'] or (mode if kea['state'] else None),
        'state': kea['state'],
        'partner_state': kea['partner_state'],
        'scopes': kea['scopes'],
        'error': kea['error'],
    }


def _status_line(s):
    if not s['reachable']:
        return '%s (%s): Ansible cannot reach it' % (s['host'], s['role'])
    if s['state']:
        return ('%s (%s): daemon %s, HA mode %s, state %s, partner seen as %s, serves scopes %s'
                % (s['host'], s['role'], s['daemon'], s['ha_mode'], s['state'], s['partner_state'] or 'unknown',
                   ', '.join(s['scopes']) or 'none'))
    if s['daemon'] == 'none':
        return '%s (%s): daemon none (kea-dhcp4 and dhcpd both stopped)' % (s['host'], s['role'])
    return '%s (%s): daemon %s, no HA state (%s)' % (s['host'], s['role'], s['daemon'], s['error'])


def _down_text(s):
    if not s['reachable']:
        return 'Ansible cannot reach %s' % s['host']
    if s['state']:
        return '%s is %s' % (s['host'], s['state'])
    if s['daemon'] in ('none', 'dhcpd'):
        return 'kea-dhcp4 does not run on %s' % s['host']
    return '%s does not answer status-get (%s)' % (s['host'], s['error'])


def pair_status(nodes, mode):
    """The verdict of status.yml on a pair that runs Kea.

    ``nodes``: the two nodes of the pair as for ``migrate_plan`` (``host``, ``role``, ``dhcpd`` the
    observation, ``kea_pgrep``, ``kea_status``; the lease file stats are not read). Returns
    ``kea`` (the pair runs Kea HA: a node's kea-dhcp4 answered status-get on the node's pair address
    with an HA state; a kea-dhcp4 process alone may be another pair's where one host runs several,
    or a packaged Kea without HA; when false status.yml judges the pair as a dhcpd pair),
    ``verdict`` (``healthy``, ``degraded`` or
    ``needs action``; None when not on Kea), ``why`` (what is wrong and what to do), ``nodes``
    (per node: host, role, daemon, ha_mode, state, partner_state, scopes, error) and ``table``
    (one line per node).

    Rules, first match wins: dhcpd beside Kea (two servers for the same addresses) and clocks
    too far apart (``terminated``) need action; both nodes in the mode's state, each seeing the
    other so and the scopes covered, is healthy; one node in partner-down is degraded (it serves
    alone); both in partner-down need action (each serves alone); a node in maintenance or on
    its way (waiting, syncing, ready, communication-recovery) is degraded while the other serves;
    anything else, e.g. no node serving, needs action.
    """
    mode = _mode(mode)
    pair = _pair(nodes, mode)
    seen = [_status_node(n, mode) for n in pair]
    out = {'kea': any(s['state'] for s in seen), 'mode': mode,
           'nodes': seen, 'table': [_status_line(s) for s in seen], 'verdict': None, 'why': None}
    if not out['kea']:
        out['why'] = 'no kea-dhcp4 of this pair answers status-get with an HA state: a dhcpd pair'
        return out
    out['verdict'], out['why'] = _pair_verdict(pair, seen, mode)
    return out


def _broken(seen, by_state):
    """What needs action whatever the HA states say, or None."""
    dhcpd = [s['host'] for s in seen if 'dhcpd' in s['daemon']]
    if dhcpd:
        return ('dhcpd runs on %s beside the Kea HA pair: two servers hand out the same addresses. Stop dhcpd '
                'there (systemctl stop isc-dhcp-server), then run netboot.dhcp_failover.audit; or go back to dhcpd '
                'with %s.' % (', '.join(dhcpd), ROLLBACK))
    if by_state['terminated']:
        return ('Kea HA is terminated on %s: the clocks of the two nodes are too far apart (Kea stops HA above '
                '60 s). Fix the time (chrony) on both, then restart kea-dhcp4-server on both.'
                % ', '.join(s['host'] for s in by_state['terminated']))
    return None


def _pair_verdict(pair, seen, mode):
    by_state = dict((state, [s for s in seen if s['state'] == state]) for state in kea_ha.HA_STATES)
    broken = _broken(seen, by_state)
    if broken:
        return NEEDS_ACTION, broken
    verdict = pair_serves({'primary': pair[0]['kea'], 'secondary': pair[1]['kea'],
                           'hosts': {'primary': pair[0]['host'], 'secondary': pair[1]['host']}}, mode)
    if verdict['serves'] and all(s['partner_state'] == mode for s in seen):
        return HEALTHY, ('both nodes in %s and in touch; scopes %s served'
                         % (mode, ', '.join(sorted(set(seen[0]['scopes']) | set(seen[1]['scopes'])))))
    alone = by_state['partner-down']
    if len(alone) == 1:
        other = [s for s in seen if s is not alone[0]][0]
        return DEGRADED, ('%s (%s) is in partner-down and serves every client alone; %s. Bring kea-dhcp4 back '
                          'on %s (systemctl start kea-dhcp4-server, with kea-ctrl-agent); the pair syncs and '
                          'returns to %s by itself.'
                          % (alone[0]['host'], alone[0]['role'], _down_text(other), other['host'], mode))
    if len(alone) == 2:
        return NEEDS_ACTION, ('both nodes are in partner-down: each serves alone and believes the other down, '
                              'so both hand out addresses. Check that each reaches the other\'s kea-ctrl-agent '
                              '(the HA peers\' URLs), then restart kea-dhcp4-server on the secondary.')
    serving = [s for s in seen if s['state'] == mode]
    waiting = [s for s in seen if s['state'] in TRANSIENT_STATES + MAINTENANCE_STATES]
    if serving and waiting:
        return DEGRADED, ('%s serves; %s. Maintenance ends with ha-maintenance-cancel; the other states pass by '
                          'themselves: run this again, and look at kea-dhcp4\'s log if they last longer than '
                          'kea_ha_timeout.' % (serving[0]['host'], '; '.join(_down_text(s) for s in waiting)))
    return NEEDS_ACTION, ('the Kea HA pair does not serve as %s: %s. Look at kea-dhcp4\'s log on both nodes; '
                          'go back to dhcpd with %s if it cannot be fixed.'
                          % (mode, '; '.join(_down_text(s) for s in seen), ROLLBACK))
