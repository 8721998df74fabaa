"""galaxy-importer, what Galaxy and Automation Hub run on an upload, on the built tarball: no warning."""

import json
import os
import tarfile
from pathlib import Path

import yaml
from conftest import GALAXY, must, run

CONFIG = Path(__file__).with_name("galaxy-importer.cfg")


def shipped(tarball, pattern):
    with tarfile.open(tarball) as tar:
        return sorted(Path(name) for name in tar.getnames() if Path(name).match(pattern))


def test_galaxy_importer_accepts_the_tarball_without_a_warning(tmp_path, tarball, packaging_bin):
    env = {"GALAXY_IMPORTER_CONFIG": str(CONFIG), "GALAXY_IMPORTER_TMP_ROOT_DIR": str(tmp_path),
           "GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP": str(tmp_path / "ansible-tmp"), "HOME": os.environ.get("HOME", "/root")}
    proc = must(run([packaging_bin / "python", "-m", "galaxy_importer.main", tarball], bin_dir=packaging_bin,
                    cwd=tmp_path, env=env))
    lines = (proc.stdout + proc.stderr).splitlines()
    assert "Importer processing completed successfully" in lines, "\n".join(lines)
    complaints = [line for line in lines if line.startswith(("WARNING", "ERROR"))]
    assert not complaints, "\n".join(complaints)
    assert "...ansible-lint run complete" in lines, "galaxy-importer did not run ansible-lint"

    result = json.loads((tmp_path / "importer_result.json").read_text())
    with tarfile.open(tarball) as tar:
        assert result["requires_ansible"] == yaml.safe_load(tar.extractfile("meta/runtime.yml"))["requires_ansible"]
    found = {(c["content_type"], c["name"]) for c in result["contents"]}
    modules = {("module", p.stem) for p in shipped(tarball, "plugins/modules/*.py")}
    roles = {("role", p.parts[1]) for p in shipped(tarball, "roles/*/meta/main.yml")}
    assert modules and roles and modules | roles <= found, sorted(found)
    # ansible-doc read every module and every documented filter (the docs Galaxy renders).
    docs = {(c["content_type"], c["content_name"]): c.get("doc_strings") for c in result["docs_blob"]["contents"]}
    filters = {("filter", p.stem) for p in shipped(tarball, "plugins/filter/*.yml")}
    undocumented = sorted(key for key in modules | filters if not docs.get(key))
    assert not undocumented, undocumented
    assert result["metadata"]["version"] == GALAXY["version"]
