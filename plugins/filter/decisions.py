# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operations playbooks' decisions; each filter is documented in plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.filter_wrap import now_or as _now, wrap
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions


def node_observation(raw):
    return decisions.observe(raw)


def pair_verdict(observations, now=None):
    return decisions.pair_verdict(observations, _now(now))


def recover_plan(observations, now=None):
    return decisions.recover_plan(observations, _now(now))


def maintenance_plan(observations, node, action, *, now=None, count=None, lease_stat=None, clean=None,
                     node_leases=None, partner_leases=None):
    return decisions.maintenance_plan(observations, node, action, _now(now), count=count, lease_stat=lease_stat,
                                      clean=clean, node_leases=node_leases, partner_leases=partner_leases)


def partner_down_probe(probe, partner, partner_address, force=False):
    return decisions.partner_down_probe(probe, partner, partner_address, force=force)


class FilterModule:
    def filters(self):
        functions = (node_observation, pair_verdict, recover_plan, maintenance_plan, partner_down_probe)
        errors = (decisions.DecisionError, TypeError)
        return dict((function.__name__, wrap(function.__name__, function, errors)) for function in functions)
