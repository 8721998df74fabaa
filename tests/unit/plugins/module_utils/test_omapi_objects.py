"""failover-state decoding, the state table and the guard against unknown state numbers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import struct

import pytest

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import errors, objects


def u32(number):
    return struct.pack("!I", number)


def failover_values(**overrides):
    values = {
        b"name": b"pxe",
        b"partner-address": b"\x90\x75\x2a\x2f\x56\x00\x00\x00",
        b"local-address": b"\xa0\x8f\x75\x2a\x2f\x56\x00\x00",
        b"partner-port": u32(847),
        b"local-port": u32(647),
        b"max-outstanding-updates": u32(10),
        b"mclt": u32(1800),
        b"load-balance-max-secs": u32(3),
        b"load-balance-hba": b"\xff" * 8 + b"\x00" * 24,
        b"partner-state": u32(3),
        b"local-state": u32(4),
        b"partner-stos": u32(0),
        b"local-stos": u32(1000000000),
        b"hierarchy": u32(0),
        b"last-packet-sent": u32(0),
        b"last-timestamp-received": u32(0),
        b"skew": u32(0),
        b"max-response-delay": u32(30),
        b"cur-unacked-updates": u32(7),
    }
    for name, value in overrides.items():
        key = name.replace("_", "-").encode()
        if value is None:
            del values[key]
        else:
            values[key] = value
    return values


def test_decode_names_numbers_times_and_split():
    info = objects.decode_failover_state(failover_values())
    assert info["name"] == "pxe"
    assert info["role"] == "primary"
    assert (info["local_state"], info["local_state_number"]) == ("partner-down", 4)
    assert (info["partner_state"], info["partner_state_number"]) == ("communications-interrupted", 3)
    # 10^9 s after the epoch, computed by the standard library independently.
    expected = datetime.datetime.fromtimestamp(1000000000, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["local_stos"] == expected == "2001-09-09T01:46:40Z"
    assert info["partner_stos"] is None
    assert info["hba"] == ":".join(["ff"] * 8 + ["00"] * 24)
    assert info["split"] == 64
    assert (info["mclt"], info["max_unacked_updates"], info["cur_unacked_updates"]) == (1800, 10, 7)


def test_garbage_attributes_are_dropped():
    info = objects.decode_failover_state(failover_values())
    assert not {"partner_address", "local_address", "skew", "last_packet_sent", "last_timestamp_received"} & set(info)
    assert b"\x90" not in repr(info).encode()


def test_hba_that_is_not_a_split_and_missing_hba():
    info = objects.decode_failover_state(failover_values(load_balance_hba=b"\x55" * 32))
    assert info["hba"] == ":".join(["55"] * 32)
    assert info["split"] is None
    info = objects.decode_failover_state(failover_values(load_balance_hba=None))
    assert info["hba"] is None and info["split"] is None


def test_secondary_and_unknown_state_numbers_are_reported_not_hidden():
    info = objects.decode_failover_state(failover_values(hierarchy=u32(1), partner_state=u32(0), local_state=u32(12)))
    assert info["role"] == "secondary"
    assert info["partner_state"] == "unknown-state"
    assert info["local_state"] == "unknown-12"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"local_state": None}, "no 'local-state'"),
        ({"name": None}, "no 'name'"),
        ({"mclt": b"\x00\x01"}, "'mclt'.*4-byte"),
        ({"load_balance_hba": b"\xff" * 31}, "31 bytes, expected 32"),
    ],
)
def test_malformed_objects(overrides, message):
    with pytest.raises(objects.MalformedObject, match=message):
        objects.decode_failover_state(failover_values(**overrides))


def test_state_table_matches_dhcpd_failover_h():
    # includes/failover.h of dhcpd 4.4: the numbers dhcpd accepts, and nothing else.
    assert objects.STATES == {
        0: "unknown-state", 1: "startup", 2: "normal", 3: "communications-interrupted", 4: "partner-down",
        5: "potential-conflict", 6: "recover", 7: "paused", 8: "shutdown", 9: "recover-done",
        10: "resolution-interrupted", 11: "conflict-done", 254: "recover-wait",
    }
    assert 0 not in objects.SENDABLE_STATES


class RecordingConnection:
    def __init__(self):
        self.updates = []

    def update(self, handle, values, what):
        self.updates.append((handle, list(values)))


@pytest.mark.parametrize(("state", "wire"), [("partner-down", 4), (6, 6), ("recover-done", 9), ("recover-wait", 254)])
def test_set_local_state_sends_the_number(state, wire):
    conn = RecordingConnection()
    objects.set_local_state(conn, 2, state)
    assert conn.updates == [(2, [(b"local-state", u32(wire))])]


@pytest.mark.parametrize("state", [12, 0, 255, -1, "unknown-state", "Normal", "partner_down", True, 4.0, None])
def test_set_local_state_never_sends_unknown_states(state):
    conn = RecordingConnection()
    with pytest.raises(ValueError, match="refusing to send local-state") as info:
        objects.set_local_state(conn, 2, state)
    assert conn.updates == []
    assert "partner-down" in str(info.value)  # lists what is valid


def fake_clock():
    now = [0.0]
    return now, dict(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))


def test_wait_until_returns_states_seen_once_each():
    readings = iter(["recover", "recover", "recover-wait", "recover-done", "normal"])
    _now, clock = fake_clock()
    condition, what = objects.wait_condition(local_state=["normal"])
    result = objects.wait_until(lambda: {"local_state": next(readings)}, condition, 10, **clock)
    assert what == "local state normal"
    assert result["reached"]
    assert result["states_seen"] == ["recover", "recover-wait", "recover-done", "normal"]
    assert result["failover"] == {"local_state": "normal"}
    assert result["waited"] == 2.0


def test_wait_until_times_out_on_the_deadline():
    now, clock = fake_clock()
    condition, _what = objects.wait_condition(local_state=["normal"])
    result = objects.wait_until(lambda: {"local_state": "recover-wait"}, condition, 3, interval=1, **clock)
    assert not result["reached"]
    assert result["states_seen"] == ["recover-wait"]
    assert now[0] == 3
    assert objects.wait_message(result, "local state normal", 3) == (
        "local state normal not reached within 3 s; local states seen: recover-wait")


def test_wait_until_rides_out_connection_failures_only():
    readings = iter([errors.OmapiConnectionRefused("h", 1), errors.OmapiTimeout("h", 1, 1.0, "reading"),
                     {"local_state": "startup", "partner_state": "unknown-state"}])

    def read():
        item = next(readings)
        if isinstance(item, Exception):
            raise item
        return item

    _now, clock = fake_clock()
    result = objects.wait_until(read, objects.wait_condition()[0], 10, **clock)
    assert result["reached"] and result["failover"]["local_state"] == "startup"

    def wrong_key():
        raise errors.OmapiBadSignature("k")

    with pytest.raises(errors.OmapiBadSignature):
        objects.wait_until(wrong_key, objects.wait_condition()[0], 10, **clock)


_INFO = {"local_state": "startup", "partner_state": "recover", "cur_unacked_updates": 3}


@pytest.mark.parametrize(("wanted", "info", "expected"), [
    ({"local_state": ["normal"], "partner_state": ["normal"]}, {"local_state": "normal", "partner_state": "normal"},
     True),
    ({"local_state": ["normal"], "partner_state": ["normal"]}, {"local_state": "normal", "partner_state": "recover"},
     False),
    ({"partner_state": ["normal", "recover"]}, _INFO, True),
    ({"local_state": ["recover-wait", "normal"]}, _INFO, False),
    ({"local_state_not": ["startup", "recover"]}, _INFO, False),
    ({"local_state_not": ["startup", "recover"]}, dict(_INFO, local_state="recover-wait"), True),
    ({"cur_unacked_updates": 0}, _INFO, False),
    ({"cur_unacked_updates": 0}, dict(_INFO, cur_unacked_updates=0), True),
    ({"cur_unacked_updates": 3, "local_state": ["startup"]}, _INFO, True),
    ({}, _INFO, True),
    ({"local_state": None, "partner_state": None, "local_state_not": None, "cur_unacked_updates": None}, _INFO, True),
])
def test_wait_condition(wanted, info, expected):
    condition, _what = objects.wait_condition(**wanted)
    assert condition(info) is expected


def test_wait_condition_describes_itself():
    assert objects.wait_condition()[1] == "an answer over OMAPI"
    assert objects.wait_condition(local_state=["normal"], local_state_not=["recover"], partner_state=["normal"],
                                  cur_unacked_updates=0)[1] == (
        "local state normal and local state not recover and partner state normal and at most 0 unacked updates")
