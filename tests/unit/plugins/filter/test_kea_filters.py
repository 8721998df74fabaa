"""plugins/filter/kea.py: kea_config as Jinja calls it (the rules are tested in plugin_utils/test_kea.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter.kea import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pair

FILTERS = FilterModule().filters()
DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[4] / "roles/dhcpd/defaults/main.yml").read_text())


def lab_model():
    settings = dict(DEFAULTS)
    subnet = {"network": "198.18.10.0/24", "pools": [{"range": "198.18.10.100 198.18.10.199"}]}
    settings.update(dhcpd_subnets=[subnet], dhcpd_interfaces=["eth0"], service="kea-dhcp4-server")
    nodes = {"dhcp1": {"dhcp_failover_address": "198.18.10.11", "dhcpd_failover_port": 647},
             "dhcp2": {"dhcp_failover_address": "198.18.10.12", "dhcpd_failover_port": 647}}
    model, errors = pair.pair_model("dhcp_pair_lab", settings, nodes)
    assert errors == []
    return pair.node_view(model, "dhcp2")


def test_returns_config_and_errors():
    result = FILTERS["kea_config"](lab_model(), "dhcp2", {"kea_ha_mode": "load-balancing"})
    assert result["errors"] == []
    ha = result["config"]["dhcp4"]["Dhcp4"]["hooks-libraries"][1]["parameters"]["high-availability"][0]
    assert (ha["this-server-name"], ha["mode"]) == ("dhcp2", "load-balancing")
    assert result["config"]["dhcp4"]["Dhcp4"]["interfaces-config"]["interfaces"] == ["eth0"]


def test_bad_settings_come_back_as_errors():
    result = FILTERS["kea_config"](lab_model(), "dhcp1", {"kea_ha_mode": "standby"})
    assert result == {"config": None, "errors": [
        'kea_ha_mode="standby" is invalid: expected one of hot-standby, load-balancing']}


def test_a_non_model_is_refused():
    with pytest.raises(AnsibleFilterError, match="expected a pair model"):
        FILTERS["kea_config"]("dhcp_pair_lab", "dhcp1")
