# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every decision filter does around its pure function: errors named by the filter, and one clock."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.errors import AnsibleFilterError


def wrap(name, function, errors):
    """``function`` as the filter ``name``: the listed exceptions become AnsibleFilterError naming it."""
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except errors as exc:
            raise AnsibleFilterError('netboot.dhcp_failover.%s: %s' % (name, exc)) from None
    run.__name__ = name
    run.__doc__ = function.__doc__
    return run


def now_or(now):
    """The playbook passes now() when it wants one clock for a whole decision; else the current time."""
    return time.time() if now is None else float(now)
