"""playbooks/migrate_to_kea.yml through Ansible (connection local, both pair members on this
machine, no dhcpd answering for them): the request is checked naming the variable, and a pair
whose peers are not NORMAL is refused before any host is touched (nothing written)."""

import os
import subprocess
import sys

import yaml


def run(tmp_path, *args):
    group_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "dhcpd_interfaces": ["eth0"],
        "dhcpd_subnets": [
            {
                "network": "198.18.10.0/24",
                "routers": ["198.18.10.1"],
                "pools": [{"range": "198.18.10.100 198.18.10.199"}],
            }
        ],
        # Nothing on this machine answers: loopback addresses, a port nobody listens on, files in tmp.
        "dhcpd_omapi_port": 9,
        "kea_ctrl_agent_port": 9,
        "dhcp_ops_lease_file": str(tmp_path / "dhcpd.leases"),
        "dhcp_ops_record": str(tmp_path / "record.json"),
        "kea_lease_file": str(tmp_path / "kea-leases4.csv"),
    }
    inventory = {
        "all": {
            "children": {
                "dhcp_servers": {
                    "children": {
                        "dhcp_pair_try": {
                            "hosts": {
                                "kea1": {"dhcp_failover_address": "127.0.0.11"},
                                "kea2": {"dhcp_failover_address": "127.0.0.12"},
                            },
                            "vars": group_vars,
                        }
                    }
                }
            }
        }
    }
    (tmp_path / "inv.yml").write_text(yaml.safe_dump(inventory))
    return subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "inv.yml"), "netboot.dhcp_failover.migrate_to_kea", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        check=False,
    )


def test_a_bad_action_is_refused_naming_the_variable_and_the_valid_values(tmp_path):
    proc = run(tmp_path, "-e", "migrate_action=back")
    assert proc.returncode != 0
    assert 'migrate_action=\\"back\\"' in proc.stdout, proc.stdout[-3000:]
    assert "expected migrate_action migrate (the default) or rollback" in proc.stdout


def test_a_pair_that_is_not_normal_is_refused_before_anything_is_written(tmp_path):
    proc = run(tmp_path)
    assert proc.returncode != 0
    assert "Refusing migrate_action=migrate: both dhcpd peers must be NORMAL" in proc.stdout, proc.stdout[-3000:]
    assert "kea1 is dhcpd" in proc.stdout and "kea2 is dhcpd" in proc.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["inv.yml"]
