# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OMAPI wire format (ISC dhcpd omapip, protocol version 100) and one client connection.

Layout, all integers big-endian:

* greeting, both ways: ``uint32 version (100)``, ``uint32 header size (24)``
* message: ``uint32 authid`` ``uint32 authlen`` ``uint32 op`` ``uint32 handle`` ``uint32 id``
  ``uint32 rid``, then the message's name/value list, then the object's name/value list,
  then ``authlen`` bytes of signature.
* name/value list: ``uint16 len`` + name, ``uint32 len`` + value, ... ended by a zero-length name.
* signature: HMAC-MD5 over every byte after ``authid`` up to the signature itself.

Standard library only: this runs on managed nodes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import hashlib
import hmac
import random
import socket
import struct

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi.errors import (
    OmapiBadSignature,
    OmapiConnectionError,
    OmapiConnectionRefused,
    OmapiKeyRequired,
    OmapiNotFound,
    OmapiProtocolError,
    OmapiStatusError,
    OmapiTimeout,
    OmapiUnknownKey,
)

PROTOCOL_VERSION = 100
HEADER_SIZE = 24

OP_OPEN = 1
OP_REFRESH = 2
OP_UPDATE = 3
OP_NOTIFY = 4
OP_STATUS = 5
OP_DELETE = 6
OP_NAMES = {OP_OPEN: 'open', OP_REFRESH: 'refresh', OP_UPDATE: 'update', OP_NOTIFY: 'notify',
            OP_STATUS: 'status', OP_DELETE: 'delete'}

# dhcpd compares the algorithm case-insensitively and exactly with the name it stores for the
# key: "hmac-md5" from dhcpd.conf becomes this, trailing dot included (common/parse.c).
HMAC_MD5 = b'hmac-md5.SIG-ALG.REG.INT.'
HMAC_MD5_SIZE = 16

# isc_result_t values dhcpd sends in STATUS messages (ISC_RESULTCLASS_DHCP is 6 << 16 in the
# bind libraries dhcpd 4.4 links; checked against a real dhcpd in tests/system).
ISC_R_SUCCESS = 0
ISC_R_NOTFOUND = 23
DHCP_R_NOKEYS = (6 << 16) + 9
DHCP_R_KEY_UNKNOWN = (6 << 16) + 10
DHCP_R_INVALIDKEY = (6 << 16) + 11

# No real answer comes near this; it stops garbage from a wrong port asking for gigabytes.
MAX_VALUE_SIZE = 1 << 20
MAX_VALUES = 1000


def _u32(value):
    return struct.pack('!I', value)


def encode_int(value):
    """An OMAPI integer value: 4 bytes big-endian."""
    return _u32(value)


def decode_int(raw):
    if len(raw) != 4:
        raise ValueError('expected a 4-byte integer, got %d bytes' % len(raw))
    return struct.unpack('!I', raw)[0]


def _as_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode('utf-8')
    raise TypeError('OMAPI values are bytes or text, got %s' % type(value).__name__)


def encode_values(pairs):
    """A name/value list with its terminating zero-length name."""
    out = []
    for raw_name, raw_value in pairs:
        name = _as_bytes(raw_name)
        value = _as_bytes(raw_value)
        if not 0 < len(name) < 0x10000:
            raise ValueError('OMAPI name %r must be 1 to 65535 bytes' % name)
        out.append(struct.pack('!H', len(name)) + name + _u32(len(value)) + value)
    out.append(b'\x00\x00')
    return b''.join(out)


def encode_greeting(version=PROTOCOL_VERSION, header_size=HEADER_SIZE):
    return struct.pack('!II', version, header_size)


class HmacMd5Key:
    """An OMAPI key. The secret never appears in repr() or in any error."""

    algorithm = HMAC_MD5

    def __init__(self, name, secret):
        if not name:
            raise ValueError('key_name must not be empty')
        if not secret:
            raise ValueError('key must not be empty')
        self.name = name
        self._secret = bytes(secret)

    @classmethod
    def from_base64(cls, name, secret_b64):
        """The key as written in dhcpd.conf (``secret BASE64;``)."""
        try:
            secret = base64.b64decode(_as_bytes(secret_b64).strip(), validate=True)
        except (binascii.Error, ValueError, TypeError):
            # The value itself stays out of the message: it is a secret, even when malformed.
            raise ValueError('key (for key_name %r) is not valid base64; expected the "secret" value '
                             'of the key statement in dhcpd.conf' % (name,)) from None
        return cls(name, secret)

    def sign(self, data):
        return hmac.new(self._secret, data, hashlib.md5).digest()

    def __repr__(self):
        return 'HmacMd5Key(name=%r, secret=<hidden>)' % (self.name,)


class Message:
    """One OMAPI message; ``message`` and ``obj`` are lists of (name, value) bytes pairs."""

    def __init__(self, op, *, handle=0, xid=0, rid=0, message=None, obj=None, authid=0, signature=b''):
        self.op = op
        self.handle = handle
        self.xid = xid
        self.rid = rid
        self.message = list(message or [])
        self.obj = list(obj or [])
        self.authid = authid
        self.signature = signature
        # Bytes the signature covers (set by decode_message) so it can be verified afterwards.
        self.signed_bytes = b''

    def message_value(self, name, default=None):
        return dict(self.message).get(_as_bytes(name), default)

    def object_values(self):
        return dict(self.obj)

    def __repr__(self):
        return 'Message(op=%s, handle=%s, xid=%s, rid=%s, authid=%s, message=%r, obj=%r)' % (
            OP_NAMES.get(self.op, self.op), self.handle, self.xid, self.rid, self.authid,
            self.message, self.obj)


def encode_message(msg, key=None, authid=0):
    """Bytes of ``msg``; signed with ``key`` under ``authid`` (the handle dhcpd gave the key)."""
    authlen = HMAC_MD5_SIZE if key is not None else 0
    body = (struct.pack('!IIIII', authlen, msg.op, msg.handle, msg.xid, msg.rid)
            + encode_values(msg.message) + encode_values(msg.obj))
    if key is None:
        return _u32(0) + body
    return _u32(authid) + body + key.sign(body)


class _BytesSource:
    """read(n) over a bytes object; lets decode_message parse captured or hand-made bytes."""

    def __init__(self, data):
        self.data = data
        self.offset = 0

    def read(self, size):
        chunk = self.data[self.offset:self.offset + size]
        if len(chunk) != size:
            raise ValueError('truncated message: wanted %d bytes at offset %d, %d left'
                             % (size, self.offset, len(self.data) - self.offset))
        self.offset += size
        return chunk


def _read_values(read, into, signed):
    for _count in range(MAX_VALUES):
        raw = read(2)
        signed.append(raw)
        name_len = struct.unpack('!H', raw)[0]
        if name_len == 0:
            return
        name = read(name_len)
        raw = read(4)
        signed.extend((name, raw))
        value_len = struct.unpack('!I', raw)[0]
        if value_len > MAX_VALUE_SIZE:
            raise ValueError('value of %r claims %d bytes' % (name, value_len))
        value = read(value_len) if value_len else b''
        signed.append(value)
        into.append((name, value))
    raise ValueError('more than %d values in one list' % MAX_VALUES)


def decode_message(read, header_size=HEADER_SIZE):
    """Parse one message; ``read(n)`` must return exactly n bytes. Raises ValueError if malformed."""
    if header_size < HEADER_SIZE:
        raise ValueError('header size %d is below the %d this protocol needs' % (header_size, HEADER_SIZE))
    header = read(header_size)
    authid, authlen, op, handle, xid, rid = struct.unpack('!IIIIII', header[:HEADER_SIZE])
    if op not in OP_NAMES:
        raise ValueError('unknown opcode %d' % op)
    if authlen > 1024:
        raise ValueError('signature length %d is not plausible' % authlen)
    msg = Message(op, handle=handle, xid=xid, rid=rid, authid=authid)
    signed = [header[4:]]
    _read_values(read, msg.message, signed)
    _read_values(read, msg.obj, signed)
    msg.signature = read(authlen) if authlen else b''
    msg.signed_bytes = b''.join(signed)
    return msg


def decode_message_bytes(data, header_size=HEADER_SIZE):
    """decode_message over a complete byte string; trailing bytes are an error."""
    source = _BytesSource(data)
    msg = decode_message(source.read, header_size)
    if source.offset != len(data):
        raise ValueError('%d bytes after the end of the message' % (len(data) - source.offset))
    return msg


class Connection:
    """One authenticated OMAPI session with dhcpd. Use as a context manager."""

    def __init__(self, host='127.0.0.1', port=7911, key=None, timeout=10.0, xid=None):
        self.host = host
        self.port = port
        self.key = key
        self.timeout = timeout
        self._sock = None
        self._authid = 0
        self._server_header_size = HEADER_SIZE
        # A random start keeps answers to an earlier session from matching ours by chance.
        self._next_xid = xid if xid is not None else random.randint(1, 0x7fffffff)  # noqa: S311

    # -- connection ---------------------------------------------------------------------------
    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except socket.timeout:
            raise OmapiTimeout(self.host, self.port, self.timeout, 'connecting') from None
        except ConnectionRefusedError:
            raise OmapiConnectionRefused(self.host, self.port) from None
        except (OSError, socket.error) as exc:
            raise OmapiConnectionError(self.host, self.port, exc.strerror or str(exc)) from exc
        try:
            self._handshake()
        except BaseException:
            # __exit__ does not run when __enter__ fails: close here or the socket leaks.
            self.close()
            raise

    def _handshake(self):
        try:
            self._send(encode_greeting(), 'sending the greeting')
            greeting = self._recv(8, 'waiting for the OMAPI greeting')
        except OmapiConnectionError as exc:
            if isinstance(exc, OmapiTimeout) or 'reset' not in exc.reason:
                raise
            # Other services (dhcpd's failover port among them) reset or close the connection
            # when they read our greeting: either way it is not dhcpd's OMAPI port.
            raise OmapiProtocolError(self.host, self.port, 'connection reset by the server while waiting for '
                                     'the OMAPI greeting (is %s the omapi-port of dhcpd?)' % self.port) from None
        version, header_size = struct.unpack('!II', greeting)
        if version != PROTOCOL_VERSION:
            raise OmapiProtocolError(self.host, self.port, 'protocol version %d, expected %d (is this the '
                                     'OMAPI port of dhcpd?)' % (version, PROTOCOL_VERSION))
        if not HEADER_SIZE <= header_size <= 4096:
            raise OmapiProtocolError(self.host, self.port, 'header size %d, expected %d'
                                     % (header_size, HEADER_SIZE))
        self._server_header_size = header_size
        if self.key is not None:
            self._authenticate()

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _send(self, data, during):
        try:
            self._sock.sendall(data)
        except socket.timeout:
            self.close()
            raise OmapiTimeout(self.host, self.port, self.timeout, during) from None
        except (OSError, socket.error) as exc:
            self.close()
            raise OmapiConnectionError(self.host, self.port, '%s while %s' % (exc.strerror or exc, during)) from exc

    def _recv(self, size, during):
        chunks = []
        missing = size
        while missing:
            try:
                chunk = self._sock.recv(missing)
            except socket.timeout:
                self.close()
                raise OmapiTimeout(self.host, self.port, self.timeout, during) from None
            except (OSError, socket.error) as exc:
                self.close()
                if exc.errno == errno.ECONNRESET:
                    raise OmapiConnectionError(self.host, self.port,
                                               'connection reset by dhcpd while %s' % during) from exc
                raise OmapiConnectionError(self.host, self.port,
                                           '%s while %s' % (exc.strerror or exc, during)) from exc
            if not chunk:
                self.close()
                hint = ' (is %s the omapi-port of dhcpd?)' % self.port if 'greeting' in during else ''
                raise OmapiProtocolError(self.host, self.port, 'connection closed by the server while %s%s'
                                         % (during, hint))
            chunks.append(chunk)
            missing -= len(chunk)
        return b''.join(chunks)

    # -- messages -----------------------------------------------------------------------------
    def _take_xid(self):
        xid = self._next_xid
        self._next_xid = (self._next_xid % 0xffffffff) + 1
        return xid

    def _exchange(self, msg, what, sign=True):
        """Send ``msg`` and return dhcpd's answer to it, its signature checked."""
        msg.xid = self._take_xid()
        use_key = self.key if (sign and self._authid) else None
        self._send(encode_message(msg, use_key, self._authid), 'sending %s' % what)
        try:
            answer = decode_message(lambda size: self._recv(size, 'waiting for the answer to %s' % what),
                                    self._server_header_size)
        except ValueError as exc:
            self.close()
            raise OmapiProtocolError(self.host, self.port, '%s (answer to %s)' % (exc, what)) from exc
        if answer.rid != msg.xid:
            self.close()
            raise OmapiProtocolError(self.host, self.port, 'answer to %s carries rid %d, expected %d'
                                     % (what, answer.rid, msg.xid))
        self._check_signature(answer, what)
        return answer

    def _check_signature(self, answer, what):
        if answer.op == OP_STATUS and self._status_result(answer) != ISC_R_SUCCESS:
            # Failures are believed unsigned: dhcpd cannot sign a refusal of a key it rejected,
            # and a forged failure can only make us stop, never make us act.
            return
        if not self._authid:
            return
        if answer.authid != self._authid or len(answer.signature) != HMAC_MD5_SIZE:
            self.close()
            raise OmapiProtocolError(self.host, self.port, 'answer to %s is not signed with our key' % what)
        if not hmac.compare_digest(self.key.sign(answer.signed_bytes), answer.signature):
            self.close()
            raise OmapiProtocolError(self.host, self.port, 'signature of the answer to %s does not verify' % what)

    @staticmethod
    def _status_result(answer):
        raw = answer.message_value('result')
        if raw is None or len(raw) != 4:
            return None
        return decode_int(raw)

    @staticmethod
    def _status_text(answer):
        raw = answer.message_value('message')
        return raw.decode('utf-8', 'replace') if raw else ''

    def _raise_status(self, answer, what, object_type=None, description=None):
        result = self._status_result(answer)
        text = self._status_text(answer)
        if result == DHCP_R_INVALIDKEY:
            raise OmapiBadSignature(self.key.name if self.key else None)
        if result == DHCP_R_NOKEYS and self.key is None:
            raise OmapiKeyRequired()
        if result == DHCP_R_KEY_UNKNOWN:
            raise OmapiUnknownKey(self.key.name if self.key else None)
        if result == ISC_R_NOTFOUND and object_type is not None:
            raise OmapiNotFound(object_type, description)
        raise OmapiStatusError(what, result, text)

    def _authenticate(self):
        msg = Message(OP_OPEN, message=[(b'type', b'authenticator')],
                      obj=[(b'name', _as_bytes(self.key.name)), (b'algorithm', self.key.algorithm)])
        answer = self._exchange(msg, 'opening the authenticator', sign=False)
        if answer.op == OP_STATUS:
            if self._status_result(answer) == ISC_R_NOTFOUND:
                raise OmapiUnknownKey(self.key.name)
            self._raise_status(answer, 'opening the authenticator')
        if answer.op != OP_UPDATE or not answer.handle:
            raise OmapiProtocolError(self.host, self.port, 'unexpected %s answer to the authenticator'
                                     % OP_NAMES.get(answer.op))
        self._authid = answer.handle

    def open_object(self, object_type, lookup, description=None):
        """OPEN an existing object by its lookup keys; returns (handle, object values dict)."""
        what = 'opening %s %s' % (object_type, description or '')
        msg = Message(OP_OPEN, message=[(b'type', _as_bytes(object_type))], obj=list(lookup))
        answer = self._exchange(msg, what.strip())
        if answer.op == OP_STATUS:
            self._raise_status(answer, what.strip(), object_type, description)
        if answer.op != OP_UPDATE:
            raise OmapiProtocolError(self.host, self.port, 'unexpected %s answer to %s'
                                     % (OP_NAMES.get(answer.op), what.strip()))
        return answer.handle, answer.object_values()

    def refresh(self, handle, what='refreshing an object'):
        answer = self._exchange(Message(OP_REFRESH, handle=handle), what)
        if answer.op == OP_STATUS:
            self._raise_status(answer, what)
        if answer.op != OP_UPDATE:
            raise OmapiProtocolError(self.host, self.port, 'unexpected %s answer to %s'
                                     % (OP_NAMES.get(answer.op), what))
        return answer.object_values()

    def update(self, handle, values, what='updating an object'):
        """UPDATE attributes of an opened object. dhcpd answers with a STATUS message."""
        answer = self._exchange(Message(OP_UPDATE, handle=handle, obj=list(values)), what)
        if answer.op != OP_STATUS:
            raise OmapiProtocolError(self.host, self.port, 'unexpected %s answer to %s'
                                     % (OP_NAMES.get(answer.op), what))
        if self._status_result(answer) != ISC_R_SUCCESS:
            self._raise_status(answer, what)
