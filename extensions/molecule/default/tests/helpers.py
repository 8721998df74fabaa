"""Shared by the scenario's tests: run Ansible against the molecule inventory."""

import json
import os
import subprocess
from pathlib import Path

PAIR = "dhcp_pair_molecule"
SERVERS = {"mol-dhcp1": "198.18.20.11", "mol-dhcp2": "198.18.20.12"}
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"])
# Where the dhcpd role keeps the generated per-pair OMAPI secret: <inventory_dir>/.dhcpd-omapi/.
SECRET_FILE = INVENTORY.parent / ".dhcpd-omapi" / f"{PAIR}.secret"


def ansible(*args, check=True):
    proc = subprocess.run(
        ["ansible", *args], capture_output=True, text=True, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1")
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def playbook(*args):
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), *args],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )


def failover_info(server):
    """The failover_info module's `failover` result for one server, read on that server."""
    # The secret is read by a lookup inside Ansible: it never appears on a command line.
    proc = ansible(
        server,
        "-i",
        str(INVENTORY),
        "-o",
        "-m",
        "netboot.dhcp_failover.failover_info",
        "-a",
        f"name={PAIR} key_name=omapi_key key={{{{ lookup('ansible.builtin.file', '{SECRET_FILE}') }}}}",
    )
    result = json.loads(proc.stdout.split("=>", 1)[1])
    return result["failover"]


def lb_peers(macs, split_or_hba):
    """What netboot.dhcp_failover.lb_peer predicts for each client, in one Ansible run."""
    proc = ansible(
        "localhost",
        "-o",
        "-m",
        "ansible.builtin.debug",
        "-a",
        f"msg={{{{ {json.dumps(list(macs))} | map('netboot.dhcp_failover.lb_peer', '{split_or_hba}') | list }}}}",
    )
    return json.loads(proc.stdout.split("=>", 1)[1])["msg"]


def lb_peer(mac, split_or_hba):
    return lb_peers([mac], split_or_hba)[0]
