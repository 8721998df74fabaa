# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Secure Boot chain of the pxe role (pxe_secure_boot): trust anchors and verdicts, pure Python.

Neither shim-signed nor grub-efi-amd64-signed ships its certificates as files. Both are inside
Debian's signed shim: the Microsoft UEFI CA 2011 in the certificate list of shim's own Authenticode
signature, and the Debian Secure Boot CA as shim's vendor certificate (its ``.vendor_cert``
section, the key shim itself trusts for grub and the kernel). ``trust_anchors`` takes them from
there and keeps only certificates whose SHA-256 fingerprint the role pins (roles/pxe/vars), so
where the bytes came from does not matter: a certificate is known by its hash.

Each file of the chain must pass two checks run on the node (roles/pxe/tasks/secure_boot.yml):
``sbverify --cert CA FILE`` (the image hash and the PKCS#7 signature over it) and
``openssl smime -verify -nosigs -partial_chain -CAfile CA`` on the first signature (its signer
chains to CA). sbverify alone does not bind the signer to --cert: it reports shim's signature as
OK against any certificate, even an unrelated self-signed one (sbsigntool 0.9.4 on Debian 12).
``verdicts`` turns both results into one verdict per file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import struct
import textwrap

# The certificate each link of the chain must verify against (roles/pxe/vars pins them by name).
SHIM_SIGNER = 'microsoft-uefi-ca-2011'
DEBIAN_SIGNER = 'debian-secure-boot-ca'
SHIM_FILE = 'shimx64.efi'
GRUB_FILE = 'grubx64.efi'
SBVERIFY_OK = 'Signature verification OK'
VERIFIED = 'signature and signer verified'


class SecureBootError(ValueError):
    """A file is not a signed PE image of the expected layout."""


def _der_item(data, offset):
    """(tag, header length, content length) of the DER item at offset."""
    if offset + 2 > len(data):
        raise SecureBootError('truncated DER item at %d' % offset)
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        return tag, 2, first
    count = first & 0x7f
    if count == 0 or count > 4 or offset + 2 + count > len(data):
        raise SecureBootError('unsupported DER length at %d' % offset)
    return tag, 2 + count, int.from_bytes(data[offset + 2:offset + 2 + count], 'big')


def _der_children(data, offset):
    """The (offset, whole length) of each item inside the constructed item at offset."""
    _tag, header, length = _der_item(data, offset)
    position, end = offset + header, offset + header + length
    while position < end:
        _tag, child_header, child_length = _der_item(data, position)
        yield position, child_header + child_length
        position += child_header + child_length


def pkcs7_certificates(der):
    """The DER certificates of a PKCS#7 SignedData (ContentInfo) blob, in their order."""
    data = bytes(der)
    content_info = list(_der_children(data, 0))
    if len(content_info) < 2:
        raise SecureBootError('not a PKCS#7 ContentInfo')
    explicit = content_info[1][0]
    signed_data = list(_der_children(data, explicit))[0][0]
    for offset, _length in _der_children(data, signed_data):
        # certificates [0] IMPLICIT SET OF Certificate
        if data[offset] == 0xa0:
            return [data[o:o + n] for o, n in _der_children(data, offset)]
    return []


def _pe(data):
    """(sections {name: bytes}, attribute certificate table bytes) of a PE/COFF image."""
    if len(data) < 0x40 or data[:2] != b'MZ':
        raise SecureBootError('not a PE image (no MZ header)')
    pe = struct.unpack_from('<I', data, 0x3c)[0]
    if data[pe:pe + 4] != b'PE\0\0':
        raise SecureBootError('not a PE image (no PE signature)')
    sections_count, = struct.unpack_from('<H', data, pe + 6)
    symbols, symbols_count = struct.unpack_from('<II', data, pe + 12)
    optional_size, = struct.unpack_from('<H', data, pe + 20)
    optional = pe + 24
    magic, = struct.unpack_from('<H', data, optional)
    # The data directories follow the fixed fields: 96 bytes in PE32, 112 in PE32+; #4 is security.
    directories = optional + (112 if magic == 0x20b else 96)
    security_offset, security_size = struct.unpack_from('<II', data, directories + 8 * 4)
    # Names longer than 8 characters are "/N": offset N in the COFF string table after the symbols.
    strings = symbols + 18 * symbols_count
    sections = {}
    for index in range(sections_count):
        raw_name, virtual_size, _address, raw_size, raw_offset = struct.unpack_from(
            '<8sIIII', data, optional + optional_size + 40 * index)
        name = raw_name.rstrip(b'\0')
        if name.startswith(b'/') and name[1:].isdigit():
            start = strings + int(name[1:])
            name = data[start:data.index(b'\0', start)]
        sections[name.decode('ascii', 'replace')] = data[raw_offset:raw_offset + min(virtual_size, raw_size)]
    return sections, data[security_offset:security_offset + security_size]


def signature_certificates(image):
    """Every DER certificate carried by the Authenticode signatures of a PE image."""
    _sections, table = _pe(bytes(image))
    certificates, position = [], 0
    # WIN_CERTIFICATE entries: dwLength, wRevision, wCertificateType, then the PKCS#7; 8-byte aligned.
    while position + 8 <= len(table):
        length, _revision, kind = struct.unpack_from('<IHH', table, position)
        if length < 8:
            break
        if kind == 2:
            certificates.extend(pkcs7_certificates(table[position + 8:position + length]))
        position += (length + 7) & ~7
    return certificates


def vendor_certificates(image):
    """shim's vendor certificate (DER) from its .vendor_cert section, as a list (empty: none built in)."""
    sections, _table = _pe(bytes(image))
    section = sections.get('.vendor_cert')
    if not section or len(section) < 16:
        return []
    # shim's cert_table: vendor_authorized_size, vendor_deauthorized_size, their offsets.
    size, _deny_size, offset, _deny_offset = struct.unpack_from('<IIII', section, 0)
    return [section[offset:offset + size]] if size else []


def fingerprint(der):
    """SHA-256 of a DER certificate as lower-case hex (what the role pins)."""
    return hashlib.sha256(der).hexdigest()


def normalize_fingerprint(text):
    """'48:E9:9B...' or '48e99b...' -> '48e99b...'."""
    return str(text).replace(':', '').strip().lower()


def pem(der):
    return '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % '\n'.join(
        textwrap.wrap(base64.b64encode(der).decode('ascii'), 64))


def trust_anchors(shim_image, pins, shim_path=SHIM_FILE):
    """The pinned certificates found in a signed shim.

    ``pins``: {name: {subject, sha256}}. Returns ({name: {pem, sha256, subject}}, errors), one error
    per pin that the shim does not carry (naming the shim, the certificate and its fingerprint).
    """
    errors = []
    try:
        found = signature_certificates(shim_image) + vendor_certificates(shim_image)
    except (SecureBootError, struct.error, ValueError) as exc:
        return {}, ['%s: cannot read its certificates (%s)' % (shim_path, exc)]
    by_fingerprint = dict((fingerprint(der), der) for der in found)
    anchors = {}
    for name in sorted(pins):
        wanted = normalize_fingerprint(pins[name]['sha256'])
        if wanted in by_fingerprint:
            anchors[name] = {'pem': pem(by_fingerprint[wanted]), 'sha256': wanted, 'subject': pins[name]['subject']}
        else:
            errors.append('%s carries no certificate %s with SHA-256 %s (it has %s): refusing the Secure Boot '
                          'chain' % (shim_path, name, wanted, ', '.join(sorted(by_fingerprint)) or 'none'))
    return anchors, errors


def plan(shim_image, chain, loaders, root, pins):
    """What to check on a node: ({certificates, chain, errors}).

    ``chain``: [{file, cert, loader}] from the pxe settings; a loader is checked at its package path
    (``loaders``: {file: path}, before it is copied into the served root), an image where it is
    served (``root``/file). ``certificates`` as trust_anchors gives them.
    """
    shim_path = loaders.get(SHIM_FILE, SHIM_FILE)
    certificates, errors = trust_anchors(shim_image, pins, shim_path)
    resolved = []
    for link in chain:
        path = loaders.get(link['file']) if link['loader'] else '%s/%s' % (root, link['file'])
        if path is None:
            errors.append('%s has no source among the loaders %s' % (link['file'], ', '.join(sorted(loaders))))
            continue
        resolved.append({'file': link['file'], 'path': path, 'cert': link['cert'], 'loader': link['loader']})
    return {'certificates': certificates, 'chain': resolved, 'errors': errors}


def _last_line(result):
    text = ('%s\n%s' % (result.get('stdout', ''), result.get('stderr', ''))).strip()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith('warning: data remaining')]
    return lines[-1] if lines else 'no output'


def verdicts(chain, signature_results, signer_results, pins):
    """One verdict per file of the chain.

    ``chain``: [{file, path, cert}] (file: as served; path: what was checked on the node; cert: a
    name of ``pins``). ``signature_results`` / ``signer_results``: the registered command results of
    sbverify and of the openssl signer check, in the order of ``chain`` (each with rc, stdout,
    stderr). Returns [{file, path, loader, cert, subject, sha256, verified, reason}].
    """
    out = []
    for link, signature, signer in zip(chain, signature_results, signer_results):
        pin = pins[link['cert']]
        if signature.get('rc') != 0 or SBVERIFY_OK not in signature.get('stdout', ''):
            reason = 'sbverify: %s' % _last_line(signature)
        elif signer.get('rc') != 0:
            reason = 'its signer does not chain to %s: %s' % (pin['subject'], _last_line(signer))
        else:
            reason = VERIFIED
        out.append({'file': link['file'], 'path': link['path'], 'loader': link.get('loader', True),
                    'cert': link['cert'], 'subject': pin['subject'], 'sha256': normalize_fingerprint(pin['sha256']),
                    'verified': reason == VERIFIED, 'reason': reason})
    if len(out) != len(chain):
        raise SecureBootError('expected %d results of each check, got %d and %d'
                              % (len(chain), len(signature_results), len(signer_results)))
    return out


def refusals(decided, host):
    """The messages of the refused files (empty: every file verified)."""
    return ['%s: refusing %s (%s): it does not verify against %s (SHA-256 %s): %s'
            % (host, item['file'], item['path'], item['subject'], item['sha256'], item['reason'])
            for item in decided if not item['verified']]
