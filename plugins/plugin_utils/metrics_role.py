# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the metrics role's variables and the exporter's configuration (controller side).

``metrics_settings(variables, textfile_dirs)`` returns ``(settings, errors)``: ``errors`` names the
user's variable, the bad value and what would be valid; ``settings`` (complete only without
errors) holds the textfile path and the exporter's configuration, derived from the pair model
(``dhcpd_pair_info``) so that the exporter watches exactly the failover pools dhcpd serves.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import posixpath

MAX_INTERVAL = 3600
OUTPUT_NAME = 'dhcpd_failover.prom'
LEASE_FILE = '/var/lib/dhcp/dhcpd.leases'
PID_FILE = '/run/dhcpd.pid'
OMAPI_TIMEOUT = 5


def _show(value):
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_interval(value, errors):
    if not _integer(value) or not 1 <= value <= MAX_INTERVAL:
        errors.append('dhcpd_metrics_interval=%s is invalid: expected whole seconds from 1 to %d (how often the '
                      'timer writes the metrics file)' % (_show(value), MAX_INTERVAL))


def _check_textfile_dir(value, textfile_dirs, errors):
    normal = posixpath.normpath(value) if isinstance(value, str) and value.startswith('/') else None
    if normal not in textfile_dirs:
        errors.append('dhcpd_metrics_textfile_dir=%s is invalid: prometheus-node-exporter reads textfiles only from '
                      '%s (its --collector.textfile.directory); metrics written elsewhere are never exported'
                      % (_show(value), ' or '.join(textfile_dirs)))
        return None
    return normal


def _pools(pair_info):
    """The ranges of each failover pool (the pair model refuses pools without failover)."""
    out = []
    for subnet in pair_info.get('subnets') or []:
        for pool in subnet.get('pools') or []:
            if pool.get('failover') and pool.get('ranges'):
                out.append(list(pool['ranges']))
    return out


def metrics_settings(variables, textfile_dirs):
    """``(settings, errors)`` for the role's ``variables`` (by name; see the filter's docs)."""
    errors = []
    interval = variables.get('dhcpd_metrics_interval', 15)
    _check_interval(interval, errors)
    textfile_dir = _check_textfile_dir(variables.get('dhcpd_metrics_textfile_dir'), list(textfile_dirs), errors)
    enabled = variables.get('dhcpd_metrics_enabled', False)
    if enabled is not True and enabled is not False:
        errors.append('dhcpd_metrics_enabled=%s is invalid: expected true or false' % _show(enabled))
    pair_info = variables.get('dhcpd_pair_info')
    if not isinstance(pair_info, dict) or 'peer_name' not in pair_info:
        errors.append('dhcpd_pair_info is undefined: the metrics role watches a pair that '
                      'netboot.dhcp_failover.dhcpd checked (its tasks_from preflight.yml; site.yml runs it first)')
        return None, errors
    skew = variables.get('dhcpd_max_clock_skew', 5)
    output = posixpath.join(textfile_dir, OUTPUT_NAME) if textfile_dir else None
    config = {
        'peer_name': pair_info['peer_name'],
        'role': pair_info.get('role'),
        'omapi_host': '127.0.0.1',
        'omapi_port': pair_info.get('omapi_port', 7911),
        'omapi_key_name': pair_info.get('omapi_key_name'),
        'lease_file': LEASE_FILE,
        'pid_file': PID_FILE,
        'output': output,
        'pools': _pools(pair_info),
        'max_clock_skew': skew,
        'interval': interval,
        'timeout': OMAPI_TIMEOUT,
    }
    # The kea role's socket: where kea-dhcp4 runs instead of dhcpd, the exporter asks it status-get.
    if variables.get('kea_control_socket'):
        config['kea_control_socket'] = variables['kea_control_socket']
    # Without chrony (dhcpd_clock_check=false) there is no offset to read.
    if variables.get('dhcpd_clock_check', True) and pair_info.get('peer_address'):
        config['clock_peer'] = pair_info['peer_address']
    settings = {'interval': interval, 'textfile_dir': textfile_dir, 'output': output, 'config': config}
    return settings, errors
