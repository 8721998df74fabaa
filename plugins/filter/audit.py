# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cross-peer lease audit; the filter is documented in plugins/filter/lease_audit.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import audit


def lease_audit(peers, now=None, pools=None, settle=audit.DEFAULT_SETTLE, fail_on='never'):
    try:
        result = audit.lease_audit(peers, now=now, pools=pools, settle=settle)
        result['fail'] = audit.should_fail(result, fail_on)
    except (audit.AuditError, TypeError, KeyError) as exc:
        raise AnsibleFilterError('netboot.dhcp_failover.lease_audit: %s' % exc) from None
    return result


class FilterModule:
    def filters(self):
        return {'lease_audit': lease_audit}
