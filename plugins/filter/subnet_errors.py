# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: subnet_errors
short_description: List every problem in a dhcpd subnet and pool definition
version_added: 0.1.0
author: netboot.dhcp_failover contributors
description:
  - Checks a C(dhcpd_subnets) definition before anything is rendered or touched, and returns one
    message per problem, each naming the path of the bad item (for example
    C(dhcpd_subnets[0].pools[1].range)), its value and why it is wrong. An empty list means valid.
  - "The data model is a list of dicts, one per subnet:"
  - "C(network) (required): the IPv4 network with its prefix, C(198.18.10.0/24); host bits must be
    zero and the prefix must be C(/8) to C(/30)."
  - "C(routers) (optional): a list of IPv4 addresses on the subnet, outside every dynamic range."
  - "C(pools) (optional): a list of dicts. C(range) (required) is the string C(START END) (two IPv4
    addresses separated by a space, as in dhcpd's C(range) statement) or a list of such strings;
    C(failover) (optional boolean, default the value of the O(failover) option) says whether the
    pool is served by the failover pair."
  - "C(reservations) (optional): a list of dicts with C(name) (host name: letters, digits, C(-)
    and C(_) in dot-separated labels), C(mac) (any spelling that P(netboot.dhcp_failover.lb_peer#filter)
    accepts) and C(ip) (an address on the subnet, outside every dynamic range)."
  - Other keys are ignored here and left to the roles that render the configuration.
  - "Problems found: invalid network, prefix or host bits; duplicate or overlapping subnets;
    malformed ranges; a range whose start is after its end, outside its subnet, or containing the
    network or broadcast address; overlapping ranges (within a pool, across pools, across
    subnets); a router, a server's own address or a reservation inside a dynamic range or off its
    subnet; duplicate reservation names, IPs, and MACs within a subnet; a pool without failover
    while the pair uses failover (both servers would hand out the same addresses), or with
    failover while the pair does not; failover on but no pool refers to the peer (dhcpd refuses
    to start)."
  - Runs on the controller and needs the Python package C(netaddr) there.
options:
  _input:
    description: The subnet definitions, normally the C(dhcpd_subnets) variable.
    type: list
    elements: dict
    required: true
  server_addresses:
    description:
      - The DHCP servers' own IPv4 addresses. Each must lie outside every dynamic range.
    type: list
    elements: str
    default: []
  failover:
    description:
      - Whether the pair runs in failover. When true, every pool must use the failover peer and
        at least one pool must exist; when false, no pool may ask for it.
    type: bool
    default: true
  name:
    description: The variable name used at the start of every path in the messages.
    type: str
    default: dhcpd_subnets
requirements:
  - netaddr (Python package, on the controller)
"""

EXAMPLES = r"""
- name: Refuse to continue with a broken subnet definition
  vars:
    dhcpd_subnets:
      - network: 198.18.10.0/24
        routers: [198.18.10.1]
        pools:
          - range: 198.18.10.100 198.18.10.199
        reservations:
          - {name: pxe-01, mac: "52:54:00:12:34:56", ip: 198.18.10.20}
    dhcpd_servers: [198.18.10.2, 198.18.10.3]
    problems: "{{ dhcpd_subnets | netboot.dhcp_failover.subnet_errors(server_addresses=dhcpd_servers) }}"
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems }}"

- name: What a bad range reports
  ansible.builtin.debug:
    msg: >-
      {{ [{'network': '198.18.10.0/24', 'pools': [{'range': '198.18.10.200 198.18.10.100'}]}]
         | netboot.dhcp_failover.subnet_errors }}
  # => ["dhcpd_subnets[0].pools[0].range: '198.18.10.200 198.18.10.100' starts after it ends
  #     (198.18.10.200 > 198.18.10.100)", ...]
"""

RETURN = r"""
_value:
  description:
    - >-
      One message per problem, C(PATH: VALUE why), for example
      C(dhcpd_subnets[0].routers[0]: '198.18.10.150' the router is inside the dynamic range
      dhcpd_subnets[0].pools[0].range ...). Empty when the definition is valid.
  type: list
  elements: str
"""

from ansible.errors import AnsibleError, AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.subnets import subnet_errors as _subnet_errors


def subnet_errors(subnets, server_addresses=None, failover=True, name='dhcpd_subnets'):
    try:
        return _subnet_errors(subnets, server_addresses=server_addresses, failover=failover, name=name)
    except AnsibleFilterError:
        raise
    except AnsibleError as exc:
        raise AnsibleFilterError('netboot.dhcp_failover.subnet_errors: %s' % exc.message) from None


class FilterModule:
    def filters(self):
        return {'subnet_errors': subnet_errors}
