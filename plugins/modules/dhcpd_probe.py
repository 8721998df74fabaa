#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dhcpd_probe
short_description: Read what a dhcpd node must show before a restart, in one call
version_added: 0.1.0
description:
  - Reads, in one round trip, what the dhcpd role checks on a node before it restarts dhcpd; it
    only reports, and the role decides.
  - The installed dhcpd release (C(dhcpd --version)); whether a C(dhcpd) process runs; optionally
    the result of C(dhcpd -t) on a candidate configuration (O(candidate)); optionally the clock
    offset to a peer measured over NTP with C(chronyd -Q) (O(clock_peer)), which asks the peer's
    chronyd once and does not touch the clock.
  - Changes nothing.
author:
  - netboot.dhcp_failover developers (!UNKNOWN)
extends_documentation_fragment:
  - netboot.dhcp_failover.attributes.info_module
options:
  binary:
    description: The dhcpd program.
    type: path
    default: /usr/sbin/dhcpd
  candidate:
    description: A configuration to test with C(dhcpd -t -4 -cf CANDIDATE). Not given, no test.
    type: path
  clock_peer:
    description:
      - Address of an NTP server (the failover peer's chronyd) to measure the offset to. Not given, no
        measurement.
    type: str
  clock_timeout:
    description: Seconds C(chronyd -Q) may wait for the peer.
    type: int
    default: 10
attributes:
  platform:
    support: full
    platforms: posix
    description: The dhcpd node.
seealso:
  - module: netboot.dhcp_failover.failover_info
'''

EXAMPLES = r'''
- name: Probe the node before a restart
  netboot.dhcp_failover.dhcpd_probe:
    candidate: /etc/dhcp/dhcpd.conf.candidate
    clock_peer: 198.18.10.12
  register: probe

- name: Stop on a rejected candidate
  ansible.builtin.fail:
    msg: "{{ probe.test.stderr }}"
  when: probe.test.rc != 0

- name: Stop on a skewed clock
  ansible.builtin.assert:
    that: probe.clock.offset is not none and probe.clock.offset | abs <= 5
'''

RETURN = r'''
version:
  description: What C(dhcpd --version) printed (dhcpd prints it on stderr), or null when dhcpd is not installed.
  returned: always
  type: str
  sample: isc-dhcpd-4.4.3-P1
running:
  description: A process named C(dhcpd) runs on the node.
  returned: always
  type: bool
test:
  description: The C(dhcpd -t) run on O(candidate); C(rc) is null when dhcpd is not installed.
  returned: when O(candidate) is given
  type: dict
  contains:
    rc:
      description: Exit status.
      type: int
    stderr:
      description: What dhcpd printed (its messages go to stderr).
      type: str
clock:
  description: The C(chronyd -Q) measurement towards O(clock_peer).
  returned: when O(clock_peer) is given
  type: dict
  contains:
    rc:
      description: Exit status of chronyd, or null when chronyd is not installed.
      type: int
    offset:
      description: Seconds the local clock differs from the peer's, or null when it could not be measured.
      type: float
    output:
      description: What chronyd printed.
      type: str
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule

OFFSET_RE = re.compile(r'System clock wrong by (-?[0-9.]+) seconds')


def clock_offset(output):
    """The offset chronyd -Q printed, or None."""
    match = OFFSET_RE.search(output or '')
    return float(match.group(1)) if match else None


def dhcpd_running(proc='/proc'):
    """True when a process named dhcpd runs (what pidof dhcpd finds)."""
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, 'comm')) as handle:
                if handle.read().strip() == 'dhcpd':
                    return True
        except (IOError, OSError):
            continue  # the process ended meanwhile
    return False


def _run(module, argv):
    """(rc, stdout, stderr); rc None when the program is missing."""
    program = argv[0] if os.path.isabs(argv[0]) else module.get_bin_path(argv[0])
    if not program or not os.path.exists(program):
        return None, '', '%s: not installed' % argv[0]
    return module.run_command([program] + argv[1:])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type='path', default='/usr/sbin/dhcpd'),
            candidate=dict(type='path'),
            clock_peer=dict(type='str'),
            clock_timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    rc, out, err = _run(module, [params['binary'], '--version'])
    result = dict(changed=False, version=None if rc is None else (out + err).strip(), running=dhcpd_running())
    if params['candidate']:
        rc, out, err = _run(module, [params['binary'], '-t', '-4', '-cf', params['candidate']])
        result['test'] = dict(rc=rc, stderr=(out + err).strip())
    if params['clock_peer']:
        if not re.match(r'^[A-Za-z0-9:._-]+$', params['clock_peer']):
            module.fail_json(msg='dhcpd_probe: clock_peer=%r is not a host name or address' % params['clock_peer'])
        rc, out, err = _run(module, ['chronyd', '-Q', '-t', str(params['clock_timeout']),
                                     'server %s iburst maxsamples 1' % params['clock_peer']])
        output = (out + '\n' + err).strip()
        result['clock'] = dict(rc=rc, offset=clock_offset(output), output=output)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
