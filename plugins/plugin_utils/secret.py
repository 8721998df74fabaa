# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which OMAPI secret a pair uses, decided from the nodes themselves (controller side).

A controller cache cannot be the source of truth: under AWX every job runs in a throw-away
execution environment, so a secret generated into it would be new on every job and restart both
nodes. The running pair is the truth instead. ``omapi_secret()`` decides, in this order:

1. ``dhcpd_omapi_secret`` when the user set it (for example from a vault or an AWX credential):
   it must be base64 of at least 12 bytes and the same on both members; a node holding another
   key gets this one (a key rotation).
2. Else the key the nodes already hold in their key file. Two nodes holding different keys are
   refused, naming both: which one is right is the user's call. A key file without a valid
   secret is refused too (the role rewrites that file from the secret, so it must be sound).
3. Else (a new pair) a new secret: the candidate of the first member in the run by name, so
   both members pick the same one. In check mode a stand-in, and the result says so.

No message ever contains a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# base64 of at least 12 bytes, padded: what dhcpd's omapi-key and the modules accept. Matched with
# fullmatch: "$" alone would let a trailing newline through.
SECRET = re.compile(r'^(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$')
KEY_SECRET = re.compile(r'\bsecret\s+"([^"\n]*)"\s*;')
STAND_IN = 'CheckModeStandInNotASecret' + '0' * 18
VARIABLE = 'dhcpd_omapi_secret'


def key_file_secret(text):
    """The secret of a key file the role wrote (``key NAME { ... secret "S"; }``), or None."""
    found = KEY_SECRET.findall(text or '')
    if len(found) != 1 or not SECRET.fullmatch(found[0]):
        return None
    return found[0]


def valid(secret):
    return isinstance(secret, str) and bool(SECRET.fullmatch(secret))


def _decided(secret, source):
    return {'secret': secret, 'source': source, 'errors': []}


def _refused(errors):
    return {'secret': None, 'source': None, 'errors': errors}


def _from_variable(given):
    set_by = sorted(host for host, value in given.items() if value)
    if len(set(given[host] for host in set_by)) > 1 or len(set_by) < len(given):
        return _refused(['%s differs between %s (values not shown): set it once, in the pair group variables'
                         % (VARIABLE, ' and '.join(sorted(given)))])
    if not valid(given[set_by[0]]):
        return _refused(['%s (value not shown) is invalid: expected base64 of at least 12 bytes, '
                         'e.g. the output of `openssl rand -base64 32`' % VARIABLE])
    return _decided(given[set_by[0]], VARIABLE)


def _from_nodes(on_nodes, key_file):
    """The decision from the key files, or None when no member holds one."""
    errors = []
    held = {}
    for host in sorted(on_nodes):
        if on_nodes[host] is None:
            continue
        found = key_file_secret(on_nodes[host])
        if found is None:
            errors.append('%s: %s holds no valid OMAPI secret (value not shown): set %s, or remove the file '
                          'to have a new secret generated' % (host, key_file, VARIABLE))
        else:
            held[host] = found
    if len(set(held.values())) > 1:
        errors.append('%s hold different OMAPI secrets in %s (values not shown): set %s to the one to keep'
                      % (' and '.join(sorted(held)), key_file, VARIABLE))
    if errors:
        return _refused(errors)
    if held:
        return _decided(next(iter(held.values())), 'the key file of ' + ' and '.join(sorted(held)))
    return None


def _new(candidates, check_mode):
    if check_mode:
        return _decided(STAND_IN, 'a stand-in: check mode does not generate the secret')
    proposers = sorted(host for host, value in candidates.items() if value)
    if not proposers or not valid(candidates[proposers[0]]):
        return _refused(['no valid new OMAPI secret was proposed (members %s)' % ', '.join(sorted(candidates))])
    return _decided(candidates[proposers[0]], 'generated')


def omapi_secret(given, on_nodes, candidates, key_file, *, check_mode=False, generate=True):
    """Return ``{'secret', 'source', 'errors'}``.

    given:      {member: the value of dhcpd_omapi_secret as that member sees it ('' = unset)}
    on_nodes:   {member: the text of its key file, or None where there is none or the member
                 could not be read}
    candidates: {member: a fresh random secret that member proposes}
    generate:   False where nothing may be generated (the operations playbooks): the result
                then has secret None and says why.
    """
    if any(given.values()):
        return _from_variable(given)
    held = _from_nodes(on_nodes, key_file)
    if held is not None:
        return held
    if not generate:
        return _decided(None, 'none: no member holds a key file and %s is unset' % VARIABLE)
    return _new(candidates, check_mode)
