# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dhcpd ``failover-state`` OMAPI object: state table, decoding, the one safe write.

dhcpd quirks this module encodes (server/failover.c, checked against a real dhcpd):

* only ``local-state`` is writable; writes to any other attribute answer success and do nothing,
  so every change is confirmed by reading the object back;
* dhcpd does NOT range-check ``local-state``: an unknown number makes it abort and stay broken
  after a restart. ``set_local_state`` therefore only ever sends numbers from ``STATES``;
* ``partner-address`` / ``local-address`` carry raw pointer bytes and ``skew``,
  ``last-packet-sent``, ``last-timestamp-received`` are always 0: they are dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.loadbalance import hba_to_split
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.errors import OmapiConnectionError, OmapiError
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.protocol import (
    decode_int,
    encode_int,
)

OBJECT_TYPE = 'failover-state'

# includes/failover.h, enum failover_state. 0 (unknown-state) is what dhcpd reports before it
# knows the partner's state; it is never a value to send.
STATES = {
    0: 'unknown-state',
    1: 'startup',
    2: 'normal',
    3: 'communications-interrupted',
    4: 'partner-down',
    5: 'potential-conflict',
    6: 'recover',
    7: 'paused',
    8: 'shutdown',
    9: 'recover-done',
    10: 'resolution-interrupted',
    11: 'conflict-done',
    254: 'recover-wait',
}
STATE_NUMBERS = dict((name, number) for number, name in STATES.items())
# The only numbers set_local_state will ever put on the wire.
SENDABLE_STATES = frozenset(number for number in STATES if number != 0)

ROLES = {0: 'primary', 1: 'secondary'}

_INT_ATTRIBUTES = (
    ('local-port', 'local_port'),
    ('partner-port', 'partner_port'),
    ('max-outstanding-updates', 'max_unacked_updates'),
    ('mclt', 'mclt'),
    ('load-balance-max-secs', 'load_balance_max_secs'),
    ('max-response-delay', 'max_response_delay'),
    ('cur-unacked-updates', 'cur_unacked_updates'),
)


class MalformedObject(OmapiError):
    """The failover-state object lacks an attribute or holds a value of the wrong size."""


def state_name(number):
    return STATES.get(number, 'unknown-%d' % number)


def stos_iso(seconds):
    """dhcpd's stos (time_t, UTC) as ISO 8601, or None for 0 (never changed state)."""
    if not seconds:
        return None
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _int(values, name):
    raw = values.get(name.encode('ascii'))
    if raw is None:
        raise MalformedObject('failover-state object has no %r attribute' % name)
    try:
        return decode_int(raw)
    except ValueError as exc:
        raise MalformedObject('failover-state attribute %r: %s' % (name, exc)) from exc


def decode_failover_state(values):
    """Plain dict of the useful attributes of a failover-state object (values: bytes -> bytes)."""
    raw_name = values.get(b'name')
    if raw_name is None:
        raise MalformedObject("failover-state object has no 'name' attribute")
    local = _int(values, 'local-state')
    partner = _int(values, 'partner-state')
    hierarchy = _int(values, 'hierarchy')
    info = {
        'name': raw_name.decode('utf-8', 'replace'),
        'role': ROLES.get(hierarchy, 'unknown-%d' % hierarchy),
        'local_state': state_name(local),
        'local_state_number': local,
        'partner_state': state_name(partner),
        'partner_state_number': partner,
        'local_stos': stos_iso(_int(values, 'local-stos')),
        'partner_stos': stos_iso(_int(values, 'partner-stos')),
        'local_stos_epoch': _int(values, 'local-stos'),
        'partner_stos_epoch': _int(values, 'partner-stos'),
        'hba': None,
        'split': None,
    }
    for wire, key in _INT_ATTRIBUTES:
        info[key] = _int(values, wire)
    hba = values.get(b'load-balance-hba')
    if hba is not None:
        if len(hba) != 32:
            raise MalformedObject('failover-state attribute load-balance-hba has %d bytes, expected 32' % len(hba))
        info['hba'] = ':'.join('%02x' % byte for byte in bytearray(hba))
        info['split'] = hba_to_split(bytes(hba))
    return info


def read_failover_state(conn, peer_name):
    """(handle, decoded dict) of the named peer's failover-state object."""
    handle, values = conn.open_object(OBJECT_TYPE, [(b'name', peer_name.encode('utf-8'))],
                                      'named %r (no "failover peer" of that name)' % peer_name)
    return handle, decode_failover_state(values)


def refresh_failover_state(conn, handle):
    return decode_failover_state(conn.refresh(handle, 'reading failover-state back'))


def set_local_state(conn, handle, state):
    """Write local-state. ``state`` is a name or number from STATES; anything else is refused
    here, before any byte is sent, because dhcpd aborts on an unknown state number."""
    number = STATE_NUMBERS.get(state, state)
    if isinstance(number, bool) or not isinstance(number, int) or number not in SENDABLE_STATES:
        raise ValueError('refusing to send local-state %r: dhcpd aborts on states it does not know; '
                         'valid: %s' % (state, ', '.join(sorted(STATES[n] for n in SENDABLE_STATES))))
    conn.update(handle, [(b'local-state', encode_int(number))], 'setting local-state to %s' % STATES[number])


def wait_condition(local_state=None, partner_state=None, local_state_not=None, cur_unacked_updates=None):
    """(condition, description) for wait_until, from failover_info's wait_for: every given part
    must hold. ``local_state`` / ``partner_state``: lists of wanted states; ``local_state_not``:
    states to wait out; ``cur_unacked_updates``: at most this many unacknowledged updates.
    Nothing given: dhcpd answers."""
    parts = []
    if local_state:
        parts.append('local state %s' % ' or '.join(local_state))
    if local_state_not:
        parts.append('local state not %s' % ' or '.join(local_state_not))
    if partner_state:
        parts.append('partner state %s' % ' or '.join(partner_state))
    if cur_unacked_updates is not None:
        parts.append('at most %d unacked updates' % cur_unacked_updates)

    def condition(info):
        return ((not local_state or info['local_state'] in local_state)
                and (not local_state_not or info['local_state'] not in local_state_not)
                and (not partner_state or info['partner_state'] in partner_state)
                and (cur_unacked_updates is None or info['cur_unacked_updates'] <= cur_unacked_updates))

    return condition, ' and '.join(parts) or 'an answer over OMAPI'


def wait_until(read, condition, timeout, *, interval=0.5, clock=time.monotonic, sleep=time.sleep):
    """The one poll loop of the collection: call ``read()`` (returns a decoded failover-state) until
    ``condition(info)`` holds or ``timeout`` seconds have passed.

    A connection failure (dhcpd restarting, not listening yet) counts as "not yet"; any other OMAPI
    error (wrong key, unknown peer) is raised at once, since waiting cannot fix it.

    Returns a dict: ``reached`` (bool), ``failover`` (the last object read, None if none was),
    ``states_seen`` (each local state once per stretch in which it was seen), ``error`` (the last
    connection failure as text when the last attempt failed, else None) and ``waited`` (seconds).
    """
    start = clock()
    deadline = start + timeout
    seen = []
    info = None
    while True:
        error = None
        try:
            info = read()
        except OmapiConnectionError as exc:
            error = str(exc)
        else:
            if not seen or seen[-1] != info['local_state']:
                seen.append(info['local_state'])
            if condition(info):
                return dict(reached=True, failover=info, states_seen=seen, error=None, waited=clock() - start)
        if clock() >= deadline:
            return dict(reached=False, failover=info, states_seen=seen, error=error, waited=clock() - start)
        sleep(min(interval, max(0.0, deadline - clock())))


def wait_message(result, what, timeout):
    """Why a wait_until ended unreached, for fail_json."""
    return '%s not reached within %s s; local states seen: %s%s' % (
        what, timeout, ', '.join(result['states_seen']) or 'none (no answer)',
        ('; last error: %s' % result['error']) if result['error'] else '')
