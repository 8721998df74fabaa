"""The dhcpd role's preflight facts and generated OMAPI secret.

Runs the role's preflight (controller only; it contacts no host) through ansible-playbook with
a two-node pair that has no dhcpd_omapi_secret, so the secret is generated into
<inventory dir>/.dhcpd-omapi/<group>.secret: check mode must not create it, a real run must,
and the published facts (dhcpd_pair_info, dhcpd_omapi_secret_in_use) describe that pair.
"""

import hashlib

import json
import os
import stat
import subprocess
import sys

import collection_path

PLAYBOOK = """\
- name: Preflight only
  hosts: dhcp_servers
  gather_facts: false
  tasks:
    - name: Preflight
      ansible.builtin.include_role:
        name: netboot.dhcp_failover.dhcpd
        tasks_from: preflight.yml
    - name: Show the published facts
      ansible.builtin.debug:
        msg: "{{ dhcpd_pair_info | combine({'key_sha256': dhcpd_omapi_secret_in_use | hash('sha256')}) }}"
"""


def write_inventory(directory):
    hosts = {
        name: {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "dhcp_failover_address": address,
        }
        for name, address in (("node1", "198.18.100.1"), ("node2", "198.18.100.2"))
    }
    hosts["node2"]["dhcpd_failover_port"] = 847
    inventory = {
        "all": {
            "children": {
                "dhcp_servers": {
                    "children": {
                        "dhcp_pair_t": {
                            "hosts": hosts,
                            "vars": {
                                "dhcpd_subnets": [
                                    {
                                        "network": "198.18.100.0/24",
                                        "pools": [{"range": "198.18.100.100 198.18.100.199"}],
                                    }
                                ]
                            },
                        }
                    }
                }
            }
        }
    }
    path = directory / "inventory.json"
    path.write_text(json.dumps(inventory))
    (directory / "site.yml").write_text(PLAYBOOK)
    return path


def run(directory, *extra):
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=collection_path.ROOT,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_HOME=str(directory / "home"),
        ANSIBLE_LOCAL_TEMP=str(directory / "tmp"),
    )
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inventory.json", "site.yml"]
    proc = subprocess.run(
        [*argv, *extra], cwd=directory, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout, json.loads(proc.stdout)


def task_hosts(parsed, name):
    """{host: result} of the task called name (role tasks are shown as "ROLE : name")."""
    tasks = [task for play in parsed["plays"] for task in play["tasks"]]
    return next(task["hosts"] for task in tasks if task["task"]["name"].split(" : ")[-1] == name)


def test_check_mode_does_not_create_the_secret_file_and_says_so(tmp_path):
    write_inventory(tmp_path)
    secret_file = tmp_path / ".dhcpd-omapi" / "dhcp_pair_t.secret"

    _out, parsed = run(tmp_path, "--check")

    assert not secret_file.exists()
    said = task_hosts(parsed, "Say that check mode did not generate the OMAPI secret")
    assert len(said) == 1  # run_once
    assert "the OMAPI secret file %s does not exist yet" % secret_file in next(iter(said.values()))["msg"]


def test_a_real_run_generates_one_owner_only_secret_for_the_pair(tmp_path):
    write_inventory(tmp_path)
    secret_file = tmp_path / ".dhcpd-omapi" / "dhcp_pair_t.secret"

    out, parsed = run(tmp_path)
    first = secret_file.read_text().strip()
    run(tmp_path)
    check_out, check_parsed = run(tmp_path, "--check")

    assert len(first) == 44
    assert secret_file.read_text().strip() == first, "a second run must reuse the secret, not regenerate it"
    assert stat.S_IMODE(secret_file.stat().st_mode) & 0o077 == 0
    assert first not in out + check_out
    assert "does not exist yet" not in check_out
    assert task_hosts(check_parsed, "Say that check mode did not generate the OMAPI secret")["node1"]["skipped"]


def test_preflight_publishes_the_pair_and_the_secret_in_use(tmp_path):
    write_inventory(tmp_path)

    _out, parsed = run(tmp_path)
    facts = {host: result["msg"] for host, result in task_hosts(parsed, "Show the published facts").items()}
    secret = (tmp_path / ".dhcpd-omapi" / "dhcp_pair_t.secret").read_text().strip()

    one, two = facts["node1"], facts["node2"]
    # The lower address is the primary when none is named.
    assert (one["role"], two["role"]) == ("primary", "secondary")
    assert (one["peer_host"], two["peer_host"]) == ("node2", "node1")
    assert (one["failover_port"], one["peer_failover_port"]) == (647, 847)
    assert (two["failover_port"], two["peer_failover_port"]) == (847, 647)
    assert one["peer_name"] == two["peer_name"] == "dhcp_pair_t"
    assert one["service"] == "isc-dhcp-server"
    assert one["key_sha256"] == two["key_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
