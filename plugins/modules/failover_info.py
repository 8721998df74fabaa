#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: failover_info
short_description: Read the failover state of an ISC dhcpd peer over OMAPI
version_added: 0.1.0
description:
  - Reads the C(failover-state) object of one failover peer of ISC dhcpd 4.4 over OMAPI.
  - Returns this server's and its partner's state (name and number), when each last changed,
    the role, MCLT, the load-balancing bitmap and the split it corresponds to, and the update
    counters.
  - Attributes that dhcpd fills with meaningless data (C(partner-address), C(local-address),
    C(skew), C(last-packet-sent), C(last-timestamp-received)) are not returned.
author:
  - netboot.dhcp_failover developers (!UNKNOWN)
extends_documentation_fragment:
  - netboot.dhcp_failover.omapi
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to compare.
seealso:
  - module: netboot.dhcp_failover.failover_state
'''

EXAMPLES = r'''
- name: Read the failover state of peer "pxe" on the local dhcpd
  netboot.dhcp_failover.failover_info:
    name: pxe
    key_name: omapi_key
    key: "{{ vault_omapi_secret }}"
  register: pxe_failover

- name: Both sides must be in normal
  ansible.builtin.assert:
    that:
      - pxe_failover.failover.local_state == 'normal'
      - pxe_failover.failover.partner_state == 'normal'
    fail_msg: "failover peer pxe is {{ pxe_failover.failover.local_state }}/{{ pxe_failover.failover.partner_state }}"

- name: Safe to stop this server for maintenance only without unacknowledged updates
  ansible.builtin.assert:
    that: pxe_failover.failover.cur_unacked_updates == 0

- name: Read a remote dhcpd over a non-default OMAPI port
  netboot.dhcp_failover.failover_info:
    host: 198.18.100.2
    port: 7912
    name: pxe
    key_name: omapi_key
    key: "{{ vault_omapi_secret }}"
    timeout: 5
'''

RETURN = r'''
failover:
  description: The failover-state object of the peer, decoded.
  returned: success
  type: dict
  contains:
    name:
      description: The failover peer name.
      type: str
      sample: pxe
    role:
      description: This server's role in the pair.
      type: str
      choices: [primary, secondary]
      sample: primary
    local_state:
      description: This server's failover state.
      type: str
      sample: normal
    local_state_number:
      description: This server's failover state as dhcpd's number (2 is normal, 4 partner-down, ...).
      type: int
      sample: 2
    partner_state:
      description: The partner's state as this server last heard it.
      type: str
      sample: normal
    partner_state_number:
      description: The partner's state as dhcpd's number.
      type: int
      sample: 2
    local_stos:
      description: When this server entered its current state (ISO 8601, UTC); null if never.
      type: str
      sample: '2026-11-25T23:41:08Z'
    partner_stos:
      description: When the partner entered its state, as this server knows it (ISO 8601, UTC); null if never.
      type: str
      sample: '2026-11-25T23:41:08Z'
    local_stos_epoch:
      description: RV(failover.local_stos) in seconds since 1970 (0 if never), for arithmetic such as stos + MCLT.
      type: int
      sample: 1795650068
    partner_stos_epoch:
      description: RV(failover.partner_stos) in seconds since 1970 (0 if never).
      type: int
      sample: 1795650068
    mclt:
      description: Maximum client lead time in seconds (the primary's value, shared by both).
      type: int
      sample: 1800
    hba:
      description: The 32-byte load-balancing bitmap as colon-separated hex; null if dhcpd has none.
      type: str
      sample: 'ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00'
    split:
      description: The C(split) value that gives RV(failover.hba); null if the bitmap is not a split or absent.
      type: int
      sample: 128
    load_balance_max_secs:
      description: C(load balance max seconds) of this server (0 means load balancing is off here).
      type: int
      sample: 3
    max_response_delay:
      description: C(max-response-delay) in seconds.
      type: int
      sample: 30
    max_unacked_updates:
      description: C(max-unacked-updates) of this server.
      type: int
      sample: 10
    cur_unacked_updates:
      description: Binding updates sent to the partner and not yet acknowledged.
      type: int
      sample: 0
    local_port:
      description: This server's failover port.
      type: int
      sample: 647
    partner_port:
      description: The partner's failover port.
      type: int
      sample: 847
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.errors import OmapiError
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.module_support import (
    CONNECTION_REQUIRED_TOGETHER,
    check_connection_params,
    connection_argument_spec,
    connection_from_params,
)
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.objects import read_failover_state


def main():
    module = AnsibleModule(
        argument_spec=connection_argument_spec(),
        required_together=CONNECTION_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    problem = check_connection_params(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        conn = connection_from_params(module.params)
        with conn:
            _handle, info = read_failover_state(conn, module.params['name'])
    except (OmapiError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, failover=info)


if __name__ == '__main__':
    main()
