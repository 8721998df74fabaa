"""Run the pxe role's task files (tests/pxelab/render.yml) for a two-server lab pair."""

import json
import os
import subprocess
import sys
from pathlib import Path

from . import artifacts

HERE = Path(__file__).resolve().parent
COLLECTIONS = artifacts.REPO / "build" / "pytest-collections"


class RenderError(RuntimeError):
    """ansible-playbook failed; the message holds the tail of its output."""


def playbook(inventory, playbook_path=HERE / "render.yml"):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(playbook_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def render(workdir, servers, pxe_vars, host_vars=None):
    """servers: {name: address}; host_vars: {name: {variable: value}} for single servers.

    Returns {name: (tree Path, dhcpd statements str)}."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    hosts = {}
    for name, address in servers.items():
        hosts[name] = {
            "dhcp_failover_address": address,
            "pxe_root": str(workdir / name / "tree"),
            "pxe_dhcpd_file": str(workdir / name / "dhcpd-pxe.conf"),
        }
        hosts[name].update((host_vars or {}).get(name, {}))
    shared = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    shared.update(pxe_vars)
    inventory = workdir / "inventory.json"
    inventory.write_text(json.dumps({"pxe_test_servers": {"hosts": hosts, "vars": shared}}, indent=1))
    proc = playbook(inventory)
    if proc.returncode != 0:
        raise RenderError("render.yml failed (rc=%d):\n%s" % (proc.returncode, (proc.stdout + proc.stderr)[-4000:]))
    return {name: (Path(host["pxe_root"]), Path(host["pxe_dhcpd_file"]).read_text()) for name, host in hosts.items()}


def kea_settings(trees):
    """{name: the pxe settings the kea role gets (kea_pxe_settings)} of render()'s result."""
    return {name: json.loads((tree.parent / "kea-pxe.json").read_text()) for name, (tree, _conf) in trees.items()}
