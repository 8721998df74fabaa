"""The decision filters as the operations playbooks call them: FQCN lookup and Jinja arguments."""

from test_filters_playbook import run_playbook, task_results

PLAYBOOK = """
- name: Decision filters from registered-looking results
  hosts: localhost
  gather_facts: false
  vars:
    normal: {local_state: normal, partner_state: normal, local_stos_epoch: 1000, mclt: 60,
             cur_unacked_updates: 0, max_unacked_updates: 10}
    p: "{{ {'host': 'a', 'role': 'primary', 'peer': 'b', 'read': {'failover': normal}, 'pgrep': {'rc': 0},
            'leases': {'free': 5, 'backup': 5}} | netboot.dhcp_failover.node_observation }}"
    s: "{{ {'host': 'b', 'role': 'secondary', 'peer': 'a', 'read': {'msg': 'connection refused'}, 'pgrep': {'rc': 1},
            'port': {'state': 'started'}} | netboot.dhcp_failover.node_observation }}"
  tasks:
    - name: Decide
      ansible.builtin.debug:
        msg:
          status: "{{ [p, s] | netboot.dhcp_failover.pair_verdict(now=2000) }}"
          recover: "{{ [p, s] | netboot.dhcp_failover.recover_plan(now=2000) }}"
          start: "{{ [p, s] | netboot.dhcp_failover.maintenance_plan('a', 'start', now=2000) }}"
          end: >-
            {{ [p, s] | netboot.dhcp_failover.maintenance_plan('b', 'end', now=2000, lease_stat={'exists': true}) }}
"""


def test_decision_filters_in_a_playbook(tmp_path):
    result = run_playbook(tmp_path, PLAYBOOK)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    [(status, _host, task)] = task_results(result.stdout)
    assert status == "ok"
    msg = task["msg"]
    assert (msg["status"]["verdict"], msg["status"]["node"]) == ("needs action", "b"), msg["status"]
    assert msg["status"]["why"].startswith("b does not answer (connection refused): start dhcpd there")
    # a is NORMAL (not stuck): recover has nothing to do, whatever b's state.
    assert msg["recover"]["action"] is None, msg["recover"]
    assert msg["start"]["action"] == "refuse", msg["start"]
    assert (msg["end"]["action"], msg["end"]["clean"]) == ("start", False), msg["end"]
