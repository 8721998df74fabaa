# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load-balancing filters; each one is documented in plugins/filter/<name>.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance


def _wrap(name, function):
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except loadbalance.LoadBalanceError as exc:
            raise AnsibleFilterError('netboot.dhcp_failover.%s: %s' % (name, exc)) from None
        except TypeError as exc:  # wrong number or names of filter arguments
            raise AnsibleFilterError('netboot.dhcp_failover.%s: %s' % (name, exc)) from None
    run.__name__ = name
    run.__doc__ = function.__doc__
    return run


def split_to_hba(split):
    return loadbalance.split_to_hba(split)


def hba_to_split(hba):
    return loadbalance.hba_to_split(hba)


def lb_hash(client, client_id=None):
    return loadbalance.lb_hash(loadbalance.client_key(client, client_id))


def lb_peer(client, split_or_hba, client_id=None):
    return loadbalance.lb_peer(split_or_hba, mac=client, client_id=client_id)


def kea_lb_peer(client, client_id=None):
    return loadbalance.kea_lb_peer(mac=client, client_id=client_id)


def share_to_split(share):
    return loadbalance.share_to_split(share)


def split_to_share(split_or_hba):
    return loadbalance.split_to_share(split_or_hba)


class FilterModule:
    def filters(self):
        functions = (split_to_hba, hba_to_split, lb_hash, lb_peer, kea_lb_peer, share_to_split, split_to_share)
        return dict((function.__name__, _wrap(function.__name__, function)) for function in functions)
