"""lease_info on lease files written by a real dhcpd (tests/unit/plugins/module_utils/fixtures/leases)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from module_args import patch_module_args

from ansible_collections.netboot.dhcp_failover.plugins.modules import lease_info

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils", "fixtures",
                        "leases")


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        lease_info.main()
    return json.loads(capsys.readouterr().out)


def test_counts_failover_and_allocations_in_partner_down(capsys):
    path = os.path.join(FIXTURES, "partner-down-primary.leases")
    result = run(capsys, path=path, role="primary", since=1796173021, ranges=["198.18.100.150 198.18.100.151"])
    assert result["changed"] is False
    assert result["path"] == path
    assert result["counts"]["active"] == 4 and result["counts"]["abandoned"] == 1
    assert (result["own"], result["theirs"]) == (result["counts"]["free"], result["counts"]["backup"])
    assert result["allocated_since"] == 1  # the one client leased after partner-down (record.py)
    assert result["failover"]["pair"]["my_state"] == "partner-down"
    assert result["ranges"][0]["counts"]["active"] == 1 and result["ranges"][0]["counts"]["abandoned"] == 1
    assert "records" not in result


def test_check_mode_reads_the_same_and_records_on_request(capsys):
    path = os.path.join(FIXTURES, "normal-secondary.leases")
    plain = run(capsys, path=path)
    checked = run(capsys, path=path, records=True, _ansible_check_mode=True)
    assert checked["counts"] == plain["counts"]
    assert plain["allocated_since"] is None and "own" not in plain
    assert len(checked["records"]) == checked["total"] == 100
    named = [r for r in checked["records"] if r.get("client_hostname")]
    assert [(r["hardware_address"], r["client_hostname"]) for r in named] == [("02:00:00:00:01:01", "pxe-node-1")]


@pytest.mark.parametrize("args,message", [
    ({"since": 5}, "since=5 needs role"),
    ({"since": -1, "role": "primary"}, "since=-1 is invalid"),
    ({"ranges": ["198.18.100.9 198.18.100.1"]}, "ranges: range '198.18.100.9 198.18.100.1' is invalid"),
    ({"role": "tertiary"}, "value of role must be one of: primary, secondary"),
])
def test_bad_options_are_named(capsys, args, message):
    result = run(capsys, path=os.path.join(FIXTURES, "normal-primary.leases"), **args)
    assert result["failed"] is True
    assert message in result["msg"]


def test_missing_and_broken_files(capsys, tmp_path):
    missing = run(capsys, path=str(tmp_path / "nope.leases"))
    assert missing["failed"] and "cannot read the lease file %s" % (tmp_path / "nope.leases") in missing["msg"]
    broken = tmp_path / "broken.leases"
    broken.write_text("lease 10.0.0.1 {\n  starts 3 2026/13/99 00:00:00;\n}\n")
    result = run(capsys, path=str(broken))
    assert result["failed"] and "is not a dhcpd lease file: line 2: bad date" in result["msg"]
