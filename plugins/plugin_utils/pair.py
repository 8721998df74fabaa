# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pair model: one checked description of a dhcpd failover pair (controller side).

``pair_model(group, settings, nodes)`` takes the pair group's name, the pair's variables
(``dhcpd_*`` as the role ``netboot.dhcp_failover.dhcpd`` uses them, keyed by their variable
names, plus ``service``) and each member's host variables (``{hostname: {dhcp_failover_address,
dhcpd_failover_port}}``) and returns ``(model, errors)``. ``errors`` lists every problem as a
string that names the user's variable (``dhcpd_split``, ``dhcpd_subnets[0].pools[1].range``,
``nblab-dhcp2: dhcp_failover_address``), the bad value and what would be valid; the model is
only meaningful when ``errors`` is empty. The role template renders dhcpd.conf from the model
alone, so both peers' common part is identical by construction.

Model schema (every value already checked; text values are already in dhcpd syntax)::

    group: dhcp_pair_lab               # inventory group of the pair
    peer_name: dhcp_pair_lab           # failover peer name
    primary: nblab-dhcp1               # inventory hostnames
    secondary: nblab-dhcp2
    members: [nblab-dhcp1, nblab-dhcp2]   # sorted
    balance: {split: 128, hba: null}   # exactly one of them is not null
    mclt: 600
    max_response_delay: 30
    max_unacked_updates: 10
    load_balance_max_seconds: 3
    auto_partner_down: 0
    omapi: {port: 7911, key_name: omapi_key}
    nodes:
      nblab-dhcp1: {host, role: primary|secondary, address, failover_port, peer, omapi_port,
                    omapi_key_name, service}
    lease: {default: 3600, max: 7200}
    authoritative: true
    ping_check: true
    server_id_check: true
    interfaces: []                     # checked interface names (empty: found on the host)
    options: [{name: domain-name, value: '"lab.example"'}]   # global; value = dhcpd text
    subnets:
      - network: 198.18.10.0/24
        address: 198.18.10.0
        netmask: 255.255.255.0
        options: [{name: routers, value: 198.18.10.1}]
        next_server: 198.18.10.5       # or null
        filename: '"ipxe.efi"'         # dhcpd text (quoted) or null
        pools: [{failover: true, ranges: ["198.18.10.100 198.18.10.199"]}]
        reservations: [{name: pxe-01, mac: "52:54:00:12:34:56", ip: 198.18.10.20}]
        shared_network: null           # or a name: subnets on one wire (dhcpd_subnets[].shared_network)
    shared_networks: []                # the subnets' shared_network names, in order of first use

Subnets with the same ``shared_network`` name are rendered together in one
``shared-network "NAME" { }`` block: several IPv4 subnets on one wire (one broadcast domain), so a
client can get an address from any of their pools. The name is checked like the peer name.

``node_view(model, host)`` adds the keys of one node at the top level (host, role, address,
failover_port, peer_host, peer_address, peer_failover_port, omapi_port, omapi_key_name,
service): the fact ``dhcpd_pair_info`` of that host. ``model_differences`` compares two
hosts' models as data.

Typed DHCP options (dhcp-options(5)): see ``OPTION_TYPES``. An option the table does not know
must be given as ``{raw: TEXT}``; raw text still may not end a statement.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.collections import is_sequence

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import subnets as subnet_checks

try:
    import netaddr
except ImportError:  # subnet_checks.require_netaddr() reports it
    netaddr = None

PEER_NAME = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')
# Written in quotes like the peer name: dhcpd takes any quoted string, this keeps it readable.
SHARED_NETWORK = PEER_NAME
KEY_NAME = re.compile(r'^[A-Za-z0-9_-]{1,64}$')
# Linux interface names: at most 15 bytes, no "/", no white space; ":" and "@" refused as well
# since dhcpd's INTERFACESv4 list is split on blanks and aliases are not interfaces.
INTERFACE = re.compile(r'^[A-Za-z0-9_.-]{1,15}$')
OPTION_NAME = re.compile(r'^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)?$')
DNS_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
DNS_NAME = re.compile(r'^%s(?:\.%s)*\.?$' % (DNS_LABEL, DNS_LABEL))
IPV4 = re.compile(r'^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}'
                  r'(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$')
STATEMENT_ENDERS = (';', '{', '}', '\n', '\r')

# name -> (minimum, maximum or None, what it is); reported as NAME=VALUE.
INTEGERS = (
    ('dhcpd_omapi_port', 1, 65535, 'a TCP port'),
    ('dhcpd_mclt', 1, None, 'seconds'),
    ('dhcpd_load_balance_max_seconds', 1, 255, 'seconds (0 would turn load balancing off)'),
    ('dhcpd_max_response_delay', 1, None, 'seconds'),
    ('dhcpd_max_unacked_updates', 1, None, 'updates'),
    ('dhcpd_auto_partner_down', 0, None, 'seconds (0: never)'),
    ('dhcpd_default_lease_time', 1, None, 'seconds'),
    ('dhcpd_max_lease_time', 'dhcpd_default_lease_time', None, 'seconds, at least dhcpd_default_lease_time'),
    ('dhcpd_normal_timeout', 1, None, 'seconds'),
)
BOOLEANS = ('dhcpd_authoritative', 'dhcpd_ping_check', 'dhcpd_server_id_check')

# Option types of dhcp-options(5): ip-list (comma separated IPv4 addresses), ip, name (a DNS
# name, written quoted), name-list (domain-search), text (quoted, escaped), boolean, and
# integers as (bits, signed).
OPTION_TYPES = {
    'routers': 'ip-list',
    'domain-name-servers': 'ip-list',
    'ntp-servers': 'ip-list',
    'time-servers': 'ip-list',
    'log-servers': 'ip-list',
    'netbios-name-servers': 'ip-list',
    'nis-servers': 'ip-list',
    'smtp-server': 'ip-list',
    'subnet-mask': 'ip',
    'broadcast-address': 'ip',
    'swap-server': 'ip',
    'router-solicitation-address': 'ip',
    'domain-name': 'name',
    'host-name': 'name',
    'nis-domain': 'name',
    'domain-search': 'name-list',
    'root-path': 'text',
    'tftp-server-name': 'text',
    'bootfile-name': 'text',
    'extensions-path': 'text',
    'merit-dump': 'text',
    'uap-servers': 'text',
    'ip-forwarding': 'boolean',
    'non-local-source-routing': 'boolean',
    'all-subnets-local': 'boolean',
    'mask-supplier': 'boolean',
    'router-discovery': 'boolean',
    'trailer-encapsulation': 'boolean',
    'ieee802-3-encapsulation': 'boolean',
    'tcp-keepalive-garbage': 'boolean',
    'time-offset': (32, True),
    'interface-mtu': (16, False),
    'default-ip-ttl': (8, False),
    'default-tcp-ttl': (8, False),
    'arp-cache-timeout': (32, False),
    'tcp-keepalive-interval': (32, False),
    'path-mtu-aging-timeout': (32, False),
    'netbios-node-type': (8, False),
}

# Per-node keys of node_view(): not part of the pair-wide model.
NODE_VIEW_KEYS = ('host', 'role', 'address', 'failover_port', 'peer_host', 'peer_address',
                  'peer_failover_port', 'omapi_port', 'omapi_key_name', 'service')


def show(value):
    """A value as the user would write it in YAML/JSON (strings in double quotes, escapes visible)."""
    if isinstance(value, str):
        return '"%s"' % value.encode('unicode_escape').decode('ascii').replace('"', '\\"')
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return repr(value)


def _is_list(value):
    return is_sequence(value) and not isinstance(value, str)


def _int(value):
    """An int from an int or a decimal string (extra vars are text), else None; bools are not ints."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r'^\s*[0-9]+\s*$', value):
        return int(value)
    return None


def _unquote(value):
    """A string without one pair of surrounding double quotes (the old "quote it yourself" form)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _quote(text):
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def _unbalanced_quotes(text):
    """Whether ``text`` leaves a dhcpd string open (counting quotes not escaped by a backslash)."""
    open_string = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == '\\':
            escaped = True
        elif char == '"':
            open_string = not open_string
    return open_string


class OptionError(ValueError):
    pass


def _raw(value):
    if set(value) != {'raw'} or not isinstance(value['raw'], str) or not value['raw'].strip():
        raise OptionError('is not a valid raw option: expected {raw: TEXT} with non-empty TEXT only')
    raw = value['raw'].strip()
    bad = [char for char in STATEMENT_ENDERS if char in raw]
    if bad:
        raise OptionError('contains %s, which would end the statement: a raw value may not contain ";", '
                          '"{", "}" or a line break' % ', '.join(show(char) for char in bad))
    if _unbalanced_quotes(raw):
        raise OptionError('has an unbalanced double quote: a raw value must close every string it opens')
    return raw


def _addresses(kind, value):
    items = value if _is_list(value) else (value.split(',') if isinstance(value, str) else [value])
    items = [item.strip() if isinstance(item, str) else item for item in items]
    if kind == 'ip' and len(items) != 1:
        raise OptionError('is not one IPv4 address: expected a dotted quad like 198.18.10.1')
    if not items or not all(isinstance(item, str) and IPV4.fullmatch(item) for item in items):
        raise OptionError('is not a list of IPv4 addresses: expected dotted quads (each part 0 to 255), '
                          'as a list or separated by commas, e.g. [198.18.10.1, 198.18.10.2]')
    return ', '.join(items)


def _names(kind, value):
    items = value if _is_list(value) else [value]
    if kind == 'name' and len(items) != 1:
        raise OptionError('is not one DNS name: expected e.g. lab.example')
    items = [_unquote(item) for item in items]
    if not items or not all(isinstance(item, str) and len(item) <= 253 and DNS_NAME.fullmatch(item)
                            for item in items):
        raise OptionError('is not %s: expected labels of letters, digits and "-" separated by dots, '
                          'without spaces or quotes, e.g. lab.example'
                          % ('a DNS name' if kind == 'name' else 'a list of DNS names'))
    return ', '.join(_quote(item) for item in items)


def _text(_kind, value):
    text = _unquote(value) if isinstance(value, str) else None
    if text is None or any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise OptionError('is not text: expected a string without control characters (line breaks, tabs)')
    return _quote(text)


def _boolean(_kind, value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    raise OptionError('is not a boolean: expected true or false')


def _integer(kind, value):
    bits, signed = kind
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and re.fullmatch(r'\s*-?[0-9]+\s*', value):
        number = int(value)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if number is None or not low <= number <= high:
        raise OptionError('is not an integer from %d to %d (%s %d-bit integer)'
                          % (low, high, 'a signed' if signed else 'an unsigned', bits))
    return str(number)


_KINDS = {'ip-list': _addresses, 'ip': _addresses, 'name': _names, 'name-list': _names, 'text': _text,
          'boolean': _boolean}


def option_value(name, value):
    """The dhcpd text of option ``name`` with ``value``; raises OptionError saying what is valid."""
    if isinstance(value, dict):
        return _raw(value)
    kind = OPTION_TYPES.get(name)
    if kind is None:
        raise OptionError('is an option this collection does not know the type of: give the value as '
                          '{raw: TEXT} (written as is, refused if it could end the statement), or use one of %s'
                          % ', '.join(sorted(OPTION_TYPES)))
    return _KINDS.get(kind, _integer)(kind, value)


def _balance(name, value):
    if name == 'dhcpd_hba':
        split = loadbalance.hba_to_split(value)
        if split is None:
            return {'split': None, 'hba': loadbalance.format_hba(loadbalance.parse_hba(value))}
        return {'split': split, 'hba': None}
    if name == 'dhcpd_share':
        return {'split': loadbalance.share_to_split(value), 'hba': None}
    return {'split': loadbalance.check_split(value), 'hba': None}


class _Checker:
    def __init__(self, group, settings, nodes):
        self.group = group
        self.settings = settings
        self.nodes = nodes
        self.errors = []

    def error(self, path, value, why):
        self.errors.append('%s=%s %s' % (path, show(value), why))

    def get(self, name):
        return self.settings.get(name)

    def integers(self):
        values = {}
        for name, minimum, high, what in INTEGERS:
            value = self.get(name)
            number = _int(value)
            low = (values.get(minimum) or 1) if isinstance(minimum, str) else minimum
            if number is None or number < low or (high is not None and number > high):
                self.error(name, value, 'is invalid: expected an integer from %d%s, %s'
                           % (low, ' to %d' % high if high is not None else ' up', what))
            values[name] = number
        return values

    def booleans(self):
        values = {}
        for name in BOOLEANS:
            value = self.get(name)
            if not isinstance(value, bool):
                self.error(name, value, 'is invalid: expected true or false')
            values[name] = bool(value)
        return values

    def members(self):
        members = sorted(self.nodes)
        if len(members) != 2:
            self.errors.append('pair %s: members %s: a failover pair is exactly two hosts'
                               % (self.group, show(members)))
            return None
        addresses = {}
        ports = {}
        for host in members:
            hostvars = self.nodes[host] or {}
            address = hostvars.get('dhcp_failover_address')
            if not isinstance(address, str) or not IPV4.fullmatch(address):
                self.errors.append('%s: dhcp_failover_address=%s is not valid: expected the IPv4 address the '
                                   'node uses for the failover link, e.g. 198.18.10.11 (set it in the inventory '
                                   'for every member of %s)' % (host, show(address), self.group))
                address = None
            addresses[host] = address
            port = hostvars.get('dhcpd_failover_port')
            if _int(port) is None or not 1 <= _int(port) <= 65535:
                self.errors.append('%s: dhcpd_failover_port=%s is invalid: expected an integer from 1 to 65535, '
                                   'a TCP port' % (host, show(port)))
            ports[host] = _int(port)
        if None not in addresses.values() and addresses[members[0]] == addresses[members[1]]:
            self.errors.append('%s: dhcp_failover_address=%s is the same on both peers (%s): expected two '
                               'different addresses' % (members[1], show(addresses[members[1]]),
                                                        ', '.join(members)))
        return members, addresses, ports

    def primary(self, members, addresses):
        wanted = self.get('dhcpd_failover_primary')
        if wanted in (None, ''):
            if None in addresses.values():
                return members[0]
            return min(members, key=lambda host: [int(part) for part in addresses[host].split('.')])
        if wanted not in members:
            self.error('dhcpd_failover_primary', wanted, 'is invalid: expected empty or one of %s' % show(members))
            return members[0]
        return wanted

    def peer_name(self):
        name = self.get('dhcpd_failover_peer_name')
        from_group = name in (None, '')
        name = self.group if from_group else name
        if not isinstance(name, str) or not PEER_NAME.fullmatch(name):
            self.error('dhcpd_failover_peer_name', name, 'is invalid%s: expected 1 to 64 letters, digits, "_", "." '
                       'or "-" (it is written in quotes and comments of dhcpd.conf)'
                       % (' (empty, so the pair group name is used: set dhcpd_failover_peer_name)'
                          if from_group else ''))
        return name

    def balance(self):
        given = [name for name in ('dhcpd_split', 'dhcpd_hba', 'dhcpd_share') if self.get(name) is not None]
        if len(given) > 1:
            self.errors.append('%s: expected at most one of dhcpd_split, dhcpd_hba, dhcpd_share'
                               % ', '.join('%s=%s' % (name, show(self.get(name))) for name in given))
            return None
        if not given:
            return {'split': 128, 'hba': None}
        name = given[0]
        try:
            return _balance(name, self.get(name))
        except loadbalance.LoadBalanceError as exc:
            self.error(name, self.get(name), 'is invalid: %s' % exc)
            return None

    def key_name(self):
        name = self.get('dhcpd_omapi_key_name')
        if not isinstance(name, str) or not KEY_NAME.fullmatch(name):
            self.error('dhcpd_omapi_key_name', name, 'is invalid: expected 1 to 64 letters, digits, "_" or "-"')
        return name

    def clock_skew(self):
        value = self.get('dhcpd_max_clock_skew')
        number = None
        if not isinstance(value, bool) and re.fullmatch(r'[0-9]+(\.[0-9]+)?', str(value)):
            number = float(value)
        if number is None or not 0 < number < 60:
            self.error('dhcpd_max_clock_skew', value, 'is invalid: expected seconds above 0 and below 60 '
                       '(dhcpd assumes at most 60)')

    def interfaces(self):
        value = self.get('dhcpd_interfaces')
        if value is None:
            return []
        if not _is_list(value):
            self.error('dhcpd_interfaces', value, 'is invalid: expected a list of interface names')
            return []
        for index, name in enumerate(value):
            if not isinstance(name, str) or not INTERFACE.fullmatch(name):
                self.error('dhcpd_interfaces[%d]' % index, name, 'is invalid: expected an interface name of 1 to 15 '
                           'letters, digits, "_", "." or "-" (e.g. eth0)')
        return list(value)

    def options(self, path, options):
        if options is None:
            return []
        if not isinstance(options, dict):
            self.error(path, options, 'is invalid: expected a dict of option name: value')
            return []
        out = []
        for name in sorted(options, key=str):
            value = options[name]
            if not isinstance(name, str) or not OPTION_NAME.fullmatch(name):
                self.error(path, name, 'is not an option name: expected lower-case letters, digits and "-" '
                           '(optionally SPACE.NAME), e.g. domain-name-servers')
                continue
            try:
                out.append({'name': name, 'value': option_value(name, value)})
            except OptionError as exc:
                self.error('%s.%s' % (path, name), value, str(exc))
        return out

    def ports(self, members, ports, omapi_port):
        for host in members:
            if ports.get(host) is not None and ports[host] == omapi_port:
                self.errors.append('%s: dhcpd_failover_port=%d is the same as dhcpd_omapi_port=%d: expected '
                                   'different ports (dhcpd listens on both on this host)'
                                   % (host, ports[host], omapi_port))

    def subnets(self, members, addresses):
        value = self.get('dhcpd_subnets')
        if _is_list(value) and not value:
            self.errors.append('dhcpd_subnets=[] is empty: expected at least one subnet with a pool')
            return []
        known = [host for host in members if addresses[host] is not None]
        self.errors.extend(subnet_checks.subnet_errors(
            value, server_addresses=[addresses[host] for host in known],
            server_paths=['%s: dhcp_failover_address' % host for host in known]))
        if not _is_list(value):
            return []
        out = []
        for index, subnet in enumerate(value):
            if not isinstance(subnet, dict):
                continue
            path = 'dhcpd_subnets[%d]' % index
            out.append(self.subnet(path, subnet))
        return out

    def subnet(self, path, subnet):
        model = {'network': subnet.get('network'), 'address': None, 'netmask': None}
        if netaddr is not None and isinstance(model['network'], str):
            try:
                net = netaddr.IPNetwork(model['network'])
                model['address'], model['netmask'] = str(net.network), str(net.netmask)
            except (netaddr.AddrFormatError, ValueError, TypeError):
                pass  # subnet_errors() reported it
        options = dict(subnet.get('options') or {}) if isinstance(subnet.get('options'), dict) else {}
        model['options'] = []
        routers = subnet.get('routers')
        if routers:
            # subnet_errors() checked each router (on the subnet, outside the ranges).
            model['options'].append({'name': 'routers', 'value': ', '.join(str(router) for router in routers)
                                     if _is_list(routers) else str(routers)})
            if 'routers' in options:
                self.error(path + '.options.routers', options['routers'], 'is given twice: drop it and keep '
                           '%s.routers' % path)
        model['options'].extend(self.options(path + '.options', subnet.get('options')))
        model['next_server'] = None
        if subnet.get('next_server') is not None:
            server = subnet['next_server']
            if not isinstance(server, str) or not (IPV4.fullmatch(server) or DNS_NAME.fullmatch(server)):
                self.error(path + '.next_server', server, 'is invalid: expected the IPv4 address or DNS name '
                           'of the boot server, e.g. 198.18.10.5')
            model['next_server'] = subnet['next_server']
        model['filename'] = None
        if subnet.get('filename') is not None:
            try:
                model['filename'] = option_value('bootfile-name', subnet['filename'])
            except OptionError as exc:
                self.error(path + '.filename', subnet['filename'], str(exc))
        model['pools'] = self.pools(path, subnet)
        model['reservations'] = self.reservations(subnet)
        model['shared_network'] = self.shared_network(path + '.shared_network', subnet.get('shared_network'))
        return model

    def shared_network(self, path, name):
        if name in (None, ''):
            return None
        if not isinstance(name, str) or not SHARED_NETWORK.fullmatch(name):
            self.error(path, name, 'is invalid: expected 1 to 64 letters, digits, "_", "." or "-" (the name of '
                       'the shared-network block holding every subnet on the same wire), or null')
            return None
        return name

    def pools(self, path, subnet):
        out = []
        for position, pool in enumerate(subnet.get('pools') or []):
            if not isinstance(pool, dict):
                continue
            if 'bootp' in pool:
                self.pool_bootp('%s.pools[%d].bootp' % (path, position), pool['bootp'])
            ranges = pool.get('range')
            ranges = ranges if _is_list(ranges) else [ranges]
            out.append({'failover': pool.get('failover', True) is True,
                        'ranges': [' '.join(text.split()) for text in ranges if isinstance(text, str)]})
        return out

    @staticmethod
    def reservations(subnet):
        out = []
        for entry in subnet.get('reservations') or []:
            if not isinstance(entry, dict):
                continue
            try:
                mac = loadbalance.format_hba(loadbalance.parse_mac(entry.get('mac')))
            except (loadbalance.LoadBalanceError, TypeError):
                mac = None  # subnet_errors() reported it
            out.append({'name': entry.get('name'), 'mac': mac, 'ip': entry.get('ip')})
        return out

    def pool_bootp(self, path, value):
        if value is not True and value is not False:
            self.error(path, value, 'is invalid: expected true or false')
        elif value:
            # dhcpd refuses "range dynamic-bootp" where a failover peer is in scope, and a pool
            # outside failover would be handed out by both peers.
            self.error(path, value, 'is refused: dhcpd does not allow dynamic BOOTP in a failover pool '
                       '("range dynamic-bootp" with a failover peer is an error), and a pool without '
                       'failover would be leased by both peers; give BOOTP clients reservations instead')


def _first_uses(names):
    out = []
    for name in names:
        if name is not None and name not in out:
            out.append(name)
    return out


def pair_model(group, settings, nodes):
    """``(model, errors)`` for the pair ``group``; see the module docstring for both."""
    subnet_checks.require_netaddr()
    checker = _Checker(group, dict(settings or {}), dict(nodes or {}))
    if not isinstance(group, str) or not group:
        checker.error('dhcpd_pair_group', group, 'is invalid: expected the name of the inventory group of the pair')
    ints = checker.integers()
    bools = checker.booleans()
    found = checker.members()
    peer_name = checker.peer_name()
    balance = checker.balance()
    key_name = checker.key_name()
    checker.clock_skew()
    interfaces = checker.interfaces()
    options = checker.options('dhcpd_global_options', checker.get('dhcpd_global_options'))
    if found is None:
        return None, checker.errors
    members, addresses, ports = found
    checker.ports(members, ports, ints['dhcpd_omapi_port'])
    subnets = checker.subnets(members, addresses)
    primary = checker.primary(members, addresses)
    secondary = [host for host in members if host != primary][0]
    omapi = {'port': ints['dhcpd_omapi_port'], 'key_name': key_name}
    model = {
        'group': group,
        'peer_name': peer_name,
        'members': members,
        'primary': primary,
        'secondary': secondary,
        'balance': balance,
        'mclt': ints['dhcpd_mclt'],
        'max_response_delay': ints['dhcpd_max_response_delay'],
        'max_unacked_updates': ints['dhcpd_max_unacked_updates'],
        'load_balance_max_seconds': ints['dhcpd_load_balance_max_seconds'],
        'auto_partner_down': ints['dhcpd_auto_partner_down'],
        'omapi': omapi,
        'lease': {'default': ints['dhcpd_default_lease_time'], 'max': ints['dhcpd_max_lease_time']},
        'authoritative': bools['dhcpd_authoritative'],
        'ping_check': bools['dhcpd_ping_check'],
        'server_id_check': bools['dhcpd_server_id_check'],
        'interfaces': interfaces,
        'options': options,
        'subnets': subnets,
        'shared_networks': _first_uses(subnet['shared_network'] for subnet in subnets),
        'nodes': {},
    }
    for host in members:
        peer = secondary if host == primary else primary
        model['nodes'][host] = {
            'host': host,
            'role': 'primary' if host == primary else 'secondary',
            'address': addresses[host],
            'failover_port': ports[host],
            'peer': peer,
            'omapi_port': omapi['port'],
            'omapi_key_name': key_name,
            'service': checker.get('service'),
        }
    return model, checker.errors


def node_view(model, host):
    """The model plus ``host``'s own keys at the top level (the fact ``dhcpd_pair_info``)."""
    node = model['nodes'][host]
    peer = model['nodes'][node['peer']]
    view = dict(model)
    view.update({
        'host': host,
        'role': node['role'],
        'address': node['address'],
        'failover_port': node['failover_port'],
        'peer_host': peer['host'],
        'peer_address': peer['address'],
        'peer_failover_port': peer['failover_port'],
        'omapi_port': node['omapi_port'],
        'omapi_key_name': node['omapi_key_name'],
        'service': node['service'],
    })
    return view


def model_differences(mine, theirs, me='this host', them='its peer'):
    """One line per top-level key on which two hosts' models of the same pair disagree; [] if none."""
    mine = dict((key, value) for key, value in (mine or {}).items() if key not in NODE_VIEW_KEYS)
    theirs = dict((key, value) for key, value in (theirs or {}).items() if key not in NODE_VIEW_KEYS)
    out = []
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            out.append('%s: %s has %s, %s has %s' % (key, me, show(mine.get(key)), them, show(theirs.get(key))))
    return out
