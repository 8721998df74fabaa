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
  - With O(wait_for), polls until the states are the wanted ones, or until dhcpd answers at all,
    instead of an C(until) loop in the playbook.
author:
  - netboot.dhcp_failover developers (!UNKNOWN)
extends_documentation_fragment:
  - netboot.dhcp_failover.omapi
  - netboot.dhcp_failover.attributes.info_module
options:
  wait_for:
    description:
      - Read the object again (every half second, over a new connection each time) until all the
        conditions given hold, then return it; in check mode too. Connection failures while waiting
        (dhcpd restarting) count as not yet; other errors (wrong key, unknown peer) fail at once.
      - An empty dict (V({})) waits only until dhcpd answers over OMAPI.
      - The module fails if the conditions do not hold within O(wait_timeout) seconds; the result
        then still carries the last object read and the states seen.
    type: dict
    suboptions:
      local_state:
        description: This server's state must be one of these.
        type: list
        elements: str
        choices: [unknown-state, startup, normal, communications-interrupted, partner-down, potential-conflict,
                  recover, paused, shutdown, recover-done, resolution-interrupted, conflict-done, recover-wait]
      local_state_not:
        description: This server's state must be none of these (for example V(startup) and V(recover) to wait
          until a restarted server has finished starting).
        type: list
        elements: str
        choices: [unknown-state, startup, normal, communications-interrupted, partner-down, potential-conflict,
                  recover, paused, shutdown, recover-done, resolution-interrupted, conflict-done, recover-wait]
      cur_unacked_updates:
        description: At most this many binding updates may wait for the partner's acknowledgement
          (V(0) to wait until they have drained before stopping a server).
        type: int
      partner_state:
        description: The partner's state, as this server knows it, must be one of these.
        type: list
        elements: str
        choices: [unknown-state, startup, normal, communications-interrupted, partner-down, potential-conflict,
                  recover, paused, shutdown, recover-done, resolution-interrupted, conflict-done, recover-wait]
  wait_timeout:
    description:
      - Seconds to wait for O(wait_for). O(timeout) still bounds each single connection and answer.
    type: float
    default: 120
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

- name: After a restart, wait up to 2 minutes until both sides are in normal
  netboot.dhcp_failover.failover_info:
    name: pxe
    key_name: omapi_key
    key: "{{ vault_omapi_secret }}"
    wait_for:
      local_state: [normal]
      partner_state: [normal]
    wait_timeout: 120
  register: pxe_failover

- name: Wait until a just started dhcpd answers over OMAPI, whatever its state
  netboot.dhcp_failover.failover_info:
    name: pxe
    key_name: omapi_key
    key: "{{ vault_omapi_secret }}"
    wait_for: {}
    wait_timeout: 30
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
states_seen:
  description:
    - The local states read while waiting, each once per stretch in which it was seen.
  returned: when O(wait_for) is given
  type: list
  elements: str
  sample: [startup, normal]
waited:
  description: Seconds spent waiting.
  returned: when O(wait_for) is given
  type: float
  sample: 0.6
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.errors import OmapiError
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.module_support import (
    CONNECTION_REQUIRED_TOGETHER,
    check_connection_params,
    connection_argument_spec,
    connection_from_params,
)
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.objects import (
    STATES,
    read_failover_state,
    wait_condition,
    wait_message,
    wait_until,
)

WAIT_INTERVAL = 0.5
WAITABLE_STATES = [STATES[number] for number in sorted(STATES)]


def _read(params):
    with connection_from_params(params) as conn:
        return read_failover_state(conn, params['name'])[1]


def _wait(module):
    params = module.params
    condition, what = wait_condition(**params['wait_for'])
    result = wait_until(lambda: _read(params), condition, params['wait_timeout'], interval=WAIT_INTERVAL)
    extra = dict(states_seen=result['states_seen'], waited=round(result['waited'], 3))
    if not result['reached']:
        module.fail_json(msg=wait_message(result, what, params['wait_timeout']), failover=result['failover'],
                         **extra)
    return dict(failover=result['failover'], **extra)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_argument_spec(),
            wait_for=dict(type='dict', options=dict(
                local_state=dict(type='list', elements='str', choices=WAITABLE_STATES),
                local_state_not=dict(type='list', elements='str', choices=WAITABLE_STATES),
                partner_state=dict(type='list', elements='str', choices=WAITABLE_STATES),
                cur_unacked_updates=dict(type='int'),
            )),
            wait_timeout=dict(type='float', default=120.0),
        ),
        required_together=CONNECTION_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    problem = check_connection_params(module.params)
    wanted = module.params['wait_for'] or {}
    if problem is None and (wanted.get('cur_unacked_updates') or 0) < 0:
        problem = ('wait_for.cur_unacked_updates=%r is invalid: expected a number of updates, 0 or more'
                   % wanted['cur_unacked_updates'])
    if problem is None and not module.params['wait_timeout'] > 0:
        problem = ('wait_timeout=%r is invalid: expected a number of seconds greater than 0'
                   % module.params['wait_timeout'])
    if problem:
        module.fail_json(msg=problem)
    try:
        # A key that cannot be decoded fails here, before any wait.
        connection_from_params(module.params)
        waiting = module.params['wait_for'] is not None
        result = _wait(module) if waiting else dict(failover=_read(module.params))
    except (OmapiError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
