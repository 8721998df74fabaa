"""leases.binding_states(), the metrics exporter's fast path, against the full parser (parse()).

binding_states() must say what ``latest(parse(text)['entries'])`` says about binding states, on
any text: the same states, or the same error. Lease blocks written by a real dhcpd (the fixtures
of test_leases.py, recorded from a real pair by fixtures/leases/record.py) must be matched whole
by its regex, or the exporter would be slow exactly where it matters; anything else takes the
full parser.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "leases")
FIXTURES = sorted(name for name in os.listdir(HERE) if name.endswith(".leases"))
BLOCK_RE = re.compile(r"^lease \S+ \{\n.*?^\}", re.MULTILINE | re.DOTALL)


def fixture(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        return handle.read()


def full(text):
    """The full parser's answer: the binding states, or the error it raises."""
    try:
        return {a: r["binding_state"] for a, r in leases.latest(leases.parse(text)["entries"]).items()}
    except Exception as exc:  # noqa: BLE001 - whatever it is, the fast path must raise the same
        return (type(exc), str(exc))


def fast(text):
    try:
        return leases.binding_states(text)
    except Exception as exc:  # noqa: BLE001
        return (type(exc), str(exc))


@pytest.mark.parametrize("name", FIXTURES)
def test_real_files_give_the_full_parsers_states(name):
    text = fixture(name)
    states = fast(text)
    assert isinstance(states, dict) and len(states) >= 50
    assert states == full(text)


@pytest.mark.parametrize("name", FIXTURES)
def test_every_lease_block_dhcpd_wrote_takes_the_fast_path(name):
    blocks = BLOCK_RE.findall(fixture(name))
    assert len(blocks) >= 50
    assert [block for block in blocks if not leases._FAST_LEASE_RE.fullmatch(block)] == []


@pytest.mark.parametrize("stamp,valid", [
    ("3 2026/12/31 23:59:59", True),
    ("3 2026/04/30 00:00:00", True),
    ("3 2026/04/31 00:00:00", False),
    ("3 2026/02/28 00:00:00", True),
    ("3 2026/02/29 00:00:00", False),
    ("4 2024/02/29 00:00:00", True),
    ("2 2000/02/29 00:00:00", True),
    ("4 2100/02/29 00:00:00", False),
    ("3 2026/13/01 00:00:00", False),
    ("3 2026/12/00 00:00:00", False),
    ("3 2026/12/02 24:00:00", False),
    ("3 2026/12/02 23:60:00", False),
    ("3 2026/12/02 23:59:60", True),
    ("epoch 1796173025", True),
    ("never", True),
    ("soon", False),
])
def test_dates_the_fast_regex_takes_are_exactly_the_valid_ones(stamp, valid):
    text = "lease 10.0.0.1 {\n  starts %s;\n  binding state active;\n}" % stamp
    assert bool(leases._FAST_LEASE_RE.fullmatch(text)) is valid
    assert fast(text) == full(text)
    assert isinstance(full(text), dict) is valid


# Pieces that a lease file may hold and the fast regex must not misread: braces, quotes and
# comments that hide or fake a statement, states the full parser takes from other statements,
# addresses and dates it refuses, non-ASCII spaces and digits.
SNIPPETS = [
    '"', "}", "{", ";", "#", "\n", "\\", " ", "\u00a0", "\u0661", "x",
    "lease 10.0.0.1 { binding state free; }\n",
    "lease 10.0.0.1 {\n  binding state active;\n  abandoned;\n}\n",
    "binding state active;", "binding state backup extra;", "abandoned;", "next binding state free;",
    "starts 3 2023/02/29 00:00:00;", "starts 4 2024/02/29 00:00:00;", "ends never;", "ends epoch 12;",
    "lease 256.0.0.1 {", "lease 010.0.0.1 {", "lease 10.0.0.2 10.0.0.3 {", "uid zz;", "uid 01:0g;",
    "client-hostname x;", 'client-hostname "a" "b";', 'set x = "a;}b";', "hardware ethernet 1:2:300;",
    'on expiry { set x = "y"; }', "# lease 10.0.0.9 { binding state backup; }\n",
    'client-hostname "lease 10.0.0.8 { binding state active; }";',
    'failover peer "p" state { my state normal at 3 2026/02/30 00:00:00; }\n',
]
_BASE = "".join(BLOCK_RE.findall(fixture("normal-primary.leases"))[-40:]) + "\n" + \
    "".join(BLOCK_RE.findall(fixture("epoch-hex-secondary.leases"))[-20:]) + "\n"
_EDITS = st.lists(st.tuples(st.integers(0, len(_BASE)),
                            st.one_of(st.sampled_from(SNIPPETS), st.text(alphabet="{};\"#\\ \n\tab0:./", max_size=3))),
                  max_size=4)


@settings(max_examples=400, deadline=None)
@given(_EDITS, st.integers(0, len(_BASE)))
def test_edited_real_files_give_the_full_parsers_answer(edits, cut):
    text = _BASE
    for position, piece in sorted(edits, reverse=True):
        text = text[:position] + piece + text[position:]
    text = text[:cut + sum(len(piece) for _p, piece in edits)]
    assert fast(text) == full(text)
