# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operations playbooks' decisions; each filter is documented in plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions


def _wrap(name, function):
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (decisions.DecisionError, TypeError) as exc:
            raise AnsibleFilterError('netboot.dhcp_failover.%s: %s' % (name, exc)) from None
    run.__name__ = name
    run.__doc__ = function.__doc__
    return run


def _now(now):
    # The playbook passes now() when it wants one clock for a whole decision.
    return time.time() if now is None else float(now)


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
        return dict((function.__name__, _wrap(function.__name__, function)) for function in functions)
