# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Single-node mode: bringing up a pair with one node missing, and joining it later.

Pure decisions, no host is contacted; ``now`` is always passed in. site.yml gathers what it saw
and acts on what these return:

* ``single_node_mode``: is this pair in single-node mode (``dhcpd_single_node``), and is the
  value valid? Runs in the controller preflight, before any host is touched.
* ``single_node_plan``: may HOST be put in partner-down (the other node is confirmed not
  serving), and, once it is, what HOST serves now and when the rest becomes usable.
* ``never_served``: has a node provably never served (judged from its lease files' content,
  before its dhcpd starts)?
* ``join_plan``: a node started next to a partner in partner-down sits in recover-wait: end the
  wait at once (recover-done) when it never served, else wait until stos + MCLT.

Why recover-done is safe for a node that never served: recover-wait exists because a node that
lost contact may have handed out leases its partner never heard of; waiting until its stos +
MCLT lets every such lease expire (a lease is never extended past what the partner acknowledged
plus MCLT) before the two split the pool again. A node reaches recover-wait only after it has
fetched every binding from its partner (UPDREQALL, UPDDONE). A node that never ran dhcpd with a
pool has handed out nothing, so there is nothing to expire: once it holds the partner's database
it knows every binding there is. The proof is the lease file's content, not its presence: Debian's
postinst starts dhcpd once at install (it fails without a subnet) and leaves a ``dhcpd.leases~``
and an empty ``dhcpd.leases``; any lease record or saved failover state means dhcpd ran with a
pool, and then the full wait applies.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.decisions import DecisionError, partner_down_probe

VARIABLE = 'dhcpd_single_node'
# A node alone passes through these before it can be put in partner-down.
STARTING = ('startup',)
# Where the joined node must be before recover-done means anything: it has fetched the partner's
# database (dhcpd enters recover-wait only after UPDDONE).
RECOVER_WAIT = 'recover-wait'


def when(epoch):
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(int(epoch)))


def _unreachable(result):
    return isinstance(result, dict) and bool(result.get('unreachable'))


def _ran(result):
    """A registered result that ran on a reachable host (not skipped)."""
    return isinstance(result, dict) and not result.get('skipped') and not _unreachable(result)


def _names(value):
    """The host names a dhcpd_single_node value gives (a list, or one string possibly with commas)."""
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).replace(';', ',').split(',') if part.strip()]


def single_node_mode(value, host, members, pairs):
    """Whether this host's pair runs in single-node mode, checked: ``{errors, enabled, node, absent}``.

    ``value`` is ``dhcpd_single_node`` as this host sees it (empty, None or false: off), ``host`` this
    inventory hostname, ``members`` its pair's two members, ``pairs`` every pair of the run (group ->
    members). ``node`` is the node to deploy, ``absent`` its partner (both None when off).
    """
    off = {'errors': [], 'enabled': False, 'node': None, 'absent': None}
    if value is None or value is False or (isinstance(value, str) and not value.strip()) or value == []:
        return off
    members = sorted(members or [])
    if len(members) != 2 or host not in members:
        raise DecisionError('%s is not one of the two members %r' % (host, members))
    every = sorted(set(m for group in (pairs or {}).values() for m in group))
    valid = ('one inventory hostname of a pair member: %s' % ', '.join(every)) if every else 'a pair member'
    if isinstance(value, (bool, int, float, dict)):
        return dict(off, errors=['%s=%r is invalid: expected %s (the node to deploy alone)' % (VARIABLE, value, valid)])
    names = _names(value)
    if len(names) > 1:
        same_pair = [g for g, group in sorted((pairs or {}).items()) if set(names) <= set(group)]
        why = ('both nodes of the pair %s are named: single-node mode deploys ONE node while the other is '
               'missing; to deploy both, leave %s unset' % (same_pair[0], VARIABLE)) if same_pair else (
            'it names %d nodes; name only the node to deploy alone' % len(names))
        return dict(off, errors=['%s=%r is invalid: %s (expected %s).' % (VARIABLE, value, why, valid)])
    name = names[0]
    if name not in every:
        return dict(off, errors=['%s=%r is not a member of any DHCP failover pair in this run (expected %s): '
                                 'single-node mode deploys one node of a pair whose other node is missing.'
                                 % (VARIABLE, value, valid)])
    if name not in members:
        # It names a node of another pair: this pair is deployed as usual.
        return off
    return {'errors': [], 'enabled': True, 'node': name, 'absent': [m for m in members if m != name][0]}


def _offers_from(probe, address):
    return [o for o in (probe.get('offers') or []) if o.get('server_id') == address or o.get('src_ip') == address]


def _seen(model, seen):
    """(findings, reasons to refuse) about the absent node from what HOST and Ansible saw."""
    absent = model['peer_host']
    address = model['peer_address']
    port_no = model['peer_failover_port']
    findings, refuse = [], []
    reach, pgrep, port, probe = (seen.get(k) for k in ('reach', 'pgrep', 'port', 'probe'))
    if not (isinstance(reach, dict) and reach.get('ping') == 'pong') or _unreachable(pgrep):
        why = (isinstance(reach, dict) and reach.get('msg')) or (isinstance(pgrep, dict) and pgrep.get('msg'))
        why = ' (%s)' % ' '.join(str(why).split())[:100] if why else ''
        findings.append('Ansible cannot reach %s%s' % (absent, why))
    elif _ran(pgrep) and pgrep.get('rc') == 1:
        findings.append('Ansible reaches %s and no dhcpd process runs there' % absent)
    elif _ran(pgrep) and pgrep.get('rc') == 0:
        findings.append('Ansible reaches %s and dhcpd RUNS there (pgrep: %s)'
                        % (absent, ' '.join(str(pgrep.get('stdout') or '').split()) or 'a process'))
        refuse.append('dhcpd runs on %s' % absent)
    else:
        findings.append('whether dhcpd runs on %s is unknown (%s)' % (
            absent, (isinstance(pgrep, dict) and pgrep.get('msg')) or 'not checked'))
        refuse.append('could not tell whether dhcpd runs on %s' % absent)
    if _ran(port):
        if port.get('state') == 'started':
            findings.append('its failover port %s:%s ACCEPTS connections from %s' % (address, port_no, model['host']))
            refuse.append('its failover port %s:%s is open from %s' % (address, port_no, model['host']))
        else:
            # wait_for under failed_when: false: only a connection gives state "started".
            findings.append('its failover port %s:%s is closed from %s' % (address, port_no, model['host']))
    else:
        findings.append('its failover port %s:%s was not checked from %s' % (address, port_no, model['host']))
        refuse.append('the failover port of %s could not be checked' % absent)
    # The same liveness rule recover.yml and maintenance.yml apply before partner-down.
    probed = partner_down_probe(probe if _ran(probe) else None, absent, address)
    if probed['partner_offered']:
        offer = _offers_from(probe, address)[0]
        findings.append('a DISCOVER for %s (a client of its hash bucket) got an OFFER of %s from it'
                        % (probe.get('mac'), offer.get('yiaddr')))
        refuse.append('%s answers clients of its hash bucket (offered %s to %s)'
                      % (absent, offer.get('yiaddr'), probe.get('mac')))
    elif probed['allow']:
        others = sorted(set(str(o.get('server_id')) for o in probe.get('offers') or []))
        findings.append('a DISCOVER for %s (a client of its hash bucket) got no offer from it%s'
                        % (probe.get('mac'), ' (other servers offered: %s)' % ', '.join(others) if others else ''))
    else:
        findings.append('the DHCP probe for a client of its hash bucket did not run (%s)'
                        % ((isinstance(probe, dict) and probe.get('msg')) or 'skipped'))
        refuse.append('could not ask whether %s answers its clients' % absent)
    return findings, refuse


def _role_of(model, host):
    return model['nodes'][host]['role'] if 'nodes' in model else model['role']


def single_node_plan(model, seen, now, host_state=None, host_leases=None):
    """Whether HOST (``model['host']``) may be put in partner-down, and what it serves then.

    ``model`` is HOST's ``dhcpd_pair_info``. ``seen`` holds what was registered about the absent
    node: ``reach`` (ping of it, ignore_unreachable), ``pgrep`` (``pgrep -x dhcpd`` on it),
    ``port`` (wait_for of its failover port, run on HOST) and ``probe`` (dhcp_probe on HOST for a
    client of the absent node's hash bucket). ``host_state`` (failover_info of HOST after
    partner-down: ``local_state``, ``local_stos_epoch``, ``mclt``) and ``host_leases`` (lease_info
    with ``role``) make the report exact; without them the times are relative to partner-down.

    Returns ``{action: go|refuse, node, absent, role, findings, why, serves_now, usable_at,
    seconds_left, advice}``.
    """
    if not isinstance(model, dict) or not model.get('host') or not model.get('peer_host'):
        raise DecisionError('expected the node\'s dhcpd_pair_info, got %r' % (model,))
    if not isinstance(seen, dict):
        raise DecisionError('expected a dict of what was seen of the absent node, got %r' % (seen,))
    host, absent = model['host'], model['peer_host']
    role = _role_of(model, host)
    findings, refuse = _seen(model, seen)
    findings = ['%s (%s, not deployed by this run): %s' % (absent, _role_of(model, absent), '; '.join(findings))]
    plan = {'node': host, 'absent': absent, 'role': role, 'findings': findings, 'serves_now': None,
            'usable_at': None, 'seconds_left': None, 'advice': None}
    if refuse:
        plan.update(action='refuse', why=(
            'Refusing single-node mode (%s=%s): %s is not confirmed down: %s. Single-node mode is for a pair whose '
            'other node is missing; putting %s in partner-down while %s serves would let both hand out the same '
            'addresses. Stop dhcpd on %s (or fix what could not be checked), or deploy both nodes without %s.'
            % (VARIABLE, host, absent, '; '.join(refuse), host, absent, absent, VARIABLE)))
        return plan
    mclt = int((host_state or {}).get('mclt') or model.get('mclt') or 0)
    stos = int((host_state or {}).get('local_stos_epoch') or 0)
    state = (host_state or {}).get('local_state')
    counts = host_leases if isinstance(host_leases, dict) and not host_leases.get('failed') else {}
    own, theirs = counts.get('own'), counts.get('theirs')
    if not (own or 0) + (theirs or 0):
        # dhcpd has not written its pool to the lease file yet: judged by the role alone.
        own = theirs = None
    plan['action'] = 'go'
    if state is None:
        plan['why'] = ('%s is confirmed not serving: %s (%s) will be put in partner-down over OMAPI once its dhcpd '
                       'runs.' % (absent, host, role))
        return plan
    if state != 'partner-down':
        plan.update(why='%s is %s, not partner-down: single-node mode did not complete.' % (host, state),
                    action='refuse')
        return plan
    usable = stos + mclt
    left = max(usable - int(now), 0)
    plan.update(usable_at=usable, seconds_left=left)
    serves_own = ('its %d own addresses' % own) if own is not None else (
        'every free address of the pool (a fresh pool belongs to the primary)')
    if role == 'secondary' and int((host_state or {}).get('mclt') or 0) == 0:
        # Measured (molecule single_node, before the role rendered mclt for secondaries): a secondary
        # takes MCLT from its primary's CONNECT, so one with no mclt in dhcpd.conf that never met its
        # primary runs with MCLT 0, and keeps "mclt 0" in its lease file across restarts until it does:
        # stos + 0 has passed at once, and every lease is capped at 0 s (dhclient refuses it).
        plan['serves_now'] = 'every client, with leases of 0 s'
        plan['usable_at'], plan['seconds_left'] = stos, 0
        plan['why'] = (
            '%s (secondary) is in partner-down since %s with MCLT 0: a secondary learns MCLT from its primary, '
            'which it has never met, so it answers every client at once but caps every lease at MCLT: 0 s. Clients '
            'get an address without a lease time (dhclient refuses it); PXE firmware that takes it must ask again '
            'at once. A fresh secondary alone cannot really serve.' % (host, when(stos)))
        plan['advice'] = ('Bring up the primary first (-e %s=%s) whenever you can choose: a fresh primary owns every '
                          'free address and serves at once with leases of up to MCLT (%d s). Deploy %s with a plain '
                          'netboot.dhcp_failover.site run as soon as it is back.' % (VARIABLE, absent, mclt, absent))
    elif own == 0 or (own is None and role == 'secondary'):
        plan['serves_now'] = 'nobody'
        plan['why'] = (
            '%s (%s) is in partner-down since %s and serves NOBODY yet: a fresh pool belongs to the primary, so the '
            'secondary owns no free address until stos + MCLT; %s addresses become usable to it at %s (%d s from '
            'now, MCLT %d s).' % (host, role, when(stos), theirs if theirs is not None else 'the', when(usable),
                                  left, mclt))
        plan['advice'] = ('Bring up the primary first when you can: a fresh primary owns every free address and '
                          'serves at once. Deploying %s later with a plain netboot.dhcp_failover.site run brings the '
                          'pair to NORMAL.' % absent)
    else:
        later = ('; the %d addresses %s owns become usable to it at %s (stos + MCLT, %d s from now)'
                 % (theirs, absent, when(usable), left)) if theirs else ''
        plan['serves_now'] = 'every client'
        plan['why'] = ('%s (%s) is in partner-down since %s and serves every client at once, from %s%s.'
                       % (host, role, when(stos), serves_own, later))
        plan['advice'] = ('Deploy %s when it is back with a plain netboot.dhcp_failover.site run (both nodes): it '
                          'joins and the pair reaches NORMAL without waiting out MCLT, as long as %s never served.'
                          % (absent, absent))
    return plan


def _lease_file_doubt(path, result):
    """Why one lease file (its lease_info result) does not prove that dhcpd never served, or None."""
    if not isinstance(result, dict) or result.get('skipped') or _unreachable(result):
        return '%s was not read' % path
    if result.get('failed') or not isinstance(result.get('counts'), dict):
        return '%s could not be read (%s)' % (path, result.get('msg') or 'no counts')
    if result.get('partial_tail'):
        return '%s ends in a half-written statement (line %s)' % (path, result['partial_tail'])
    total = int(result.get('total') or 0)
    if total:
        return '%s lists %d addresses: dhcpd has run there with a pool' % (path, total)
    peers = sorted((result.get('failover') or {}).keys())
    if peers:
        return '%s holds a saved failover state for %s: dhcpd has run there as a failover peer' % (
            path, ', '.join(peers))
    return None


def _lease_file(path, result):
    """(doubt or None, note) for one lease file read with lease_info, None when it does not exist."""
    if result is None:
        return None, '%s absent' % path
    doubt = _lease_file_doubt(path, result)
    return (doubt, None) if doubt else (None, '%s holds no lease and no failover state' % path)


def never_served(files, dhcpd_running):
    """Whether a node has provably never served: ``{never_served, why, doubts}``.

    ``files`` maps each lease file the node has (the lease file and dhcpd's ``~`` backup) to its
    lease_info result, None for a file that does not exist; None as a whole when the directory
    could not be listed. ``dhcpd_running`` is whether dhcpd ran there when the files were read
    (True, False, or None when unknown). Any doubt gives False: the full recover-wait then applies.
    """
    doubts, notes = [], []
    if dhcpd_running is not False:
        doubts.append('dhcpd %s there when the lease files were read' % (
            'was running' if dhcpd_running else 'may have been running (not checked)'))
    if not isinstance(files, dict):
        doubts.append('the lease files were not listed')
        files = {}
    for path in sorted(files):
        doubt, note = _lease_file(path, files[path])
        if doubt:
            doubts.append(doubt)
        if note:
            notes.append(note)
    proven = not doubts
    why = ('never served: %s' % ('; '.join(notes) if notes else 'no lease file')) if proven else (
        'not proven never to have served: %s' % '; '.join(doubts))
    return {'never_served': proven, 'why': why, 'doubts': doubts}


def join_plan(node, read, never, now):
    """How the node just started next to a partner in partner-down leaves recover-wait.

    ``read`` is failover_info of the node after it left startup and recover (``failover``:
    ``local_state``, ``partner_state``, ``local_stos_epoch``, ``mclt``), ``never`` the node's
    never_served verdict from before dhcpd started there (None if not judged).

    Returns ``{action, why, deadline_epoch, deadline, seconds_left}``: ``action`` is ``none`` (not in
    recover-wait), ``recover-done`` (never served: end the wait now) or ``wait`` (until the
    deadline, its stos + MCLT).
    """
    failover = (read or {}).get('failover') if isinstance(read, dict) else None
    if not isinstance(failover, dict):
        return {'action': 'none', 'why': '%s did not answer OMAPI (%s): nothing to decide.'
                % (node, (read or {}).get('msg') if isinstance(read, dict) else 'not read'),
                'deadline_epoch': None, 'deadline': None, 'seconds_left': None}
    state = failover.get('local_state')
    deadline = int(failover.get('local_stos_epoch') or 0) + int(failover.get('mclt') or 0)
    left = max(deadline - int(now), 0)
    extra = {'deadline_epoch': deadline, 'deadline': when(deadline), 'seconds_left': left}
    if state != RECOVER_WAIT:
        return dict(extra, action='none', why='%s is %s (partner %s): no recover-wait to end.'
                    % (node, state, failover.get('partner_state')))
    proof = never if isinstance(never, dict) else {'never_served': False, 'why': 'not judged before dhcpd started'}
    if proof.get('never_served'):
        return dict(extra, action='recover-done', why=(
            '%s is in recover-wait and would answer nobody until %s (stos + MCLT, %d s from now). It has fetched '
            'every binding from its partner and %s: it handed out nothing its partner does not know, so nothing '
            'needs to expire. Moving it to recover-done now.' % (node, when(deadline), left, proof.get('why'))))
    return dict(extra, action='wait', why=(
        '%s is in recover-wait and answers nobody until %s (stos + MCLT, %d s from now); %s, so it waits out the '
        'full MCLT (its partner serves every client meanwhile).' % (node, when(deadline), left, proof.get('why'))))
