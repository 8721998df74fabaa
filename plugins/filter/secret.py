# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OMAPI secret filter; documented in plugins/filter/omapi_secret.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import secret


def _key_text(result):
    """The text of a registered slurp result; None where no file was read (missing, unreachable)."""
    if not isinstance(result, dict):
        return result
    content = result.get('content')
    if content is None or result.get('failed') or result.get('unreachable'):
        return None
    return base64.b64decode(content).decode('utf-8', 'replace')


def omapi_secret(given, on_nodes, candidates, key_file, check_mode=False, generate=True):  # noqa: PLR0917 (filter arguments)
    texts = dict((host, _key_text(value)) for host, value in (on_nodes or {}).items())
    return secret.omapi_secret(given or {}, texts, candidates or {}, key_file, check_mode=check_mode,
                               generate=generate)


class FilterModule:
    def filters(self):
        return {'omapi_secret': omapi_secret}
