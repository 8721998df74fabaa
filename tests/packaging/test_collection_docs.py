"""antsibull-docs lint-collection-docs --plugin-docs on the installed tarball: every reference resolves."""

from conftest import GALAXY, run


def test_collection_docs_lint_clean(installed, packaging_bin):
    collection = installed / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    proc = run([packaging_bin / "antsibull-docs", "lint-collection-docs", "--plugin-docs", collection],
               bin_dir=packaging_bin, env={"ANSIBLE_COLLECTIONS_PATH": str(installed)})
    assert (proc.returncode, proc.stdout.strip(), proc.stderr.strip()) == (0, "", ""), proc.stdout + proc.stderr
