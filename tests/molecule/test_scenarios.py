"""Runs every molecule scenario of the collection inside the one `pytest tests` run.

Each scenario is one test: `molecule test -s NAME`, failing with the tail of
molecule's output. The session fixture builds (or reuses) the lab image and
creates the molecule network the scenarios attach their hosts to.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import collection_path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "extensions" / "molecule"
NETWORK = "netboot-molecule"
TAIL_LINES = 120
# A scenario with three systemd containers takes 80-110 s; a stuck one must
# not hang CI for ever.
TIMEOUT = 1800


# Scenarios whose pair runs one Debian release, once per listed release (the pxe scenario: a PXE
# pair must serve identical boot loaders, which differ between releases). The others run a mixed
# pair (extensions/molecule/config.yml) or their own platforms.
# Not yet "trixie" for pxe: on two Debian 13 nodes the scenario's TFTP checks failed (no answer
# from a node's tftpd to the test's own client; a guest's fetch seen before its DHCPACK in the
# logs the watcher reads) while the guests booted. Open in issue 18; the README says so.
PER_SUITE = {"pxe": ("bookworm",)}


def discover():
    return sorted(p.parent.relative_to(SCENARIOS).as_posix() for p in SCENARIOS.glob("**/molecule.yml"))


def runs():
    return [
        pytest.param(name, suite, id=f"{name}-{suite}" if suite else name)
        for name in discover()
        for suite in PER_SUITE.get(name, (None,))
    ]


def _tail(text, lines=TAIL_LINES):
    return "\n".join(text.splitlines()[-lines:])


def _run(args, env):
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
    return proc.stdout


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
    had_network = subprocess.run(["podman", "network", "exists", NETWORK], env=env, check=False).returncode == 0
    _run([ROOT / "lab" / "lab", "net-up", NETWORK], env)
    yield env
    if not had_network:
        down = subprocess.run(
            [ROOT / "lab" / "lab", "net-down", NETWORK], env=env, capture_output=True, text=True, check=False
        )
        # Refused only while some container still uses the network: that one
        # is not ours to remove, and the tests' outcome stands.
        if down.returncode != 0:
            warnings.warn(f"network {NETWORK} left in place: {down.stderr.strip()}", stacklevel=1)


def test_scenarios_are_discovered():
    # An empty parameter list would silently skip every scenario below.
    assert "hosts" in discover(), f"no 'hosts' scenario under {SCENARIOS}"


@pytest.mark.molecule
@pytest.mark.parametrize(("scenario", "suite"), runs())
def test_scenario(scenario, suite, molecule_env):
    molecule = Path(sys.executable).parent / "molecule"
    env = dict(molecule_env)
    if suite:
        env["NETBOOT_SUITE_IMAGE"] = env["NETBOOT_LAB_IMAGE" if suite == "bookworm" else "NETBOOT_LAB_IMAGE_TRIXIE"]
        env["NETBOOT_SUITE_REPO"] = "lab/.cache/apt-repo" if suite == "bookworm" else f"lab/.cache/{suite}/apt-repo"
    try:
        proc = subprocess.run(
            [molecule, "test", "-s", scenario],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        # `molecule test` was killed mid-way: its destroy step never ran.
        subprocess.run([molecule, "destroy", "-s", scenario], cwd=ROOT, env=env, check=False)
        output = (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
        pytest.fail(f"molecule test -s {scenario} timed out after {TIMEOUT} s:\n{_tail(output)}")
    if proc.returncode != 0:
        pytest.fail(f"molecule test -s {scenario} failed ({proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
