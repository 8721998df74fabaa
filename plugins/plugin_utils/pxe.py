# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation and normalization of the pxe role's variables (controller side, pure Python).

``pxe_settings(variables)`` takes the role's public variables by their names and returns
``(settings, errors)``. ``errors`` names the user's variable (``pxe_images[1].checksum``), the bad
value and what would be valid. ``settings`` is what the templates render (documented in
plugins/filter/pxe_settings.py); it is complete only when ``errors`` is empty.

Every value that reaches a generated file (dhcpd.conf, boot.ipxe, grub.cfg, pxelinux.cfg/default,
the nginx site, /etc/default/tftpd-hpa) is held to a character set that cannot end the statement,
string or line it is written into, so no definition can add configuration of its own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import secure_boot as sb

# Loader file (in pxe_root) per choice; the Debian package paths live in roles/pxe/vars/main.yml.
BIOS_FILES = {'ipxe': 'undionly.kpxe', 'pxelinux': 'pxelinux.0'}
UEFI_FILES = {'grub': 'grubx64.efi', 'ipxe': 'ipxe.efi'}
# x86-64 UEFI (00:07, 00:09 EFI BC) is the loader variables' business, like BIOS (00:00).
UEFI_ARCHES = ('00:07', '00:09')
# x64 UEFI HTTP Boot (option 93 = 00:10, vendor class "HTTPClient"): pxe_uefi_http_boot.
HTTP_BOOT_ARCH = '00:10'
# What HTTP Boot clients load: iPXE, which asks again as an iPXE client and gets boot.ipxe over
# HTTP. Debian's grubnetx64 finds its config over TFTP only (prefix (tftp,<next-server>)).
HTTP_BOOT_FILE = 'ipxe.efi'
RESERVED_ARCHES = ('00:00',) + UEFI_ARCHES
# The hex length of each algorithm get_url and stat accept.
CHECKSUM_HEX_LENGTHS = {'md5': 32, 'sha1': 40, 'sha224': 56, 'sha256': 64, 'sha384': 96, 'sha512': 128}
IMAGE_KEYS = ('name', 'url', 'src', 'checksum')
ENTRY_KEYS = ('name', 'title', 'kernel', 'initrd', 'cmdline')
HOST_KEYS = ('mac', 'entry', 'cmdline_append')

# Matched with fullmatch: "$" alone would let a trailing newline through.
# Image and entry names become file names, iPXE labels, grub ids and pxelinux labels.
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
NAME_RULE = '1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'
# Menu titles: iPXE expands ${...} and splits on || and &&; grub expands $ and ends strings at ";
# pxelinux reads to the end of the line.
TEXT = re.compile(r"^[A-Za-z0-9 !%'()*+,./:=?@\[\]^_~-]{1,80}$")
TEXT_RULE = ('1 to 80 letters, digits, spaces or !%\'()*+,./:=?@[]^_~- '
             '(no quotes, $, \\, ;, |, &, #, <, >, braces or control characters)')
# Kernel command lines reach iPXE's kernel line, grub's linux line and pxelinux' APPEND. The
# x86 kernel takes at most 2048 bytes, and the loaders add the initrd names.
MAX_CMDLINE = 1536
CMDLINE = re.compile(r'^[A-Za-z0-9 !%()*+,./:=?@\[\]^_~-]{0,1536}$')
CMDLINE_RULE = ('one line of at most 1536 letters, digits, spaces or !%()*+,./:=?@[]^_~- '
                '(no quotes, $, \\, ;, |, &, #, <, >, braces or control characters)')
PATH_PART = re.compile(r'^[A-Za-z0-9._+-]+$')
ARCH = re.compile(r'^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}$')
URL = re.compile(r'^(https?|ftp|file)://[!-~]+$')
TFTP_OPTIONS = re.compile(r'^[A-Za-z0-9 ,./:=_+-]*$')
# syslinux' TIMEOUT is in tenths of a second and stops at 35996.
MAX_MENU_TIMEOUT = 3599


def _show(value):
    """The value as the user would write it in YAML/JSON, so quotes and newlines are visible."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _is_list(value):
    return is_sequence(value) and not isinstance(value, (str, bytes))


class _Checker:
    def __init__(self):
        self.errors = []

    def error(self, path, value, why):
        self.errors.append('%s=%s is invalid: %s' % (path, _show(value), why))

    def text(self, path, value, pattern, rule):
        if isinstance(value, str) and pattern.fullmatch(value):
            return value
        self.error(path, value, 'expected %s' % rule)
        return None

    def name(self, path, value):
        return self.text(path, value, NAME, NAME_RULE)

    def integer(self, path, value, low, high):
        # YAML gives int; -e and templating may give a string of digits. A bool is never a number.
        if isinstance(value, str) and re.fullmatch(r'^[0-9]+$', value.strip()):
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        self.error(path, value, 'expected an integer from %d to %d' % (low, high))
        return None

    def boolean(self, path, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            text = value.strip().lower() if isinstance(value, str) else value
            if text in BOOLEANS_TRUE:
                return True
            if text in BOOLEANS_FALSE:
                return False
        self.error(path, value, 'expected true or false')
        return None

    def choice(self, path, value, choices):
        if isinstance(value, str) and value in choices:
            return value
        self.error(path, value, 'expected one of %s' % ', '.join(sorted(choices)))
        return None

    def relative_path(self, path, value, example):
        """A path below the boot root: plain components, no '.', '..' or empty ones."""
        if isinstance(value, str) and len(value) <= 127:
            parts = value.split('/')
            if all(PATH_PART.fullmatch(part) and part not in ('.', '..') for part in parts):
                return value
        self.error(path, value, 'expected a path inside pxe_root such as %s: components of letters, digits, '
                                '".", "_", "+" or "-" separated by "/", no "." or "..", at most 127 characters'
                   % _show(example))
        return None

    def unknown_keys(self, path, item, known):
        for key in sorted((str(k) for k in item if k not in known)):
            self.errors.append('%s has the unknown key %s: expected only %s' % (path, _show(key), ', '.join(known)))


def _root(check, value):
    if isinstance(value, str):
        stripped = value.rstrip('/') if len(value) > 1 else value
        parts = stripped.split('/')
        if (stripped.startswith('/') and len(parts) > 1 and parts[1]
                and all(PATH_PART.fullmatch(part) and part not in ('.', '..') for part in parts[1:])):
            return stripped
    check.error('pxe_root', value, 'expected an absolute directory other than "/" such as "/srv/netboot": components '
                                   'of letters, digits, ".", "_", "+" or "-", no "." or ".."')
    return None


def _server_address(check, value):
    try:
        address = ipaddress.IPv4Address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None or address.is_unspecified or address.is_multicast or address.is_loopback \
            or address == ipaddress.IPv4Address('255.255.255.255'):
        check.error('pxe_server_address', value, "expected this node's IPv4 address as clients reach it, such as "
                                                 '"192.0.2.10" (the default is dhcp_failover_address)')
        return None
    return str(address)


def _checksum(check, path, value):
    if isinstance(value, str) and ':' in value:
        algorithm, digest = value.split(':', 1)
        algorithm = algorithm.lower()
        length = CHECKSUM_HEX_LENGTHS.get(algorithm)
        if length and re.fullmatch(r'^[0-9a-fA-F]{%d}$' % length, digest):
            return algorithm, digest.lower()
    check.error(path, value, 'expected ALGORITHM:HEX with ALGORITHM one of %s and as many hex digits as it '
                             'gives (%s)' % (', '.join(CHECKSUM_HEX_LENGTHS),
                                             ', '.join('%s %d' % item for item in CHECKSUM_HEX_LENGTHS.items())))
    return None


def _named_items(check, variable, value, keys, *, shape, why_unique):
    """Check the list ``variable`` of dicts with a unique name; yield each dict item's checked parts.

    Yields ``(path, item, name, errors_before)``: name is None when invalid, and errors_before is
    the error count before the name checks, so a caller can tell whether any later check failed.
    ``shape`` says what an item holds, ``why_unique`` why two items may not share a name.
    """
    if not _is_list(value):
        check.error(variable, value, 'expected a list of dicts with %s' % shape)
        return
    seen = {}
    for index, item in enumerate(value):
        path = '%s[%d]' % (variable, index)
        if not isinstance(item, dict):
            check.error(path, item, 'expected a dict with %s' % shape)
            continue
        check.unknown_keys(path, item, keys)
        errors_before = len(check.errors)
        name = check.name(path + '.name', item.get('name'))
        if name is not None:
            if name in seen:
                check.errors.append('%s.name=%s is invalid: %s[%d] has the same name (%s)'
                                    % (path, _show(name), variable, seen[name], why_unique))
            seen.setdefault(name, index)
        yield path, item, name, errors_before


def _images(check, value):
    images = []
    for path, item, name, _errors_before in _named_items(check, 'pxe_images', value, IMAGE_KEYS,
                                                         shape='name, url or src, and checksum',
                                                         why_unique='each is a file under images/'):
        has_url, has_src = 'url' in item, 'src' in item
        url = src = None
        if has_url == has_src:
            check.errors.append('%s (%s) has %s: expected exactly one of them' % (
                path, _show(item.get('name')), 'both url and src' if has_url else 'neither url nor src'))
        elif has_url:
            url = check.text(path + '.url', item['url'], URL,
                             'an http, https, ftp or file URL without spaces or control characters')
        else:
            src = item['src']
            if not isinstance(src, str) or not src or not src.isprintable():
                check.error(path + '.src', src, 'expected the path of a file on the controller (one line)')
                src = None
        checksum = _checksum(check, path + '.checksum', item.get('checksum'))
        if name is not None and checksum is not None and (url or src):
            images.append({'name': name, 'url': url, 'src': src, 'checksum': '%s:%s' % checksum,
                           'algorithm': checksum[0], 'digest': checksum[1]})
    return images


def _entries(check, value, image_names):
    entries = []
    known_images = 'the name of one of pxe_images %s' % _show(image_names)
    for path, item, name, errors_before in _named_items(check, 'pxe_entries', value, ENTRY_KEYS,
                                                        shape='name, kernel, and optionally title, initrd and cmdline',
                                                        why_unique='menus address entries by name'):
        title = item.get('title')
        title = name if title is None else check.text(path + '.title', title, TEXT, TEXT_RULE)
        kernel = item.get('kernel')
        if kernel not in image_names or not isinstance(kernel, str):
            check.error(path + '.kernel', kernel, 'expected %s' % known_images)
        initrd = item.get('initrd')
        if initrd is None:
            initrd = []
        if not _is_list(initrd) or not all(isinstance(i, str) and i in image_names for i in initrd):
            check.error(path + '.initrd', initrd, 'expected a list of names from pxe_images %s' % _show(image_names))
        cmdline = item.get('cmdline')
        cmdline = check.text(path + '.cmdline', '' if cmdline is None else cmdline, CMDLINE, CMDLINE_RULE)
        if len(check.errors) == errors_before:
            entries.append({'name': name, 'title': title, 'kernel': kernel, 'initrd': list(initrd),
                            'cmdline': cmdline})
    return entries


def _mac(check, path, value):
    """aa:bb:cc:dd:ee:ff (lower case) from any spelling lb_peer takes, so one inventory spells a MAC one way."""
    if isinstance(value, str):
        try:
            return ':'.join('%02x' % byte for byte in bytearray(loadbalance.parse_mac(value)))
        except loadbalance.LoadBalanceError:
            pass
    check.error(path, value, 'expected %s' % loadbalance.MAC_HELP)
    return None


def _hosts(check, value, entries, entry_names):
    """pxe_hosts: per-MAC boot entries. Each valid host carries its entry with the appended cmdline."""
    if not _is_list(value):
        check.error('pxe_hosts', value, 'expected a list of dicts with mac, entry and optionally cmdline_append')
        return []
    by_name = dict((entry['name'], entry) for entry in entries)
    hosts, seen = [], {}
    for index, item in enumerate(value):
        path = 'pxe_hosts[%d]' % index
        if not isinstance(item, dict):
            check.error(path, item, 'expected a dict with mac, entry and optionally cmdline_append')
            continue
        check.unknown_keys(path, item, HOST_KEYS)
        errors_before = len(check.errors)
        mac = _mac(check, path + '.mac', item.get('mac'))
        if mac is not None:
            if mac in seen:
                check.errors.append('%s.mac=%s is invalid: pxe_hosts[%d] has the same MAC (%s); a host boots one entry'
                                    % (path, _show(item['mac']), seen[mac], mac))
            seen.setdefault(mac, index)
        name = item.get('entry')
        if not isinstance(name, str) or name not in entry_names:
            check.error(path + '.entry', name, 'expected the name of one of pxe_entries %s' % _show(entry_names))
        append = item.get('cmdline_append')
        append = check.text(path + '.cmdline_append', '' if append is None else append, CMDLINE, CMDLINE_RULE)
        if len(check.errors) != errors_before or name not in by_name:
            continue
        entry = dict(by_name[name])
        entry['cmdline'] = ' '.join(part for part in (entry['cmdline'], append) if part)
        if len(entry['cmdline']) > MAX_CMDLINE:
            room = MAX_CMDLINE - len(by_name[name]['cmdline']) - 1
            check.error(path + '.cmdline_append', append,
                        'expected at most %d characters: with the cmdline of pxe_entries %s the line has %d, '
                        'the limit is %d' % (room, name, len(entry['cmdline']), MAX_CMDLINE))
            continue
        hyphens = mac.replace(':', '-')
        # 01 = Ethernet (ARP hardware type), as pxelinux names its per-MAC files.
        hosts.append({'mac': mac, 'hardware': '1:' + mac, 'file_id': '01-' + hyphens, 'label': 'host-' + hyphens,
                      'entry': entry})
    return hosts


def _arch_files(check, value):
    if not isinstance(value, dict):
        check.error('pxe_arch_files', value, 'expected a dict of option 93 values to paths, such as '
                                             '{"00:0b": "images/grubaa64.efi"}')
        return []
    files = {}
    for arch, file_path in value.items():
        path = 'pxe_arch_files[%s]' % _show(arch)
        if not isinstance(arch, str) or not ARCH.fullmatch(arch) or arch.lower() in RESERVED_ARCHES:
            check.errors.append('pxe_arch_files key %s is invalid: expected an option 93 value such as "00:0b", '
                                'other than %s (set by the loader variables)'
                                % (_show(arch), ', '.join(RESERVED_ARCHES)))
            continue
        if arch.lower() in files:
            check.errors.append('pxe_arch_files key %s is invalid: the same architecture as %s'
                                % (_show(arch), _show(files[arch.lower()][0])))
            continue
        checked = check.relative_path(path, file_path, 'images/grubaa64.efi')
        files[arch.lower()] = (arch, checked)
    return [{'arch': arch, 'path': files[arch][1]} for arch in sorted(files)]


def _secure_boot_chain(entries):
    """The files firmware, shim and grub verify in turn, each with the certificate it must verify against.

    ``loader``: the file is a boot loader from a Debian package (its path is in roles/pxe/vars);
    otherwise an image under images/. initrds are not signed: shim and grub do not check them.
    """
    kernels = sorted(set(entry['kernel'] for entry in entries))
    return ([{'file': sb.SHIM_FILE, 'cert': sb.SHIM_SIGNER, 'loader': True},
             {'file': sb.GRUB_FILE, 'cert': sb.DEBIAN_SIGNER, 'loader': True}]
            + [{'file': 'images/' + kernel, 'cert': sb.DEBIAN_SIGNER, 'loader': False} for kernel in kernels])


def _peers(check, value):
    if _is_list(value) and all(isinstance(peer, str) and peer and peer.isprintable() for peer in value):
        return list(value)
    check.error('pxe_peers', value, 'expected a list of inventory host names (empty: the dhcpd pair)')
    return []


def pxe_settings(variables):
    """Check the pxe role's variables (a dict keyed by their names); return (settings, errors)."""
    check = _Checker()
    get = variables.get
    root = _root(check, get('pxe_root', '/srv/netboot'))
    raw_images = get('pxe_images', [])
    images = _images(check, raw_images)
    # An entry naming an image that is only badly defined is that image's error, not the entry's.
    image_names = [i.get('name') for i in raw_images if isinstance(i, dict) and isinstance(i.get('name'), str)] \
        if _is_list(raw_images) else []
    entries = _entries(check, get('pxe_entries', []), image_names)

    entry_names = [entry.get('name') for entry in get('pxe_entries', [])
                   if isinstance(entry, dict)] if _is_list(get('pxe_entries', [])) else []
    default_entry = get('pxe_default_entry', '')
    default_entry = '' if default_entry is None else default_entry
    if default_entry != '' and (not isinstance(default_entry, str) or default_entry not in entry_names):
        check.error('pxe_default_entry', default_entry, 'expected empty or one of %s' % _show(entry_names))
    if not default_entry and entries:
        default_entry = entries[0]['name']

    hosts = _hosts(check, get('pxe_hosts', []), entries, entry_names)

    bios_loader = check.choice('pxe_bios_loader', get('pxe_bios_loader', 'ipxe'), BIOS_FILES)
    uefi_loader = check.choice('pxe_uefi_loader', get('pxe_uefi_loader', 'grub'), UEFI_FILES)
    ipxe_http = check.boolean('pxe_ipxe_http', get('pxe_ipxe_http', True))
    if ipxe_http is False and 'ipxe' in (bios_loader, uefi_loader):
        check.errors.append('pxe_ipxe_http=false with pxe_bios_loader=%s and pxe_uefi_loader=%s is invalid: an iPXE '
                            'loader would be handed itself again; set pxe_ipxe_http=true or use pxelinux/grub'
                            % (bios_loader, uefi_loader))

    uefi_http_boot = check.boolean('pxe_uefi_http_boot', get('pxe_uefi_http_boot', False))
    if uefi_http_boot and ipxe_http is False:
        check.errors.append('pxe_uefi_http_boot=true with pxe_ipxe_http=false is invalid: HTTP Boot clients load '
                            'iPXE, which then needs boot.ipxe over HTTP; set pxe_ipxe_http=true or '
                            'pxe_uefi_http_boot=false')

    server_address = _server_address(check, get('pxe_server_address'))
    http_port = check.integer('pxe_http_port', get('pxe_http_port', 80), 1, 65535)
    menu_timeout = check.integer('pxe_menu_timeout', get('pxe_menu_timeout', 5), 0, MAX_MENU_TIMEOUT)
    menu_title = check.text('pxe_menu_title', get('pxe_menu_title', 'Network boot'), TEXT, TEXT_RULE)
    tftp_options = check.text('pxe_tftp_options', get('pxe_tftp_options', '--secure --verbose'), TFTP_OPTIONS,
                              'tftpd-hpa options of letters, digits, spaces or ,./:=_+- (the value is written '
                              'into a shell-quoted line)')
    apt_cache_valid_time = check.integer('pxe_apt_cache_valid_time', get('pxe_apt_cache_valid_time', 3600),
                                         0, 2 ** 31 - 1)
    secure_boot = check.boolean('pxe_secure_boot', get('pxe_secure_boot', False))
    if secure_boot and uefi_loader == 'ipxe':
        check.errors.append('pxe_secure_boot=true with pxe_uefi_loader=ipxe is invalid: Debian\'s ipxe.efi is not '
                            'signed, Secure Boot firmware refuses it; use pxe_uefi_loader=grub')
    if secure_boot and uefi_http_boot:
        check.errors.append('pxe_secure_boot=true with pxe_uefi_http_boot=true is invalid: HTTP Boot clients get '
                            'ipxe.efi, which is not signed; set one of them to false')

    http_base = None
    if server_address is not None and http_port is not None:
        http_base = 'http://%s%s' % (server_address, '' if http_port == 80 else ':%d' % http_port)

    settings = {
        'root': root,
        'server_address': server_address,
        'http_port': http_port,
        'http_base': http_base,
        'bios_loader': bios_loader,
        'bios_file': BIOS_FILES.get(bios_loader),
        'uefi_loader': uefi_loader,
        # Secure Boot: shim first; it loads grubx64.efi from the same server and directory.
        'uefi_file': sb.SHIM_FILE if secure_boot else UEFI_FILES.get(uefi_loader),
        'secure_boot': secure_boot,
        'secure_boot_chain': _secure_boot_chain(entries) if secure_boot else [],
        'uefi_arches': list(UEFI_ARCHES),
        'ipxe_http': ipxe_http,
        'uefi_http_boot': uefi_http_boot,
        'http_boot_arch': HTTP_BOOT_ARCH,
        'http_boot_uri': None if http_base is None else '%s/%s' % (http_base, HTTP_BOOT_FILE),
        'arch_files': _arch_files(check, get('pxe_arch_files', {})),
        'images': images,
        'entries': entries,
        'default_entry': default_entry,
        'hosts': hosts,
        # The per-host menus files.yml writes (and the only ones it keeps): pxelinux reads the file
        # dhcpd names in option 209, grub.cfg switches on $net_default_mac to the grub one; iPXE
        # needs none (boot.ipxe compares ${netX/mac}).
        'host_menus': [menu for host in hosts for menu in (
            {'src': 'pxelinux.cfg.j2', 'dest': 'pxelinux.cfg/' + host['file_id'], 'host': host},
            {'src': 'grub.cfg.j2', 'dest': 'grub/grub.cfg-' + host['file_id'], 'host': host})],
        'menu_timeout': menu_timeout,
        'menu_title': menu_title,
        'peers': _peers(check, get('pxe_peers', [])),
        'tftp_options': tftp_options,
        'apt_cache_valid_time': apt_cache_valid_time,
    }
    return settings, check.errors


def tree_differences(mine, peers):
    """Files that differ between this node's tree and each peer's.

    ``mine``: {relative path: sha256}; ``peers``: {peer name: the same, or anything else (None,
    false) when the peer has no file list}. Returns one message per difference, peers and paths in
    sorted order.
    """
    out = []
    for peer in sorted(peers):
        theirs = peers[peer]
        if not isinstance(theirs, dict):
            out.append('%s: no file list (not in this run?)' % peer)
            continue
        for path in sorted(set(mine) | set(theirs)):
            here, there = mine.get(path, 'missing'), theirs.get(path, 'missing')
            if here != there:
                out.append('%s %s here, %s on %s' % (path, here, there, peer))
    return out
