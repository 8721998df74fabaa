"""The collection used the way a datacenter project uses it: from its tarball, installed with
`ansible-galaxy collection install` into the project's own directory, run by the project's own
playbook and inventory against real hosts (the podman lab of lab/lab: nblab-dhcp1/2 and
nblab-client).

The project (written below, in a temporary directory) has its own ansible.cfg, its own inventory
layout (the pair is a group of its own name with group_vars/<pair>/ holding the pair definition
and a vault-encrypted OMAPI secret, opened with a vault password file), and a playbook that
imports netboot.dhcp_failover.site and then uses the collection's roles and module in its own
plays. Proven: the project's playbook deploys the pair, both peers report NORMAL over OMAPI with
the vault's key, a second run changes nothing, and the lab client gets a lease from the pair.

Needs root (rootful podman) and takes the lab's fixed container names, so it refuses to run while
a lab made by `make lab-up` is up rather than deploy over it.
"""

import base64
import json
import os
import re
import subprocess

import pytest

from conftest import GALAXY, MAIN_BIN, ROOT, must

# Lane a of `make pytest -n` (tests/molecule/test_scenarios.py): one podman run at a time there,
# beside the other lanes, which use other names and networks.
pytestmark = [pytest.mark.system, pytest.mark.xdist_group("molecule-a")]

PAIR = "pair_east"
LAB = ROOT / "lab" / "lab"
LAB_LABEL = "netboot.lab=lab"
LAB_CONF = ROOT / "lab" / "containers.conf"
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)

ANSIBLE_CFG = """\
[defaults]
inventory = inventory
collections_path = ./collections
vault_password_file = ./.vault-password
stdout_callback = default
nocolor = true
"""

HOSTS = """\
all:
  children:
    dhcp_servers:
      children:
        %(pair)s:
          hosts:
            nblab-dhcp1: {dhcp_failover_address: 198.18.10.11}
            nblab-dhcp2: {dhcp_failover_address: 198.18.10.12}
    lab_clients:
      hosts:
        nblab-client: {}
""" % {"pair": PAIR}

ALL_VARS = """\
ansible_connection: containers.podman.podman
ansible_python_interpreter: /usr/bin/python3
"""

PAIR_VARS = """\
# The pair definition (the collection's dhcpd_* variables); the secret comes from vault.yml.
# Our group names do not carry the collection's dhcp_pair_ prefix: the group is named here.
dhcpd_pair_group: %(pair)s
dhcpd_omapi_secret: "{{ vault_%(pair)s_omapi_secret }}"
chrony_pools: []
dhcpd_split: 128
dhcpd_mclt: 300
dhcpd_ping_check: false
dhcpd_default_lease_time: 600
dhcpd_max_lease_time: 1200
dhcpd_subnets:
  - network: 198.18.10.0/24
    routers: [198.18.10.1]
    pools:
      - range: 198.18.10.100 198.18.10.199
""" % {"pair": PAIR}

SITE = """\
- name: DHCP failover pairs, as the collection deploys them
  ansible.builtin.import_playbook: netboot.dhcp_failover.site

- name: Our time policy on the DHCP nodes, with the collection's chrony role
  hosts: %(pair)s
  gather_facts: false
  roles:
    - role: netboot.dhcp_failover.chrony
      vars:
        chrony_peers: ["{{ dhcpd_pair_info.peer_address }}"]

- name: Our monitoring check of the pair, with the collection's role and module
  hosts: %(pair)s
  gather_facts: false
  tasks:
    - name: Report the pair (the dhcpd role's status tasks)
      ansible.builtin.include_role:
        name: netboot.dhcp_failover.dhcpd
        tasks_from: status.yml

    - name: Read the failover state over OMAPI with the key from our vault
      netboot.dhcp_failover.failover_info:
        name: "{{ dhcpd_pair_info.peer_name }}"
        port: "{{ dhcpd_pair_info.omapi_port }}"
        key_name: "{{ dhcpd_pair_info.omapi_key_name }}"
        key: "{{ vault_%(pair)s_omapi_secret }}"
      register: outside_failover

    - name: Print the states for the test to read
      ansible.builtin.debug:
        msg: "outside-state {{ inventory_hostname }} {{ outside_failover.failover.local_state }}
          {{ outside_failover.failover.partner_state }}"
""" % {"pair": PAIR}

CLIENT = """\
- name: A client of the pair gets a lease
  hosts: lab_clients
  gather_facts: false
  tasks:
    - name: Install a DHCP client
      ansible.builtin.apt:
        name: isc-dhcp-client
        state: present

    - name: Ask for a lease (-sf /bin/true keeps the client's fixed lab address)
      ansible.builtin.shell: |
        set -e
        rm -f /tmp/outside.leases
        timeout 60 dhclient -4 -v -1 -sf /bin/true -lf /tmp/outside.leases -pf /tmp/outside.pid eth0 2>&1
        dhclient -x -pf /tmp/outside.pid >/dev/null 2>&1 || true
      args:
        executable: /bin/bash
      register: outside_dhclient
      changed_when: true

    - name: Print the answer for the test to read
      ansible.builtin.debug:
        msg: "{{ outside_dhclient.stdout_lines | select('search', 'DHCPACK') | list }}"
"""


def lab_containers(env):
    listed = subprocess.run(["podman", "ps", "-a", "--filter", "label=" + LAB_LABEL, "--format", "{{.Names}}"],
                            env=env, capture_output=True, text=True, check=True)
    return listed.stdout.split()


def write_project(project, secret, vault_password):
    files = {
        "ansible.cfg": ANSIBLE_CFG,
        "inventory/hosts.yml": HOSTS,
        "inventory/group_vars/all.yml": ALL_VARS,
        "inventory/group_vars/%s/pair.yml" % PAIR: PAIR_VARS,
        "inventory/group_vars/%s/vault.yml" % PAIR: "vault_%s_omapi_secret: %s\n" % (PAIR, secret),
        "site.yml": SITE,
        "client.yml": CLIENT,
    }
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n" + text if name.endswith(".yml") else text)
    password = project / ".vault-password"
    password.write_text(vault_password + "\n")
    password.chmod(0o600)


def run(argv, project, env):
    """A command in the project directory, with the environment as given (no ANSIBLE_* from ours)."""
    return subprocess.run([str(a) for a in argv], cwd=project, env=env, capture_output=True, text=True,
                          check=False, timeout=1800)


def playbook(project, env, name):
    proc = run([MAIN_BIN / "ansible-playbook", name], project, env)
    assert proc.returncode == 0, "ansible-playbook %s failed (%d):\n%s" % (
        name, proc.returncode, "\n".join((proc.stdout + proc.stderr).splitlines()[-80:]))
    recap = {host: (int(changed), int(unreachable), int(failed))
             for host, changed, unreachable, failed in RECAP_RE.findall(proc.stdout)}
    return proc.stdout, recap


@pytest.fixture
def lab_hosts():
    """The lab's three hosts (lab/lab up), removed afterwards (lab/lab down)."""
    if os.geteuid() != 0:
        pytest.fail("the lab hosts need root (rootful podman): run `make pytest` as root")
    env = dict(os.environ, CONTAINERS_CONF=str(LAB_CONF), PATH="%s%s%s" % (MAIN_BIN, os.pathsep, os.environ["PATH"]))
    existing = lab_containers(env)
    if existing:
        pytest.fail("lab containers %s exist (a lab from `make lab-up`?): this test deploys its own lab hosts "
                    "and removes them; run `make lab-down` first" % ", ".join(existing))
    try:
        must(subprocess.run([str(LAB), "up"], env=env, capture_output=True, text=True, check=False, timeout=900))
        yield env
    finally:
        subprocess.run([str(LAB), "down"], env=env, capture_output=True, text=True, check=False, timeout=300)


def test_a_project_installs_the_tarball_and_deploys_a_pair_with_its_own_playbook(tmp_path, tarball, lab_hosts):
    project = tmp_path / "datacenter"
    secret = base64.b64encode(os.urandom(32)).decode()
    write_project(project, secret, base64.b64encode(os.urandom(24)).decode())
    env = {key: value for key, value in lab_hosts.items() if not key.startswith("ANSIBLE_")}
    env["ANSIBLE_NOCOLOR"] = "1"

    vault = project / "inventory" / "group_vars" / PAIR / "vault.yml"
    must(run([MAIN_BIN / "ansible-vault", "encrypt", vault], project, env))
    assert vault.read_text().startswith("$ANSIBLE_VAULT;") and secret not in vault.read_text()

    must(run([MAIN_BIN / "ansible-galaxy", "collection", "install", "--offline", tarball], project, env))
    # The project's copy and nothing else: not this checkout, not build/ (ANSIBLE_* are unset).
    listed = json.loads(must(run([MAIN_BIN / "ansible-galaxy", "collection", "list", "--format", "json",
                                  "%s.%s" % (GALAXY["namespace"], GALAXY["name"])], project, env)).stdout)
    assert list(listed) == [str(project / "collections" / "ansible_collections")], listed
    assert listed[str(project / "collections" / "ansible_collections")][
        "%s.%s" % (GALAXY["namespace"], GALAXY["name"])]["version"] == GALAXY["version"]

    first, recap = playbook(project, env, "site.yml")
    assert set(recap) == {"nblab-dhcp1", "nblab-dhcp2"} and all(r[1:] == (0, 0) for r in recap.values()), recap
    assert all(r[0] > 0 for r in recap.values()), recap
    states = dict((host, rest) for host, rest in re.findall(r'"msg": "outside-state (\S+) (\S+ \S+)"', first))
    assert states == {"nblab-dhcp1": "normal normal", "nblab-dhcp2": "normal normal"}, first[-3000:]
    # The secret dhcpd uses is the vault's, and the run never printed it.
    key_file = subprocess.run(["podman", "exec", "nblab-dhcp1", "grep", "-rl", secret, "/etc/dhcp"],
                              env=env, capture_output=True, text=True, check=False)
    assert key_file.returncode == 0 and key_file.stdout.strip(), key_file
    assert secret not in first

    second, recap = playbook(project, env, "site.yml")
    assert recap and all(r == (0, 0, 0) for r in recap.values()), (recap, second[-3000:])

    answer, _recap = playbook(project, env, "client.yml")
    assert re.search(r"DHCPACK of 198\.18\.10\.1\d\d from 198\.18\.10\.1[12]", answer), answer[-3000:]
