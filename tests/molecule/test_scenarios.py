"""Runs every molecule scenario of the collection inside the one `pytest tests` run.

Each scenario is one test: `molecule test -s NAME`, failing with the tail of
molecule's output. The session fixture builds (or reuses) the lab image and
creates the molecule network the scenarios attach their hosts to.
"""

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import collection_path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "extensions" / "molecule"
TAIL_LINES = 120
# A hang guard, not a speed target: a scenario takes 3-18 min alone and up to 3x that while every
# lane and the ansible-core matrix share the 2 cores (pxe on Debian 13 with its role runs passed
# 30 min there). A stuck one must not hang CI for ever.
TIMEOUT = 2700


# Scenarios whose pair runs one Debian release, once per listed release (the pxe scenario: a PXE
# pair must serve identical boot loaders, which differ between releases). The others run a mixed
# pair (extensions/molecule/config.yml) or their own platforms.
PER_SUITE = {"pxe": ("bookworm", "trixie")}
# The default scenario runs again on every other ansible-core of the matrix
# (requirements/core-2.NN.txt; `make core-venvs` builds their venvs).
CORE_SCENARIOS = ("default",)
CORES = sorted(p.stem.removeprefix("core-") for p in (ROOT / "requirements").glob("core-2.*.txt"))

# Two slots of the base config (extensions/molecule/config.yml), each its own host names, bridge
# and /24, so that `make pytest -n` can run one scenario in each at once. The scenarios with
# their own platforms (maintenance, metrics, hosts, single_node) share slot a's bridge and pools,
# so they stay in lane a. kea (slot c) and pxe (slot p) have networks of their own.
SLOTS = {
    "a": {"NETBOOT_MOL_PREFIX": "mol", "NETBOOT_MOL_NET": "20", "NETBOOT_MOL_NETWORK": "netboot-molecule"},
    "b": {"NETBOOT_MOL_PREFIX": "molb", "NETBOOT_MOL_NET": "30", "NETBOOT_MOL_NETWORK": "netboot-molecule-b"},
    "c": {"NETBOOT_MOL_PREFIX": "molc", "NETBOOT_MOL_NET": "24", "NETBOOT_MOL_NETWORK": "netboot-kea"},
    # pxe names its own hosts and network (extensions/molecule/pxe/molecule.yml): only the network
    # is the slot's, so that no other lane's network is remade under a scenario starting there.
    "p": {"NETBOOT_MOL_NETWORK": "netboot-pxe"},
}
SLOT_OF = {"kea": "c", "pxe": "p"}
# Lanes (xdist groups, one run at a time each; `make pytest` has a worker per lane), balanced by
# time: the scenarios on slot a's bridge in lane a; the matrix runs of default and kea in lane b;
# pxe, twice (Debian 12 and 13, the same host names and network), in lane c.
LANE_OF = {"kea": "b", "pxe": "c"}


def discover():
    return sorted(p.parent.relative_to(SCENARIOS).as_posix() for p in SCENARIOS.glob("**/molecule.yml"))


def runs():
    """(scenario, suite, core, slot) per run; the xdist group is the lane (one run at a time)."""
    found = []
    for name in discover():
        for suite in PER_SUITE.get(name, (None,)):
            slot = SLOT_OF.get(name, "b" if suite else "a")
            found.append((name, suite, None, slot, LANE_OF.get(name, "a"), f"{name}-{suite}" if suite else name))
        if name in CORE_SCENARIOS:
            found += [(name, None, core, "b", "b", f"{name}-ansible-core-{core}") for core in CORES]
    return [
        pytest.param(name, suite, core, slot, id=ident, marks=pytest.mark.xdist_group(f"molecule-{lane}"))
        for name, suite, core, slot, lane, ident in found
    ]


def _tail(text, lines=TAIL_LINES):
    return "\n".join(text.splitlines()[-lines:])


def _run(args, env):
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
    return proc.stdout


def _podman_collections():
    """A collections path holding only containers.podman, the molecule driver's, from the main venv.

    The matrix venvs have ansible-core alone; the `ansible` package of requirements/dev.txt pins
    the collection for every leg.
    """
    from ansible_collections.containers import podman  # noqa: PLC0415

    root = ROOT / "build" / "molecule-collections"
    link = root / "ansible_collections" / "containers" / "podman"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(podman.__path__[0]))
    return root


@pytest.fixture(scope="session")
def molecule_env():
    if os.geteuid() != 0:
        pytest.fail("molecule scenarios need root (rootful podman): run `make pytest` as root")
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ)
    # molecule runs ansible-playbook, ansible-config and pytest by name.
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("CONTAINERS_CONF", str(ROOT / "lab" / "containers.conf"))
    # The scenarios and their verifiers must run this checkout, never a copy another tool put on
    # Ansible's default path (ansible-lint installs the project into ~/.ansible/collections).
    env["ANSIBLE_COLLECTIONS_PATH"] = collection_path.ROOT
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env["NO_COLOR"] = "1"
    # Pin the exact images, not the moving aliases: Debian 12 and Debian 13 nodes.
    env["NETBOOT_LAB_IMAGE"] = _run([ROOT / "lab" / "build-image"], env).strip().splitlines()[-1]
    env["NETBOOT_LAB_IMAGE_TRIXIE"] = _run([ROOT / "lab" / "build-image", "trixie"], env).strip().splitlines()[-1]
    made = []
    env["_networks_made"] = made  # read back by _network(); removed before any subprocess sees env
    yield env
    for network in made:
        down = subprocess.run(
            [ROOT / "lab" / "lab", "net-down", network], env=_clean(env), capture_output=True, text=True, check=False
        )
        # Refused only while some container still uses the network: that one
        # is not ours to remove, and the tests' outcome stands.
        if down.returncode != 0:
            warnings.warn(f"network {network} left in place: {down.stderr.strip()}", stacklevel=1)


def _clean(env):
    return {key: value for key, value in env.items() if not key.startswith("_")}


def _network(env, network):
    """Give the slot a network with no address taken; remember it for removal if this run made it.

    podman keeps its address allocations apart from its containers: a container removed behind
    its back (a killed run, `podman rm -f` during start-up) leaves its fixed address allocated,
    and the next scenario's create fails with "IPAM error: requested ip address ... already
    allocated". A network no container uses is therefore made anew, which drops its allocations;
    `lab net-down` refuses one that is in use, and that one stays as it is.
    """
    clean = _clean(env)
    if subprocess.run(["podman", "network", "exists", network], env=clean, check=False).returncode == 0:
        lab = [ROOT / "lab" / "lab", "net-down", network]
        if subprocess.run(lab, env=clean, capture_output=True, check=False).returncode != 0:
            return
    _run([ROOT / "lab" / "lab", "net-up", network], clean)
    if network not in env["_networks_made"]:
        env["_networks_made"].append(network)


def test_scenarios_are_discovered():
    # An empty parameter list would silently skip every scenario below.
    assert "hosts" in discover(), f"no 'hosts' scenario under {SCENARIOS}"


@pytest.mark.molecule
@pytest.mark.parametrize(("scenario", "suite", "core", "slot"), runs())
def test_scenario(scenario, suite, core, slot, molecule_env, tmp_path):  # noqa: PLR0917 - pytest passes parameters and fixtures by name
    env = _clean(molecule_env)
    env.update(SLOTS[slot])
    # Molecule keys its state (inventory, instance list) by project and scenario name only: two
    # runs of one scenario in two slots at once would share it and drive each other's hosts.
    env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(tmp_path / "molecule")
    _network(molecule_env, SLOTS[slot]["NETBOOT_MOL_NETWORK"])
    bin_dir = Path(sys.executable).parent
    if core:
        bin_dir = ROOT / "build" / f"venv-core-{core}" / "bin"
        if not (bin_dir / "molecule").exists():
            pytest.fail(f"no molecule in {bin_dir}: `make core-venvs` builds the matrix venvs")
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
        env["ANSIBLE_COLLECTIONS_PATH"] = f"{collection_path.ROOT}{os.pathsep}{_podman_collections()}"
        # molecule and the verifier run ansible-playbook by name: it must be this leg's.
        version = _run(["ansible-playbook", "--version"], env).splitlines()[0]
        assert f"[core {core}." in version, version
    if suite:
        env["NETBOOT_SUITE"] = suite
        env["NETBOOT_SUITE_IMAGE"] = env["NETBOOT_LAB_IMAGE" if suite == "bookworm" else "NETBOOT_LAB_IMAGE_TRIXIE"]
        env["NETBOOT_SUITE_REPO"] = "lab/.cache/apt-repo" if suite == "bookworm" else f"lab/.cache/{suite}/apt-repo"
    molecule = bin_dir / "molecule"
    # A session of its own, so that a timeout ends the whole run: killing molecule alone left its
    # verifier (pytest, ansible-playbook, qemu) driving hosts of the same names in the next run.
    proc = subprocess.Popen(
        [molecule, "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        # `molecule test` was killed mid-way: its destroy step never ran.
        subprocess.run([molecule, "destroy", "-s", scenario], cwd=ROOT, env=env, check=False)
        pytest.fail(f"molecule test -s {scenario} timed out after {TIMEOUT} s:\n{_tail(stdout + stderr)}")
    if proc.returncode != 0:
        pytest.fail(f"molecule test -s {scenario} failed ({proc.returncode}):\n{_tail(stdout + stderr)}")
