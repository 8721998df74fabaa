"""execution-environment.yml: ansible-builder writes a build context, and its offline stages work.

The image build itself pulls the base image from quay.io, which this machine cannot reach; what
runs here is every step of the context that needs no registry: the collection install of the
galaxy stage, and the dependency introspection of the builder stage.
"""

import re
import shutil
import sys
from pathlib import Path

import yaml
from conftest import GALAXY, ROOT, must, run

EE = yaml.safe_load((ROOT / "execution-environment.yml").read_text())


def test_ansible_builder_context_installs_the_collection_and_its_dependencies(tmp_path, tarball, packaging_bin):
    # The layout `make ee-context` makes: the EE file, and the tarball where it looks for it.
    work = tmp_path / "src"
    [extra] = EE["additional_build_files"]
    (work / extra["src"]).parent.mkdir(parents=True)
    shutil.copy(tarball, work / extra["src"])
    shutil.copy(ROOT / "execution-environment.yml", work)
    context = tmp_path / "context"
    must(run([packaging_bin / "ansible-builder", "create", "-f", work / "execution-environment.yml", "-c", context],
             bin_dir=packaging_bin))

    containerfile = (context / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{EE["images"]["base_image"]["name"]}"' in containerfile
    # The EE runs the ansible-core that all of `make test` runs.
    pinned = re.search(r"^ansible-core==\S+$", (ROOT / "requirements" / "dev.txt").read_text(), re.MULTILINE)[0]
    assert re.search(r'^ARG ANSIBLE_INSTALL_REFS=".*\b' + re.escape(pinned) + r'\b', containerfile, re.MULTILINE)

    # Galaxy stage: `ansible-galaxy collection install -r requirements.yml` in _build, offline.
    build = context / "_build"
    collections = tmp_path / "collections"
    must(run([Path(sys.executable).parent / "ansible-galaxy", "collection", "install", "--offline", "--force",
              "-r", "requirements.yml", "-p", collections], cwd=build))
    manifest = yaml.safe_load((collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
                               / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == (
        GALAXY["namespace"], GALAXY["name"], GALAXY["version"])

    # Builder stage: the introspection that turns meta/execution-environment.yml into installs.
    pip, bindep = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    must(run([packaging_bin / "python", build / "scripts" / "introspect.py", "introspect", collections,
              "--write-pip", pip, "--write-bindep", bindep], bin_dir=packaging_bin))
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())["dependencies"]
    for ours, found in ((meta["python"], pip), (meta["system"], bindep)):
        wanted = [line for line in (ROOT / ours).read_text().splitlines() if line and not line.startswith("#")]
        got = found.read_text()
        assert wanted and all(line in got for line in wanted), (ours, got)
