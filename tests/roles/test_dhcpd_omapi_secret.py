"""The dhcpd role's preflight facts and its OMAPI secret decision (tasks/secret.yml).

Runs the role's preflight and secret entry points through ansible-playbook with a two-node pair
whose "nodes" are this machine (local connection). Each node's key file is its own file in the
test directory (``__dhcpd_key_file``, templated per host from the extra variables), so the
tests choose what the nodes hold: nothing (a new pair), the same key, different keys. Nothing is
kept on the controller: a run in a new directory finds the key the nodes hold.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys

import collection_path

PLAYBOOK = """\
- name: Preflight and secret
  hosts: dhcp_servers
  gather_facts: false
  tasks:
    - name: Preflight
      ansible.builtin.include_role:
        name: netboot.dhcp_failover.dhcpd
        tasks_from: preflight.yml
    - name: Secret
      ansible.builtin.include_role:
        name: netboot.dhcp_failover.dhcpd
        tasks_from: secret.yml
    - name: Show the published facts
      ansible.builtin.debug:
        msg: "{{ dhcpd_pair_info | combine({'key_sha256': dhcpd_omapi_secret_in_use | hash('sha256')}) }}"
"""
KEY = "{{ playbook_dir }}/{{ inventory_hostname }}.key"
A = base64.b64encode(b"a" * 32).decode()
B = base64.b64encode(b"b" * 32).decode()


def key_text(secret):
    return 'key omapi_key {\n  algorithm hmac-md5;\n  secret "%s";\n}\n' % secret


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


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


def run(directory, *extra, ok=True):
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=collection_path.ROOT,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_HOME=str(directory / "home"),
        ANSIBLE_LOCAL_TEMP=str(directory / "tmp"),
    )
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inventory.json", "site.yml",
            "-e", "__dhcpd_key_file=" + KEY]
    proc = subprocess.run(
        [*argv, *extra], cwd=directory, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert (proc.returncode == 0) == ok, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout + proc.stderr, json.loads(proc.stdout)


def task_hosts(parsed, name):
    """{host: result} of the task called name (role tasks are shown as "ROLE : name")."""
    tasks = [task for play in parsed["plays"] for task in play["tasks"]]
    return next(task["hosts"] for task in tasks if task["task"]["name"].split(" : ")[-1] == name)


def facts(parsed):
    return {host: result["msg"] for host, result in task_hosts(parsed, "Show the published facts").items()}


def test_check_mode_on_a_new_pair_uses_a_stand_in_and_says_so(tmp_path):
    write_inventory(tmp_path)

    _out, parsed = run(tmp_path, "--check")

    said = task_hosts(parsed, "Say that check mode did not generate the OMAPI secret")
    assert all("has no OMAPI secret yet; a real run generates one" in said[h]["msg"] for h in ("node1", "node2"))
    assert list(tmp_path.glob("*.key")) == [] and not (tmp_path / ".dhcpd-omapi").exists()


def test_a_new_pair_gets_one_new_secret_for_both_nodes_and_never_shows_it(tmp_path):
    write_inventory(tmp_path)

    _out, parsed = run(tmp_path)
    found = facts(parsed)

    assert found["node1"]["key_sha256"] == found["node2"]["key_sha256"]
    # Nothing is written on the controller: the role writes the key file on the nodes later.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "inventory.json", "site.yml", "tmp"]
    for task in ("Note the secret given for the pair and propose a new one in case it has none",
                 "Decide the pair's OMAPI secret", "Publish the OMAPI secret in use"):
        assert all("censored" in json.dumps(result) for result in task_hosts(parsed, task).values()), task


def test_the_key_the_nodes_hold_is_kept_in_any_directory_and_in_check_mode(tmp_path):
    for directory in (tmp_path / "one", tmp_path / "two"):
        directory.mkdir()
        write_inventory(directory)
        for host in ("node1", "node2"):
            (directory / (host + ".key")).write_text(key_text(A))
        out, parsed = run(directory)
        check_out, check = run(directory, "--check")
        for result in (parsed, check):
            assert {h: f["key_sha256"] for h, f in facts(result).items()} == {"node1": sha(A), "node2": sha(A)}
        assert A not in out + check_out


def test_the_key_of_the_one_node_that_holds_one_is_used(tmp_path):
    write_inventory(tmp_path)
    (tmp_path / "node2.key").write_text(key_text(B))

    _out, parsed = run(tmp_path)

    assert {h: f["key_sha256"] for h, f in facts(parsed).items()} == {"node1": sha(B), "node2": sha(B)}


def test_different_keys_on_the_nodes_are_refused_naming_both(tmp_path):
    write_inventory(tmp_path)
    (tmp_path / "node1.key").write_text(key_text(A))
    (tmp_path / "node2.key").write_text(key_text(B))

    out, _parsed = run(tmp_path, ok=False)

    assert "node1 and node2 hold different OMAPI secrets" in out and "set dhcpd_omapi_secret to the one to keep" in out
    assert A not in out and B not in out


def test_the_variable_wins_over_the_keys_the_nodes_hold(tmp_path):
    write_inventory(tmp_path)
    (tmp_path / "node1.key").write_text(key_text(A))
    (tmp_path / "node2.key").write_text(key_text(B))

    out, parsed = run(tmp_path, "-e", json.dumps({"dhcpd_omapi_secret": A}))

    assert {h: f["key_sha256"] for h, f in facts(parsed).items()} == {"node1": sha(A), "node2": sha(A)}
    assert A not in out


def test_preflight_publishes_the_pair_and_the_secret_in_use(tmp_path):
    write_inventory(tmp_path)
    (tmp_path / "node1.key").write_text(key_text(A))

    _out, parsed = run(tmp_path)
    one, two = facts(parsed)["node1"], facts(parsed)["node2"]

    # The lower address is the primary when none is named.
    assert (one["role"], two["role"]) == ("primary", "secondary")
    assert (one["peer_host"], two["peer_host"]) == ("node2", "node1")
    assert (one["failover_port"], one["peer_failover_port"]) == (647, 847)
    assert (two["failover_port"], two["peer_failover_port"]) == (847, 647)
    assert one["peer_name"] == two["peer_name"] == "dhcp_pair_t"
    assert one["service"] == "isc-dhcp-server"
    assert one["key_sha256"] == two["key_sha256"] == sha(A)
