"""site.yml refuses bad metrics settings in its first play, before any host is touched.

The two nodes of the pair are unreachable on purpose (ssh to an address no test host has): a
task that contacted one would end UNREACHABLE. The refusal must come from the controller-only
checks of play 1 and name the user's variable, the value and what is valid.
"""

import json
import os
import subprocess
import sys

import collection_path
import pytest

PAIR = {
    "dhcpd_subnets": [{"network": "198.18.100.0/24", "pools": [{"range": "198.18.100.100 198.18.100.199"}]}],
    "dhcpd_omapi_secret": "c2VjcmV0c2VjcmV0c2VjcmV0",
    "dhcpd_metrics_enabled": True,
}


def run_site(tmp_path, **group_vars):
    hosts = {
        name: {"ansible_host": "198.18.99.250", "ansible_connection": "ssh", "ansible_ssh_timeout": 2,
               "ansible_python_interpreter": sys.executable, "dhcp_failover_address": address,
               "dhcpd_failover_port": 647}
        for name, address in (("node1", "198.18.100.1"), ("node2", "198.18.100.2"))
    }
    inventory = {"all": {"children": {"dhcp_servers": {"children": {
        "dhcp_pair_t": {"hosts": hosts, "vars": dict(PAIR, **group_vars)}}}}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collection_path.ROOT, ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inventory.json",
            "netboot.dhcp_failover.site"]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(("group_vars", "message"), [
    ({"dhcpd_metrics_interval": 0},
     "dhcpd_metrics_interval=0 is invalid: expected whole seconds from 1 to 3600"),
    ({"dhcpd_metrics_textfile_dir": "/var/lib/node_exporter/textfile_collector"},
     'dhcpd_metrics_textfile_dir="/var/lib/node_exporter/textfile_collector" is invalid: prometheus-node-exporter '
     "reads textfiles only from /var/lib/prometheus/node-exporter"),
])
def test_site_refuses_bad_metrics_settings_before_any_host_is_touched(tmp_path, group_vars, message):
    proc = run_site(tmp_path, **group_vars)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert message in output
    assert "PLAY [Keep the clocks of each pair in step]" not in output
    assert "UNREACHABLE" not in output and "unreachable=1" not in output, output
