#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: lease_info
short_description: Count the addresses of an ISC dhcpd lease file by binding state
version_added: 0.1.0
description:
  - Reads the lease file of ISC dhcpd 4.4 (C(dhcpd.leases), see dhcpd.leases(5)) on the managed
    node, as dhcpd reads it at start (the last entry of an address is its binding).
  - Returns the number of addresses per binding state (C(free), C(backup), C(active), ...), overall
    and per address range, the failover state dhcpd saved for each failover peer, and optionally
    every binding.
  - With O(role), also the addresses this server may hand out by itself (C(free) on the primary,
    C(backup) on the secondary) and, with O(since), how many addresses it newly handed out since
    then (for example since it entered partner-down), to estimate how long its own addresses last.
  - Only reads the file; dhcpd does not need to run.
author:
  - netboot.dhcp_failover developers (!UNKNOWN)
extends_documentation_fragment:
  - netboot.dhcp_failover.attributes.info_module
options:
  path:
    description:
      - The lease file (C(lease-file-name) of dhcpd.conf).
    type: path
    default: /var/lib/dhcp/dhcpd.leases
  role:
    description:
      - This server's role in its failover pair. Adds RV(own) and RV(theirs) and is needed for O(since).
    type: str
    choices: [primary, secondary]
  since:
    description:
      - Seconds since 1970 (UTC). Counts in RV(allocated_since) the addresses whose lease started at or
        after this moment out of this server's own pool (not renewals) and that are still active.
      - For example the C(local_stos_epoch) of M(netboot.dhcp_failover.failover_info) while in partner-down.
      - Requires O(role).
    type: int
  ranges:
    description:
      - Address ranges to count separately, each as C(FIRST LAST) like a dhcpd C(range) statement
        (C(FIRST-LAST) is accepted too).
    type: list
    elements: str
    default: []
  records:
    description:
      - Also return every binding in RV(records). Large pools give a large result.
    type: bool
    default: false
  history:
    description:
      - Also return every lease entry in file order in RV(history), not only the last of each
        address, so what dhcpd recorded since it last rewrote the file (at start and about hourly).
        Larger still than O(records).
    type: bool
    default: false
attributes:
  platform:
    support: full
    platforms: posix
    description: The host that holds the lease file, usually the DHCP server.
notes:
  - dhcpd rewrites the file at start and about every hour, keeping only the last entry of each
    address, so RV(allocated_since) is a lower bound.
  - Times in the file may be written as C(W YYYY/MM/DD HH:MM:SS) (UTC) or, with
    C(db-time-format local), as C(epoch N); both are read.
seealso:
  - module: netboot.dhcp_failover.failover_info
'''

EXAMPLES = r'''
- name: Count the addresses of the local dhcpd
  netboot.dhcp_failover.lease_info:
  register: leases

- name: Warn when a pool runs low
  ansible.builtin.debug:
    msg: "only {{ leases.counts.free + leases.counts.backup }} addresses left"
  when: leases.counts.free + leases.counts.backup < 20

- name: How fast does a partner-down server use up its own addresses?
  netboot.dhcp_failover.lease_info:
    role: primary
    since: "{{ pxe_failover.failover.local_stos_epoch }}"
    ranges:
      - 198.18.100.100 198.18.100.199
  register: survivor

- name: Show it
  ansible.builtin.debug:
    msg: >-
      {{ survivor.allocated_since }} new leases since partner-down; {{ survivor.own }} own addresses left
      ({{ survivor.ranges[0].counts.active }} active in the first range)
'''

RETURN = r'''
path:
  description: The file that was read.
  returned: success
  type: str
  sample: /var/lib/dhcp/dhcpd.leases
counts:
  description:
    - Addresses per binding state, from the last entry of each address. Every state dhcpd knows
      (free, active, expired, released, abandoned, reset, backup, reserved, bootp) is present, 0 if none.
  returned: success
  type: dict
  sample: {free: 48, active: 4, expired: 0, released: 0, abandoned: 1, reset: 0, backup: 47, reserved: 0, bootp: 0}
total:
  description: Addresses in the file.
  returned: success
  type: int
  sample: 100
own:
  description: Addresses this server may hand out by itself (C(free) on the primary, C(backup) on the secondary).
  returned: when O(role) is given
  type: int
  sample: 48
theirs:
  description: The partner's free addresses (C(backup) on the primary, C(free) on the secondary).
  returned: when O(role) is given
  type: int
  sample: 47
allocated_since:
  description:
    - Addresses newly handed out from this server's own pool at or after O(since) and still active
      (renewals not counted); null without O(since). A lower bound, see the notes.
  returned: success
  type: int
  sample: 12
failover:
  description:
    - The failover state dhcpd saved for each peer (its last C(failover peer "NAME" state) block),
      by peer name. This is what dhcpd starts from, not necessarily its state now.
  returned: success
  type: dict
  sample:
    pxe:
      name: pxe
      my_state: partner-down
      my_state_at: 1796173021
      partner_state: normal
      partner_state_at: 1796173016
read_at:
  description:
    - When the node read the file, in seconds since 1970 by the node's clock; the moment to judge
      the file's lease ends against (P(netboot.dhcp_failover.lease_audit#filter)).
  returned: success
  type: int
  sample: 1796173030
partial_tail:
  description:
    - dhcpd appends to the file while it runs, so the module can catch the last statement half
      written. That statement is left out and this is the line where it starts; null when the file
      ends cleanly.
  returned: success
  type: int
  sample: null
ranges:
  description: Counts per range of O(ranges), in the same order.
  returned: when O(ranges) is given
  type: list
  elements: dict
  contains:
    range:
      description: The range as given.
      type: str
      sample: 198.18.100.100 198.18.100.199
    size:
      description: Addresses in the range.
      type: int
      sample: 100
    counts:
      description: Addresses of the range per binding state, like RV(counts).
      type: dict
      sample: {free: 48, active: 4, backup: 47, abandoned: 1}
    not_in_file:
      description: Addresses of the range the file does not list (not in any pool of dhcpd).
      type: int
      sample: 0
records:
  description:
    - Every binding (the last entry of each address), sorted by address. Times are seconds since
      1970; a time of C(never) is null; keys absent from the entry are absent here.
  returned: when O(records=true)
  type: list
  elements: dict
  sample:
    - address: 198.18.100.151
      binding_state: active
      next_binding_state: expired
      starts: 1796173021
      ends: 1796173051
      hardware_type: ethernet
      hardware_address: '02:00:00:00:01:06'
      uid: '01:02:00:00:00:01:06'
      client_hostname: pxe-node-6
history:
  description:
    - Every complete lease entry of the file in file order (the same keys as RV(records)).
  returned: when O(history=true)
  type: list
  elements: dict
  sample:
    - {address: 198.18.100.151, binding_state: free, starts: 1796173001, ends: 1796173001}
    - {address: 198.18.100.151, binding_state: active, starts: 1796173021, ends: 1796173051}
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.leases import LeaseFileError, parse_range, summary


def check_params(params):
    """A message naming the bad option and value, or None."""
    if params['since'] is not None and params['role'] is None:
        return ('since=%r needs role (primary or secondary): new allocations are counted from the '
                "server's own pool, free on the primary, backup on the secondary" % params['since'])
    if params['since'] is not None and params['since'] < 0:
        return 'since=%r is invalid: expected seconds since 1970 (0 or more)' % params['since']
    for text in params['ranges']:
        try:
            parse_range(text)
        except ValueError as exc:
            return 'ranges: %s' % exc
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/var/lib/dhcp/dhcpd.leases'),
            role=dict(type='str', choices=['primary', 'secondary']),
            since=dict(type='int'),
            ranges=dict(type='list', elements='str', default=[]),
            records=dict(type='bool', default=False),
            history=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problem = check_params(params)
    if problem:
        module.fail_json(msg=problem)
    read_at = int(time.time())
    try:
        with open(params['path'], 'rb') as handle:
            text = handle.read().decode('utf-8', 'replace')
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read the lease file %s: %s' % (params['path'], exc.strerror or exc),
                         path=params['path'])
    try:
        result = summary(text, since=params['since'], role=params['role'], ranges=params['ranges'],
                         records=params['records'], history=params['history'])
    except LeaseFileError as exc:
        module.fail_json(msg='%s is not a dhcpd lease file: %s' % (params['path'], exc), path=params['path'])
    module.exit_json(changed=False, path=params['path'], read_at=read_at, **result)


if __name__ == '__main__':
    main()
