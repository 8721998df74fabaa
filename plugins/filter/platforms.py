# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node platform filters; each one is documented in plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import platforms


def platform_errors(os_release, host='this node'):
    return platforms.platform_errors(host, os_release)


def same_release_errors(os_releases, why):
    return platforms.same_release_errors(os_releases, why)


def dhcpd_version_errors(versions):
    return platforms.dhcpd_version_errors(versions)


class FilterModule:
    def filters(self):
        return {'platform_errors': platform_errors, 'dhcpd_version_errors': dhcpd_version_errors,
                'same_release_errors': same_release_errors}
