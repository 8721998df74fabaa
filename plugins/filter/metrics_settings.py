# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: metrics_settings
short_description: Check the metrics role's variables and return the exporter's configuration
version_added: 0.1.0
author: netboot.dhcp_failover contributors
description:
  - Checks the variables of the role P(netboot.dhcp_failover.metrics#role) before any host is touched
    and returns one message per problem, each naming the user's variable, its value (as JSON) and what
    would be valid.
  - "Refused: a C(dhcpd_metrics_interval) that is not whole seconds from 1 to 3600 (0 would never
    write the file); a C(dhcpd_metrics_textfile_dir) that prometheus-node-exporter does not read
    (O(textfile_dirs)), where the file would be written and never exported; a missing
    C(dhcpd_pair_info) (the P(netboot.dhcp_failover.dhcpd#role) preflight makes it)."
  - The exporter's configuration is derived from the pair model, so it watches exactly the failover
    pools of the pair, through the same OMAPI port and key name as the dhcpd role configured.
options:
  _input:
    description:
      - The variables keyed by their names (C(dhcpd_metrics_interval), C(dhcpd_metrics_textfile_dir),
        C(dhcpd_metrics_enabled), C(dhcpd_pair_info), C(dhcpd_max_clock_skew), C(dhcpd_clock_check),
        C(kea_control_socket)). A missing key takes the role's default; without C(kea_control_socket)
        the exporter never asks Kea.
    type: dict
    required: true
  textfile_dirs:
    description: The directories prometheus-node-exporter reads C(*.prom) files from.
    type: list
    elements: str
    required: true
  strict:
    description:
      - V(false) returns C({settings, errors}). V(true) returns the settings alone and fails with every
        error, for templates that must never render a configuration that did not pass.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Stop before any host is touched when the metrics settings are wrong
  vars:
    checked: >-
      {{ {'dhcpd_metrics_interval': 0, 'dhcpd_metrics_textfile_dir': '/var/lib/prometheus/node-exporter',
          'dhcpd_pair_info': dhcpd_pair_info}
         | netboot.dhcp_failover.metrics_settings(['/var/lib/prometheus/node-exporter']) }}
  ansible.builtin.assert:
    that: checked.errors | length == 0
    fail_msg: "{{ checked.errors | join('; ') }}"
  # => dhcpd_metrics_interval=0 is invalid: expected whole seconds from 1 to 3600 (how often the timer
  #    writes the metrics file)

- name: The file the exporter writes
  ansible.builtin.debug:
    msg: >-
      {{ ({'dhcpd_metrics_textfile_dir': '/var/lib/prometheus/node-exporter/', 'dhcpd_pair_info': dhcpd_pair_info}
          | netboot.dhcp_failover.metrics_settings(['/var/lib/prometheus/node-exporter'], strict=true)).output }}
  # => /var/lib/prometheus/node-exporter/dhcpd_failover.prom
"""

RETURN = r"""
_value:
  description:
    - With O(strict=false), a dict with C(errors) (a list of messages, empty when the variables are
      valid) and C(settings) (null when C(dhcpd_pair_info) is missing). With O(strict=true), the
      settings.
    - "The settings: C(interval), C(textfile_dir) (normalized), C(output) (the C(.prom) file) and
      C(config), the exporter's configuration without the OMAPI secret: C(peer_name), C(role),
      C(omapi_host), C(omapi_port), C(omapi_key_name), C(lease_file), C(pid_file), C(output), C(pools)
      (the ranges of each failover pool), C(max_clock_skew), C(interval), C(timeout) and, with
      C(dhcpd_clock_check), C(clock_peer) (the peer's address, whose offset chronyc reports), and with
      C(kea_control_socket) the same (where kea-dhcp4 runs, the exporter sends it status-get there)."
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import metrics_role


def metrics_settings(variables, textfile_dirs, strict=False):
    if not isinstance(variables, dict):
        raise AnsibleFilterError('netboot.dhcp_failover.metrics_settings: expected a dict of the metrics role\'s '
                                 'variables, got %s' % type(variables).__name__)
    settings, errors = metrics_role.metrics_settings(variables, textfile_dirs)
    if not strict:
        return {'settings': settings, 'errors': errors}
    if errors:
        raise AnsibleFilterError('netboot.dhcp_failover.metrics_settings: %s' % '; '.join(errors))
    return settings


class FilterModule:
    def filters(self):
        return {'metrics_settings': metrics_settings}
