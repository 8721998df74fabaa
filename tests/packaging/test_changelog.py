"""The changelog as antsibull-changelog builds it at a release, from changelogs/fragments."""

import shutil
import tarfile

import docutils.core
import yaml
from conftest import GALAXY, ROOT, must, run


def entries(fragment):
    """{section: [text]} of one fragment file."""
    data = yaml.safe_load(fragment.read_text())
    return {section: [text] if isinstance(text, str) else text for section, text in data.items()}


def words(text):
    return " ".join(text.split())


def test_lint_finds_nothing():
    proc = run(["antsibull-changelog", "lint"], cwd=ROOT)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr.strip()) == (0, "", ""), proc.stdout + proc.stderr


def test_release_writes_every_fragment_into_valid_rst(tmp_path, tarball):
    # A release consumes the fragments: do it on a copy (the shipped files plus galaxy.yml).
    collection = tmp_path / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    collection.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(collection, filter="data")
    shutil.copy(ROOT / "galaxy.yml", collection)
    fragments = sorted((ROOT / "changelogs" / "fragments").glob("*.yml"))
    assert fragments and sorted(p.name for p in (collection / "changelogs" / "fragments").iterdir()) == [
        p.name for p in fragments]

    proc = must(run(["antsibull-changelog", "release", "--version", GALAXY["version"], "--date", "2026-01-01"],
                    cwd=collection, env={"ANSIBLE_COLLECTIONS_PATH": str(tmp_path)}))
    assert not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr

    rst = (collection / "CHANGELOG.rst").read_text()
    docutils.core.publish_doctree(rst, settings_overrides={"halt_level": 2, "report_level": 2})
    flat = words(rst)
    assert f"v{GALAXY['version']}" in flat
    for fragment in fragments:
        for section, texts in entries(fragment).items():
            for text in texts:
                assert (words(text) in flat) == (section != "trivial"), (fragment.name, section, text)
    release = yaml.safe_load((collection / "changelogs" / "changelog.yaml").read_text())["releases"][GALAXY["version"]]
    assert sorted(release["fragments"]) == [p.name for p in fragments]
    # Nothing was released before (changelog.yaml): every plugin is new in this release, which
    # antsibull-changelog decides by each plugin's version_added.
    if not yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())["releases"]:
        assert {m["name"] for m in release["modules"]} == {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py")}
        documented_filters = {p.stem for p in (ROOT / "plugins" / "filter").glob("*.yml")} | {
            p.stem for p in (ROOT / "plugins" / "filter").glob("*.py") if "\nDOCUMENTATION" in p.read_text()}
        assert {f["name"] for f in release["plugins"]["filter"]} == documented_filters
