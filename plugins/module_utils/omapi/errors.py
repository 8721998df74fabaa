# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OMAPI errors. Messages never contain key material: callers pass names, never secrets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class OmapiError(Exception):
    """Base class of every OMAPI failure."""


class OmapiConnectionError(OmapiError):
    """The TCP connection to dhcpd failed or broke."""

    def __init__(self, host, port, reason):
        self.host = host
        self.port = port
        self.reason = reason
        super(OmapiConnectionError, self).__init__(
            'OMAPI connection to %s:%s failed: %s' % (host, port, reason))


class OmapiConnectionRefused(OmapiConnectionError):
    """Nothing listens on host:port (dhcpd down, or omapi-port differs)."""

    def __init__(self, host, port):
        super(OmapiConnectionRefused, self).__init__(
            host, port, 'connection refused (is dhcpd running, and is omapi-port %s?)' % port)


class OmapiTimeout(OmapiConnectionError):
    """dhcpd did not answer within the timeout."""

    def __init__(self, host, port, timeout, during):
        self.timeout = timeout
        super(OmapiTimeout, self).__init__(
            host, port, 'no answer within %s s while %s' % (timeout, during))


class OmapiAuthError(OmapiError):
    """dhcpd rejected the key."""


class OmapiUnknownKey(OmapiAuthError):
    """dhcpd does not know a key of this name (or the key is not bound with omapi-key)."""

    def __init__(self, key_name):
        self.key_name = key_name
        super(OmapiUnknownKey, self).__init__(
            'OMAPI authentication failed: dhcpd knows no HMAC-MD5 key named %r usable for OMAPI '
            '(check key_name against the key statement, and that dhcpd.conf has "omapi-key %s;")'
            % (key_name, key_name))


class OmapiBadSignature(OmapiAuthError):
    """dhcpd knows the key name but the signature did not verify: the secret differs."""

    def __init__(self, key_name):
        self.key_name = key_name
        super(OmapiBadSignature, self).__init__(
            'OMAPI authentication failed: dhcpd rejected the signature made with key %r; '
            'the secret does not match the one in dhcpd.conf' % key_name)


class OmapiKeyRequired(OmapiAuthError):
    """dhcpd requires a key but none was given."""

    def __init__(self):
        super(OmapiKeyRequired, self).__init__(
            'OMAPI authentication required: dhcpd has an omapi-key; give key_name and key')


class OmapiNotFound(OmapiError):
    """No object matches the lookup (for failover-state: no peer of that name)."""

    def __init__(self, object_type, description):
        self.object_type = object_type
        self.description = description
        super(OmapiNotFound, self).__init__(
            'OMAPI: dhcpd has no %s object %s' % (object_type, description))


class OmapiStatusError(OmapiError):
    """dhcpd answered a request with a failure status."""

    def __init__(self, request, result, text):
        self.request = request
        self.result = result
        self.text = text
        super(OmapiStatusError, self).__init__(
            'OMAPI %s failed: dhcpd answered status %s (%s)' % (request, result, text or 'no message'))


class OmapiProtocolError(OmapiError):
    """The answer is not well-formed OMAPI (wrong port, not dhcpd, or a broken message)."""

    def __init__(self, host, port, detail):
        self.host = host
        self.port = port
        self.detail = detail
        super(OmapiProtocolError, self).__init__(
            'malformed OMAPI answer from %s:%s: %s' % (host, port, detail))
