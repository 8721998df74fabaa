# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the OMAPI modules share: connection options (see doc_fragments/omapi.py) and setup."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.protocol import Connection, HmacMd5Key


def connection_argument_spec():
    return dict(
        host=dict(type='str', default='127.0.0.1'),
        port=dict(type='int', default=7911),
        key_name=dict(type='str'),
        key=dict(type='str', no_log=True),
        name=dict(type='str', required=True, aliases=['peer']),
        timeout=dict(type='float', default=10.0),
    )


CONNECTION_REQUIRED_TOGETHER = [('key_name', 'key')]


def check_connection_params(params):
    """A message naming the bad option and value, or None."""
    if not 1 <= params['port'] <= 65535:
        return 'port=%r is invalid: expected the omapi-port of dhcpd, an integer from 1 to 65535' % params['port']
    if not params['timeout'] > 0:
        return 'timeout=%r is invalid: expected a number of seconds greater than 0' % params['timeout']
    if not params['name']:
        return "name='' is invalid: expected the name of a failover peer declared in dhcpd.conf"
    return None


def connection_from_params(params):
    """An unopened Connection. Raises ValueError (without the secret) for a malformed key."""
    key = None
    if params.get('key_name'):
        key = HmacMd5Key.from_base64(params['key_name'], params['key'])
    return Connection(params['host'], params['port'], key=key, timeout=params['timeout'])
