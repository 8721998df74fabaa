# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kea filters; each one is documented in plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea, kea_leases as leases_csv


def kea_config(model, host, settings=None, pxe=None):
    if not isinstance(model, dict) or 'nodes' not in model:
        raise AnsibleFilterError('netboot.dhcp_failover.kea_config: expected a pair model (the fact dhcpd_pair_info '
                                 'or the model of netboot.dhcp_failover.pair_model), got %r' % (model,))
    config, errors = kea.kea_config(model, host, settings, pxe=pxe)
    return {'config': config, 'errors': errors}


def kea_leases(primary, secondary, kea_config_result, now=None):
    try:
        text, summary = leases_csv.kea_leases_csv(primary, secondary, kea_config_result, now)
    except leases_csv.KeaLeasesError as exc:
        raise AnsibleFilterError('netboot.dhcp_failover.kea_leases: %s' % exc) from None
    return {'csv': text, 'summary': summary}


class FilterModule:
    def filters(self):
        return {'kea_config': kea_config, 'kea_leases': kea_leases}
