# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pair model filters; each one is documented in plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError, AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pair


def pair_model(group, settings, nodes, host=None):
    try:
        model, errors = pair.pair_model(group, settings, nodes)
    except AnsibleFilterError:
        raise
    except AnsibleError as exc:
        raise AnsibleFilterError('netboot.dhcp_failover.pair_model: %s' % exc.message) from None
    if model is not None and not errors and host is not None:
        if host not in model['nodes']:
            raise AnsibleFilterError('netboot.dhcp_failover.pair_model: host %r is not a member of %s'
                                     % (host, model['members']))
        model = pair.node_view(model, host)
    return {'model': model, 'errors': errors}


def pair_model_diff(mine, theirs, me='this host', them='its peer'):
    return pair.model_differences(mine, theirs, me=me, them=them)


class FilterModule:
    def filters(self):
        return {'pair_model': pair_model, 'pair_model_diff': pair_model_diff}
