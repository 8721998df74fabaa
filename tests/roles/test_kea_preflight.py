"""The kea role's preflight through Ansible (connection local, both pair members on this machine):
the dhcpd role's pair model goes through kea_config, and a bad setting stops the run naming it."""

import json
import os
import subprocess
import sys

import yaml

PLAY = [{
    "name": "Kea role preflight only",
    "hosts": "dhcp_pair_try",
    "gather_facts": False,
    "tasks": [
        {"name": "Preflight of the kea role",
         "ansible.builtin.include_role": {"name": "netboot.dhcp_failover.kea", "tasks_from": "preflight.yml"}},
        {"name": "Keep the result", "ansible.builtin.copy": {
            "content": "{{ __kea_config | to_json }}", "dest": "{{ out_dir }}/{{ inventory_hostname }}.json",
            "mode": "0600"}},
    ],
}]


def run(tmp_path, **pair_vars):
    group_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  "dhcpd_interfaces": ["eth0"],
                  "dhcpd_subnets": [{"network": "198.18.10.0/24", "routers": ["198.18.10.1"],
                                     "pools": [{"range": "198.18.10.100 198.18.10.199"}]}]}
    group_vars.update(pair_vars)
    inventory = {"all": {"children": {"dhcp_pair_try": {
        "hosts": {"kea1": {"dhcp_failover_address": "198.18.10.11"},
                  "kea2": {"dhcp_failover_address": "198.18.10.12"}},
        "vars": group_vars}}}}
    (tmp_path / "inv.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    return subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inv.yml"), str(tmp_path / "play.yml"),
                           "-e", "out_dir=%s" % tmp_path], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)


def test_both_members_render_from_the_same_pair_definition(tmp_path):
    proc = run(tmp_path, kea_ha_mode="load-balancing")
    assert proc.returncode == 0, proc.stdout[-3000:]
    configs = {host: json.loads((tmp_path / ("%s.json" % host)).read_text()) for host in ("kea1", "kea2")}
    for host, config in configs.items():
        ha = config["dhcp4"]["Dhcp4"]["hooks-libraries"][1]["parameters"]["high-availability"][0]
        assert (ha["this-server-name"], ha["mode"]) == (host, "load-balancing")
        assert config["agent"]["Control-agent"]["http-host"] == {"kea1": "198.18.10.11", "kea2": "198.18.10.12"}[host]
    subnets = [config["dhcp4"]["Dhcp4"]["subnet4"] for config in configs.values()]
    assert subnets[0] == subnets[1]
    assert [p["client-class"] for p in subnets[0][0]["pools"]] == ["HA_kea1", "HA_kea2"]


def test_bad_settings_stop_the_run_naming_the_variables(tmp_path):
    proc = run(tmp_path, kea_ha_mode="bogus", kea_heartbeat_delay=70000)
    assert proc.returncode != 0
    assert 'kea_ha_mode=\\"bogus\\" is invalid: expected one of hot-standby, load-balancing' in proc.stdout
    assert "kea_heartbeat_delay=70000 is invalid: expected an integer from 1 to 65535" in proc.stdout
    assert not list(tmp_path.glob("kea*.json"))
