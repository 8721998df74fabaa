# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of playbooks/migrate_to_kea.yml and of status.yml on a Kea pair; each filter is documented in
plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.filter_wrap import now_or as _now, wrap
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea_leases, kea_migrate


def kea_ha_status(result, mode='hot-standby'):
    return kea_migrate.kea_ha_status(result, mode)


def kea_migrate_plan(nodes, action, mode='hot-standby', audit=None):
    return kea_migrate.migrate_plan(nodes, action, mode, audit)


def kea_pair_serves(statuses, mode='hot-standby'):
    return kea_migrate.pair_serves(statuses, mode)


def kea_pair_status(nodes, mode='hot-standby'):
    return kea_migrate.pair_status(nodes, mode)


def kea_lease_file_action(carried, lease_stat, copy_stat):
    return kea_migrate.lease_file_action(carried, lease_stat, copy_stat)


def kea_to_dhcpd_leases(kea_files, subnets, exported=None, now=None):
    text, summary = kea_leases.dhcpd_lease_entries(kea_files, exported, subnets, _now(now))
    return {'text': text, 'summary': summary}


class FilterModule:
    def filters(self):
        functions = (kea_ha_status, kea_migrate_plan, kea_pair_serves, kea_pair_status, kea_lease_file_action,
                     kea_to_dhcpd_leases)
        errors = (kea_migrate.MigrateError, kea_leases.KeaLeasesError, TypeError, KeyError)
        return dict((function.__name__, wrap(function.__name__, function, errors)) for function in functions)
