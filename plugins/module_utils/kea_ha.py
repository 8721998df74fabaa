# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kea's HA state from a ``status-get`` answer, and that command sent over kea-dhcp4's control socket.

Python 3 standard library only: the metrics exporter runs it on the node with Debian's python3,
and the controller's decisions (plugins/plugin_utils/kea_migrate.py) read the same answer with
``parse_status_get`` (one reading of status-get for status.yml, migrate_to_kea.yml and the metrics).

Through kea-ctrl-agent the answer is a list with one answer per service; over the control socket
it is the answer itself. Both are accepted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket

# Every state of Kea 2.2's HA state machine (libdhcp_ha.so, "HA states" in the Kea manual).
HA_STATES = ('backup', 'communication-recovery', 'hot-standby', 'load-balancing', 'in-maintenance',
             'partner-down', 'partner-in-maintenance', 'passive-backup', 'ready', 'syncing', 'terminated',
             'waiting', 'unavailable')
MAX_ANSWER = 1 << 20


class KeaControlError(Exception):
    """No usable answer from kea-dhcp4's control socket."""


def parse_status_get(answer):
    """The HA part of a status-get answer.

    Returns ``answered`` (kea-dhcp4 answered the command), ``mode`` (``ha-mode``), ``state``,
    ``role``, ``scopes`` (this node's), ``partner_state`` (the partner's last state as this node
    heard it), ``partner_role``, ``in_touch`` and ``error`` (why there is no HA state, else None).
    """
    out = {'answered': False, 'mode': None, 'state': None, 'role': None, 'scopes': [], 'partner_state': None,
           'partner_role': None, 'in_touch': None, 'error': None}
    if isinstance(answer, list):
        answer = answer[0] if answer else None
    if not isinstance(answer, dict):
        out['error'] = 'no JSON answer'
        return out
    if answer.get('result') != 0:
        out['error'] = 'kea-dhcp4 did not answer status-get: %s' % (answer.get('text') or answer)
        return out
    out['answered'] = True
    try:
        ha = answer['arguments']['high-availability'][0]
        servers = ha['ha-servers']
    except (KeyError, IndexError, TypeError):
        out['error'] = 'kea-dhcp4 answers but runs no HA hook'
        return out
    local = servers.get('local') or {}
    remote = servers.get('remote') or {}
    out['mode'] = ha.get('ha-mode')
    out['state'] = local.get('state')
    out['role'] = local.get('role')
    out['scopes'] = list(local.get('scopes') or [])
    out['partner_state'] = remote.get('last-state') or None
    out['partner_role'] = remote.get('role')
    out['in_touch'] = remote.get('in-touch')
    return out


def status_get(path, timeout=5.0):
    """Send status-get to kea-dhcp4's unix control socket ``path``; its decoded answer.

    kea-dhcp4 answers one command per connection; the answer is read until it parses as JSON or
    the connection closes (bounded by ``MAX_ANSWER`` and ``timeout``).
    """
    chunks, size = [], 0
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(path)
            conn.sendall(json.dumps({'command': 'status-get'}).encode('ascii'))
            while size < MAX_ANSWER:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                # Kea 2.2 keeps the connection open after a complete answer on some builds.
                try:
                    return json.loads(b''.join(chunks).decode('utf-8'))
                except ValueError:
                    continue
    except OSError as exc:
        raise KeaControlError('%s: %s' % (path, exc)) from None
    try:
        return json.loads(b''.join(chunks).decode('utf-8'))
    except ValueError as exc:
        raise KeaControlError('%s: not a JSON answer (%s)' % (path, exc)) from None
