# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Documented in pxe_secure_boot_verdicts.yml.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import secure_boot


def pxe_secure_boot_verdicts(chain, signatures, signers, pins, host='this node'):
    if not all(isinstance(value, list) for value in (chain, signatures, signers)) or not isinstance(pins, dict):
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_secure_boot_verdicts: expected the chain, the sbverify '
                                 'and the signer results as lists and the pins as a dict')
    try:
        files = secure_boot.verdicts(chain, signatures, signers, pins)
    except (KeyError, secure_boot.SecureBootError) as exc:
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_secure_boot_verdicts: %s' % exc) from exc
    return {'files': files, 'refused': secure_boot.refusals(files, host)}


class FilterModule:
    def filters(self):
        return {'pxe_secure_boot_verdicts': pxe_secure_boot_verdicts}
