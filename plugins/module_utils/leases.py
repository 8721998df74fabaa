# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dhcpd.leases(5) file of ISC dhcpd 4.4, read the way dhcpd reads it at start.

dhcpd only ever appends to its lease file (and rewrites it compacted at start and about hourly),
so an address appears many times: the LAST ``lease`` entry of an address is its binding, and the
last ``failover peer "NAME" state`` block of a peer is that peer's saved state. Earlier entries are
still useful for history (which addresses were newly handed out since a moment).

Times are returned as seconds since 1970 (UTC). dhcpd writes them either as
``W YYYY/MM/DD HH:MM:SS`` (UTC, the default) or ``epoch N; # comment`` (``db-time-format local``);
``never`` (an infinite lease) is returned as None. Client identifiers are written quoted with
octal escapes (the default) or as colon-separated hex (``lease-id-format hex``); both come back
as lowercase colon-separated hex.

Statements this parser does not know are skipped whole (to their ``;`` or closing brace).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
import socket

# common/tables.c binding_state_names (dhcpd 4.4), in dhcpd's order.
BINDING_STATES = ('free', 'active', 'expired', 'released', 'abandoned', 'reset', 'backup', 'reserved', 'bootp')
TIME_FIELDS = ('starts', 'ends', 'tstp', 'tsfp', 'atsfp', 'cltt')
# The states in which the primary (free) and the secondary (backup) may allocate on their own.
OWN_STATE = {'primary': 'free', 'secondary': 'backup'}


class LeaseFileError(ValueError):
    """The text is not a dhcpd lease file (unbalanced braces, a broken date, ...)."""


_TOKEN_RE = re.compile(r'''
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<punct>[{};])
  | (?P<word>[^\s{};"#]+)
''', re.VERBOSE | re.DOTALL)

_ESCAPES = {'n': b'\n', 't': b'\t', 'r': b'\r', 'b': b'\b', 'f': b'\f', 'a': b'\a', 'v': b'\v'}
_DATE_RE = re.compile(r'^(\d{4})/(\d{1,2})/(\d{1,2})$')
_CLOCK_RE = re.compile(r'^(\d{1,2}):(\d{1,2}):(\d{1,2})$')
_HEX_RE = re.compile(r'^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2})*$')


def _tokens(text):
    """(kind, value, line) tuples; strings are kept quoted so they can be told from words."""
    position = 0
    line = 1
    length = len(text)
    while position < length:
        match = _TOKEN_RE.match(text, position)
        if match is None:
            # Only possible at the end of the file (a quoted string may span lines): dhcpd is
            # in the middle of writing it.
            yield 'partial', text[position:], line
            return
        kind = match.lastgroup
        value = match.group(kind)
        if kind not in ('space', 'comment'):
            yield kind, value, line
        line += value.count('\n')
        position = match.end()


def unquote(token):
    """The bytes of a dhcpd quoted string (C escapes, including 3-digit octal)."""
    body = token[1:-1]
    out = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char != '\\':
            out.extend(char.encode('utf-8'))
            index += 1
            continue
        following = body[index + 1:index + 2]
        octal = re.match(r'[0-7]{1,3}', body[index + 1:index + 4])
        if octal:
            out.append(int(octal.group(0), 8) & 0xff)
            index += 1 + len(octal.group(0))
        else:
            out.extend(_ESCAPES.get(following, following.encode('utf-8')))
            index += 2
    return bytes(out)


def _hex(data):
    return ':'.join('%02x' % byte for byte in bytearray(data))


def _hex_words(value, line, what):
    if not _HEX_RE.match(value):
        raise LeaseFileError('line %d: %s %r is neither a quoted string nor colon-separated hex' % (line, what, value))
    return ':'.join('%02x' % int(part, 16) for part in value.split(':'))


class _Statements:
    """A cursor over the tokens, one statement (words up to ``;`` or a ``{...}`` block) at a time."""

    def __init__(self, tokens):
        self._tokens = tokens
        self._index = 0
        # The line where an unfinished statement at the end of the file starts, if any.
        self.partial_tail = None

    def done(self):
        return self._index >= len(self._tokens)

    def line(self):
        if self.done():
            return self._tokens[-1][2] if self._tokens else 1
        return self._tokens[self._index][2]

    def statement(self):
        """(words, block) where block is None or the list of tokens between the braces."""
        words = []
        while not self.done():
            kind, value, line = self._tokens[self._index]
            self._index += 1
            if value == ';' and kind == 'punct':
                return words, None
            if value == '{' and kind == 'punct':
                block = self._block(line)
                if block is None:
                    self.partial_tail = words[0][2] if words else line
                    return [], None
                return words, block
            if kind == 'partial':
                self.partial_tail = words[0][2] if words else line
                self._index = len(self._tokens)
                return [], None
            if value == '}' and kind == 'punct':
                raise LeaseFileError('line %d: unexpected }' % line)
            words.append((kind, value, line))
        if words:
            self.partial_tail = words[0][2]
        return [], None

    def _block(self, opened):
        depth = 1
        start = self._index
        while not self.done():
            kind, value, _line = self._tokens[self._index]
            self._index += 1
            if kind == 'punct' and value == '{':
                depth += 1
            elif kind == 'punct' and value == '}':
                depth -= 1
                if depth == 0:
                    return self._tokens[start:self._index - 1]
        self.partial_tail = opened
        return None


def _sub_statements(tokens):
    """Split a block's tokens into (words, nested tokens or None), tolerating nested blocks."""
    out = []
    words = []
    index = 0
    while index < len(tokens):
        kind, value, line = tokens[index]
        index += 1
        if kind == 'punct' and value == ';':
            out.append((words, None))
            words = []
        elif kind == 'punct' and value == '{':
            depth = 1
            start = index
            while depth:
                if tokens[index][0] == 'punct' and tokens[index][1] in '{}':
                    depth += 1 if tokens[index][1] == '{' else -1
                index += 1
            out.append((words, tokens[start:index - 1]))
            words = []
        elif kind == 'punct' and value == '}':
            # dhcpd's writer never leaves a stray brace inside a block.
            raise LeaseFileError('line %d: unexpected }' % line)
        else:
            words.append((kind, value, line))
    if words:
        out.append((words, None))
    return out


def parse_time(words, line):
    """Seconds since 1970 (UTC) of ``W YYYY/MM/DD HH:MM:SS``, ``epoch N`` or None for ``never``."""
    values = [value for _kind, value, _line in words]
    if values == ['never']:
        return None
    if len(values) == 2 and values[0] == 'epoch' and values[1].isdigit():
        return int(values[1])
    if len(values) == 3 and values[0].isdigit():
        date, clock = _DATE_RE.match(values[1]), _CLOCK_RE.match(values[2])
        if date and clock:
            year, month, day = (int(part) for part in date.groups())
            hour, minute, second = (int(part) for part in clock.groups())
            if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 \
                    and minute < 60 and second < 61:
                return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    raise LeaseFileError('line %d: bad date %r: expected "W YYYY/MM/DD HH:MM:SS", "epoch N" or "never"'
                         % (line, ' '.join(values)))


def _text(word, line, what):
    kind, value, _line = word
    if kind != 'string':
        raise LeaseFileError('line %d: %s %s is not a quoted string' % (line, what, value))
    return unquote(value).decode('utf-8', 'replace')


def _lease(address, tokens, line):
    record = {'address': address}
    for words, nested in _sub_statements(tokens):
        if nested is not None or not words:
            continue  # "on expiry { ... }" and the like: dhcpd's own scripts, not bindings
        values = [value for _kind, value, _line in words]
        at = words[0][2]
        head = values[0]
        if head in TIME_FIELDS:
            record[head] = parse_time(words[1:], at)
        elif values[:2] == ['binding', 'state'] and len(values) == 3:
            record['binding_state'] = values[2]
        elif values[1:3] == ['binding', 'state'] and head in ('next', 'rewind') and len(values) == 4:
            record[head + '_binding_state'] = values[3]
        elif head == 'hardware' and len(values) == 3:
            record['hardware_type'] = values[1]
            record['hardware_address'] = _hex_words(values[2], at, 'hardware address')
        elif head == 'uid' and len(values) == 2:
            if words[1][0] == 'string':
                record['uid'] = _hex(unquote(values[1]))
            else:
                record['uid'] = _hex_words(values[1], at, 'uid')
        elif head == 'client-hostname' and len(values) == 2:
            record['client_hostname'] = _text(words[1], at, 'client-hostname')
        elif values == ['abandoned']:
            # dhcpd 2.x/3.0 files: the bare keyword before binding states existed.
            record['binding_state'] = 'abandoned'
    return record


def _peer_state(tokens, line):
    block = {}
    for words, _nested in _sub_statements(tokens):
        values = [value for _kind, value, _line in words]
        if len(values) >= 3 and values[0] in ('my', 'partner') and values[1] == 'state':
            side = values[0] if values[0] == 'partner' else 'my'
            block[side + '_state'] = values[2]
            if len(values) > 3 and values[3] == 'at':
                block[side + '_state_at'] = parse_time(words[4:], words[0][2])
        elif len(values) == 2 and values[0] == 'mclt' and values[1].isdigit():
            block['mclt'] = int(values[1])
    return block


def _address(value, line):
    try:
        socket.inet_aton(value)
    except (OSError, socket.error):
        raise LeaseFileError('line %d: lease %r: not an IPv4 address' % (line, value)) from None
    if value.count('.') != 3:
        raise LeaseFileError('line %d: lease %r: not an IPv4 address' % (line, value))
    return value


def _statement_kind(words, block):
    """('lease', record), ('peer', state block) or None for a statement of the top level."""
    values = [value for _kind, value, _line in words]
    line = words[0][2]
    if values[0] == 'lease' and block is not None:
        if len(values) != 2:
            raise LeaseFileError('line %d: expected "lease ADDRESS {", got %r' % (line, ' '.join(values)))
        return 'lease', _lease(_address(values[1], line), block, line)
    if values[:2] == ['failover', 'peer'] and len(values) == 4 and values[3] == 'state' and block is not None:
        name = unquote(values[2]).decode('utf-8', 'replace') if words[2][0] == 'string' else values[2]
        return 'peer', dict(_peer_state(block, line), name=name)
    # Anything else (authoring-byte-order, server-duid, host, class, lease6, ...) is not ours.
    return None


def parse(text):
    """Every lease entry in file order and the failover peer state blocks.

    Returns ``{'entries': [record, ...], 'peers': [{'name': ..., 'my_state': ..., ...}, ...],
    'partial_tail': None or a line number}``. dhcpd appends to the file while it runs, so a reader
    can catch its last statement half written: that statement is left out and ``partial_tail``
    tells the line where it starts. Anything malformed before the end raises LeaseFileError.
    A record has ``address`` and whatever the entry states among ``binding_state``,
    ``next_binding_state``, ``rewind_binding_state``, ``hardware_type``, ``hardware_address``,
    ``uid``, ``client_hostname`` and the TIME_FIELDS.
    """
    statements = _Statements(list(_tokens(text)))
    entries = []
    peers = []
    while not statements.done():
        words, block = statements.statement()
        if not words:
            continue
        found = _statement_kind(words, block)
        if found is not None:
            (entries if found[0] == 'lease' else peers).append(found[1])
    return {'entries': entries, 'peers': peers, 'partial_tail': statements.partial_tail}


# binding_states(): a lease block in the shape dhcpd 4.4 writes it, matched whole by one regex.
# Every text it matches is one the full parser reads without error and to the same address and
# (last) binding state: only ASCII whitespace between words, words of explicit character classes,
# strings without newlines, only the statements below and only valid values (dates included:
# days 29-31 only in the months that have them, 02/29 only in leap years). Anything else goes to
# the full parser, one statement at a time.
_OCTET = r'(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)'
_STRING = r'"(?:[^"\\\n]|\\[^\n])*"'
_HEX = r'[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2})*'
_LEAP_YEAR = r'(?:[12]\d(?:0[48]|[2468][048]|[13579][26])|(?:1[26]|2[048])00)'
_DAY = (r'(?:[12]\d{3}/(?:(?:0[1-9]|1[0-2])/(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])/(?:29|30)|(?:0[13578]|1[02])/31)'
        r'|' + _LEAP_YEAR + r'/02/29)')
_WHEN = r'(?:[0-6]\s+' + _DAY + r'\s+(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)|epoch\s+\d+|never)'
# A comment runs to the end of its line: without the \n, backtracking could end it early, at a
# brace inside it.
_GAP = r'\s*(?:\#[^\n]*\n\s*)*'
_FAST_LEASE_RE = re.compile(
    _GAP + r'lease\s+(?P<address>' + _OCTET + r'(?:\.' + _OCTET + r'){3})\s*\{'
    r'(?:' + _GAP + r'(?:'
    r'(?:starts|ends|tstp|tsfp|atsfp|cltt)\s+' + _WHEN +
    r'|binding\s+state\s+(?P<state>[a-z]+)'
    r'|(?:next|rewind)\s+binding\s+state\s+[a-z]+'
    r'|hardware\s+[a-z][a-z0-9-]*\s+' + _HEX +
    r'|uid\s+(?:' + _STRING + r'|' + _HEX + r')'
    r'|client-hostname\s+' + _STRING +
    r'|set\s+[A-Za-z][A-Za-z0-9_-]*\s*=\s*' + _STRING +
    r')\s*;)*' + _GAP + r'\}', re.ASCII)


def _statement_at(text, position, line):
    """The tokens of the one statement at ``position`` (as _Statements reads it), where it ends
    and the line there."""
    tokens = []
    depth = 0
    length = len(text)
    while position < length:
        match = _TOKEN_RE.match(text, position)
        if match is None:
            tokens.append(('partial', text[position:], line))
            return tokens, length, line
        kind = match.lastgroup
        value = match.group(kind)
        position = match.end()
        at = line
        line += value.count('\n')
        if kind in ('space', 'comment'):
            continue
        tokens.append((kind, value, at))
        if kind == 'punct':
            if value == '{':
                depth += 1
            elif value == '}':
                depth -= 1
                if depth <= 0:
                    break
            elif depth == 0:
                break
    return tokens, position, line


def binding_states(text):
    """``{address: binding state}`` of the last entry of each address that has one: the same as
    ``latest(parse(text)['entries'])`` reduced to the binding states, and the same LeaseFileError
    where parse() raises one, at a fraction of its cost (the metrics exporter reads 10,000
    leases every few seconds). Lease blocks in dhcpd's own shape are matched whole by one regex
    (_FAST_LEASE_RE); every other statement is read by the full parser."""
    states = {}
    position = 0
    length = len(text)
    # Line numbers only for the full parser's messages, counted from where it was last needed.
    counted, line = 0, 1
    fast = _FAST_LEASE_RE.match
    while position < length:
        match = fast(text, position)
        if match is not None:
            address, state = match.group('address', 'state')
            if state is not None:
                states[address] = state
            position = match.end()
            continue
        line += text.count('\n', counted, position)
        tokens, position, line = _statement_at(text, position, line)
        counted = position
        words, block = _Statements(tokens).statement()
        if words:
            found = _statement_kind(words, block)
            if found is not None and found[0] == 'lease' and 'binding_state' in found[1]:
                states[found[1]['address']] = found[1]['binding_state']
    return states


def latest(entries):
    """{address: last entry}: the binding dhcpd would load. Entries without a binding state
    (never written by dhcpd 3+) do not replace a complete one."""
    found = {}
    for entry in entries:
        if 'binding_state' in entry:
            found[entry['address']] = entry
    return found


def peer_states(peers):
    """{peer name: its last state block} (later blocks supersede earlier ones, as in dhcpd)."""
    found = {}
    for block in peers:
        found[block['name']] = block
    return found


def address_number(address):
    """An IPv4 address as an integer (for range comparisons)."""
    return int.from_bytes(socket.inet_aton(address), 'big')


_ip = address_number


def parse_range(text):
    """(first, last) integer addresses of a range given as ``"FIRST LAST"`` (dhcpd's syntax) or
    ``"FIRST-LAST"``; ValueError naming the value otherwise."""
    parts = text.replace('-', ' ').split() if isinstance(text, str) else []
    if len(parts) != 2:
        raise ValueError('range %r is invalid: expected "FIRST LAST" IPv4 addresses, as in a dhcpd range statement'
                         % (text,))
    try:
        first, last = (_ip(_address(part, 0)) for part in parts)
    except LeaseFileError:
        raise ValueError('range %r is invalid: expected two IPv4 addresses, e.g. "198.18.100.100 198.18.100.199"'
                         % (text,)) from None
    if first > last:
        raise ValueError('range %r is invalid: the first address is after the last' % (text,))
    return first, last


def count_states(records):
    """{binding state: number of addresses}, every state of BINDING_STATES present (0 if none)."""
    counts = dict((state, 0) for state in BINDING_STATES)
    for record in records:
        counts[record['binding_state']] = counts.get(record['binding_state'], 0) + 1
    return counts


def count_by_range(bindings, ranges):
    """[{'range': text, 'size': addresses in it, 'counts': {...}, 'unknown': not in the file}]"""
    out = []
    for text in ranges:
        first, last = parse_range(text)
        inside = [r for address, r in bindings.items() if first <= _ip(address) <= last]
        out.append({'range': text, 'size': last - first + 1, 'counts': count_states(inside),
                    'not_in_file': last - first + 1 - len(inside)})
    return out


def allocated_since(entries, since, own_state):
    """Addresses newly handed out at or after ``since`` (epoch) and still active.

    An address counts when its last entry is active and, going through the file in order, an
    active entry starting at or after ``since`` directly followed an entry in ``own_state`` (the
    server's own free pool: ``free`` on the primary, ``backup`` on the secondary). Renewals of a
    lease that was already active before ``since`` do not count. It is a lower bound: dhcpd
    rewrites the file at start and about hourly, keeping only the last entry per address.
    """
    previous = {}
    fresh = set()
    for entry in entries:
        state = entry.get('binding_state')
        if state is None:
            continue
        address = entry['address']
        starts = entry.get('starts')
        recent = starts is not None and starts >= since
        if state == 'active' and recent and previous.get(address) == own_state:
            fresh.add(address)
        elif state != 'active' or not recent:
            fresh.discard(address)
        previous[address] = state
    return sum(1 for address in fresh if previous[address] == 'active')


def summary(text, since=None, role=None, ranges=None, records=False, *, history=False):
    """What lease_info returns: counts per binding state (overall and per range), the failover
    peer states, optionally the records and the allocations since ``since``."""
    parsed = parse(text)
    bindings = latest(parsed['entries'])
    result = {
        'counts': count_states(bindings.values()),
        'total': len(bindings),
        'failover': peer_states(parsed['peers']),
        'allocated_since': None,
        'partial_tail': parsed['partial_tail'],
    }
    if role is not None:
        own = OWN_STATE[role]
        theirs = OWN_STATE['secondary' if role == 'primary' else 'primary']
        result['own'] = result['counts'][own]
        result['theirs'] = result['counts'][theirs]
        if since is not None:
            result['allocated_since'] = allocated_since(parsed['entries'], since, own)
    if ranges:
        result['ranges'] = count_by_range(bindings, ranges)
    if records:
        result['records'] = [bindings[address] for address in sorted(bindings, key=_ip)]
    if history:
        result['history'] = [entry for entry in parsed['entries'] if 'binding_state' in entry]
    return result
