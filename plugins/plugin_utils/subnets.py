# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of the ``dhcpd_subnets`` data model (controller side, uses netaddr).

Data model (documented for users in plugins/filter/subnet_errors.py)::

    dhcpd_subnets:
      - network: 198.18.10.0/24          # required, IPv4 network address with prefix /8 to /30
        routers: [198.18.10.1]           # optional list of IPv4 addresses
        pools:                           # optional list
          - range: 198.18.10.100 198.18.10.199   # "START END", or a list of such strings
            failover: true               # optional, default: the pair's failover setting
        reservations:                    # optional list
          - {name: pxe-01, mac: "52:54:00:12:34:56", ip: 198.18.10.20}

Other keys are left to the roles that render the configuration.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleError
from ansible.module_utils.common.collections import is_sequence

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.loadbalance import LoadBalanceError, parse_mac

try:
    import netaddr
except ImportError as exc:  # reported when the filter is used, not when Ansible lists plugins
    netaddr = None
    NETADDR_IMPORT_ERROR = exc
else:
    NETADDR_IMPORT_ERROR = None

MIN_PREFIX = 8
MAX_PREFIX = 30
# dhcpd's lexer takes these unquoted as a host name; '_' alone and quoted names were refused by `dhcpd -t`.
_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?'
HOST_NAME = re.compile(r'^%s(?:\.%s)*$' % (_LABEL, _LABEL))


def require_netaddr():
    if netaddr is None:
        raise AnsibleError('the netboot.dhcp_failover subnet validation needs the Python package "netaddr" '
                           'on the Ansible controller (pip install netaddr): %s' % NETADDR_IMPORT_ERROR)


def _show(value):
    if isinstance(value, str):
        return "'%s'" % value
    return repr(value)


def _is_list(value):
    return is_sequence(value) and not isinstance(value, str)


class _Range:
    def __init__(self, path, text, first, last, subnet_index):
        self.path = path
        self.text = text
        self.first = first
        self.last = last
        self.subnet_index = subnet_index

    def __contains__(self, address):
        return self.first <= address <= self.last


class _Validator:
    def __init__(self, name, failover):
        self.name = name
        self.failover = failover
        self.errors = []
        self.networks = []  # (path, IPNetwork)
        self.ranges = []
        self.routers = []  # (path, IPAddress)
        self.reservations = []  # (path, IPAddress)
        self.failover_pools = 0

    def error(self, path, value, why):
        self.errors.append('%s: %s %s' % (path, _show(value), why))

    def address(self, path, value):
        """An IPv4 netaddr.IPAddress, or None after recording why ``value`` is not one."""
        if not isinstance(value, str):
            self.error(path, value, 'is not an IPv4 address: expected a string like 198.18.10.1')
            return None
        try:
            return netaddr.IPAddress(value, 4, flags=netaddr.INET_PTON)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            self.error(path, value, 'is not an IPv4 address: expected dotted quad like 198.18.10.1')
            return None

    def network(self, path, value):
        if not isinstance(value, str) or '/' not in value:
            self.error(path, value, 'is not a network: expected an IPv4 network with prefix like 198.18.10.0/24')
            return None
        text, _sep, prefix = value.partition('/')
        try:
            base = netaddr.IPAddress(text, 4, flags=netaddr.INET_PTON)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            self.error(path, value, 'is not a network: %s is not an IPv4 address (expected e.g. 198.18.10.0/24)'
                       % _show(text))
            return None
        if not re.match(r'^[0-9]{1,2}$', prefix) or not MIN_PREFIX <= int(prefix) <= MAX_PREFIX:
            self.error(path, value, 'has an invalid prefix length %s: expected /%d to /%d'
                       % (_show(prefix), MIN_PREFIX, MAX_PREFIX))
            return None
        net = netaddr.IPNetwork('%s/%s' % (base, prefix))
        if net.network != base:
            self.error(path, value, 'has host bits set: the network address of %s is %s/%s'
                       % (value, net.network, net.prefixlen))
            return None
        return net.cidr

    def inside(self, path, value, address, net, what):
        """Whether ``address`` is a usable host address of ``net``; records why not."""
        if address not in net:
            self.error(path, value, 'is outside the subnet %s (%s)' % (net, what))
            return False
        if address in (net.network, net.broadcast):
            kind = 'network' if address == net.network else 'broadcast'
            self.error(path, value, 'is the %s address of %s (%s)' % (kind, net, what))
            return False
        return True

    def subnet(self, index, item):
        path = '%s[%d]' % (self.name, index)
        if not isinstance(item, dict):
            self.error(path, item, 'is not a subnet definition: expected a dict with at least "network"')
            return
        if 'network' not in item:
            self.error(path, item, 'has no "network" (expected e.g. network: 198.18.10.0/24)')
            return
        net = self.network(path + '.network', item['network'])
        if net is None:
            return
        for other_path, other in self.networks:
            if other == net:
                self.error(path + '.network', item['network'], 'duplicates %s.network' % other_path)
            elif net in other or other in net:
                self.error(path + '.network', item['network'], 'overlaps %s.network (%s)' % (other_path, other))
        self.networks.append((path, net))

        for key, handler in (('pools', self.pool), ('routers', self.router), ('reservations', self.reservation)):
            entries = item.get(key)
            if entries is None:
                continue
            if not _is_list(entries):
                self.error('%s.%s' % (path, key), entries, 'is not a list')
                continue
            for position, entry in enumerate(entries):
                handler('%s.%s[%d]' % (path, key, position), entry, net, index)

    def router(self, path, value, net, _index):
        address = self.address(path, value)
        if address is not None and self.inside(path, value, address, net, 'a router must be on its subnet'):
            self.routers.append((path, address))

    def pool(self, path, pool, net, index):
        if not isinstance(pool, dict):
            self.error(path, pool, 'is not a pool: expected a dict with "range" (and optionally "failover")')
            return
        failover = pool.get('failover', self.failover)
        if not isinstance(failover, bool):
            self.error(path + '.failover', failover, 'is not a boolean')
        elif failover and not self.failover:
            self.error(path + '.failover', failover, 'asks for a failover peer but the pair is configured '
                       'without failover')
        elif self.failover and not failover:
            self.error(path + '.failover', failover, 'leaves this pool without a failover peer although the '
                       'pair uses failover: both servers would hand out the same addresses')
        if failover is True:
            self.failover_pools += 1
        if 'range' not in pool:
            self.error(path, pool, 'has no "range" (expected e.g. range: "198.18.10.100 198.18.10.199")')
            return
        ranges = pool['range']
        if _is_list(ranges):
            if not ranges:
                self.error(path + '.range', ranges, 'is empty: expected at least one "START END" range')
            for position, text in enumerate(ranges):
                self.range('%s.range[%d]' % (path, position), text, net, index)
        else:
            self.range(path + '.range', ranges, net, index)

    def range(self, path, text, net, index):
        words = text.split() if isinstance(text, str) else None
        if not words or len(words) != 2:
            self.error(path, text, 'is not a range: expected "START END", two IPv4 addresses separated by a space')
            return
        first = self.address(path, words[0])
        last = self.address(path, words[1])
        if first is None or last is None:
            return
        if first > last:
            self.error(path, text, 'starts after it ends (%s > %s)' % (first, last))
            return
        if first not in net or last not in net:
            self.error(path, text, 'is outside the subnet %s' % net)
            return
        for address in (net.network, net.broadcast):
            if first <= address <= last:
                kind = 'network' if address == net.network else 'broadcast'
                self.error(path, text, 'contains the %s address %s of %s' % (kind, address, net))
                return
        self.ranges.append(_Range(path, text, first, last, index))

    def reservation(self, path, entry, net, _index):
        if not isinstance(entry, dict):
            self.error(path, entry, 'is not a reservation: expected a dict with "name", "mac" and "ip"')
            return
        missing = [key for key in ('name', 'mac', 'ip') if key not in entry]
        if missing:
            self.error(path, entry, 'lacks %s (a reservation needs name, mac and ip)' % ', '.join(missing))
            return
        name = entry['name']
        if not isinstance(name, str) or not HOST_NAME.fullmatch(name):
            self.error(path + '.name', name, 'is not a valid host name: expected letters, digits, "-" and "_" '
                       'in dot-separated labels (e.g. pxe-01)')
        try:
            mac = parse_mac(entry['mac'])
        except LoadBalanceError as exc:
            self.error(path + '.mac', entry['mac'], 'is invalid: %s' % exc)
            mac = None
        address = self.address(path + '.ip', entry['ip'])
        if address is not None and not self.inside(path + '.ip', entry['ip'], address, net,
                                                   'a fixed address must be on its subnet'):
            address = None
        self.reservations.append((path, entry, mac, address, net))

    def cross_checks(self, server_addresses, server_paths=None):
        self.overlapping_ranges()
        for path, address in self.routers:
            self.in_ranges(path, str(address), address, 'router address')
        servers = self.servers(server_addresses, server_paths)
        self.reservation_conflicts(servers)
        if self.failover and self.failover_pools == 0 and not self.errors:
            self.error(self.name, [str(net) for _path, net in self.networks],
                       'has no pool that uses failover: dhcpd refuses a failover peer without referring pools '
                       '(give at least one subnet a pool, or set failover to false)')

    def overlapping_ranges(self):
        ordered = sorted(self.ranges, key=lambda item: (item.first, item.last))
        for position, current in enumerate(ordered):
            for other in ordered[position + 1:]:
                if other.first > current.last:
                    break
                self.error(other.path, other.text, 'overlaps %s (%s)' % (current.path, _show(current.text)))

    def in_ranges(self, path, value, address, what):
        for dynamic in self.ranges:
            if address in dynamic:
                self.error(path, value, 'is inside the dynamic range %s (%s): dhcpd could lease this %s '
                           'to a client' % (dynamic.path, _show(dynamic.text), what))

    def servers(self, server_addresses, server_paths=None):
        """{IPAddress: path} of the valid server addresses, after checking them."""
        servers = {}
        if server_addresses is None:
            return servers
        if not _is_list(server_addresses):
            self.error('server_addresses', server_addresses, 'is not a list of IPv4 addresses')
            return servers
        for position, value in enumerate(server_addresses):
            # The caller's name for the address (e.g. "host: dhcp_failover_address"), the user's variable.
            path = server_paths[position] if server_paths else 'server_addresses[%d]' % position
            address = self.address(path, value)
            if address is not None:
                self.in_ranges(path, value, address, "server's own address")
                servers.setdefault(address, path)
        return servers

    def reservation_conflicts(self, servers):
        seen_names, seen_addresses, seen_macs = {}, {}, {}
        routers = dict((address, path) for path, address in self.routers)
        for path, entry, mac, address, net in self.reservations:
            name = entry['name']
            if isinstance(name, str):
                if name in seen_names:
                    self.error(path + '.name', name, 'duplicates %s.name: dhcpd refuses a second host of the '
                               'same name' % seen_names[name])
                seen_names.setdefault(name, path)
            if mac is not None:
                if (net, mac) in seen_macs:
                    self.error(path + '.mac', entry['mac'], 'duplicates %s.mac in the same subnet'
                               % seen_macs[(net, mac)])
                seen_macs.setdefault((net, mac), path)
            if address is None:
                continue
            value = entry['ip']
            self.in_ranges(path + '.ip', value, address, 'fixed address')
            if address in seen_addresses:
                self.error(path + '.ip', value, 'duplicates %s.ip' % seen_addresses[address])
            seen_addresses.setdefault(address, path)
            if address in routers:
                self.error(path + '.ip', value, 'is the router address %s' % routers[address])
            if address in servers:
                self.error(path + '.ip', value, 'is the DHCP server address %s' % servers[address])


def subnet_errors(subnets, server_addresses=None, failover=True, name='dhcpd_subnets', server_paths=None):
    """Every problem in a ``dhcpd_subnets`` definition as "PATH: VALUE why" strings; [] when valid."""
    require_netaddr()
    if not isinstance(failover, bool):
        raise AnsibleError('failover must be a boolean (true when the pair runs in failover), got %s'
                           % _show(failover))
    validator = _Validator(name, failover)
    if not _is_list(subnets):
        validator.error(name, subnets, 'is not a list of subnet definitions (dicts with "network", "pools", ...)')
        return validator.errors
    for index, item in enumerate(subnets):
        validator.subnet(index, item)
    validator.cross_checks(server_addresses, server_paths)
    return validator.errors
