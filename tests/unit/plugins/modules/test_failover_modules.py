"""failover_info / failover_state logic against an in-memory stand-in for dhcpd.

The real daemon is exercised in tests/system/test_omapi_*.py; this covers the decisions
(idempotence, check mode, diff, guards, argument errors) quickly and exhaustively.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import struct

import pytest
from module_args import patch_module_args

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import errors, objects, protocol
from ansible_collections.netboot.dhcp_failover.plugins.modules import failover_info, failover_state

SECRET_B64 = "MDEyMzQ1Njc4OWFiY2RlZg=="  # noqa: S105 - a made-up test key


def u32(number):
    return struct.pack("!I", number)


class FakeDhcpd:
    """Answers like dhcpd's failover-state object; optionally ignores writes (as dhcpd does for
    every attribute except local-state) or moves on to a follow-up state."""

    def __init__(self, local="communications-interrupted", ignore_writes=False, follow=None):
        self.local = objects.STATE_NUMBERS[local]
        self.ignore_writes = ignore_writes
        self.follow = follow or {}
        self.writes = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _values(self):
        return {
            b"name": b"pxe", b"partner-port": u32(847), b"local-port": u32(647),
            b"max-outstanding-updates": u32(10), b"mclt": u32(30), b"load-balance-max-secs": u32(3),
            b"load-balance-hba": b"\xff" * 16 + b"\x00" * 16, b"partner-state": u32(2),
            b"local-state": u32(self.local), b"partner-stos": u32(1), b"local-stos": u32(2),
            b"hierarchy": u32(0), b"max-response-delay": u32(5), b"cur-unacked-updates": u32(0),
        }

    def open_object(self, object_type, lookup, description=None):
        if dict(lookup)[b"name"] != b"pxe":
            raise errors.OmapiNotFound(object_type, description)
        return 7, self._values()

    def refresh(self, handle, what=""):
        return self._values()

    def update(self, handle, values, what=""):
        number = protocol.decode_int(dict(values)[b"local-state"])
        self.writes.append(number)
        if not self.ignore_writes:
            self.local = objects.STATE_NUMBERS.get(self.follow.get(objects.STATES[number]), number)


def run_module(module, monkeypatch, capsys, dhcpd, *, check_mode=False, diff=False, **args):
    real = module.connection_from_params

    def connect(params):
        real(params)  # validates the key like the module would, then the stand-in answers
        return dhcpd

    monkeypatch.setattr(module, "connection_from_params", connect)
    base = {"name": "pxe", "key_name": "omapi_key", "key": SECRET_B64}
    base.update(args)
    if check_mode:
        base["_ansible_check_mode"] = True
    if diff:
        base["_ansible_diff"] = True
    with patch_module_args(base), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_info_returns_decoded_state_and_never_writes(monkeypatch, capsys):
    dhcpd = FakeDhcpd("normal")
    result = run_module(failover_info, monkeypatch, capsys, dhcpd, check_mode=True)
    assert result["changed"] is False
    assert result["failover"]["local_state"] == "normal"
    assert result["failover"]["split"] == 128
    assert dhcpd.writes == []
    assert SECRET_B64 not in json.dumps(result)


def test_info_unknown_peer_fails_clearly(monkeypatch, capsys):
    result = run_module(failover_info, monkeypatch, capsys, FakeDhcpd(), name="nope")
    assert result["failed"]
    assert "no failover-state object named 'nope'" in result["msg"]


def test_partner_down_changes_once_then_is_idempotent(monkeypatch, capsys):
    dhcpd = FakeDhcpd("communications-interrupted")
    monkeypatch.setattr(failover_state, "refusal", lambda *a, **k: None)
    first = run_module(failover_state, monkeypatch, capsys, dhcpd, state="partner-down", partner_address="198.18.1.1")
    assert first["changed"] is True
    assert first["before"]["local_state"] == "communications-interrupted"
    assert first["after"]["local_state"] == "partner-down"
    assert first["states_seen"] == ["communications-interrupted", "partner-down"]
    second = run_module(failover_state, monkeypatch, capsys, dhcpd, state="partner-down", partner_address="198.18.1.1")
    assert second["changed"] is False
    assert dhcpd.writes == [4]


def test_check_mode_predicts_without_writing_and_diff_shows_before_after(monkeypatch, capsys):
    dhcpd = FakeDhcpd("normal")
    result = run_module(failover_state, monkeypatch, capsys, dhcpd, check_mode=True, diff=True, state="recover")
    assert result["changed"] is True
    assert result["diff"] == {
        "before": {"local_state": "normal", "partner_state": "normal"},
        "after": {"local_state": "recover", "partner_state": "normal"},
    }
    assert dhcpd.writes == []


def test_refusal_fails_without_writing_even_in_check_mode(monkeypatch, capsys):
    dhcpd = FakeDhcpd("normal")
    for check_mode in (False, True):
        result = run_module(failover_state, monkeypatch, capsys, dhcpd, check_mode=check_mode,
                            state="partner-down", partner_address="198.18.1.1")
        assert result["failed"]
        assert "local state is normal" in result["msg"]
    assert dhcpd.writes == []


def test_write_that_dhcpd_ignores_is_an_error(monkeypatch, capsys):
    dhcpd = FakeDhcpd("normal", ignore_writes=True)
    result = run_module(failover_state, monkeypatch, capsys, dhcpd, state="recover")
    assert result["failed"]
    assert "still reports normal" in result["msg"]


def test_follow_up_state_is_reported_as_read_back(monkeypatch, capsys):
    # recover-done with a normal partner goes on to normal at once in dhcpd.
    dhcpd = FakeDhcpd("recover-wait", follow={"recover-done": "normal"})
    result = run_module(failover_state, monkeypatch, capsys, dhcpd, state="recover-done", force=True)
    assert result["changed"] is True
    assert result["after"]["local_state"] == "normal"
    assert dhcpd.writes == [9]


def test_wait_for_reports_states_seen(monkeypatch, capsys):
    dhcpd = FakeDhcpd("recover-wait", follow={"recover-done": "normal"})
    result = run_module(failover_state, monkeypatch, capsys, dhcpd, state="recover-done", force=True,
                        wait_for="normal", wait_timeout=5)
    assert result["states_seen"] == ["recover-wait", "normal"]


def test_wait_for_timeout_fails_with_states_seen(monkeypatch, capsys):
    monkeypatch.setattr(failover_state, "WAIT_INTERVAL", 0.05)
    dhcpd = FakeDhcpd("normal")
    result = run_module(failover_state, monkeypatch, capsys, dhcpd, state="recover", wait_for="normal",
                        wait_timeout=0.3)
    assert result["failed"]
    assert "local state normal not reached" in result["msg"]
    assert result["changed"] is True  # the state was set; only the wait failed
    assert result["states_seen"] == ["normal", "recover"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"port": 0}, "port=0 is invalid"),
        ({"timeout": 0}, "timeout=0.0 is invalid"),
        ({"partner_port": 70000}, "partner_port=70000 is invalid"),
        ({"wait_timeout": -1}, "wait_timeout=-1.0 is invalid"),
        ({"state": "normal"}, "value of state must be one of: partner-down, recover, recover-done, got: normal"),
        ({"key": "not base64!"}, "key (for key_name 'omapi_key') is not valid base64"),
    ],
)
def test_bad_arguments_name_the_option_and_value(monkeypatch, capsys, args, message):
    params = {"state": "recover"}
    params.update(args)
    result = run_module(failover_state, monkeypatch, capsys, FakeDhcpd(), **params)
    assert result["failed"]
    assert message in result["msg"]
    assert "not base64!" not in json.dumps(result)


def test_key_name_without_key_is_rejected(monkeypatch, capsys):
    monkeypatch.setattr(failover_info, "connection_from_params", lambda params: FakeDhcpd())
    with patch_module_args({"name": "pxe", "key_name": "omapi_key"}), pytest.raises(SystemExit):
        failover_info.main()
    result = json.loads(capsys.readouterr().out)
    assert "parameters are required together: key_name, key" in result["msg"]


# -- failover_info wait_for -----------------------------------------------------------------------


class ScriptedDhcpd(FakeDhcpd):
    """Each connection reads the next (local, partner) pair of the script, or raises the next
    exception in it; the last entry repeats."""

    def __init__(self, script):
        super().__init__("startup")
        self.script = list(script)
        self.reads = 0
        self.partner = 2

    def __enter__(self):
        step = self.script[min(self.reads, len(self.script) - 1)]
        self.reads += 1
        if isinstance(step, Exception):
            raise step
        self.local, self.partner = (objects.STATE_NUMBERS[name] for name in step[:2])
        self.unacked = step[2] if len(step) > 2 else 0
        return self

    def _values(self):
        values = super()._values()
        values[b"partner-state"] = u32(self.partner)
        values[b"cur-unacked-updates"] = u32(self.unacked)
        return values


def fast_waits(monkeypatch):
    monkeypatch.setattr(failover_info, "WAIT_INTERVAL", 0.01)


def test_info_wait_for_both_normal_after_a_restart(monkeypatch, capsys):
    fast_waits(monkeypatch)
    dhcpd = ScriptedDhcpd([
        errors.OmapiConnectionRefused("198.18.1.1", 7911),
        ("startup", "unknown-state"),
        ("normal", "communications-interrupted"),
        ("normal", "normal"),
    ])
    result = run_module(failover_info, monkeypatch, capsys, dhcpd,
                        wait_for={"local_state": ["normal"], "partner_state": ["normal"]}, wait_timeout=5)
    assert result["changed"] is False
    assert (result["failover"]["local_state"], result["failover"]["partner_state"]) == ("normal", "normal")
    assert result["states_seen"] == ["startup", "normal"]
    assert dhcpd.reads == 4
    assert dhcpd.writes == []


def test_info_wait_for_any_of_several_states(monkeypatch, capsys):
    fast_waits(monkeypatch)
    dhcpd = ScriptedDhcpd([("recover", "partner-down"), ("recover-wait", "partner-down")])
    result = run_module(failover_info, monkeypatch, capsys, dhcpd,
                        wait_for={"local_state": ["recover-wait", "normal"]}, wait_timeout=5)
    assert result["failover"]["local_state"] == "recover-wait"
    assert result["states_seen"] == ["recover", "recover-wait"]


def test_info_wait_for_updates_to_drain_and_startup_to_end(monkeypatch, capsys):
    fast_waits(monkeypatch)
    dhcpd = ScriptedDhcpd([("startup", "unknown-state"), ("recover", "normal"), ("recover-wait", "normal")])
    result = run_module(failover_info, monkeypatch, capsys, dhcpd, wait_for={"local_state_not": ["startup", "recover"]},
                        wait_timeout=5)
    assert result["states_seen"] == ["startup", "recover", "recover-wait"]
    draining = ScriptedDhcpd([("normal", "normal", 4), ("normal", "normal", 1), ("normal", "normal", 0)])
    drained = run_module(failover_info, monkeypatch, capsys, draining, wait_for={"cur_unacked_updates": 0},
                         wait_timeout=5)
    assert drained["failover"]["cur_unacked_updates"] == 0
    assert draining.reads == 3


def test_info_wait_for_empty_waits_for_an_answer_only(monkeypatch, capsys):
    fast_waits(monkeypatch)
    refused = errors.OmapiConnectionRefused("198.18.1.1", 7911)
    dhcpd = ScriptedDhcpd([refused, refused, ("startup", "unknown-state")])
    result = run_module(failover_info, monkeypatch, capsys, dhcpd, wait_for={}, wait_timeout=5)
    assert result["failover"]["local_state"] == "startup"
    assert dhcpd.reads == 3


def test_info_wait_for_timeout_fails_with_the_last_reading(monkeypatch, capsys):
    fast_waits(monkeypatch)
    dhcpd = ScriptedDhcpd([("recover-wait", "partner-down")])
    result = run_module(failover_info, monkeypatch, capsys, dhcpd, wait_for={"local_state": ["normal"]},
                        wait_timeout=0.1)
    assert result["failed"]
    assert result["msg"] == "local state normal not reached within 0.1 s; local states seen: recover-wait"
    assert result["failover"]["local_state"] == "recover-wait"
    assert result["states_seen"] == ["recover-wait"]


def test_info_wait_for_timeout_while_dhcpd_is_down_says_why(monkeypatch, capsys):
    fast_waits(monkeypatch)
    dhcpd = ScriptedDhcpd([errors.OmapiConnectionRefused("198.18.1.1", 7911)])
    result = run_module(failover_info, monkeypatch, capsys, dhcpd, wait_for={}, wait_timeout=0.05)
    assert result["failed"]
    assert result["msg"].startswith("an answer over OMAPI not reached within 0.05 s; local states seen: none")
    assert "198.18.1.1:7911" in result["msg"]
    assert result["failover"] is None


def test_info_wait_for_does_not_wait_out_a_wrong_peer_name(monkeypatch, capsys):
    fast_waits(monkeypatch)
    dhcpd = ScriptedDhcpd([("normal", "normal")])
    result = run_module(failover_info, monkeypatch, capsys, dhcpd, name="nope", wait_for={}, wait_timeout=30)
    assert result["failed"]
    assert "no failover-state object named 'nope'" in result["msg"]
    assert dhcpd.reads == 1


@pytest.mark.parametrize(("args", "message"), [
    ({"wait_timeout": 0}, "wait_timeout=0.0 is invalid"),
    ({"wait_for": {"local_state": ["nomral"]}}, "value of local_state must be one or more of"),
    ({"wait_for": {"bogus": 1}}, "Unsupported parameters"),
    ({"wait_for": {"cur_unacked_updates": -1}}, "wait_for.cur_unacked_updates=-1 is invalid"),
])
def test_info_bad_wait_arguments(monkeypatch, capsys, args, message):
    result = run_module(failover_info, monkeypatch, capsys, FakeDhcpd(), **args)
    assert result["failed"]
    assert message in result["msg"]
