"""The filters as a playbook uses them: FQCN lookup, Jinja argument passing, error reporting."""

import json
import os
import re
import subprocess
import sys

import collection_path
import pytest

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

PLAYBOOK = """
- name: Load-balancing filters on the FAILOVER-FACTS vectors
  hosts: localhost
  gather_facts: false
  vars:
    hba_128: "{{ 128 | netboot.dhcp_failover.split_to_hba }}"
  tasks:
    - name: Vectors measured on dhcpd 4.4.3-P1 (split 128)
      ansible.builtin.assert:
        that:
          - "'00:00:00:00:00:01' | netboot.dhcp_failover.lb_hash == 153"
          - "'00:00:00:00:00:01' | netboot.dhcp_failover.lb_peer(128) == 'secondary'"
          - "'AA-BB-CC-DD-EE-FF' | netboot.dhcp_failover.lb_hash == 57"
          - "'aabb.ccdd.eeff' | netboot.dhcp_failover.lb_peer(hba_128) == 'primary'"
          - "'00:00:00:00:00:01' | netboot.dhcp_failover.lb_hash(client_id='01:aa:bb:cc:dd:ee:ff') == 102"
          - "none | netboot.dhcp_failover.lb_peer('128', client_id='01:aa:bb:cc:dd:ee:ff') == 'primary'"
          - "hba_128 | netboot.dhcp_failover.hba_to_split == 128"
          - "(['55'] * 32) | join(':') | netboot.dhcp_failover.hba_to_split is none"
          - "'30%' | netboot.dhcp_failover.share_to_split == 77"
          - "77 | netboot.dhcp_failover.split_to_share == 30.078125"
          - "['00:00:00:00:00:01', 'aa:bb:cc:dd:ee:ff'] | map('netboot.dhcp_failover.lb_peer', 128) | list
             == ['secondary', 'primary']"

    - name: Subnet validation in a play
      ansible.builtin.assert:
        that:
          - "good | netboot.dhcp_failover.subnet_errors(server_addresses=['198.18.10.2']) == []"
          - "bad | netboot.dhcp_failover.subnet_errors == [expected]"
      vars:
        good: [{network: 198.18.10.0/24, pools: [{range: 198.18.10.100 198.18.10.199}]}]
        bad: [{network: 198.18.10.0/24, pools: [{range: 198.18.10.200 198.18.10.100}]}]
        expected: >-
          dhcpd_subnets[0].pools[0].range: '198.18.10.200 198.18.10.100' starts after it ends
          (198.18.10.200 > 198.18.10.100)
"""

FAILING = """
- name: A bad MAC stops the play with a message naming it
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Bad input
      ansible.builtin.debug:
        msg: "{{ 'aa:bb:cc:dd:ee:zz' | netboot.dhcp_failover.lb_peer(128) }}"
"""


# ansible-core's default callback printing results as JSON: the same on every ansible-core of the
# matrix (the json stdout callback is ansible.posix's, which only the `ansible` package brings).
RESULT_LINE = re.compile(r"^(?P<status>ok|changed|fatal|skipping): \[(?P<host>[^\]]+)\](?:: FAILED!)? => ",
                         re.MULTILINE)
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+: (?P<counts>(?:[a-z]+=\d+\s*)+)$", re.MULTILINE)


def task_results(stdout):
    """[(status, host, result)] in the order the tasks ran."""
    decoder = json.JSONDecoder()
    return [(m["status"], m["host"], decoder.raw_decode(stdout, m.end())[0]) for m in RESULT_LINE.finditer(stdout)]


def recap(stdout):
    """{host: {"ok": n, "failed": n, ...}} from the PLAY RECAP."""
    return {m["host"]: {k: int(v) for k, v in (pair.split("=") for pair in m["counts"].split())}
            for m in RECAP_LINE.finditer(stdout)}


def run_playbook(tmp_path, text):
    collection_path.ensure()
    path = tmp_path / "play.yml"
    path.write_text(text)
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=collection_path.ROOT,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_DISPLAY_OK_HOSTS="true",
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(path)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("play")


def test_filters_in_a_playbook(module_tmp):
    result = run_playbook(module_tmp, PLAYBOOK)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    stats = recap(result.stdout)["localhost"]
    assert stats["ok"] == 2
    assert stats["failed"] == 0


def test_bad_input_fails_the_task_naming_the_value(module_tmp):
    result = run_playbook(module_tmp, FAILING)
    assert result.returncode == 2, result.stdout[-4000:] + result.stderr[-2000:]
    [(status, host, task)] = task_results(result.stdout)
    assert (status, host) == ("fatal", "localhost")
    assert "netboot.dhcp_failover.lb_peer: invalid MAC address 'aa:bb:cc:dd:ee:zz'" in task["msg"]
