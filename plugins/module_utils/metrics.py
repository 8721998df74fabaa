# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metrics exporter of a dhcpd failover node, for the node exporter's textfile collector.

Run on the node by a systemd timer (role netboot.dhcp_failover.metrics) with Debian's python3 and
nothing else: it reuses the collection's OMAPI client (``omapi/``) and lease parser
(``leases.py``), which the role copies next to this file in their ``ansible_collections`` layout.

Two halves:

* ``observe(config)`` reads the node once: dhcpd's pid file, the failover-state object over OMAPI,
  the lease file, and the clock offset to the peer from ``chronyc`` (OMAPI's ``skew`` is always
  0). On a Kea node (after playbooks/migrate_to_kea.yml: see ``read_kea``), also whether
  kea-dhcp4 runs and its HA state from ``status-get`` on its control socket (``kea_ha.py``, the
  reading status.yml uses too). A failed read is part of the observation, never an exception: a
  node whose OMAPI does not answer must still produce a file that says so.
* ``render(observation)`` turns that plain dict into Prometheus text format; pure, unit tested.

``METRICS`` is the one list of names, types and help texts (the README lists the same names, and
a unit test holds the two together).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import kea_ha, leases
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import objects
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.errors import OmapiError
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.protocol import Connection, HmacMd5Key

PREFIX = 'dhcpd_failover_'

# (name without prefix, type, help). Timestamps rather than "seconds since": the file is written
# every interval and read later, so an age would already be stale when Prometheus reads it
# (time() - metric gives the age at query time).
METRICS = (
    ('info', 'gauge', 'Always 1; the failover peer name and this node\'s role (from OMAPI, else the configuration).'),
    ('process_up', 'gauge', '1 if the dhcpd process of the pid file runs.'),
    ('omapi_up', 'gauge', '1 if the failover-state object was read over OMAPI in this scrape.'),
    ('local_state', 'gauge', '1 for the current failover state of this node, 0 for every other state.'),
    ('partner_state', 'gauge', '1 for the failover state this node last heard from its partner, 0 for the others.'),
    ('local_state_change_timestamp_seconds', 'gauge', 'When this node entered its failover state (stos), Unix time.'),
    ('partner_state_change_timestamp_seconds', 'gauge',
     'When the partner entered its failover state (stos), Unix time.'),
    ('mclt_seconds', 'gauge', 'Maximum client lead time of the pair.'),
    ('split', 'gauge', 'Hash buckets (0-256) of the load-balancing hba served by the primary.'),
    ('unacked_updates', 'gauge', 'Binding updates sent to the partner and not acknowledged yet (cur-unacked-updates).'),
    ('max_unacked_updates', 'gauge', 'The configured limit of unacknowledged updates (max-unacked-updates).'),
    ('partner_down_usable_timestamp_seconds', 'gauge',
     'In partner-down only: when the partner\'s free addresses become usable here (stos + MCLT), Unix time.'),
    ('clock_skew_seconds', 'gauge',
     'Clock offset to the peer\'s chronyd (chronyc sources); dhcpd assumes it is small.'),
    ('max_clock_skew_seconds', 'gauge', 'The largest clock offset the deployment accepts (dhcpd_max_clock_skew).'),
    ('pool_addresses', 'gauge', 'Addresses of a failover pool per binding state, as this node\'s lease file has them.'),
    ('pool_size_addresses', 'gauge', 'Addresses in a failover pool (all its ranges).'),
    ('pool_free_addresses', 'gauge',
     'Free addresses of a pool that each side may hand out on its own: owner="self" this node, '
     'owner="partner" its peer.'),
    ('lease_file_size_bytes', 'gauge', 'Size of the lease file.'),
    ('lease_file_modified_timestamp_seconds', 'gauge', 'Last write of the lease file, Unix time.'),
    ('kea_process_up', 'gauge',
     '1 if the kea-dhcp4 process of its pid file runs, 0 if not; only on a Kea node (kea-dhcp4-server '
     'enabled, or kea-dhcp4 running): a pair moved to Kea HA.'),
    ('kea_ha_info', 'gauge', 'Always 1 where kea-dhcp4 answered status-get with an HA state: its HA mode and role.'),
    ('kea_ha_local_state', 'gauge', '1 for the current Kea HA state of this node, 0 for every other state.'),
    ('kea_ha_partner_state', 'gauge',
     '1 for the Kea HA state this node last heard from its partner, 0 for the others.'),
    ('scrape_errors', 'gauge',
     '1 if reading this source failed in the last scrape (source="omapi", "lease_file", "chrony"; '
     '"kea" on a Kea node).'),
    ('scrape_duration_seconds', 'gauge', 'Wall time the last scrape took.'),
    ('scrape_timestamp_seconds', 'gauge', 'When the last scrape ended, Unix time.'),
    ('scrape_interval_seconds', 'gauge', 'How often the exporter runs (dhcpd_metrics_interval).'),
)
METRIC_NAMES = tuple(PREFIX + name for name, _type, _help in METRICS)
# The binding states the issue asks for first, then the rest of dhcpd's list.
POOL_STATES = ('free', 'backup', 'active', 'expired', 'released', 'abandoned', 'reset', 'reserved', 'bootp')
SOURCES = ('omapi', 'lease_file', 'chrony')
CONFIG_KEYS = ('peer_name', 'role', 'omapi_host', 'omapi_port', 'omapi_key_name', 'omapi_key', 'lease_file',
               'pid_file', 'output', 'pools', 'clock_peer', 'max_clock_skew', 'interval', 'timeout',
               'kea_control_socket', 'kea_pid_file', 'kea_enabled_link')
# Fixed by Debian's kea-dhcp4-server (12 and 13), so not in the role's configuration; the keys
# exist for the lab, which runs kea-dhcp4 without systemd. kea-dhcp4 writes its pid file into
# /run/kea (RuntimeDirectory, preserved after a stop) as <config name>.<program>.pid, and removes
# it when it stops cleanly; a kill -9 leaves it behind, naming a dead pid.
KEA_PID_FILE = '/run/kea/kea-dhcp4.kea-dhcp4.pid'
# What `systemctl enable kea-dhcp4-server` makes (WantedBy=multi-user.target). The migration, the
# rollback and the kea role turn it on and off with the service, and only there: it is the node's
# own record of which daemon serves it, also when that daemon is dead.
KEA_ENABLED_LINK = '/etc/systemd/system/multi-user.target.wants/kea-dhcp4-server.service'


class ConfigError(ValueError):
    """The exporter's configuration file is unusable."""


def pool_label(ranges):
    """A pool's label: its ranges as FIRST-LAST, comma separated."""
    return ','.join('-'.join(text.split()) for text in ranges)


def count_pools(states, pools):
    """[{'pool': label, 'size': n, 'counts': {state: n}}] for ``pools`` (lists of range texts) and
    ``states`` ({address: binding state}, see leases.binding_states())."""
    numbered = [(leases.address_number(address), state) for address, state in states.items()]
    out = []
    for ranges in pools:
        size = 0
        counts = dict((state, 0) for state in leases.BINDING_STATES)
        for text in ranges:
            first, last = leases.parse_range(text)
            size += last - first + 1
            for number, state in numbered:
                if first <= number <= last:
                    counts[state] = counts.get(state, 0) + 1
        out.append({'pool': pool_label(ranges), 'size': size, 'counts': counts})
    return out


def chrony_offset(text, address):
    """The offset in seconds to ``address`` from ``chronyc -c -n sources`` output, or None.

    CSV fields: mode, state, name, stratum, poll, reach, last rx, adjusted offset, measured
    offset, error. A source never reached (reach 0) has no offset worth reporting.
    """
    for line in text.splitlines():
        fields = line.split(',')
        if len(fields) >= 10 and fields[2] == address:
            if fields[5] in ('0', ''):
                return None
            try:
                return float(fields[7])
            except ValueError:
                return None
    return None


def _escape(value):
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _number(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _sample(name, labels, value):
    if labels:
        inner = ','.join('%s="%s"' % (key, _escape(val)) for key, val in labels)
        return '%s%s{%s} %s' % (PREFIX, name, inner, _number(value))
    return '%s%s %s' % (PREFIX, name, _number(value))


def _failover_samples(out, failover):
    for side in ('local', 'partner'):
        current = failover[side + '_state']
        for number in sorted(objects.STATES):
            state = objects.STATES[number]
            out[side + '_state'].append(((('state', state),), state == current))
        # stos 0: dhcpd has not changed state since it started with this lease file.
        if failover[side + '_stos_epoch']:
            out[side + '_state_change_timestamp_seconds'].append(((), failover[side + '_stos_epoch']))
    out['mclt_seconds'].append(((), failover['mclt']))
    if failover.get('split') is not None:
        out['split'].append(((), failover['split']))
    out['unacked_updates'].append(((), failover['cur_unacked_updates']))
    out['max_unacked_updates'].append(((), failover['max_unacked_updates']))
    if failover['local_state'] == 'partner-down' and failover['local_stos_epoch']:
        out['partner_down_usable_timestamp_seconds'].append(
            ((), failover['local_stos_epoch'] + failover['mclt']))


def _pool_samples(out, pools, role):
    own = leases.OWN_STATE.get(role)
    theirs = leases.OWN_STATE.get('secondary' if role == 'primary' else 'primary')
    for pool in pools:
        label = ('pool', pool['pool'])
        for state in POOL_STATES:
            out['pool_addresses'].append(((label, ('state', state)), pool['counts'].get(state, 0)))
        out['pool_size_addresses'].append(((label,), pool['size']))
        if own is not None:
            out['pool_free_addresses'].append(((label, ('owner', 'self')), pool['counts'].get(own, 0)))
            out['pool_free_addresses'].append(((label, ('owner', 'partner')), pool['counts'].get(theirs, 0)))


def _kea_samples(out, kea):
    out['kea_process_up'].append(((), bool(kea['up'])))
    ha = kea.get('ha')
    if not ha or not ha.get('state'):
        return
    out['kea_ha_info'].append(((('mode', ha.get('mode') or ''), ('role', ha.get('role') or '')), 1))
    for side, current in (('local', ha['state']), ('partner', ha.get('partner_state'))):
        # A state this version does not know still shows, rather than every series reading 0.
        states = sorted(set(kea_ha.HA_STATES) | ({current} if current else set()))
        for state in states:
            out['kea_ha_%s_state' % side].append(((('state', state),), state == current))


def samples(observation):
    """{metric name without prefix: [(labels, value), ...]} of an observation (see observe())."""
    out = dict((name, []) for name, _type, _help in METRICS)
    failover = observation.get('failover')
    role = failover['role'] if failover else observation.get('role')
    out['info'].append(((('peer', observation.get('peer_name') or ''), ('role', role or '')), 1))
    out['process_up'].append(((), bool(observation.get('process_up'))))
    out['omapi_up'].append(((), failover is not None))
    if failover is not None:
        _failover_samples(out, failover)
    if observation.get('clock_skew') is not None:
        out['clock_skew_seconds'].append(((), observation['clock_skew']))
    if observation.get('max_clock_skew') is not None:
        out['max_clock_skew_seconds'].append(((), observation['max_clock_skew']))
    _pool_samples(out, observation.get('pools') or [], role)
    lease_file = observation.get('lease_file')
    if lease_file is not None:
        out['lease_file_size_bytes'].append(((), lease_file['size']))
        out['lease_file_modified_timestamp_seconds'].append(((), lease_file['mtime']))
    # Only on a Kea node: a dhcpd node's file stays as it was.
    kea = observation.get('kea')
    if kea is not None:
        _kea_samples(out, kea)
    errors = observation.get('errors') or {}
    for source in SOURCES + (('kea',) if kea is not None else ()):
        out['scrape_errors'].append(((('source', source),), bool(errors.get(source))))
    out['scrape_duration_seconds'].append(((), observation['duration']))
    out['scrape_timestamp_seconds'].append(((), observation['time']))
    if observation.get('interval') is not None:
        out['scrape_interval_seconds'].append(((), observation['interval']))
    return out


def render(observation):
    """Prometheus text exposition format of an observation; metrics without samples are left out."""
    found = samples(observation)
    lines = []
    for name, kind, text in METRICS:
        if not found[name]:
            continue
        lines.append('# HELP %s%s %s' % (PREFIX, name, text))
        lines.append('# TYPE %s%s %s' % (PREFIX, name, kind))
        lines.extend(_sample(name, labels, value) for labels, value in found[name])
    return '\n'.join(lines) + '\n'


# -- reading the node -----------------------------------------------------------------------------


def load_config(path):
    """The JSON configuration the role writes (see roles/metrics/templates/config.json.j2)."""
    try:
        with open(path, encoding='utf-8') as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError('cannot read the configuration %s: %s' % (path, exc)) from None
    if not isinstance(config, dict):
        raise ConfigError('%s: expected a JSON object' % path)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError('%s: unknown keys %s; valid: %s' % (path, ', '.join(unknown), ', '.join(CONFIG_KEYS)))
    for key in ('peer_name', 'lease_file', 'output'):
        if not config.get(key):
            raise ConfigError('%s: %r is required' % (path, key))
    pools = config.get('pools', [])
    if not isinstance(pools, list) or not all(isinstance(p, list) and p for p in pools):
        raise ConfigError('%s: pools must be a list of lists of ranges ("FIRST LAST")' % path)
    for ranges in pools:
        for text in ranges:
            try:
                leases.parse_range(text)
            except ValueError as exc:
                raise ConfigError('%s: pools: %s' % (path, exc)) from None
    return config


def process_running(pid_file, name='dhcpd'):
    """True when the pid file names a running process called ``name`` (its /proc/PID/comm): a
    stale pid file, or one whose pid now belongs to another program, is not a running daemon."""
    try:
        with open(pid_file, encoding='ascii') as handle:
            pid = int(handle.read().strip())
        with open('/proc/%d/comm' % pid, encoding='utf-8') as handle:
            return handle.read().strip() == name
    except (OSError, ValueError):
        return False


def read_kea(config, log, running=process_running, enabled=os.path.exists, ask=kea_ha.status_get):
    """``(kea, error)`` of this node's kea-dhcp4: None on a dhcpd node, else ``{'up', 'ha'}``.

    A Kea node is one whose kea-dhcp4-server is enabled (``kea_enabled_link``), or whose
    kea-dhcp4 runs (``kea_pid_file``): there kea_process_up is exported, 0 when the process is
    gone, so that a dead Kea is a value rather than a missing series. A dhcpd node, where Kea
    was never enabled, was rolled back (disabled) or waits for the cutover (installed, stopped and
    disabled), exports no Kea series. Without ``kea_control_socket`` Kea is not looked at.
    Only a running kea-dhcp4 is asked status-get: a dead one has no state to read, and its
    refused socket would be a second alert for the same failure.
    """
    if not config.get('kea_control_socket'):
        return None, False
    up = running(config.get('kea_pid_file', KEA_PID_FILE), 'kea-dhcp4')
    if not up:
        if enabled(config.get('kea_enabled_link', KEA_ENABLED_LINK)):
            return {'up': False, 'ha': None}, False
        return None, False
    try:
        answer = ask(config['kea_control_socket'], float(config.get('timeout', 5)))
    except kea_ha.KeaControlError as exc:
        log('kea: %s' % exc)
        return {'up': True, 'ha': None}, True
    ha = kea_ha.parse_status_get(answer)
    if ha['error']:
        log('kea: %s' % ha['error'])
    return {'up': True, 'ha': ha}, bool(ha['error'])


def read_failover(config):
    key = None
    if config.get('omapi_key_name'):
        key = HmacMd5Key.from_base64(config['omapi_key_name'], config['omapi_key'])
    with Connection(config.get('omapi_host', '127.0.0.1'), int(config.get('omapi_port', 7911)), key=key,
                    timeout=float(config.get('timeout', 5))) as conn:
        return objects.read_failover_state(conn, config['peer_name'])[1]


def read_clock_skew(address, timeout):
    answer = subprocess.run(['chronyc', '-c', '-n', 'sources'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=timeout, check=True, universal_newlines=True)
    offset = chrony_offset(answer.stdout, address)
    if offset is None:
        raise ValueError('chronyc knows no reachable source %s' % address)
    return offset


def observe(config, clock=time.time, timer=time.monotonic, log=None):
    """One look at the node; errors become ``errors[source] = True`` (and a line on ``log``)."""
    started = timer()
    log = log or (lambda message: None)
    observation = {
        'peer_name': config['peer_name'],
        'role': config.get('role'),
        'interval': config.get('interval'),
        'max_clock_skew': config.get('max_clock_skew'),
        'process_up': process_running(config.get('pid_file', '/run/dhcpd.pid')),
        'failover': None,
        'clock_skew': None,
        'lease_file': None,
        'pools': None,
        'kea': None,
        'errors': {},
    }
    try:
        observation['failover'] = read_failover(config)
    except (OmapiError, ValueError) as exc:
        observation['errors']['omapi'] = True
        log('omapi: %s' % exc)
    try:
        with open(config['lease_file'], 'rb') as handle:
            stat = os.fstat(handle.fileno())
            text = handle.read().decode('utf-8', 'replace')
        observation['lease_file'] = {'size': stat.st_size, 'mtime': stat.st_mtime}
        observation['pools'] = count_pools(leases.binding_states(text), config.get('pools', []))
    except (OSError, leases.LeaseFileError) as exc:
        observation['errors']['lease_file'] = True
        log('lease file: %s' % exc)
    if config.get('clock_peer'):
        try:
            observation['clock_skew'] = read_clock_skew(config['clock_peer'], float(config.get('timeout', 5)))
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            observation['errors']['chrony'] = True
            log('chrony: %s' % exc)
    observation['kea'], kea_error = read_kea(config, log)
    if kea_error:
        observation['errors']['kea'] = True
    observation['time'] = clock()
    observation['duration'] = timer() - started
    return observation


def write_atomic(path, text):
    """Replace ``path`` in one rename, so the collector never reads half a file. The temporary
    name does not end in .prom: the collector reads only *.prom files."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _complain(message):
    # The journal of the systemd unit keeps it.
    sys.stderr.write('dhcpd-failover-metrics: %s\n' % message)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='dhcpd-failover-metrics',
        description='Write dhcpd failover metrics for the node exporter textfile collector (netboot.dhcp_failover).')
    parser.add_argument('--config', default='/etc/netboot-dhcp-failover/metrics.json',
                        help='JSON configuration written by the role netboot.dhcp_failover.metrics')
    parser.add_argument('--output', help='the .prom file to write (default: "output" of the configuration); '
                                         '"-" prints to standard output')
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _complain(exc)
        return 2
    observation = observe(config, log=_complain)
    text = render(observation)
    output = args.output or config['output']
    if output == '-':
        sys.stdout.write(text)
    else:
        write_atomic(output, text)
    return 0
