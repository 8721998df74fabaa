"""requires_ansible says exactly which ansible-core versions `make test` runs on, and so does the README.

The tested minors are the matrix legs (requirements/core-2.NN.txt) and the main venv's
(requirements/dev.txt).
"""

import re

import yaml
from conftest import ROOT

REQUIREMENTS = ROOT / "requirements"


def minors_under_test():
    minors = set()
    for path in [REQUIREMENTS / "dev.txt", *REQUIREMENTS.glob("core-2.*.txt")]:
        version = re.search(r"^ansible-core==(\d+)\.(\d+)\.", path.read_text(), re.MULTILINE)
        assert version, f"{path.name} pins no ansible-core"
        minors.add((int(version[1]), int(version[2])))
    return sorted(minors)


def test_the_minors_under_test_have_no_gap():
    minors = minors_under_test()
    assert minors == [(2, n) for n in range(minors[0][1], minors[-1][1] + 1)], minors


def test_requires_ansible_is_exactly_the_tested_range():
    (low_major, low), (high_major, high) = minors_under_test()[0], minors_under_test()[-1]
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == f">={low_major}.{low}.0,<{high_major}.{high + 1}.0"
    for meta in sorted(ROOT.glob("roles/*/meta/main.yml")):
        assert yaml.safe_load(meta.read_text())["galaxy_info"]["min_ansible_version"] == f"{low_major}.{low}", meta


def test_the_readme_names_the_tested_versions():
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"^Supported ansible-core: (.*)$", readme, re.MULTILINE)
    assert line, "README.md has no 'Supported ansible-core:' line"
    assert re.findall(r"\b2\.\d+\b", line[1]) == ["%d.%d" % m for m in minors_under_test()], line[0]
