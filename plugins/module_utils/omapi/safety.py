# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which local-state changes an operator may ask for, and when they are refused.

Settable states and why (dhcpd 4.4 server/failover.c):

* ``partner-down``: the survivor of a dead partner serves every client and, after stos + MCLT,
  the partner's addresses too. If the partner is in fact alive, both servers hand out the same
  addresses. Refused while this server's failover link is up (local state ``normal``), while it
  is not in an interrupted state, or while the partner's failover port accepts a TCP connection.
* ``recover``: the server drops its view of the bindings, asks the partner for all of them and
  serves nothing until it is back in ``normal``. It never creates duplicate leases, but it is an
  outage if this server is the only one serving: refused in ``partner-down`` and
  ``communications-interrupted``.
* ``recover-done``: ends the ``recover-wait`` MCLT wait early. Safe only when this server had no
  unacknowledged updates when it went down, which dhcpd cannot tell after a restart: only from
  ``recover-wait``, and only with force.
* ``normal`` is never offered: dhcpd reaches it itself when both peers talk and agree. Forcing
  it skips conflict resolution and the binding exchange, which is how pairs end up handing out
  the same address from both sides.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

SETTABLE_STATES = ('partner-down', 'recover', 'recover-done')

INTERRUPTED_STATES = ('communications-interrupted', 'resolution-interrupted')
SERVING_ALONE_STATES = ('partner-down', 'communications-interrupted')

DUPLICATE_RISK = ('If the partner is in fact running, both servers then allocate from the whole pool '
                  'and can hand out the same address to two clients.')


def port_answers(host, port, timeout):
    """True when a TCP connection to host:port succeeds (the partner's failover listener)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, socket.error):
        return False
    sock.close()
    return True


def refusal(info, target, force, *, partner_address=None, partner_port=None, probe=port_answers,
            probe_timeout=3.0):
    """None when setting ``target`` is allowed, else a message saying why not and what to do.

    ``info`` is the decoded failover-state before the change. ``probe`` is injectable so the
    rules can be unit-tested; the real one opens a TCP connection and sends nothing.
    """
    if target not in SETTABLE_STATES:
        return ('state %r cannot be set: valid states are %s (normal is reached by dhcpd itself when both '
                'peers talk; setting it by hand skips conflict resolution)' % (target, ', '.join(SETTABLE_STATES)))
    local = info['local_state']
    if target == 'partner-down':
        if force:
            return None
        return _partner_down_refusal(local, partner_address, partner_port, probe, probe_timeout)
    if target == 'recover':
        return _recover_refusal(local, force)
    return _recover_done_refusal(local, force)


def _recover_refusal(local, force):
    if local in SERVING_ALONE_STATES and not force:
        return ('refusing recover: this server is in %s, i.e. it may be the only one answering clients; '
                'in recover it answers nobody until its partner is reachable and has sent every binding. '
                'Set force: true if the outage is intended.' % local)
    return None


def _recover_done_refusal(local, force):
    if local != 'recover-wait':
        return ('refusing recover-done: local state is %s, not recover-wait; recover-done only ends the '
                'MCLT wait of a recovered server, from any other state it skips the binding exchange'
                % local)
    if not force:
        return ('refusing recover-done without force: it ends the MCLT wait early, which is safe only if this '
                'server had no unacknowledged updates (cur_unacked_updates 0 in failover_info) when it was '
                'stopped; otherwise a client can hold a lease the partner does not know about. Check that, then '
                'set force: true.')
    return None


def _partner_down_refusal(local, partner_address, partner_port, probe, probe_timeout):
    if local == 'normal':
        return ('refusing partner-down: local state is normal, so this server is talking to its partner right '
                'now. ' + DUPLICATE_RISK + ' Set force: true only if you know the partner is down.')
    if local not in INTERRUPTED_STATES:
        return ('refusing partner-down: local state is %s; partner-down is meant for a server in '
                'communications-interrupted whose partner is down. ' % local + DUPLICATE_RISK
                + ' Set force: true to override.')
    if not partner_address:
        return ('refusing partner-down without partner_address: the module checks that the partner\'s failover '
                'port no longer answers before declaring it down (dhcpd\'s OMAPI object does not tell the '
                'partner\'s address). Give partner_address (and partner_port), or set force: true.')
    if probe(partner_address, partner_port, probe_timeout):
        return ('refusing partner-down: the partner\'s failover port %s:%s accepts connections, so its dhcpd '
                'is running and only the failover link between the peers is broken. ' % (partner_address, partner_port)
                + DUPLICATE_RISK + ' Repair the link, or stop the partner; force: true overrides this check.')
    return None
