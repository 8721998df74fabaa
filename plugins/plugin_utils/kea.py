# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kea DHCPv4 + HA configuration of one node, rendered from the pair model (controller side).

``kea_config(model, host, settings, pxe=None)`` takes the checked pair model of
plugins/plugin_utils/pair.py (the one the dhcpd role renders dhcpd.conf from, so both daemons
describe the same pair), the node's inventory hostname, the kea role's variables (``kea_*``)
and, optionally, the pxe role's checked settings for this node; it returns ``(config, errors)``:
``config`` is ``{'dhcp4': {...}, 'agent': {...}}``, the JSON documents of kea-dhcp4 and of
kea-ctrl-agent, and ``errors`` names the user's variable and the bad value.

What the model's dhcpd notions become in Kea:

* Subnet ids are the subnets' positions in ``dhcpd_subnets`` plus one. They are stable as long as
  the list is only appended to; the lease files name subnets by these ids.
* ``hot-standby``: the primary serves every client, the secondary (role ``standby``) takes over
  when the primary fails; pools are not split.
* ``load-balancing``: Kea gives a client to a server by its RFC 3074 hash modulo two
  (see ``loadbalance.kea_lb_peer``), marking it with the class ``HA_<server name>``. Each pool is
  cut in two halves, the lower one for ``HA_<primary>``, the upper one for ``HA_<secondary>``:
  dhcpd's split has no meaning for Kea.
* Typed options keep their names, except ``bootfile-name`` which Kea calls ``boot-file-name``.
  An option the model only knows as raw dhcpd text (a name outside ``pair.OPTION_TYPES``) is
  refused; a known option given as ``{raw: TEXT}`` is passed on as Kea data, and ``kea-dhcp4 -t``
  (run by the role before any restart) judges it.
* Reservations go to their subnet (dhcpd's host declarations are global).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pair

MODES = ('hot-standby', 'load-balancing')
HOOKS_DIR = '/usr/lib/x86_64-linux-gnu/kea/hooks'
# dhcpd option name -> Kea option name, where they differ.
OPTION_NAMES = {'bootfile-name': 'boot-file-name'}
# iPXE's encapsulated option 175.176 (no-pxedhcp): without it iPXE waits ~2 s for ProxyDHCP.
IPXE_SPACE = 'ipxe'
PATH = re.compile(r'^/[A-Za-z0-9._/+-]+$')
# HA timers are uint16 milliseconds in Kea 2.2 (heartbeat-delay, max-response-delay, max-ack-delay).
MS_MAX = 65535

DEFAULTS = {
    'kea_ha_mode': 'hot-standby',
    'kea_ctrl_agent_port': 8000,
    'kea_control_socket': '/run/kea/kea4-ctrl-socket',
    'kea_lease_file': '/var/lib/kea/kea-leases4.csv',
    'kea_hooks_dir': HOOKS_DIR,
    'kea_heartbeat_delay': 10000,
    'kea_max_response_delay': 60000,
    'kea_max_ack_delay': 10000,
    'kea_max_unacked_clients': 10,
    'kea_interfaces': [],
    'kea_log_output': 'syslog',
}


def _show(value):
    """The value as the user would write it in YAML/JSON, so quotes and newlines are visible."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _unquote_list(text):
    """'"a", "b"' (dhcpd text) -> 'a, b' (Kea csv data); plain text is returned as is."""
    parts = [part.strip() for part in text.split(',')] if text.startswith('"') else [text]
    return ', '.join(part[1:-1].replace('\\"', '"').replace('\\\\', '\\')
                     if len(part) >= 2 and part[0] == part[-1] == '"' else part for part in parts)


class _Checker:
    def __init__(self, settings):
        self.settings = dict(DEFAULTS)
        self.settings.update(dict((k, v) for k, v in (settings or {}).items() if v is not None))
        self.errors = []

    def error(self, name, value, why):
        self.errors.append('%s=%s is invalid: %s' % (name, _show(value), why))

    def get(self, name):
        return self.settings[name]

    def integer(self, name, low, high):
        value = self.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(name, self.get(name), 'expected an integer from %d to %d' % (low, high))
            return low
        return value

    def path(self, name):
        value = self.get(name)
        if not isinstance(value, str) or not PATH.match(value) or '/../' in value + '/':
            self.error(name, value, 'expected an absolute path of letters, digits and ._/+-')
        return value

    def mode(self):
        value = self.get('kea_ha_mode')
        if value not in MODES:
            self.error('kea_ha_mode', value, 'expected one of %s' % ', '.join(MODES))
            return MODES[0]
        return value


def _options(checker, where, options):
    out = []
    for option in options:
        kind = pair.OPTION_TYPES.get(option['name'])
        if kind is None:
            checker.error('%s.%s' % (where, option['name']), {'raw': option['value']},
                          'a raw option is dhcpd syntax, which Kea cannot read: give a typed option '
                          '(one of %s)' % ', '.join(sorted(pair.OPTION_TYPES)))
            continue
        value = option['value']
        if kind in ('name', 'name-list', 'text'):
            value = _unquote_list(value)
        out.append({'name': OPTION_NAMES.get(option['name'], option['name']), 'data': value})
    return out


def _halves(ranges):
    """The pool's addresses cut in two: (lower ranges, upper ranges), as 'A - B' Kea pool texts."""
    spans = []
    for text in ranges:
        first, last = (ipaddress.IPv4Address(part) for part in text.split())
        spans.append((int(first), int(last)))
    total = sum(last - first + 1 for first, last in spans)
    cut = (total + 1) // 2
    lower, upper = [], []
    for first, last in spans:
        size = last - first + 1
        take = max(0, min(size, cut))
        if take:
            lower.append((first, first + take - 1))
        if take < size:
            upper.append((first + take, last))
        cut -= take
    text = [['%s - %s' % (ipaddress.IPv4Address(a), ipaddress.IPv4Address(b)) for a, b in part]
            for part in (lower, upper)]
    return text[0], text[1]


def _pools(checker, where, subnet, mode, classes):
    pools = []
    for position, pool in enumerate(subnet['pools']):
        if mode == 'hot-standby':
            pools += [{'pool': '%s - %s' % tuple(text.split())} for text in pool['ranges']]
            continue
        lower, upper = _halves(pool['ranges'])
        if not upper:
            checker.error('%s.pools[%d].range' % (where, position), pool['ranges'],
                          'kea_ha_mode=load-balancing gives each server half of every pool: '
                          'a pool needs at least 2 addresses')
        pools += [{'pool': text, 'client-class': classes[0]} for text in lower]
        pools += [{'pool': text, 'client-class': classes[1]} for text in upper]
    return pools


def _reservations(subnet):
    return [{'hw-address': host['mac'], 'ip-address': host['ip'], 'hostname': host['name']}
            for host in subnet['reservations']]


def _subnet(checker, index, subnet, mode, classes):
    where = 'dhcpd_subnets[%d]' % index
    out = {
        'id': index + 1,
        'subnet': subnet['network'],
        'pools': _pools(checker, where, subnet, mode, classes),
        'option-data': _options(checker, where + '.options', subnet['options']),
        'reservations': _reservations(subnet),
    }
    if subnet.get('next_server'):
        out['next-server'] = subnet['next_server']
    if subnet.get('filename'):
        out['boot-file-name'] = _unquote_list(subnet['filename'])
    return out


def _pxe_classes(pxe, address):
    """Kea client classes for the pxe role's settings; this node names itself as boot server."""
    is_pxe = "substring(option[60].hex,0,9) == 'PXEClient'"
    arch = "option[93].hex"
    classes = []
    if pxe.get('ipxe_http'):
        classes.append({'name': 'netboot-ipxe', 'test': "%s and option[77].hex == 'iPXE'" % is_pxe,
                        'next-server': address, 'boot-file-name': '%s/boot.ipxe' % pxe['http_base']})
    classes.append({'name': 'netboot-bios',
                    'test': "%s and (not option[93].exists or %s == 0x0000)" % (is_pxe, arch),
                    'next-server': address, 'boot-file-name': pxe['bios_file']})
    uefi = ' or '.join('%s == 0x%s' % (arch, code.replace(':', '')) for code in pxe['uefi_arches'])
    classes.append({'name': 'netboot-uefi', 'test': '%s and (%s)' % (is_pxe, uefi),
                    'next-server': address, 'boot-file-name': pxe['uefi_file']})
    for position, item in enumerate(pxe.get('arch_files') or []):
        classes.append({'name': 'netboot-arch-%d' % position,
                        'test': '%s and %s == 0x%s' % (is_pxe, arch, item['arch'].replace(':', '')),
                        'next-server': address, 'boot-file-name': item['path']})
    for item in classes:
        item['option-data'] = [{'name': 'ipxe-encap-opts', 'data': ''},
                               {'space': IPXE_SPACE, 'name': 'no-pxedhcp', 'data': '1'}]
    return classes


def _pxe_unsupported(pxe):
    """The pxe settings this renderer cannot express in Kea yet (named by the pxe role's variables)."""
    out = []
    if pxe.get('bios_loader') == 'pxelinux' and pxe.get('hosts'):
        out.append('pxe_hosts with pxe_bios_loader=pxelinux (per-host option 209) is not rendered for Kea yet')
    if pxe.get('uefi_http_boot'):
        out.append('pxe_uefi_http_boot=true is not rendered for Kea yet')
    return out


def kea_config(model, host, settings=None, pxe=None):
    """``(config, errors)``: kea-dhcp4's and kea-ctrl-agent's JSON for ``host``; see the docstring."""
    checker = _Checker(settings)
    if host not in model['nodes']:
        checker.error('inventory_hostname', host, 'is not a member of the pair %s (%s)'
                      % (model['group'], ', '.join(model['members'])))
        return None, checker.errors
    mode = checker.mode()
    port = checker.integer('kea_ctrl_agent_port', 1, 65535)
    timers = dict((name, checker.integer(name, 1, MS_MAX)) for name in
                  ('kea_heartbeat_delay', 'kea_max_response_delay', 'kea_max_ack_delay'))
    unacked = checker.integer('kea_max_unacked_clients', 0, 1000)
    socket = checker.path('kea_control_socket')
    lease_file = checker.path('kea_lease_file')
    hooks = checker.path('kea_hooks_dir')
    log_output = checker.get('kea_log_output')
    if not isinstance(log_output, str) or not (log_output in ('syslog', 'stdout', 'stderr')
                                               or PATH.match(log_output)):
        checker.error('kea_log_output', log_output, 'expected syslog, stdout, stderr or an absolute path')
    interfaces = checker.get('kea_interfaces') or model['interfaces']
    if not isinstance(interfaces, list) or not interfaces:
        checker.error('kea_interfaces', checker.get('kea_interfaces'),
                      'expected the interfaces kea-dhcp4 listens on, e.g. [eth0] (dhcpd_interfaces is empty too)')
        interfaces = []
    if pxe:
        checker.errors += _pxe_unsupported(pxe)

    node = model['nodes'][host]
    primary, secondary = model['primary'], model['secondary']
    classes = ['HA_' + primary, 'HA_' + secondary]
    peers = []
    for name in (primary, secondary):
        role = model['nodes'][name]['role']
        if role == 'secondary' and mode == 'hot-standby':
            role = 'standby'
        peers.append({'name': name, 'url': 'http://%s:%d/' % (model['nodes'][name]['address'], port),
                      'role': role, 'auto-failover': True})
    ha = {
        'this-server-name': host,
        'mode': mode,
        'heartbeat-delay': timers['kea_heartbeat_delay'],
        'max-response-delay': timers['kea_max_response_delay'],
        'max-ack-delay': timers['kea_max_ack_delay'],
        'max-unacked-clients': unacked,
        'peers': peers,
    }
    lease = model['lease']
    dhcp4 = {
        'interfaces-config': {'interfaces': list(interfaces), 'dhcp-socket-type': 'raw'},
        'control-socket': {'socket-type': 'unix', 'socket-name': socket},
        'lease-database': {'type': 'memfile', 'persist': True, 'name': lease_file, 'lfc-interval': 3600},
        'valid-lifetime': lease['default'],
        'max-valid-lifetime': lease['max'],
        'min-valid-lifetime': min(lease['default'], lease['max']),
        'authoritative': bool(model['authoritative']),
        'option-data': _options(checker, 'dhcpd_global_options', model['options']),
        'hooks-libraries': [
            {'library': hooks + '/libdhcp_lease_cmds.so'},
            {'library': hooks + '/libdhcp_ha.so', 'parameters': {'high-availability': [ha]}},
        ],
        'loggers': [{'name': 'kea-dhcp4', 'severity': 'INFO', 'output_options': [{'output': log_output}]}],
    }
    plain, shared = [], {}
    for index, subnet in enumerate(model['subnets']):
        rendered = _subnet(checker, index, subnet, mode, classes)
        if subnet.get('shared_network'):
            shared.setdefault(subnet['shared_network'], []).append(rendered)
        else:
            plain.append(rendered)
    dhcp4['subnet4'] = plain
    if shared:
        dhcp4['shared-networks'] = [{'name': name, 'subnet4': shared[name]} for name in model['shared_networks']]
    if pxe:
        dhcp4['option-def'] = [
            {'name': 'no-pxedhcp', 'code': 176, 'space': IPXE_SPACE, 'type': 'uint8'},
            {'name': 'ipxe-encap-opts', 'code': 175, 'space': 'dhcp4', 'type': 'empty',
             'encapsulate': IPXE_SPACE},
        ]
        dhcp4['client-classes'] = _pxe_classes(pxe, node['address'])
    agent = {
        'http-host': node['address'],
        'http-port': port,
        'control-sockets': {'dhcp4': {'socket-type': 'unix', 'socket-name': socket}},
        'loggers': [{'name': 'kea-ctrl-agent', 'severity': 'INFO', 'output_options': [{'output': log_output}]}],
    }
    if checker.errors:
        return None, checker.errors
    return {'dhcp4': {'Dhcp4': dhcp4}, 'agent': {'Control-agent': agent}}, []
