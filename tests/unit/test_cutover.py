"""The cutover probe (tests/dhcplab/cutover.py) on made-up answers, and the kea role's defaults the
benchmark reads (bench/kea_cutover.py's role-timers row)."""

import time

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea
from dhcplab import configs
from dhcplab.client import Ack, Nak
from dhcplab.cutover import Probe

MAC = "02:4b:00:00:00:ff"
ADDRESS = "198.18.100.150"
DHCPD, KEA = "198.18.100.2", "198.18.100.1"


def probe_with(times):
    probe = Probe(None, MAC, ADDRESS)
    probe.acks = [(at, DHCPD if at < 2 else KEA) for at in times]
    return probe


def reply(kind, address, server=KEA):
    cls = Ack if kind == "ack" else Nak
    return cls(kind, 1, server, address, server, "02:00:00:00:00:01", MAC, {}, None, time=time.monotonic())


class FakeClient:
    """Answers every REQUEST with the given replies, or waits out the timeout when there are none."""

    def __init__(self, replies):
        self.replies = replies
        self.asked = 0

    def request_all(self, *, mac, requested_ip, expect, timeout, grace):
        assert (mac, requested_ip, expect, grace) == (MAC, ADDRESS, 1, 0)
        self.asked += 1
        if not self.replies:
            time.sleep(timeout)
        return list(self.replies)


def test_around_gives_the_last_answer_before_and_the_first_after_a_moment():
    probe = probe_with([1.0, 1.05, 1.1, 3.0, 3.05])
    assert probe.around(1.12) == (1.1, 3.0)
    assert probe.around(1.1) == (1.1, 3.0)  # an answer at the moment itself came before it
    assert probe.around(0.5) == (None, 1.0)
    assert probe.around(4.0) == (3.05, None)
    assert probe_with([]).around(1.0) == (None, None)


def test_longest_gap_is_the_longest_silence_between_two_answers():
    gap, before, after = probe_with([1.0, 1.05, 1.1, 3.0, 3.05]).longest_gap()
    assert (before, after) == (1.1, 3.0)
    assert abs(gap - 1.9) < 1e-9


def test_the_probe_records_every_answer_and_keeps_the_wrong_ones():
    client = FakeClient([reply("ack", ADDRESS), reply("nak", ""), reply("ack", "198.18.100.151")])
    probe = Probe(client, MAC, ADDRESS, every=0.01)
    probe.start()
    deadline = time.monotonic() + 5
    while client.asked < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    probe.done.set()
    probe.join(2)
    assert not probe.is_alive()
    assert client.asked >= 2 and len(probe.acks) == 3 * client.asked
    assert {at_server[1] for at_server in probe.acks} == {KEA}
    assert [r.kind for r in probe.wrong[:2]] == ["nak", "ack"] and probe.wrong[1].yiaddr == "198.18.100.151"


def test_a_probe_nobody_stops_ends_after_its_limit():
    client = FakeClient([])
    probe = Probe(client, MAC, ADDRESS, every=0.02, limit=0.2)
    started = time.monotonic()
    probe.start()
    probe.join(3)
    assert not probe.is_alive()
    assert time.monotonic() - started < 2
    assert client.asked >= 2 and probe.acks == []


def test_the_kea_role_defaults_are_what_kea_config_falls_back_to():
    """The benchmark's role-timers row sets the role's defaults; kea_config must render the same
    when a deployment sets nothing."""
    defaults = configs.role_defaults("kea")
    assert "kea_pxe_settings" not in defaults  # templated: only meaningful inside a play
    for name, value in kea.DEFAULTS.items():
        assert defaults[name] == value, name
