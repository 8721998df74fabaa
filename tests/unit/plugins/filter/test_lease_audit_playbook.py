"""lease_audit as audit.yml calls it: FQCN lookup, a real lease_info result, Jinja arguments."""

import os

from test_filters_playbook import run_playbook, task_results

PLAYBOOK = """
- name: lease_audit on lease_info results of two files written by a real pair
  hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Read the primary's file
      netboot.dhcp_failover.lease_info:
        path: "%(dir)s/normal-primary.leases"
        records: true
      register: primary

    - name: Read the secondary's file
      netboot.dhcp_failover.lease_info:
        path: "%(dir)s/normal-secondary.leases"
        records: true
      register: secondary

    - name: Compare
      vars:
        subnets:
          - network: 198.18.100.0/24
            pools: [{failover: true, ranges: ["198.18.100.100 198.18.100.199"]}]
      ansible.builtin.debug:
        msg: >-
          {{ {'primary': {'host': 'p', 'leases': primary},
              'secondary': {'host': 's', 'leases': secondary}}
             | netboot.dhcp_failover.lease_audit(settle=30, fail_on='conflicts', pools=subnets) }}
"""


def test_lease_audit_in_a_playbook(tmp_path):
    fixtures = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils", "fixtures",
                            "leases")
    result = run_playbook(tmp_path, PLAYBOOK % {"dir": fixtures})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    msg = task_results(result.stdout)[-1][2]["msg"]  # the debug task, the last one
    # Read now, long after the recording: every lease has ended (record.py: 3 clients still held one,
    # one declined address is abandoned: 4 "other" addresses), and the peers agree on the rest.
    assert (msg["verdict"], msg["fail"], msg["counts"]["addresses"]) == ("clean", None, 100), msg["findings"]
    assert msg["pools"][0]["primary"]["active"] == 0 and msg["pools"][0]["primary"]["other"] == 4, msg["pools"]
    assert msg["hosts"] == {"primary": "p", "secondary": "s"} and msg["states"]["primary"] == {"pair": "normal"}
