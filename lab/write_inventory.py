"""Writes the lab inventories (called by lab/lab up): STATE/inventory.yml (podman exec) and, with
--ssh, STATE/inventory-ssh.yml (the same hosts over SSH, as users run them).

    python3 lab/write_inventory.py STATE PAIRS SSH_KEY|- HOST=ADDRESS...

Pair 1 (dhcp_pair_lab) takes its definition from lab/inventory/group_vars/dhcp_pair_lab.yml, a
second inventory source; pairs 2..N (dhcp_pair_labK) copy it here with a pool slice of their own,
so no two pairs hand out the same address on the shared lab bridge.
"""

import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SSH_OPTIONS = (
    "-o ControlMaster=auto -o ControlPersist=60s -o StrictHostKeyChecking=no"
    " -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
)


def groups(pairs, address):
    with open(os.path.join(HERE, "inventory", "group_vars", "dhcp_pair_lab.yml"), encoding="utf-8") as handle:
        base = yaml.safe_load(handle)
    first_pair = ("nblab-dhcp1", "nblab-dhcp2")
    result = {"dhcp_pair_lab": {"hosts": {h: {"dhcp_failover_address": address[h]} for h in first_pair}}}
    for k in range(2, pairs + 1):
        # Pair 1 serves .100-.199; the others six addresses each from .200 (8 pairs: up to .241).
        first = 200 + 6 * (k - 2)
        subnet = dict(base["dhcpd_subnets"][0], pools=[{"range": "198.18.10.%d 198.18.10.%d" % (first, first + 5)}])
        result["dhcp_pair_lab%d" % k] = {
            "hosts": {h: {"dhcp_failover_address": address[h]} for h in ("nblab-p%d-dhcp1" % k, "nblab-p%d-dhcp2" % k)},
            "vars": dict(base, dhcpd_subnets=[subnet]),
        }
    return result


def write(path, header, data):
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(header)
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)
    os.replace(path + ".tmp", path)


def main(state, pairs, key, *hosts):
    address = dict(item.split("=", 1) for item in hosts)
    pair_groups = groups(int(pairs), address)

    def inventory(connection, client):
        return {"all": {"vars": connection, "children": {
            "dhcp_servers": {"children": pair_groups},
            "dhcp_clients": {"hosts": {"nblab-client": client}}}}}

    write(os.path.join(state, "inventory.yml"),
          "---\n# Written by lab/lab up, removed by lab/lab down. Use with:\n"
          "#   ansible-playbook -i lab/.state/inventory.yml -i lab/inventory PLAYBOOK\n"
          "# (with CONTAINERS_CONF=lab/containers.conf exported, as the Makefile does).\n",
          inventory({"ansible_connection": "containers.podman.podman",
                     "ansible_python_interpreter": "/usr/bin/python3"}, {}))
    if key == "-":
        return
    for group in pair_groups.values():
        for host, values in group["hosts"].items():
            values["ansible_host"] = address[host]
    write(os.path.join(state, "inventory-ssh.yml"),
          "---\n# Written by lab/lab up --ssh: the same hosts over SSH as root with the lab's key,\n"
          "# pipelining and ControlPersist on (what the README recommends to users).\n",
          inventory({"ansible_connection": "ansible.builtin.ssh", "ansible_user": "root",
                     "ansible_python_interpreter": "/usr/bin/python3",
                     "ansible_ssh_private_key_file": key, "ansible_ssh_common_args": SSH_OPTIONS,
                     "ansible_ssh_pipelining": True}, {"ansible_host": address["nblab-client"]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
