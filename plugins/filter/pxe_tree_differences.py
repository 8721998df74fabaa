# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documented in pxe_tree_differences.yml. A file of its own: ansible-doc shows a filter the
# documentation of the file that defines it, which for pxe_settings.py is pxe_settings'.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pxe


def pxe_tree_differences(mine, peers):
    if not isinstance(mine, dict) or not isinstance(peers, dict):
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_tree_differences: expected a dict of path: checksum '
                                 'and a dict of peer: (dict or none)')
    return pxe.tree_differences(mine, peers)


class FilterModule:
    def filters(self):
        return {'pxe_tree_differences': pxe_tree_differences}
