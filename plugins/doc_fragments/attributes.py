# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # check_mode and diff_mode of the modules that only read
    # (extends_documentation_fragment: netboot.dhcp_failover.attributes.info_module);
    # each module still documents its own platform.
    INFO_MODULE = r'''
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to compare.
'''
