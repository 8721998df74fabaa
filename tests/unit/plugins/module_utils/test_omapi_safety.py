"""The rules of module_utils/omapi/safety.py: when a state change is refused, and why."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import safety


def info(local):
    return {"local_state": local, "partner_state": "normal"}


def partner_down(local, probe, force=False, address="198.18.100.2", port=847):
    return safety.refusal(info(local), "partner-down", force, partner_address=address, partner_port=port, probe=probe)


class Probe:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, host, port, timeout):
        self.calls.append((host, port))
        return self.answers


def test_normal_is_never_settable_even_with_force():
    message = safety.refusal(info("communications-interrupted"), "normal", force=True)
    assert "cannot be set" in message and "partner-down, recover, recover-done" in message


def test_partner_down_refused_while_link_up():
    probe = Probe(False)
    message = partner_down("normal", probe)
    assert "local state is normal" in message
    assert "same address" in message
    assert "force: true" in message


@pytest.mark.parametrize("local", ["startup", "recover", "recover-wait", "potential-conflict", "paused"])
def test_partner_down_refused_outside_interrupted_states(local):
    message = partner_down(local, Probe(False))
    assert "local state is %s" % local in message


def test_partner_down_refused_when_partner_port_answers():
    probe = Probe(True)
    message = partner_down("communications-interrupted", probe)
    assert probe.calls == [("198.18.100.2", 847)]
    assert "198.18.100.2:847 accepts connections" in message


def test_partner_down_needs_partner_address_without_force():
    message = partner_down("communications-interrupted", Probe(False), address=None, port=647)
    assert "partner_address" in message


@pytest.mark.parametrize("local", ["communications-interrupted", "resolution-interrupted"])
def test_partner_down_allowed_when_interrupted_and_partner_silent(local):
    probe = Probe(False)
    assert partner_down(local, probe) is None
    assert probe.calls


def test_force_skips_partner_down_checks_and_probe():
    probe = Probe(True)
    assert partner_down("normal", probe, force=True) is None
    assert probe.calls == []


@pytest.mark.parametrize("local", ["partner-down", "communications-interrupted"])
def test_recover_refused_while_serving_alone(local):
    message = safety.refusal(info(local), "recover", False)
    assert "answers nobody" in message
    assert safety.refusal(info(local), "recover", True) is None


@pytest.mark.parametrize("local", ["normal", "startup", "potential-conflict", "unknown-12"])
def test_recover_allowed_otherwise(local):
    assert safety.refusal(info(local), "recover", False) is None


def test_recover_done_only_from_recover_wait_and_with_force():
    assert "not recover-wait" in safety.refusal(info("recover"), "recover-done", True)
    assert "not recover-wait" in safety.refusal(info("normal"), "recover-done", True)
    assert "cur_unacked_updates" in safety.refusal(info("recover-wait"), "recover-done", False)
    assert safety.refusal(info("recover-wait"), "recover-done", True) is None


def test_port_answers_against_real_sockets():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        assert safety.port_answers("127.0.0.1", port, 2)
    finally:
        listener.close()
    assert not safety.port_answers("127.0.0.1", port, 2)
