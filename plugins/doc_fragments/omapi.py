# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Connection options, platform and requirements of the modules that talk to dhcpd over OMAPI.
    DOCUMENTATION = r'''
attributes:
  platform:
    support: full
    platforms: posix
    description: Any host that can reach the OMAPI port of dhcpd; usually the DHCP server itself.
requirements:
  - Python 3.7 or later on the managed node (standard library only).
options:
  host:
    description:
      - Address of the dhcpd whose OMAPI port the module connects to, seen from the managed node.
      - The default talks to the dhcpd on the managed node itself.
    type: str
    default: 127.0.0.1
  port:
    description:
      - The C(omapi-port) of dhcpd.
    type: int
    default: 7911
  key_name:
    description:
      - Name of the HMAC-MD5 key that dhcpd.conf binds with C(omapi-key NAME;).
      - Required together with O(key). Without both, the module connects unauthenticated,
        which only works when dhcpd has no C(omapi-key) (not recommended).
    type: str
  key:
    description:
      - The base64 C(secret) of the key named by O(key_name).
      - It is never logged or returned; keep it in Ansible Vault.
    type: str
  name:
    description:
      - The failover peer name, as in C(failover peer "NAME") of dhcpd.conf.
    type: str
    required: true
    aliases: [peer]
  timeout:
    description:
      - Seconds to wait for the TCP connection and for each answer from dhcpd.
    type: float
    default: 10
notes:
  - The OMAPI client is part of this collection and needs only the Python standard library on
    the managed node.
  - dhcpd has no range check on the failover state it is told over OMAPI (an unknown number makes
    it abort); these modules only ever send states from dhcpd's own list.
'''
