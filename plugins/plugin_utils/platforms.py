# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which node operating systems the roles support, and whether two peers can run failover together.

One table (``SUPPORTED``) says which releases the roles are tested on. The package names and
paths the roles use are the same on every release in it (the molecule scenarios run a pair with
one Debian 12 and one Debian 13 node), so the roles keep them in ``vars/main.yml``; a release
that differs gets its own row here and its own variables at the same time.

``platform_errors(host, os_release)`` reads the text of ``/etc/os-release``;
``same_release_errors(texts, why)`` refuses members on different releases where that matters
(a PXE pair serves boot loaders from each node's own packages, which differ between releases);
``dhcpd_version_errors(versions)`` compares what ``dhcpd --version`` printed on each member of
a pair. The failover protocol is only promised between equal dhcpd releases: the upstream
version must match, a Debian packaging revision may differ (it is not printed by dhcpd).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# ID -> {VERSION_ID: codename}
SUPPORTED = {
    'debian': {'12': 'bookworm', '13': 'trixie'},
}
DHCPD_VERSION = re.compile(r'\bisc-dhcpd-(\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?)\s*$')


def supported_text():
    return ', '.join('%s %s (%s)' % (os_id.capitalize(), version, codename)
                     for os_id, versions in sorted(SUPPORTED.items())
                     for version, codename in sorted(versions.items(), key=lambda item: int(item[0])))


def os_release(text):
    """The KEY=value pairs of an os-release file, unquoted (os-release(5))."""
    fields = {}
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        fields[key.strip()] = value
    return fields


def platform_errors(host, text):
    """[] when ``host`` runs a supported release, else one message saying what it runs."""
    fields = os_release(text)
    os_id = fields.get('ID', '').lower()
    version = fields.get('VERSION_ID', '')
    if version in SUPPORTED.get(os_id, {}):
        return []
    seen = fields.get('PRETTY_NAME') or ('%s %s' % (os_id, version)).strip() or 'an unreadable /etc/os-release'
    return ['%s runs %s: the roles support %s' % (host, seen, supported_text())]


def same_release_errors(texts, why):
    """One message when the members (host -> os-release text, None = not read) run different releases."""
    seen = {}
    for host in sorted(texts):
        if texts[host] is None:
            continue
        fields = os_release(texts[host])
        seen[host] = (fields.get('ID', '').lower(), fields.get('VERSION_ID', ''),
                      fields.get('PRETTY_NAME') or '%s %s' % (fields.get('ID', ''), fields.get('VERSION_ID', '')))
    if len(set(release[:2] for release in seen.values())) <= 1:
        return []
    return ['%s: %s' % (' and '.join('%s runs %s' % (host, release[2]) for host, release in sorted(seen.items())), why)]


def dhcpd_version(text):
    """'4.4.3-P1' from dhcpd's version line, or None."""
    for line in (text or '').splitlines():
        match = DHCPD_VERSION.search(line.strip())
        if match:
            return match.group(1)
    return None


def dhcpd_version_errors(versions):
    """Messages when the members of a pair run different dhcpd releases.

    ``versions`` maps each member to what ``dhcpd --version`` printed, or to the registered
    result of that command (dhcpd prints it on stderr), or None where dhcpd is not installed
    (check mode on a new node) or the member is not in the run: such a member is not compared.
    """
    found = {}
    errors = []
    for host in sorted(versions):
        text = versions[host]
        if isinstance(text, dict):
            text = None if text.get('skipped') or text.get('rc') else (
                (text.get('stdout') or '') + '\n' + (text.get('stderr') or ''))
        if text is None:
            continue
        version = dhcpd_version(text)
        if version is None:
            errors.append('%s: dhcpd --version printed %r, expected a line like isc-dhcpd-4.4.3-P1' % (host, text))
        else:
            found[host] = version
    if len(set(found.values())) > 1:
        errors.append('the members of the pair run different dhcpd releases (%s): failover needs the same '
                      'release on both; upgrade the older node first' % ', '.join(
                          '%s %s' % (host, version) for host, version in sorted(found.items())))
    return errors
