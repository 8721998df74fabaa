# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the operations playbooks decide (status, recover, maintenance), as pure functions.

The playbooks gather one observation per node, call one of these through a filter, act on the
returned data and print it. Nothing here talks to a host; ``now`` is always passed in.

Observation of one node (built by ``observe`` from what the playbooks registered)::

    host: nblab-dhcp1             # inventory hostname
    role: primary                 # or secondary
    peer: nblab-dhcp2             # inventory hostname of the partner
    reachable: true               # Ansible reached the host
    dhcpd_running: true           # a dhcpd process runs there; None: not checked or unknown
    omapi: true                   # OMAPI answered with the failover-state object
    error: null                   # why there is no failover state (OMAPI error, unreachable)
    state: normal                 # failover_info local_state; None without OMAPI
    partner_state: normal         # the partner's state AS THIS NODE LAST HEARD IT
    stos: 1795650068              # local_stos_epoch (0 if never)
    partner_stos: 1795650068      # partner_stos_epoch
    mclt: 600
    split: 128                    # None when the hba is not a split or on the secondary
    unacked: 0                    # cur_unacked_updates
    max_unacked: 10               # max_unacked_updates
    partner_port: true            # the partner's failover port accepts connections from here
    partner_ping: true            # the partner answers ICMP echo from here
    leases: {free: 50, backup: 50, active: 3, allocated_since: 0}   # None: not counted
    leases_error: null            # why the lease file could not be counted
    maintenance: null             # the maintenance record on this node (dict), None without one

Probes that were not run, or could not run (no ping binary, host unreachable), are None and
never count as proof of anything.

Every decision returns a dict with ``node`` (whom it concerns, or None), ``findings`` (one line
per node: what was seen) and ``why`` (the reasoning, for the operator), plus ``verdict`` (status)
or ``action`` (recover, maintenance).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import time

# The state sets, in one place (see FAILOVER-FACTS.md, "States and what they serve").
SERVING = ('normal', 'communications-interrupted', 'partner-down')
# Lost contact with the partner; recover.yml acts on these.
STUCK = ('communications-interrupted', 'resolution-interrupted')
# States dhcpd leaves by itself within seconds while the partner talks to it.
PASSING = ('startup', 'potential-conflict', 'recover', 'conflict-done', 'recover-done')
# Answer nobody until restarted.
HALTED = ('shutdown', 'paused')
# maintenance start waits for the partner to notice the stop (any of these).
NOTICED = ('communications-interrupted', 'resolution-interrupted', 'partner-down')
# maintenance end waits for the restarted node to leave these.
STARTING = ('startup', 'recover')

HEALTHY = 'healthy'
DEGRADED = 'degraded'
NEEDS_ACTION = 'needs action'
VERDICTS = (HEALTHY, DEGRADED, NEEDS_ACTION)

# A node in recover-done this long with a NORMAL partner is stuck there (dhcpd's stale timer),
# not passing through.
LATE_RECOVER_DONE = 10
# A node in recover this long while its partner-down partner talks to it is stuck there. The
# update exchange of recover takes well under a second on the lab pair (241 addresses) and
# dhcpd sends updates in windows of max-unacked-updates, so even a large pool finishes in seconds;
# the bound leaves room for that and for a slow link.
STUCK_RECOVER = 60

OBSERVATION_KEYS = ('host', 'role', 'peer', 'reachable', 'dhcpd_running', 'omapi', 'error', 'state',
                    'partner_state', 'stos', 'partner_stos', 'mclt', 'split', 'unacked', 'max_unacked',
                    'partner_port', 'partner_ping', 'leases', 'leases_error', 'maintenance')


class DecisionError(ValueError):
    """Input the decisions cannot judge (a programming error in the playbook, not a finding)."""


def when(epoch):
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(int(epoch)))


def _int(value, default=None):
    if value is None or value == '':
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _unreachable(result):
    return isinstance(result, dict) and bool(result.get('unreachable'))


def _rc_bool(result, true_rc=0, false_rc=1):
    """True/False from a command's exit code when it proves something, else None."""
    if not isinstance(result, dict) or result.get('skipped') or _unreachable(result):
        return None
    rc = result.get('rc')
    if rc == true_rc:
        return True
    if rc == false_rc:
        return False
    return None


def _lease_counts(result):
    """(counts, error) from a registered lease_info result (skipped or absent: not counted)."""
    if not isinstance(result, dict) or result.get('skipped') or _unreachable(result):
        return None, None
    if result.get('failed') or not isinstance(result.get('counts'), dict):
        return None, str(result.get('msg') or 'lease file not read')
    counts = dict(result['counts'])
    counts['allocated_since'] = result.get('allocated_since') or 0
    return counts, None


def observe(raw):
    """One node's observation from what a playbook registered.

    ``raw`` keys: ``host``, ``role``, ``peer`` (strings), and the registered results, each
    optional: ``reach`` (ansible.builtin.ping), ``read`` (failover_info), ``pgrep``
    (``pgrep -x dhcpd``), ``icmp`` (``ping -c 1`` of the partner), ``port`` (wait_for on the
    partner's failover port), ``leases`` (lease_info: its ``counts`` and ``allocated_since``), ``record``
    (ansible.builtin.slurp of the maintenance record; its content is JSON).
    """
    if not isinstance(raw, dict):
        raise DecisionError('expected a dict of registered results, got %r' % (raw,))
    for key in ('host', 'role', 'peer'):
        if not raw.get(key):
            raise DecisionError('the observation needs %s' % key)
    if raw['role'] not in ('primary', 'secondary'):
        raise DecisionError('role must be primary or secondary, not %r' % (raw['role'],))
    results = [raw.get(k) for k in ('reach', 'read', 'pgrep', 'icmp', 'port', 'record')]
    reachable = not any(_unreachable(r) for r in results)
    read = raw.get('read') if isinstance(raw.get('read'), dict) else {}
    failover = read.get('failover') if reachable else None
    failover = failover if isinstance(failover, dict) else None
    error = None
    if not reachable:
        error = next((r.get('msg') for r in results if _unreachable(r) and r.get('msg')), None) \
            or 'Ansible cannot reach the host'
    elif failover is None:
        error = read.get('msg') or 'failover state not read'
    port = raw.get('port')
    partner_port = None
    if reachable and isinstance(port, dict) and not port.get('skipped'):
        # wait_for under failed_when: false: only a success carries state "started".
        partner_port = port.get('state') == 'started'
    leases, leases_error = _lease_counts(raw.get('leases'))
    record = raw.get('record')
    maintenance = None
    if reachable and isinstance(record, dict) and record.get('content'):
        try:
            maintenance = json.loads(base64.b64decode(record['content']).decode('utf-8'))
        except (ValueError, TypeError):
            maintenance = {'unreadable': True}
        if not isinstance(maintenance, dict):
            maintenance = {'unreadable': True}
    f = failover or {}
    return {
        'host': raw['host'],
        'role': raw['role'],
        'peer': raw['peer'],
        'reachable': reachable,
        'dhcpd_running': _rc_bool(raw.get('pgrep')) if reachable else None,
        'omapi': failover is not None,
        'error': error,
        'state': f.get('local_state'),
        'partner_state': f.get('partner_state'),
        'stos': _int(f.get('local_stos_epoch'), 0 if failover else None),
        'partner_stos': _int(f.get('partner_stos_epoch'), 0 if failover else None),
        'mclt': _int(f.get('mclt')),
        'split': _int(f.get('split')),
        'unacked': _int(f.get('cur_unacked_updates')),
        'max_unacked': _int(f.get('max_unacked_updates')),
        'partner_port': partner_port,
        'partner_ping': _rc_bool(raw.get('icmp')) if reachable else None,
        'leases': leases,
        'leases_error': leases_error,
        'maintenance': maintenance,
    }


def _pair(observations):
    """(primary, secondary) observations, checked."""
    if isinstance(observations, dict):
        observations = list(observations.values())
    if not isinstance(observations, (list, tuple)) or len(observations) != 2:
        raise DecisionError('expected the observations of the two nodes of one pair, got %r' % (observations,))
    for obs in observations:
        if not isinstance(obs, dict):
            raise DecisionError('an observation must be a dict, got %r' % (obs,))
        missing = [k for k in OBSERVATION_KEYS if k not in obs]
        if missing:
            raise DecisionError('observation of %s lacks %s' % (obs.get('host'), ', '.join(missing)))
    a, b = observations
    if {a['role'], b['role']} != {'primary', 'secondary'} or a['peer'] != b['host'] or b['peer'] != a['host']:
        raise DecisionError('%s and %s are not the two nodes of one pair' % (a['host'], b['host']))
    return (a, b) if a['role'] == 'primary' else (b, a)


def hung(obs):
    """A dhcpd process runs but OMAPI does not answer (hung, e.g. stopped by SIGSTOP)."""
    return obs['reachable'] and obs['dhcpd_running'] is True and not obs['omapi']


def own_key(obs):
    """What a node hands out by itself: FREE on the primary, BACKUP on the secondary."""
    return 'free' if obs['role'] == 'primary' else 'backup'


def _count(obs, key):
    return _int((obs['leases'] or {}).get(key), 0)


def _proc(obs):
    if obs['dhcpd_running'] is True:
        return 'dhcpd running'
    if obs['dhcpd_running'] is False:
        return 'dhcpd not running'
    return 'dhcpd process unknown (pgrep failed)'


def _seen_from(other):
    """What ``other`` sees of its partner (probes run from it)."""
    if not other['reachable']:
        return 'not checkable (Ansible cannot reach %s)' % other['host']
    if other['partner_ping'] is None and other['partner_port'] is None:
        return 'not probed'
    unknown = 'not checkable (ping failed to run on %s)' % other['host']
    ping = {True: 'answers', False: 'no answer'}.get(other['partner_ping'], unknown)
    port = {True: 'open', False: 'closed'}.get(other['partner_port'], 'not checked')
    return 'ping %s, failover port %s' % (ping, port)


def findings(observations):
    """One line per node: what was seen of it, on it and from its partner."""
    p, s = _pair(observations)
    lines = []
    for n, o in ((p, s), (s, p)):
        if not n['reachable']:
            seen = 'Ansible cannot reach it'
        elif n['omapi']:
            seen = '%s, state %s, sees partner as %s' % (_proc(n), n['state'], n['partner_state'])
        elif hung(n):
            seen = ('dhcpd running but not answering OMAPI (%s): hung, e.g. stopped by a signal' % n['error'])
        else:
            seen = '%s, state unreadable over OMAPI (%s)' % (_proc(n), n['error'])
        lines.append('%s (%s): %s; seen from %s: %s' % (n['host'], n['role'], seen, o['host'], _seen_from(o)))
    return lines


def _name(obs):
    """A node's state for a sentence: its state, or why there is none."""
    if obs['state']:
        return obs['state']
    if hung(obs):
        return 'running dhcpd that does not answer OMAPI (hung)'
    return 'not answering (%s)' % obs['error']


def _age(obs, now):
    return max(int(now) - (obs['stos'] or int(now)), 0)


def _format_age(obs, now):
    if not obs['state']:
        return '-'
    age = _age(obs, now)
    if age >= 86400:
        return '%dd%02dh' % (age // 86400, age % 86400 // 3600)
    if age >= 3600:
        return '%dh%02dm' % (age // 3600, age % 3600 // 60)
    return '%dm%02ds' % (age // 60, age % 60)


def _dash(value):
    return '-' if value is None else value


def status_rows(observations, now):
    """The status table, as data (one dict per node, primary first)."""
    rows = []
    for n in _pair(observations):
        other = 'backup' if own_key(n) == 'free' else 'free'
        rows.append({
            'node': n['host'], 'role': n['role'], 'state': n['state'], 'omapi': n['omapi'],
            'dhcpd_running': n['dhcpd_running'], 'age': _age(n, now) if n['state'] else None,
            'mclt': n['mclt'], 'split': n['split'], 'unacked': n['unacked'], 'max_unacked': n['max_unacked'],
            'own': _count(n, own_key(n)), 'theirs': _count(n, other), 'free': _count(n, 'free'),
            'backup': _count(n, 'backup'), 'active': _count(n, 'active'),
            'allocated_since': _count(n, 'allocated_since'), 'leases_error': n['leases_error'],
            'in_maintenance': n['maintenance'] is not None,
        })
    return rows


def status_table(observations, now):
    fmt = '%-18s %-9s %-26s %8s %5s %5s %7s %6s %6s %6s %6s'
    lines = [fmt % ('node', 'role', 'state', 'for', 'mclt', 'split', 'unacked', 'own', 'free', 'backup', 'active')]
    for n, row in zip(_pair(observations), status_rows(observations, now)):
        state = row['state'] or ('RUNNING, NO OMAPI' if hung(n) else 'NOT ANSWERING')
        lines.append(fmt % (row['node'], row['role'], state, _format_age(n, now), _dash(row['mclt']),
                            _dash(row['split']), _dash(row['unacked']), row['own'], row['free'], row['backup'],
                            row['active']))
    return lines


def never_met(n):
    """n is in partner-down and has never heard a state from its partner: dhcpd reports the
    partner's state as unknown-state (measured: its partner stos is not 0 then) until the partner
    first talks to it, and keeps the last one heard in its lease file across restarts. The partner
    was never deployed (single-node mode, dhcpd_single_node) or never reached it."""
    return n['state'] == 'partner-down' and (n['partner_state'] == 'unknown-state' or not n['partner_stos'])


def _deploy_advice(n, o):
    other, host = o['host'], n['host']
    return ('%s has never talked to %s: it was never deployed (single-node mode, dhcpd_single_node) or never reached '
            'it. Deploy %s with netboot.dhcp_failover.site, both nodes in the run: it joins %s and the pair reaches '
            'NORMAL, without waiting out MCLT when %s never served.' % (other, host, other, host, other))


def _partner_down_issues(n, o, now):
    """A survivor in partner-down: is its own half of the pool enough until stos + MCLT?"""
    issues = []
    stos, mclt = n['stos'] or 0, n['mclt'] or 0
    own, theirs = _count(n, own_key(n)), _count(n, 'backup' if own_key(n) == 'free' else 'free')
    allocated = _count(n, 'allocated_since')
    usable = stos + mclt
    elapsed = max(int(now) - stos, 1)
    rate = allocated / elapsed
    runout = int(now + own / rate) if rate > 0 else None
    if _stuck_in_recover(o, n, now):
        pass  # o's own issue says what to do: restart dhcpd here, not bring o back.
    elif never_met(n) and not hung(o) and o['state'] is None:
        issues.append((NEEDS_ACTION, n['host'], '%s is in partner-down (since %d s) and serves every client; %s is '
                       '%s. %s' % (n['host'], _age(n, now), o['host'], _name(o), _deploy_advice(n, o))))
    elif not (o['state'] is None and o['maintenance'] is not None and not hung(o)):
        issues.append((NEEDS_ACTION, n['host'], '%s is in partner-down (since %d s) and serves every client; %s is %s. '
                       'Bring %s back (netboot.dhcp_failover.maintenance -e dhcp_ops_node=%s '
                       '-e dhcp_ops_action=end).'
                       % (n['host'], _age(n, now), o['host'], _name(o), o['host'], o['host'])))
    # A pool dhcpd has not written to its lease file yet (a fresh node alone) counts 0 and 0: unknown.
    if now < usable and n['leases'] is not None and own + theirs > 0:
        if own == 0:
            issues.append((NEEDS_ACTION, n['host'], "%s has no addresses of its own left; %s's %d become usable only "
                           'at %s (stos + MCLT): new clients get no address until then. Bring %s back now.'
                           % (n['host'], o['host'], theirs, when(usable), o['host'])))
        elif runout is not None and runout < usable:
            issues.append((NEEDS_ACTION, n['host'], "WARNING: at the rate seen since partner-down (%d new leases in "
                           "%d s) the %d own addresses of %s run out about %s, before %s's %d become usable at %s "
                           '(stos + MCLT). Bring %s back before then.'
                           % (allocated, elapsed, own, n['host'], when(runout), o['host'], theirs, when(usable),
                              o['host'])))
        else:
            rate_text = (', and at the rate seen (%d new in %d s) its own last until about %s'
                         % (allocated, elapsed, when(runout))) if runout is not None else ''
            issues.append((DEGRADED, n['host'], "%s has %d addresses of its own; %s's %d become usable at %s "
                           '(stos + MCLT)%s.' % (n['host'], own, o['host'], theirs, when(usable), rate_text)))
    return issues


def _absent_issues(n, o, now):
    """Issues of a node without a failover state (OMAPI did not answer)."""
    host, other = n['host'], o['host']
    if hung(n):
        return [(NEEDS_ACTION, host, "%s's dhcpd process runs but does not answer OMAPI (%s): it hangs (e.g. stopped "
                 'by a signal) and answers nobody, or OMAPI is not where dhcpd_omapi_port and dhcp_ops_omapi_host say. '
                 'Restart dhcpd there (if the restart hangs too, kill -CONT or kill -9 the process first).'
                 % (host, n['error']))]
    if o['state'] == 'partner-down' and n['maintenance'] is not None:
        return [(DEGRADED, host, '%s is in maintenance (dhcpd stopped, %s in partner-down serves every client). End it '
                 'with netboot.dhcp_failover.maintenance -e dhcp_ops_node=%s -e dhcp_ops_action=end.'
                 % (host, other, host))]
    if o['state'] == 'partner-down':
        # The partner's partner-down issue says to bring this node back.
        return []
    hint = (', or if it is down for good, netboot.dhcp_failover.recover puts %s in partner-down' % other
            if o['state'] in STUCK else '')
    return [(NEEDS_ACTION, host, '%s does not answer (%s): start dhcpd there%s.' % (host, n['error'], hint))]


def _stuck_issues(n, o, now):
    serves = (' and answers every client from its own %d addresses (leases capped at MCLT)' % _count(n, own_key(n))
              if n['state'] == 'communications-interrupted' else ' and answers nobody')
    return [(NEEDS_ACTION, n['host'], '%s is %s since %d s%s: check %s and the link between them; '
             'netboot.dhcp_failover.recover restarts the conversation or, once %s is confirmed down, puts %s in '
             'partner-down.' % (n['host'], n['state'], _age(n, now), serves, o['host'], o['host'], n['host']))]


def _unknown_state_issues(n, o, now):
    return [(NEEDS_ACTION, n['host'], '%s is in unknown-state and answers nobody: run netboot.dhcp_failover.recover '
             '(sets it to recover).' % n['host'])]


def _recover_wait_issues(n, o, now):
    return [(DEGRADED, n['host'], '%s is in recover-wait and answers nobody until %s (its old stos + MCLT); then it '
             'becomes NORMAL by itself. After a clean maintenance stop, netboot.dhcp_failover.maintenance '
             '-e dhcp_ops_action=end ends the wait at once.' % (n['host'], when((n['stos'] or 0) + (n['mclt'] or 0))))]


def _stuck_in_recover(node, partner, now):
    """n restarted during its recover while o stays in partner-down: o never finishes the update.

    Measured on dhcpd 4.4.3: a node killed while it fetches the partner's bindings (recover) and
    started again sends a new update-request-all; the partner logs "Received update request while
    old update still flying! Silently discarding old request." and never sends update-done, so
    the node sits in recover (answering nobody) for good. Restarting the node again or setting it
    to recover over OMAPI does not help; restarting dhcpd on the partner-down side does (NORMAL
    within seconds): its new process has no old update in flight.
    """
    # Each one's view of the other's state is current, so they talk over the failover link.
    return (node['state'] == 'recover' and partner['state'] == 'partner-down'
            and partner['partner_state'] == 'recover' and node['partner_state'] == 'partner-down'
            and int(now) - (node['stos'] or int(now)) > STUCK_RECOVER)


def _passing_issues(n, o, now):
    if _stuck_in_recover(n, o, now):
        return [(NEEDS_ACTION, n['host'], '%s is stuck in recover (for %d s, answers nobody): %s, in partner-down, '
                 'lost track of the update it sends when %s restarted during its recover. netboot.dhcp_failover.'
                 'recover restarts dhcpd on %s (seconds without service) and both become NORMAL.'
                 % (n['host'], _age(n, now), o['host'], n['host'], o['host']))]
    if n['state'] == 'recover-done' and o['state'] == 'normal':
        return [(NEEDS_ACTION, n['host'], "%s is stuck in recover-done (answers nobody) while %s is NORMAL: dhcpd's "
                 'recover-wait timer fired after the node was already NORMAL. netboot.dhcp_failover.recover '
                 'restarts it.' % (n['host'], o['host']))]
    return [(DEGRADED, n['host'], '%s is %s (for %d s), a passing state in which it answers nobody: run this again in '
             'a minute; if it stays, see netboot.dhcp_failover.recover.' % (n['host'], n['state'], _age(n, now)))]


def _halted_issues(n, o, now):
    return [(NEEDS_ACTION, n['host'], '%s is %s and answers nobody: restart dhcpd there.' % (n['host'], n['state']))]


def _normal_issues(n, o, now):
    issues = []
    if n['leases'] is not None and _count(n, own_key(n)) == 0:
        issues.append((DEGRADED, n['host'], '%s has no addresses of its own left (pool balancing moves them every few '
                       'minutes in NORMAL; if it stays, the pool is too small).' % n['host']))
    if n['max_unacked'] is not None and (n['unacked'] or 0) >= n['max_unacked']:
        issues.append((DEGRADED, n['host'], '%s has %d unacknowledged updates, its maximum: the link to %s is slow or '
                       '%s is overloaded.' % (n['host'], n['unacked'], o['host'], o['host'])))
    return issues


def _other_issues(n, o, now):
    return [(NEEDS_ACTION, n['host'], '%s is in a state this collection does not know (%s): see '
             'netboot.dhcp_failover.recover.' % (n['host'], n['state']))]


STATUS_RULES = dict(
    [(None, _absent_issues), ('unknown-state', _unknown_state_issues), ('partner-down', _partner_down_issues),
     ('recover-wait', _recover_wait_issues), ('normal', _normal_issues)]
    + [(state, _stuck_issues) for state in STUCK]
    + [(state, _passing_issues) for state in PASSING]
    + [(state, _halted_issues) for state in HALTED])


def _node_issues(n, o, now):
    """Status issues of node n (o is its partner), as (level, node, message)."""
    issues = STATUS_RULES.get(n['state'], _other_issues)(n, o, now)
    if n['state'] is not None and n['leases_error']:
        issues.append((DEGRADED, n['host'], 'lease file of %s not readable: %s' % (n['host'], n['leases_error'])))
    return issues


def pair_verdict(observations, now):
    """Status of one pair: healthy, degraded or needs action, and what to do.

    Returns ``{verdict, node, findings, why, issues, rows, table}``: ``issues`` is a list of
    ``{level, node, why}``; ``node`` and ``why`` are those of the first most severe issue
    (None and "both peers NORMAL; nothing to do" when healthy).
    """
    p, s = _pair(observations)
    issues = _node_issues(p, s, now) + _node_issues(s, p, now)
    levels = [level for level, _n, _w in issues]
    verdict = NEEDS_ACTION if NEEDS_ACTION in levels else DEGRADED if DEGRADED in levels else HEALTHY
    first = next((i for i in issues if i[0] == verdict), None)
    return {
        'verdict': verdict,
        'node': first[1] if first else None,
        'why': first[2] if first else 'both peers NORMAL; nothing to do',
        'issues': [{'level': level, 'node': node, 'why': why} for level, node, why in issues],
        'findings': findings((p, s)),
        'rows': status_rows((p, s), now),
        'table': status_table((p, s), now),
    }


def _confirmed_dead(n, o):
    """n is down, as seen from o: its failover port is closed from o, and its dhcpd is not running
    (or, when Ansible cannot reach n, n does not answer ping either)."""
    if not (o['reachable'] and o['partner_port'] is False):
        return False
    if n['reachable']:
        return n['dhcpd_running'] is False
    return o['partner_ping'] is False


def _alive(n, o):
    return n['state'] is not None or n['dhcpd_running'] is True or (o['reachable'] and o['partner_port'] is True)


def _other(pair, n):
    return pair[1] if n is pair[0] else pair[0]


def _rule_both_normal(pair, now):
    if pair[0]['state'] == 'normal' and pair[1]['state'] == 'normal':
        return None, None, 'Both nodes are NORMAL: nothing to recover.'
    return False


def _rule_unknown_state(pair, now):
    for n in pair:
        if n['state'] == 'unknown-state':
            return 'recover', n, ('%s is in unknown-state and answers nobody: will set it to recover, so it fetches '
                                  'every binding from %s, and wait for NORMAL.' % (n['host'], _other(pair, n)['host']))
    return False


def _talking(pair):
    return all(n['reachable'] and n['partner_port'] is True for n in pair)


def _rule_late_recover_done(pair, now):
    for n in pair:
        o = _other(pair, n)
        if (n['state'] == 'recover-done' and o['state'] == 'normal' and int(now) - (n['stos'] or 0) > LATE_RECOVER_DONE
                and _talking(pair)):
            return 'restart', n, ("%s is stuck in recover-done (answers nobody) while %s is NORMAL: dhcpd's "
                                  'recover-wait timer fired after it was already NORMAL. Will restart dhcpd on %s (%s '
                                  'keeps serving) and wait for NORMAL.' % (n['host'], o['host'], n['host'], o['host']))
    return False


def _rule_stuck_recover(pair, now):
    for n in pair:
        o = _other(pair, n)
        # Restarted only when Ansible also sees both reach each other's failover port.
        if _stuck_in_recover(n, o, now) and _talking(pair):
            return 'restart', o, ('%s has been in recover for %d s (answers nobody) while %s is in partner-down and '
                                  'both reach each other: %s lost track of the update it sends when %s restarted '
                                  'during its recover, and only a new %s process sends it again. Will restart dhcpd '
                                  'on %s (it answers nobody for a few seconds) and wait for NORMAL.'
                                  % (n['host'], _age(n, now), o['host'], o['host'], n['host'], o['host'], o['host']))
    return False


def _rule_hung(pair, now):
    for n in pair:
        if hung(n):
            return None, n, ("%s's dhcpd process runs but does not answer OMAPI (%s): it hangs (e.g. stopped by a "
                             'signal). Nothing was changed: a running process is never declared down. Restart dhcpd '
                             'on %s (if the restart hangs too, kill -CONT or kill -9 the process first); %s is %s '
                             'meanwhile.' % (n['host'], n['error'], n['host'], _other(pair, n)['host'],
                                             _name(_other(pair, n))))
    return False


def _stuck(pair):
    return [n for n in pair if n['state'] in STUCK]


def _rule_partner_confirmed_down(pair, now):
    stuck = _stuck(pair)
    if not stuck or not _confirmed_dead(_other(pair, stuck[0]), stuck[0]):
        return False
    n = stuck[0]
    o = _other(pair, n)
    how = 'dhcpd is not running there' if o['reachable'] else 'Ansible cannot reach it and it does not answer ping'
    return 'partner-down', n, ("%s is confirmed down (failover port closed from %s, and %s): will put %s (%s) in "
                               "partner-down so it serves every client. %s's addresses become usable to it after "
                               'stos + MCLT.' % (o['host'], n['host'], how, n['host'], n['state'], o['host']))


def _rule_restart_stuck(pair, now):
    stuck = _stuck(pair)
    if not stuck or not _alive(_other(pair, stuck[0]), stuck[0]) or not _talking(pair):
        return False
    n = stuck[0]
    if len(stuck) == 2 and not (stuck[0]['state'] == 'resolution-interrupted'
                                and stuck[1]['state'] != 'resolution-interrupted'):
        # Both stuck: restart the one that serves nobody (resolution-interrupted), else the secondary.
        n = stuck[1]
    o = _other(pair, n)
    if o['state'] in PASSING:
        return None, None, ('%s is %s, a passing state: wait a minute and run this again before restarting '
                            'anything.' % (o['host'], o['state']))
    if o['state'] not in SERVING and n['state'] in SERVING:
        return None, None, ('%s (%s) is the only node serving clients while %s is %s: restarting it would leave nobody '
                            'serving. Nothing was changed; see netboot.dhcp_failover.status for what %s waits for.'
                            % (n['host'], n['state'], o['host'], _name(o), o['host']))
    return 'restart', n, ("Both nodes run dhcpd and reach each other's failover port, yet %s is %s: will restart dhcpd "
                          'on %s to restart the conversation (%s keeps serving meanwhile) and wait for NORMAL.'
                          % (n['host'], n['state'], n['host'], o['host']))


def _rule_stuck_link(pair, now):
    stuck = _stuck(pair)
    if not stuck or not _alive(_other(pair, stuck[0]), stuck[0]):
        return False
    n, o = stuck[0], _other(pair, stuck[0])['host']
    return None, None, ('%s is %s but %s is not down (it answers OMAPI, runs dhcpd or its failover port is open) and '
                        'the two do not both reach each other: a network problem between them or with Ansible. '
                        'Nothing was changed: fix the link. Do not force partner-down while %s may still serve '
                        'clients.' % (n['host'], n['state'], o, o))


def _rule_stuck_unconfirmed(pair, now):
    stuck = _stuck(pair)
    if not stuck:
        return False
    n, o = stuck[0], _other(pair, stuck[0])['host']
    return None, None, ('%s is %s and the death of %s cannot be confirmed (see above). Nothing was changed. If you '
                        'know it is down (powered off), put %s in partner-down with '
                        'netboot.dhcp_failover.failover_state force=true, or make it checkable and run this again.'
                        % (n['host'], n['state'], o, n['host']))


def _rule_partner_down(pair, now):
    survivors = [n for n in pair if n['state'] == 'partner-down']
    if not survivors:
        return False
    n = survivors[0]
    o = _other(pair, n)
    if o['state'] == 'recover-wait':
        then = ('It answers nobody until %s (its old stos + MCLT) and then becomes NORMAL by itself; if it was stopped '
                'with netboot.dhcp_failover.maintenance, end the maintenance instead (it can skip the wait when the '
                'stop was clean).' % when((o['stos'] or 0) + (o['mclt'] or 0)))
    elif not o['state'] and never_met(n) and not hung(o):
        then = _deploy_advice(n, o)
    elif not o['state']:
        then = 'Bring it back with netboot.dhcp_failover.maintenance -e dhcp_ops_node=%s -e dhcp_ops_action=end.' % (
            o['host'])
    else:
        then = 'Wait a minute and run this again.'
    return None, None, '%s is in partner-down and serves every client; %s is %s. %s' % (
        n['host'], o['host'], o['state'] or 'not running', then)


def _rule_nobody_answers(pair, now):
    if pair[0]['state'] is None and pair[1]['state'] is None:
        return None, None, ('No dhcpd of this pair answers: nobody serves these clients. Start dhcpd on both '
                            '(netboot.dhcp_failover.site).')
    return False


def _rule_otherwise(pair, now):
    return None, None, ('No stuck state this playbook handles (states %s / %s): passing states settle by themselves; '
                        'see netboot.dhcp_failover.status.' % (_name(pair[0]), _name(pair[1])))


# The rows of the README's recover table, in order: the first rule that applies decides.
RECOVER_RULES = (_rule_both_normal, _rule_unknown_state, _rule_late_recover_done, _rule_stuck_recover, _rule_hung,
                 _rule_partner_confirmed_down, _rule_restart_stuck, _rule_stuck_link, _rule_stuck_unconfirmed,
                 _rule_partner_down, _rule_nobody_answers, _rule_otherwise)


def recover_plan(observations, now):
    """What recover.yml does with one pair: ``{action, node, findings, why, rule}``.

    ``action`` is None (nothing), ``partner-down`` (set node to partner-down), ``recover`` (set
    node to recover and wait for NORMAL) or ``restart`` (restart dhcpd on node, wait for NORMAL).
    """
    pair = _pair(observations)
    for rule in RECOVER_RULES:
        decided = rule(pair, now)
        if decided is not False:
            action, n, why = decided
            return {'action': action, 'node': n['host'] if n else None, 'findings': findings(pair), 'why': why,
                    'rule': rule.__name__[len('_rule_'):]}
    raise AssertionError('the last recover rule always decides')


def _target(observations, node):
    p, s = _pair(observations)
    if node == p['host']:
        return p, s
    if node == s['host']:
        return s, p
    raise DecisionError('%r is not a node of the pair %s / %s' % (node, p['host'], s['host']))


# Binding states in which a client may hold the address (dhcpd's BINDING_STATES): what a node told
# a client lives on in these. free, backup, expired, released, abandoned and reset give nobody
# anything, and the two peers routinely disagree on them (pool balancing moves addresses between
# free and backup), so they prove nothing either way.
HELD = ('active', 'bootp', 'reserved')
# How many unknown bindings a record and a report list (the count is always complete).
SHOWN_UNKNOWN = 5


def _client(record):
    return (record.get('hardware_address'), record.get('uid'))


def _ends(record):
    # None is "never" (an infinite lease): later than any time.
    ends = record.get('ends')
    return float('inf') if ends is None else ends


def binding_unknown(mine, theirs, earlier=()):
    """Why the partner does NOT hold the node's binding ``mine`` the same way (None: it does).

    ``mine`` is the node's last entry for an address, ``theirs`` the partner's last entry for it
    (or None), ``earlier`` the partner's entries for it before that, in file order; all lease_info
    records. The partner holds it the same way when its last entry binds the address to the same
    client (hardware address and client identifier) in the same state until at least the same end:
    then it neither hands the address to another client before the node's client lets it go, nor
    forgets the binding when the node fetches the partner's database in recover. It also knew it
    when an earlier entry is the node's binding itself (the same, starting at the same second):
    whatever the partner wrote about the address after that (the client released it, renewed it)
    it did knowing the binding.
    """
    if any(_held_as(mine, entry) is None and entry.get('starts') == mine.get('starts') for entry in earlier):
        return None
    return _held_as(mine, theirs)


def _held_as(mine, theirs):
    if theirs is None:
        return 'not in the partner\'s lease file'
    if theirs.get('binding_state') != mine.get('binding_state'):
        return 'the partner has it %s' % theirs.get('binding_state')
    if _client(theirs) != _client(mine):
        return 'the partner has it bound to another client (%s)' % (theirs.get('hardware_address')
                                                                    or theirs.get('uid') or 'none')
    if _ends(theirs) < _ends(mine):
        return 'the partner has it ending %s, before %s' % (when(theirs['ends']),
                                                            'never' if mine.get('ends') is None else when(mine['ends']))
    return None


def _records(result, whose):
    """(records by address, error) from a registered lease_info result with records=true."""
    if not isinstance(result, dict) or result.get('skipped') or _unreachable(result):
        return None, '%s lease file was not read' % whose
    if result.get('failed') or not isinstance(result.get('records'), list):
        return None, '%s lease file could not be read (%s)' % (whose, result.get('msg') or 'no records')
    return dict((r['address'], r) for r in result['records'] if isinstance(r, dict) and 'address' in r), None


def stop_proof(node_leases, partner_leases, node_running=True):
    """Whether the stopped node's bindings are all known to the partner: ``{clean, why_not_clean,
    bindings, unknown, unknown_count}``.

    ``node_leases`` is lease_info (``records: true``) of the node's lease file read after dhcpd
    stopped there, ``partner_leases`` the same (with ``history: true``) of the partner's file read
    after that. Clean when
    every binding the node holds for a client (HELD states) is held the same way by the partner
    (binding_unknown); a node without any such binding is the trivial case.
    """
    reasons = []
    if not node_running:
        reasons.append('dhcpd was not running when the maintenance started (its lease file may not be its last word)')
    mine, error = _records(node_leases, "the node's")
    if error:
        reasons.append(error)
    elif (node_leases or {}).get('partial_tail'):
        reasons.append("the node's lease file ends in a half-written entry (line %s)" % node_leases['partial_tail'])
    theirs, partner_error = _records(partner_leases, "the partner's")
    history = {}
    for entry in (partner_leases or {}).get('history') or []:
        if isinstance(entry, dict) and 'address' in entry:
            history.setdefault(entry['address'], []).append(entry)
    held = sorted((r for r in (mine or {}).values() if r.get('binding_state') in HELD),
                  key=lambda r: tuple(int(part) for part in r['address'].split('.')))
    unknown = []
    if held and partner_error:
        reasons.append(partner_error)
    elif theirs is not None:
        for record in held:
            why = binding_unknown(record, theirs.get(record['address']), history.get(record['address'], ()))
            if why:
                unknown.append({'address': record['address'], 'client': record.get('hardware_address')
                                or record.get('uid'), 'why': why})
    if unknown:
        shown = '; '.join('%s (%s): %s' % (u['address'], u['client'], u['why']) for u in unknown[:SHOWN_UNKNOWN])
        more = ' and %d more' % (len(unknown) - SHOWN_UNKNOWN) if len(unknown) > SHOWN_UNKNOWN else ''
        reasons.append('%d of the node\'s %d bindings are not known to the partner the same way: %s%s'
                       % (len(unknown), len(held), shown, more))
    return {'clean': not reasons, 'why_not_clean': reasons, 'bindings': len(held),
            'unknown': unknown[:SHOWN_UNKNOWN], 'unknown_count': len(unknown)}


def lease_note(stat):
    """The identity of the lease file (inode, size, mtime) from an ansible.builtin.stat ``stat``."""
    stat = stat or {}
    return [stat.get('inode'), stat.get('size'), stat.get('mtime')]


def _start(n, o, now, facts):
    if o['state'] not in SERVING:
        return 'refuse', ('Refusing maintenance of %s: its partner %s is %s, not serving clients (%s), so %s may be '
                          'the last server answering. Bring %s back first (netboot.dhcp_failover.status shows the '
                          'pair; netboot.dhcp_failover.recover helps with stuck states).'
                          % (n['host'], o['host'], _name(o), ', '.join(SERVING), n['host'], o['host'])), {}
    if not n['omapi'] and not hung(n) and o['state'] == 'partner-down':
        return 'nothing', ('%s is already in maintenance: dhcpd is stopped and %s is in partner-down. End it with '
                           '-e dhcp_ops_node=%s -e dhcp_ops_action=end.' % (n['host'], o['host'], n['host'])), {}
    first = ('stop dhcpd on %s' % n['host']) if n['omapi'] or hung(n) else ('keep dhcpd stopped on %s' % n['host'])
    # A second start (dhcpd already stopped) keeps the record of the first one.
    extra = {'write_record': n['omapi'] or n['maintenance'] is None, 'noticed_states': list(NOTICED)}
    return 'stop', ('Will %s, confirm from %s that its failover port no longer answers, then put %s in partner-down '
                    'so it serves every client.' % (first, o['host'], o['host'])), extra


def _record(n, o, now, facts):
    proof = stop_proof(facts['node_leases'], facts['partner_leases'], node_running=n['omapi'] or hung(n))
    count = facts['count'] or {}
    deadline = (n['stos'] + n['mclt']) if n['stos'] and n['mclt'] else None
    if proof['clean']:
        why = ('Clean stop: %s' % ('every one of the %d bindings of %s is held the same way by %s'
                                   % (proof['bindings'], n['host'], o['host']) if proof['bindings']
                                   else '%s holds no binding for any client (nothing to prove)' % n['host'])
               + '. End will move %s from recover-wait to recover-done at once.' % n['host'])
    else:
        why = ('NOT a clean stop: %s. End will wait in recover-wait until %s.'
               % ('; '.join(proof['why_not_clean']),
                  ('%s (old stos + MCLT, %d s from now)' % (when(deadline), max(deadline - int(now), 0)))
                  if deadline else "the node's old stos + MCLT (not read before the stop)"))
    return 'record', why, {'record': {
        'node': n['host'],
        'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(now))),
        'started_epoch': int(now),
        'unacked_updates': _int(count.get('cur_unacked_updates')),
        'clean': proof['clean'],
        'why_not_clean': proof['why_not_clean'],
        'bindings': proof['bindings'],
        'unknown_bindings': proof['unknown'],
        'unknown_count': proof['unknown_count'],
        'recover_wait_until_epoch': None if proof['clean'] else deadline,
        # end trusts "clean" only if the lease file is still exactly the one the proof read.
        'lease_file_at_proof': lease_note(facts['lease_stat']),
    }}


def _end(n, o, now, facts):
    record = n['maintenance'] or {}
    running = n['omapi']
    doubts = [] if record else ['no maintenance record on %s' % n['host']]
    doubts += list(record.get('why_not_clean') or [])
    if record and running:
        doubts.append('dhcpd already runs on %s (it rewrote its lease file after the stop)' % n['host'])
    if record and not running and record.get('lease_file_at_proof') != lease_note(facts['lease_stat']):
        doubts.append('the lease file changed since the proof read it after the stop (dhcpd ran since, or the '
                      'file was restored or edited)')
    is_clean = bool(record.get('clean')) and not doubts
    if is_clean:
        then = ('The record says the stop was clean (every binding of %s held the same way by %s) and the lease '
                'file is unchanged since: if %s comes back in recover-wait it is moved to recover-done at once.'
                % (n['host'], o['host'], n['host']))
    else:
        then = ('No clean stop on record (%s): if %s comes back in recover-wait, it waits until its old stos + MCLT; '
                'the deadline is shown then.' % ('; '.join(doubts), n['host']))
    action = 'keep' if running else 'start'
    return action, 'Will %s dhcpd on %s and wait until both peers are NORMAL. %s' % (action, n['host'], then), {
        'clean': is_clean, 'doubts': doubts, 'starting_states': list(STARTING)}


def _recover_wait(n, o, now, facts):
    deadline = (n['stos'] or 0) + (n['mclt'] or 0)
    left = max(deadline - int(now), 0)
    extra = {'deadline_epoch': deadline, 'deadline': when(deadline), 'seconds_left': left}
    if n['state'] != 'recover-wait':
        return 'none', '%s is %s: no recover-wait to end.' % (n['host'], _name(n)), extra
    if facts['clean']:
        return 'recover-done', ('%s is in recover-wait and would answer nobody until %s (old stos + MCLT, %d s from '
                                'now). The stop was clean: moving it to recover-done now.'
                                % (n['host'], when(deadline), left)), extra
    return 'wait', ('%s is in recover-wait and answers nobody until %s (old stos + MCLT, %d s from now). The stop was '
                    'not known to be clean: waiting for the deadline.' % (n['host'], when(deadline), left)), extra


MAINTENANCE_STEPS = {'start': _start, 'record': _record, 'end': _end, 'recover-wait': _recover_wait}


def maintenance_plan(observations, node, action, now, *, count=None, lease_stat=None, clean=None, node_leases=None,
                     partner_leases=None):
    """What maintenance.yml does for ``node`` of this pair, as data.

    ``action``:

    - ``start``: ``action`` is ``refuse`` (the partner is not serving: the node may be the last
      one answering), ``nothing`` (already in maintenance) or ``stop`` (with ``write_record``
      and ``noticed_states``, the partner's states that show it noticed the stop).
    - ``record``: the verdict on the stop and the maintenance record to write on the node
      (``action`` ``record``, ``record``: the dict, ``why``: the verdict with the recover-wait
      deadline when the wait will be needed). Needs ``node_leases`` (lease_info with records of
      the node's lease file, read after dhcpd stopped), ``partner_leases`` (the same of the
      partner's file, read after that) and ``lease_stat`` (the node's lease file's stat taken just
      before its read); ``count`` (the node's last failover state read before the stop) is kept
      for information. See stop_proof.
    - ``end``: ``action`` is ``start`` (dhcpd is stopped) or ``keep`` (it runs); ``clean``
      says whether recover-wait may be skipped (the clean-stop rule), ``doubts`` why not,
      ``starting_states`` the states the restarted node passes through first. Needs
      ``lease_stat`` (the lease file's stat taken just now, before dhcpd starts).
    - ``recover-wait`` (after end started the node): ``action`` is ``recover-done`` (clean
      stop: end the wait now), ``wait`` (until ``deadline_epoch``) or ``none`` (no wait).
      Needs ``clean`` (from ``end``).
    """
    if action not in MAINTENANCE_STEPS:
        raise DecisionError('action must be %s, not %r' % (', '.join(MAINTENANCE_STEPS), action))
    n, o = _target(observations, node)
    decided, why, extra = MAINTENANCE_STEPS[action](
        n, o, now, {'count': count, 'lease_stat': lease_stat, 'clean': clean, 'node_leases': node_leases,
                    'partner_leases': partner_leases})
    plan = {'action': decided, 'node': n['host'], 'partner': o['host'], 'findings': findings(observations), 'why': why}
    plan.update(extra)
    return plan


def partner_down_probe(probe, partner, partner_address, force=False):
    """May a node be put in partner-down, given the liveness probe it ran for its partner's clients?

    ``probe``: what ``netboot.dhcp_failover.dhcp_probe`` returned on the node with ``bucket_of`` the
    partner's role (a DISCOVER, secs 0, for a client the partner answers in NORMAL), or None when it
    did not run. An offer from ``partner_address`` proves the partner serves clients: partner-down
    then lets both peers hand out the same addresses once stos + MCLT has passed (ISC's warning), so
    it is refused unless ``force``. A probe that did not run or failed proves nothing: refused too.
    Returns ``{allow, partner_offered, why}``.
    """
    if not partner or not partner_address:
        raise DecisionError('partner and partner_address are required, got %r and %r' % (partner, partner_address))
    if probe is not None and not isinstance(probe, dict):
        raise DecisionError('probe must be the registered dhcp_probe result (a dict), not %r' % (probe,))
    if probe is None or probe.get('failed') or probe.get('skipped') or not isinstance(probe.get('servers'), list):
        reason = (probe or {}).get('msg') or 'the probe did not run'
        if force:
            return {'allow': True, 'partner_offered': None,
                    'why': 'The liveness probe gave no answer (%s); partner-down is forced.' % reason}
        return {'allow': False, 'partner_offered': None,
                'why': ('The liveness probe gave no answer (%s), so whether %s still serves clients is unknown: '
                        'partner-down refused. Set force=true only if %s is known to be down.'
                        % (reason, partner, partner))}
    offers = [o for o in probe.get('offers') or [] if o.get('server_id') == partner_address]
    if not offers:
        others = ', '.join(probe['servers']) or 'nobody'
        return {'allow': True, 'partner_offered': False,
                'why': ('%s (%s) did not offer to a client of its bucket (%s): it does not serve new clients '
                        '(offers came from %s).' % (partner, partner_address, probe.get('mac'), others))}
    offer = offers[0]
    seen = ('%s (%s) offered %s to %s, a client of its bucket, %.3f s after the DISCOVER: it serves clients'
            % (partner, partner_address, offer.get('yiaddr'), probe.get('mac'), offer.get('elapsed') or 0))
    if force:
        return {'allow': True, 'partner_offered': True,
                'why': '%s; partner-down is forced: both may hand out the same addresses after stos + MCLT.' % seen}
    return {'allow': False, 'partner_offered': True,
            'why': ('%s. Partner-down with a live partner lets both hand out the same addresses after stos + MCLT: '
                    'refused. Fix the failover link instead (force=true overrides).' % seen)}
