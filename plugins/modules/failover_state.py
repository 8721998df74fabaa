#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: failover_state
short_description: Safely set the failover state of an ISC dhcpd peer over OMAPI
version_added: 0.1.0
description:
  - Sets the local failover state of one failover peer of ISC dhcpd 4.4 over OMAPI, reads the
    object back and reports a change only when the state really changed. Running it again when
    the server is already in the requested state changes nothing.
  - Only the states below can be requested; the module never sends any other number, because
    dhcpd aborts on a state it does not know and stays broken after a restart.
  - C(partner-down) is refused while the partner is demonstrably alive, C(recover) while this
    server may be the only one answering clients, and C(recover-done) unless this server is in
    C(recover-wait) and O(force=true). O(force=true) lifts these guards, never the state list.
  - C(normal) cannot be requested. dhcpd reaches it by itself once both peers talk and agree;
    setting it by hand skips conflict resolution and the binding exchange, which is how pairs
    end up giving the same address to two clients. To get back to C(normal), repair the link
    or start the partner.
  - Optionally waits until this server reaches a given state (for example C(normal) after
    C(recover)) and returns the states it went through.
author:
  - netboot.dhcp_failover developers (!UNKNOWN)
extends_documentation_fragment:
  - netboot.dhcp_failover.omapi
options:
  state:
    description:
      - The local failover state to set.
      - V(partner-down) declares the partner dead; this server then answers every client and,
        once its partner's stos + MCLT has passed, also uses the partner's free addresses.
        Refused unless this server is in C(communications-interrupted) or
        C(resolution-interrupted) and the partner's failover port at
        O(partner_address):O(partner_port) does not accept a TCP connection. If the partner is in
        fact running, both servers hand out the same addresses. A closed failover port does not
        prove that the partner stopped serving clients (a cut failover link looks the same), so run
        M(netboot.dhcp_failover.dhcp_probe) first and decide with the filter
        P(netboot.dhcp_failover.partner_down_probe#filter), as the collection's recover and
        maintenance playbooks do.
      - V(recover) makes this server forget its view of the bindings and fetch them all from the
        partner; it answers nobody until it is back in C(normal). Use it for a server whose lease
        file was lost, or that is stuck in an unknown state. Refused in C(partner-down) and
        C(communications-interrupted) (this server may be the only one serving).
      - V(recover-done) ends the MCLT wait of a server in C(recover-wait). Safe only if the
        server had no unacknowledged updates
        (RV(netboot.dhcp_failover.failover_info#module:failover.cur_unacked_updates) was 0)
        when it was stopped; needs O(force=true).
    type: str
    required: true
    choices: [partner-down, recover, recover-done]
  force:
    description:
      - Skip the safety checks described for O(state). The module still never sends a state
        outside the list.
      - With V(partner-down), you assert that the partner is down; if it is not, both servers can
        give the same address to two clients.
    type: bool
    default: false
  partner_address:
    description:
      - Address of the partner's failover listener (C(peer address) in this server's dhcpd.conf),
        as seen from the managed node.
      - Required to set V(partner-down) without O(force). dhcpd's OMAPI object does not report it.
      - Note that the check cannot tell a dead partner from one cut off by a network partition
        that also separates the managed node from it.
    type: str
  partner_port:
    description:
      - The partner's failover port (C(peer port) in this server's dhcpd.conf).
    type: int
    default: 647
  wait_for:
    description:
      - After setting the state (or finding it already set), wait until this server's local state
        is this one. For example V(normal) after V(recover), or V(partner-down) to confirm.
      - The module fails if the state is not reached within O(wait_timeout) seconds.
      - Not done in check mode.
    type: str
    choices: [startup, normal, communications-interrupted, partner-down, potential-conflict, recover,
              paused, shutdown, recover-done, resolution-interrupted, conflict-done, recover-wait]
  wait_timeout:
    description:
      - Seconds to wait for O(wait_for).
    type: float
    default: 120
attributes:
  check_mode:
    support: full
    description: Reads the state and runs every safety check, then reports what would change without writing.
  diff_mode:
    support: full
    description: Shows the local and partner state before and after.
seealso:
  - module: netboot.dhcp_failover.failover_info
  - module: netboot.dhcp_failover.dhcp_probe
  - plugin: netboot.dhcp_failover.partner_down_probe
    plugin_type: filter
'''

EXAMPLES = r'''
- name: The partner is down for good; let this server serve the whole pool
  netboot.dhcp_failover.failover_state:
    name: pxe
    state: partner-down
    partner_address: 198.18.100.2
    partner_port: 847
    key_name: omapi_key
    key: "{{ vault_omapi_secret }}"

- name: Resynchronise a server whose lease file was lost, and wait until the pair is normal again
  netboot.dhcp_failover.failover_state:
    name: pxe
    state: recover
    wait_for: normal
    wait_timeout: 600
    key_name: omapi_key
    key: "{{ vault_omapi_secret }}"
  register: recovered

- name: Show the states the server went through
  ansible.builtin.debug:
    var: recovered.states_seen

- name: End the MCLT wait of a server that was stopped with no unacknowledged updates
  netboot.dhcp_failover.failover_state:
    name: pxe
    state: recover-done
    force: true
    wait_for: normal
    key_name: omapi_key
    key: "{{ vault_omapi_secret }}"
'''

RETURN = r'''
state:
  description: The state that was requested.
  returned: success
  type: str
  sample: partner-down
before:
  description: Local and partner state before the module acted.
  returned: success
  type: dict
  contains:
    local_state:
      description: This server's state.
      type: str
      sample: communications-interrupted
    partner_state:
      description: The partner's state as this server knew it.
      type: str
      sample: normal
  sample: {local_state: communications-interrupted, partner_state: normal}
after:
  description:
    - Local and partner state read back from dhcpd after the change (predicted in check mode).
    - dhcpd may already have moved on from the requested state (for example from V(recover-done)
      to C(normal)).
  returned: success
  type: dict
  contains:
    local_state:
      description: This server's state.
      type: str
      sample: partner-down
    partner_state:
      description: The partner's state as this server knows it.
      type: str
      sample: normal
  sample: {local_state: partner-down, partner_state: normal}
states_seen:
  description:
    - The local states observed, in order, from before the change to the end of the wait. Each
      state is listed once per stretch in which it was seen.
  returned: success
  type: list
  elements: str
  sample: [communications-interrupted, partner-down]
failover:
  description:
    - The whole failover-state object as read last, with the same keys as RV(failover) of
      M(netboot.dhcp_failover.failover_info).
  returned: success
  type: dict
  sample: {name: pxe, role: primary, local_state: partner-down, local_state_number: 4, partner_state: normal}
waited:
  description: Seconds spent waiting for O(wait_for) (0 without it).
  returned: success
  type: float
  sample: 2.5
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
    STATE_NUMBERS,
    read_failover_state,
    refresh_failover_state,
    set_local_state,
    wait_condition,
    wait_message,
    wait_until,
)
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.safety import SETTABLE_STATES, refusal

WAIT_INTERVAL = 0.5


def _summary(info):
    return {'local_state': info['local_state'], 'partner_state': info['partner_state']}


def _wait(module, target, seen, changed):
    """Poll with a fresh connection each time: dhcpd may be restarted while we wait."""
    params = module.params

    def read():
        with connection_from_params(params) as conn:
            return read_failover_state(conn, params['name'])[1]

    condition, what = wait_condition(local_state=[target])
    result = wait_until(read, condition, params['wait_timeout'], interval=WAIT_INTERVAL)
    for state in result['states_seen']:
        if seen[-1] != state:
            seen.append(state)
    if not result['reached']:
        module.fail_json(msg=wait_message(result, what, params['wait_timeout']), states_seen=seen,
                         failover=result['failover'], changed=changed)
    return result['failover'], result['waited']


def run(module):
    params = module.params
    target = params['state']
    with connection_from_params(params) as conn:
        handle, before = read_failover_state(conn, params['name'])
        seen = [before['local_state']]
        after = before
        # Never re-send the current state: dhcpd would restart its stos, postponing by a full MCLT
        # the moment a partner-down server may use its partner's addresses.
        if before['local_state'] != target:
            problem = refusal(before, target, params['force'], partner_address=params['partner_address'],
                              partner_port=params['partner_port'], probe_timeout=min(params['timeout'], 3.0))
            if problem:
                module.fail_json(msg=problem, failover=before, before=_summary(before), states_seen=seen)
            if module.check_mode:
                after = dict(before, local_state=target, local_state_number=STATE_NUMBERS[target])
            else:
                set_local_state(conn, handle, target)
                # dhcpd answers success for writes it ignores: only the object read back counts.
                after = refresh_failover_state(conn, handle)
                if after['local_state'] == before['local_state']:
                    module.fail_json(msg='dhcpd accepted local-state %s but still reports %s'
                                     % (target, after['local_state']), failover=after, states_seen=seen)
                seen.append(after['local_state'])
    # A write is only ever made when the state differs, and a write that changed nothing failed above.
    changed = before['local_state'] != target
    waited = 0.0
    if params['wait_for'] and not module.check_mode:
        after, waited = _wait(module, params['wait_for'], seen, changed)
    result = dict(changed=changed, state=target, before=_summary(before), after=_summary(after),
                  states_seen=seen, failover=after, waited=round(waited, 3))
    if module._diff:
        result['diff'] = {'before': _summary(before), 'after': _summary(after)}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            connection_argument_spec(),
            state=dict(type='str', required=True, choices=list(SETTABLE_STATES)),
            force=dict(type='bool', default=False),
            partner_address=dict(type='str'),
            partner_port=dict(type='int', default=647),
            wait_for=dict(type='str', choices=[name for name in STATE_NUMBERS if name != 'unknown-state']),
            wait_timeout=dict(type='float', default=120.0),
        ),
        required_together=CONNECTION_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    problem = check_connection_params(module.params)
    if problem is None and not 1 <= module.params['partner_port'] <= 65535:
        problem = ('partner_port=%r is invalid: expected the peer port of the failover declaration, '
                   'an integer from 1 to 65535' % module.params['partner_port'])
    if problem is None and not module.params['wait_timeout'] > 0:
        problem = ('wait_timeout=%r is invalid: expected a number of seconds greater than 0'
                   % module.params['wait_timeout'])
    if problem:
        module.fail_json(msg=problem)
    try:
        result = run(module)
    except (OmapiError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
