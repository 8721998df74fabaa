"""Shared by the scenario's tests: run Ansible against the molecule inventory."""

import base64
import json
import os
import re
import subprocess
from pathlib import Path

PAIR = "dhcp_pair_molecule"
# The slot the scenario runs in (../../config.yml): host-name prefix and the /24 of its network.
PREFIX = os.environ.get("NETBOOT_MOL_PREFIX", "mol")
NET = "198.18.%s" % os.environ.get("NETBOOT_MOL_NET", "20")
DHCP1, DHCP2, CLIENT = f"{PREFIX}-dhcp1", f"{PREFIX}-dhcp2", f"{PREFIX}-client"
SERVERS = {DHCP1: f"{NET}.11", DHCP2: f"{NET}.12"}
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"])
KEY_FILE = "/etc/dhcp/dhcpd-omapi.key"
# The role keeps the secret only in the nodes' key files; the tests copy it once into an
# owner-only file of their own, read by a lookup inside Ansible (never on a command line).
SECRET_FILE = INVENTORY.parent / "test-omapi.secret"
_SECRET_READ = []


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


def secret_file():
    """SECRET_FILE, filled from DHCP1's key file the first time this test run needs it."""
    if not _SECRET_READ:
        proc = ansible(DHCP1, "-i", str(INVENTORY), "-o", "-m", "ansible.builtin.slurp", "-a", f"src={KEY_FILE}")
        text = base64.b64decode(json.loads(proc.stdout.split("=>", 1)[1])["content"]).decode()
        secret = re.search(r'secret "([^"]+)"', text).group(1)
        SECRET_FILE.unlink(missing_ok=True)
        SECRET_FILE.touch(mode=0o600)
        SECRET_FILE.write_text(secret)
        _SECRET_READ.append(True)
    return SECRET_FILE


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
        f"name={PAIR} key_name=omapi_key key={{{{ lookup('ansible.builtin.file', '{secret_file()}') }}}}",
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
