"""dhcp_probe's input checks (the probe itself runs against real dhcpd: tests/system/test_dhcp_probe.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from module_args import patch_module_args

from ansible_collections.netboot.dhcp_failover.plugins.modules import dhcp_probe


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        dhcp_probe.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "give bucket_of"),
        ({"bucket_of": "secondary"}, "bucket_of=secondary needs split"),
        ({"mac": "00:16:3e:00:00:01"}, "mac=00:16:3e:00:00:01 is not a locally administered"),
        ({"split": 256, "bucket_of": "secondary"}, "serves no hash bucket"),
        ({"mac": "02:6e:62:00:00:00", "split": 0, "bucket_of": "primary"}, "falls in the secondary's bucket"),
        ({"bucket_of": "primary", "split": 257}, "invalid split_or_hba 257"),
        ({"mac": "02:00:00:00:00:01", "timeout": 0}, "timeout=0.0 is invalid"),
        ({"mac": "02:00:00:00:00:01", "timeout": 61}, "timeout=61.0 is invalid"),
        ({"mac": "02:00:00:00:00:01", "interface": "nbt-no-such-if"}, "no such network interface"),
    ],
)
def test_bad_input_is_named(capsys, args, message):
    args.setdefault("interface", "lo")
    result = run(capsys, **args)
    assert result["failed"] is True
    assert message in result["msg"]
