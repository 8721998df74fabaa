"""dhcpd_probe with the real dhcpd of the host (requirements/host-programs.txt)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from module_args import patch_module_args

from ansible_collections.netboot.dhcp_failover.plugins.modules import dhcpd_probe

GOOD = "authoritative;\nsubnet 198.18.30.0 netmask 255.255.255.0 { range 198.18.30.100 198.18.30.199; }\n"


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        dhcpd_probe.main()
    return json.loads(capsys.readouterr().out)


def test_reads_the_release_and_tests_a_good_candidate(tmp_path, capsys):
    (tmp_path / "good.conf").write_text(GOOD)
    result = run(capsys, candidate=str(tmp_path / "good.conf"), _ansible_check_mode=True)
    assert result["changed"] is False
    assert result["version"].startswith("isc-dhcpd-4.")
    assert result["test"]["rc"] == 0
    assert isinstance(result["running"], bool) and "clock" not in result


def test_a_rejected_candidate_gives_dhcpds_words(tmp_path, capsys):
    (tmp_path / "bad.conf").write_text(GOOD + "no-such-statement 1;\n")
    result = run(capsys, candidate=str(tmp_path / "bad.conf"))
    assert result["test"]["rc"] != 0
    assert "no-such-statement" in result["test"]["stderr"]


def test_a_missing_dhcpd_is_reported_not_failed(tmp_path, capsys):
    result = run(capsys, binary=str(tmp_path / "dhcpd"), candidate=str(tmp_path / "x.conf"))
    assert result["version"] is None and result["test"]["rc"] is None


def test_running_is_a_process_named_dhcpd(tmp_path):
    for pid, comm in (("1", "systemd\n"), ("42", "dhcpd\n")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "comm").write_text(comm)
    (tmp_path / "self").mkdir()
    assert dhcpd_probe.dhcpd_running(str(tmp_path)) is True
    (tmp_path / "42" / "comm").write_text("dhcpd-exporter\n")
    assert dhcpd_probe.dhcpd_running(str(tmp_path)) is False


@pytest.mark.parametrize("output,offset", [
    ("2026-12-02T13:00:00Z System clock wrong by -0.000123 seconds (ignored)", -0.000123),
    ("System clock wrong by 7.5 seconds", 7.5),
    ("No suitable source for synchronisation", None),
    ("", None),
])
def test_clock_offset_is_what_chronyd_printed(output, offset):
    assert dhcpd_probe.clock_offset(output) == offset


def test_a_bad_clock_peer_is_named(capsys):
    result = run(capsys, clock_peer="198.18.10.12 iburst; rm")
    assert result["failed"] is True and "clock_peer='198.18.10.12 iburst; rm'" in result["msg"]
