# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Single-node mode's decisions; each filter is documented in plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.filter_wrap import now_or as _now, wrap
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions, single_node


def single_node_mode(value, host, members, pairs):
    return single_node.single_node_mode(value, host, members, pairs)


def single_node_plan(model, seen, *, now=None, host_state=None, host_leases=None):
    return single_node.single_node_plan(model, seen, _now(now), host_state=host_state, host_leases=host_leases)


def never_served(files, dhcpd_running):
    return single_node.never_served(files, dhcpd_running)


def join_plan(read, node, never=None, *, now=None):
    return single_node.join_plan(node, read, never, _now(now))


class FilterModule:
    def filters(self):
        functions = (single_node_mode, single_node_plan, never_served, join_plan)
        errors = (decisions.DecisionError, TypeError, KeyError)
        return dict((function.__name__, wrap(function.__name__, function, errors)) for function in functions)
