# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documented in pxe_secure_boot_plan.yml.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import secure_boot


def pxe_secure_boot_plan(shim_base64, chain, loaders, root, pins):
    if not isinstance(pins, dict) or not all(isinstance(pin, dict) and 'sha256' in pin and 'subject' in pin
                                             for pin in pins.values()):
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_secure_boot_plan: expected pins as '
                                 '{name: {subject, sha256}}, got %r' % (pins,))
    try:
        image = base64.b64decode(shim_base64, validate=True)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_secure_boot_plan: the input must be the base64 '
                                 'content of a shim (ansible.builtin.slurp): %s' % exc) from exc
    if not isinstance(chain, list) or not isinstance(loaders, dict) or not isinstance(root, str):
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_secure_boot_plan: expected the chain as a list, the '
                                 'loaders as a dict and the root as a string')
    return secure_boot.plan(image, chain, loaders, root, pins)


class FilterModule:
    def filters(self):
        return {'pxe_secure_boot_plan': pxe_secure_boot_plan}
