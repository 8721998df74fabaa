"""The metrics role's checks and the exporter configuration derived from a real pair model."""

import copy
import json
import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.netboot.dhcp_failover.plugins.filter.metrics_settings import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import metrics
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import metrics_role, pair

ROOT = Path(__file__).resolve().parents[4]
DHCPD_DEFAULTS = yaml.safe_load((ROOT / "roles/dhcpd/defaults/main.yml").read_text())
DEFAULTS = yaml.safe_load((ROOT / "roles/metrics/defaults/main.yml").read_text())
VARS = yaml.safe_load((ROOT / "roles/metrics/vars/main.yml").read_text())
DIRS = VARS["__metrics_node_exporter_textfile_dirs"]
SUBNETS = [
    {"network": "198.18.10.0/24",
     "pools": [{"range": ["198.18.10.100 198.18.10.149", "198.18.10.150  198.18.10.199"]}]},
    {"network": "198.18.12.0/23", "pools": [{"range": "198.18.12.10 198.18.13.200"}]},
]


def pair_info(host="nblab-dhcp2"):
    settings = dict(copy.deepcopy(DHCPD_DEFAULTS), dhcpd_subnets=copy.deepcopy(SUBNETS), service="isc-dhcp-server")
    nodes = {"nblab-dhcp1": {"dhcp_failover_address": "198.18.10.11", "dhcpd_failover_port": 647},
             "nblab-dhcp2": {"dhcp_failover_address": "198.18.10.12", "dhcpd_failover_port": 647}}
    model, errors = pair.pair_model("dhcp_pair_lab", settings, nodes)
    assert errors == []
    return pair.node_view(model, host)


def variables(**changes):
    values = dict(copy.deepcopy(DEFAULTS), dhcpd_pair_info=pair_info(), dhcpd_max_clock_skew=5, dhcpd_clock_check=True)
    values.update(changes)
    return values


def test_the_defaults_pass_and_give_the_exporter_the_pairs_failover_pools():
    settings, errors = metrics_role.metrics_settings(variables(), DIRS)
    assert errors == []
    config = settings["config"]
    assert config["peer_name"] == "dhcp_pair_lab" and config["role"] == "secondary"
    # One pool of two ranges (its label joins them) and one of one range, spaces normalised.
    assert config["pools"] == [["198.18.10.100 198.18.10.149", "198.18.10.150 198.18.10.199"],
                               ["198.18.12.10 198.18.13.200"]]
    assert config["clock_peer"] == "198.18.10.11"
    assert config["interval"] == DEFAULTS["dhcpd_metrics_interval"] == 15
    assert settings["output"] == os.path.join(DIRS[0], metrics_role.OUTPUT_NAME) == config["output"]
    assert "omapi_key" not in config  # the secret is added on the node's file only


def test_the_configuration_is_what_the_exporter_accepts(tmp_path):
    config = dict(metrics_role.metrics_settings(variables(), DIRS)[0]["config"], omapi_key="c2VjcmV0c2VjcmV0")
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(config))
    assert metrics.load_config(str(path)) == config


@pytest.mark.parametrize("value", [0, -15, 3601, "15", True, 1.5, None])
def test_an_interval_that_is_not_1_to_3600_whole_seconds_is_refused(value):
    errors = metrics_role.metrics_settings(variables(dhcpd_metrics_interval=value), DIRS)[1]
    assert errors == ["dhcpd_metrics_interval=%s is invalid: expected whole seconds from 1 to 3600 (how often the "
                      "timer writes the metrics file)" % json.dumps(value)]


@pytest.mark.parametrize("value", ["/var/lib/node_exporter/textfile_collector", "var/lib/prometheus/node-exporter",
                                   "", None, "/var/lib/prometheus"])
def test_a_textfile_directory_node_exporter_does_not_read_is_refused(value):
    errors = metrics_role.metrics_settings(variables(dhcpd_metrics_textfile_dir=value), DIRS)[1]
    assert len(errors) == 1
    assert errors[0].startswith("dhcpd_metrics_textfile_dir=%s is invalid: prometheus-node-exporter reads "
                                "textfiles only from %s" % (json.dumps(value), DIRS[0]))


def test_a_trailing_slash_is_the_same_directory():
    settings, errors = metrics_role.metrics_settings(variables(dhcpd_metrics_textfile_dir=DIRS[0] + "/"), DIRS)
    assert errors == [] and settings["textfile_dir"] == DIRS[0]


def test_without_the_clock_check_no_chrony_peer_is_read():
    config = metrics_role.metrics_settings(variables(dhcpd_clock_check=False), DIRS)[0]["config"]
    assert "clock_peer" not in config


def test_without_a_pair_model_the_error_says_where_it_comes_from():
    settings, errors = metrics_role.metrics_settings(variables(dhcpd_pair_info=None, dhcpd_metrics_interval=0), DIRS)
    assert settings is None
    assert errors[0].startswith("dhcpd_metrics_interval=0 is invalid")
    assert errors[1].startswith("dhcpd_pair_info is undefined") and "preflight.yml" in errors[1]


def test_the_filter_strict_fails_with_every_error():
    from ansible.errors import AnsibleFilterError  # noqa: PLC0415

    metrics_settings = FilterModule().filters()["metrics_settings"]
    bad = variables(dhcpd_metrics_interval=0, dhcpd_metrics_textfile_dir="/srv/prom")
    expected = 'dhcpd_metrics_interval=0 .*; dhcpd_metrics_textfile_dir="/srv/prom"'
    with pytest.raises(AnsibleFilterError, match=expected):
        metrics_settings(bad, DIRS, strict=True)
    assert len(metrics_settings(bad, DIRS)["errors"]) == 2


def test_the_kea_control_socket_goes_to_the_exporter_only_when_given(tmp_path):
    config = metrics_role.metrics_settings(variables(kea_control_socket="/run/kea/kea4-ctrl-socket"), DIRS)[0]["config"]
    assert config["kea_control_socket"] == "/run/kea/kea4-ctrl-socket"
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(config))
    assert metrics.load_config(str(path))["kea_control_socket"] == "/run/kea/kea4-ctrl-socket"
    assert "kea_control_socket" not in metrics_role.metrics_settings(variables(), DIRS)[0]["config"]
