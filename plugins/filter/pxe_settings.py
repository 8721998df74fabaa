# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: pxe_settings
short_description: Check the pxe role's variables and return the settings its templates render
version_added: 0.1.0
author: netboot.dhcp_failover contributors
description:
  - Checks every variable of the role P(netboot.dhcp_failover.pxe#role) before anything is rendered or
    touched, and returns the normalized settings and one message per problem, each naming the user's
    variable (for example C(pxe_images[1].checksum) or C(pxe_entries[0].kernel)), its value (as JSON)
    and what would be valid.
  - "Every value that reaches a generated file (the dhcpd PXE class, C(boot.ipxe), C(grub/grub.cfg),
    C(pxelinux.cfg/default), the nginx site, C(/etc/default/tftpd-hpa)) is held to characters that cannot
    end the statement, string or line it is written into: names are 1 to 64 letters, digits, C(.), C(_)
    or C(-); titles and command lines refuse quotes, C($), C(\\), C(;), C(|), C(&), C(#), C(<), C(>),
    braces and control characters; paths refuse C(.) and C(..) components."
  - "Also refused: unknown keys in an image or entry; an image with both or neither of C(url) and C(src);
    a checksum whose hex length does not fit its algorithm; duplicate image or entry names; an entry
    whose kernel or initrd is not an image; a default entry that does not exist; C(pxe_ipxe_http=false)
    with an iPXE loader; option 93 keys 00:00, 00:07 and 00:09 in C(pxe_arch_files) (the loader
    variables set them) or one architecture twice; a server address that clients cannot reach
    (0.0.0.0, loopback, multicast, broadcast); ports, timeouts and cache times out of range."
options:
  _input:
    description:
      - The role's variables keyed by their names (C(pxe_root), C(pxe_server_address), C(pxe_http_port),
        C(pxe_bios_loader), C(pxe_uefi_loader), C(pxe_ipxe_http), C(pxe_arch_files), C(pxe_images),
        C(pxe_entries), C(pxe_default_entry), C(pxe_menu_timeout), C(pxe_menu_title), C(pxe_peers),
        C(pxe_tftp_options), C(pxe_apt_cache_valid_time)). A missing key takes the role's default;
        C(pxe_server_address) has none.
    type: dict
    required: true
  strict:
    description:
      - V(false) returns C({settings, errors}). V(true) returns the settings alone and fails with every
        error, for templates that must never render a definition that did not pass.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Stop before any host is touched when the boot definition is wrong
  vars:
    checked: >-
      {{ {'pxe_server_address': '192.0.2.10',
          'pxe_images': [{'name': 'vmlinuz', 'url': 'http://mirror.example/linux',
                          'checksum': 'sha256:' ~ '0' * 64}],
          'pxe_entries': [{'name': 'install', 'kernel': 'vmlinuz', 'cmdline': 'auto=true'}]}
         | netboot.dhcp_failover.pxe_settings }}
  ansible.builtin.assert:
    that: checked.errors | length == 0
    fail_msg: "{{ checked.errors | join('; ') }}"

- name: What a kernel command line that would end grub's linux line reports
  ansible.builtin.debug:
    msg: >-
      {{ {'pxe_server_address': '192.0.2.10',
          'pxe_images': [{'name': 'k', 'src': 'files/k', 'checksum': 'md5:' ~ '0' * 32}],
          'pxe_entries': [{'name': 'x', 'kernel': 'k', 'cmdline': 'quiet; reboot'}]}
         | netboot.dhcp_failover.pxe_settings }}
  # => errors: ['pxe_entries[0].cmdline="quiet; reboot" is invalid: expected one line of at most
  #     1536 letters, digits, spaces or ... (no quotes, $, \, ;, ...)']

- name: The settings a template renders (fails with every error when the definition is wrong)
  ansible.builtin.debug:
    msg: "{{ (pxe_variables | netboot.dhcp_failover.pxe_settings(strict=true)).http_base }}/boot.ipxe"
  vars:
    pxe_variables: {pxe_server_address: 192.0.2.10, pxe_http_port: 8080}
  # => http://192.0.2.10:8080/boot.ipxe
"""

RETURN = r"""
_value:
  description:
    - With O(strict=false), a dict with C(errors) (a list of messages, empty when the definition is
      valid) and C(settings). With O(strict=true), the settings.
    - "The settings (complete only without errors): C(root)
      (O(netboot.dhcp_failover.pxe#role:main:pxe_root) without a trailing C(/)), C(server_address),
      C(http_port), C(http_base) (C(http://ADDRESS[:PORT])), C(bios_loader), C(bios_file), C(uefi_loader),
      C(uefi_file), C(uefi_arches), C(ipxe_http) (a bool), C(arch_files) (a list of C({arch, path}) sorted
      by lower-case C(arch)), C(images) (C({name, url, src, checksum, algorithm, digest}), C(url) or
      C(src) null, lower-case checksum), C(entries) (C({name, title, kernel, initrd, cmdline}), C(title)
      defaults to the name, C(initrd) a list, C(cmdline) a string), C(default_entry) (the first entry's
      name when O(netboot.dhcp_failover.pxe#role:main:pxe_default_entry) is empty), C(menu_timeout),
      C(menu_title), C(peers), C(tftp_options), C(apt_cache_valid_time)."
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pxe


def pxe_settings(variables, strict=False):
    if not isinstance(variables, dict):
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_settings: expected a dict of the pxe role\'s variables, '
                                 'got %s' % type(variables).__name__)
    settings, errors = pxe.pxe_settings(variables)
    if not strict:
        return {'settings': settings, 'errors': errors}
    if errors:
        raise AnsibleFilterError('netboot.dhcp_failover.pxe_settings: %s' % '; '.join(errors))
    return settings


class FilterModule:
    def filters(self):
        return {'pxe_settings': pxe_settings}
