"""The collection as it is shipped: one tarball per session, built the way `make build` builds it.

The packaging tools (galaxy-importer, antsibull-docs, ansible-builder) live in their own venv,
build/venv-packaging from requirements/packaging.txt (`make packaging-deps`, a prerequisite of
`make pytest` and `make packaging`).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MAIN_BIN = Path(sys.executable).parent
PACKAGING_BIN = ROOT / "build" / "venv-packaging" / "bin"
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())


def run(argv, *, bin_dir=MAIN_BIN, **kwargs):
    """Run a tool with bin_dir first on PATH (the tools run ansible-doc and friends by name)."""
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1",
               NO_COLOR="1")
    env.update(kwargs.pop("env", {}))
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, check=False, **kwargs)


def must(proc):
    assert proc.returncode == 0, f"{' '.join(proc.args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def packaging_bin():
    if not (PACKAGING_BIN / "python").exists():
        pytest.fail(f"{PACKAGING_BIN} is missing: run `make packaging-deps` (requirements/packaging.txt)")
    return PACKAGING_BIN


@pytest.fixture(scope="session")
def tarball(tmp_path_factory):
    """netboot-dhcp_failover-VERSION.tar.gz built from this checkout (galaxy.yml build_ignore applies)."""
    out = tmp_path_factory.mktemp("tarball")
    must(run([MAIN_BIN / "ansible-galaxy", "collection", "build", "--output-path", out, ROOT]))
    path = out / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    assert path.is_file(), sorted(p.name for p in out.iterdir())
    return path


@pytest.fixture(scope="session")
def installed(tmp_path_factory, tarball):
    """The tarball installed the way users install it (offline: it depends on no other collection)."""
    path = tmp_path_factory.mktemp("installed")
    must(run([MAIN_BIN / "ansible-galaxy", "collection", "install", "--offline", "--force", "-p", path, tarball]))
    collection = path / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (collection / "MANIFEST.json").is_file()
    return path
