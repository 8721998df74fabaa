"""A richer pair definition than the scenario's, rendered on the controller and checked by dhcpd -t.

Covers what the deployed pair does not use: an hba that is not a split, different ports per
peer, auto-partner-down, several subnets and ranges, reservations, PXE and DHCP options. Runs
the role's preflight with a local inventory (nothing is deployed) and dhcpd -t in the first server.
"""

import json
import os
import subprocess
import sys

import testinfra
from helpers import DHCP1

HBA = ":".join(["ff"] * 16 + ["00"] * 15 + ["1"])  # one extra bucket (255): not a split
PAIR = {
    "dhcp_servers": {
        "children": {
            "dhcp_pair_pxe": {
                "hosts": {
                    "a": {"dhcp_failover_address": "192.0.2.11"},
                    "b": {"dhcp_failover_address": "192.0.2.12", "dhcpd_failover_port": 847},
                },
                "vars": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    "dhcpd_hba": HBA,
                    "dhcpd_auto_partner_down": 3600,
                    "dhcpd_omapi_secret": "c2VjcmV0c2VjcmV0c2VjcmV0",
                    "dhcpd_global_options": {"domain-name": '"example.net"'},
                    "dhcpd_subnets": [
                        {
                            "network": "192.0.2.0/25",
                            "routers": ["192.0.2.1"],
                            "next_server": "192.0.2.5",
                            "filename": "ipxe.efi",
                            "options": {"domain-name-servers": "192.0.2.1, 192.0.2.2"},
                            "pools": [{"range": ["192.0.2.100 192.0.2.110", "192.0.2.112 192.0.2.120"]}],
                            "reservations": [{"name": "pxe-01", "mac": "5254.0012.3456", "ip": "192.0.2.20"}],
                        },
                        {"network": "198.51.100.0/22", "pools": [{"range": "198.51.100.10 198.51.101.200"}]},
                    ],
                },
            }
        }
    }
}
PLAYBOOK = """
- hosts: dhcp_servers
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: netboot.dhcp_failover.dhcpd, tasks_from: preflight.yml}
    - ansible.builtin.copy: {content: "{{ __dhcpd_rendered }}", dest: "%s/{{ inventory_hostname }}.conf", mode: "0644"}
"""


def test_rich_definition_renders_configs_dhcpd_accepts(tmp_path):
    (tmp_path / "inventory.json").write_text(json.dumps(PAIR))
    (tmp_path / "render.yml").write_text(PLAYBOOK % tmp_path)
    run = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "inventory.json"), str(tmp_path / "render.yml")],
        capture_output=True, text=True, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    confs = {name: (tmp_path / f"{name}.conf").read_text() for name in ("a", "b")}

    primary, secondary = confs["a"], confs["b"]
    assert "  primary;\n  address 192.0.2.11;\n  port 647;\n  peer address 192.0.2.12;\n  peer port 847;" in primary
    assert "  secondary;\n  address 192.0.2.12;\n  port 847;\n  peer address 192.0.2.11;\n  peer port 647;" in secondary
    assert f"  hba {HBA[:-1]}01;" in primary and "hba" not in secondary
    for conf in confs.values():
        assert "auto-partner-down 3600;" in conf
        assert "subnet 192.0.2.0 netmask 255.255.255.128 {" in conf
        assert "subnet 198.51.100.0 netmask 255.255.252.0 {" in conf
        assert "  hardware ethernet 52:54:00:12:34:56;" in conf
        assert 'filename "ipxe.efi";' in conf and "next-server 192.0.2.5;" in conf

    server = testinfra.get_host(f"podman://{DHCP1}")
    key = 'key omapi_key { algorithm hmac-md5; secret "c2VjcmV0c2VjcmV0c2VjcmV0"; }'
    for name, conf in confs.items():
        text = conf.replace('include "/etc/dhcp/dhcpd-omapi.key";', f'include "/tmp/render-{name}.key";')
        server.run(f"cat > /tmp/render-{name}.key <<'EOF'\n{key}\nEOF")
        server.run(f"cat > /tmp/render-{name}.conf <<'EOF'\n{text}EOF")
        check = server.run(f"dhcpd -t -4 -cf /tmp/render-{name}.conf")
        assert check.rc == 0, f"{name}: {check.stderr}"
        assert "WARNING" not in check.stderr, check.stderr
