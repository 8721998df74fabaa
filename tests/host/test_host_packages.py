"""A fresh machine gets everything the lab, the tests and the benchmarks run (see tests/hostdeps.py).

These read the repository and ask apt and dpkg; they install nothing, so they pass or fail the
same on a machine where things were installed by hand as on a fresh one.
"""

import subprocess

import hostdeps
import pytest

ROOT = hostdeps.ROOT


@pytest.fixture(scope="module")
def listed():
    return hostdeps.manifest()


def test_a_fresh_machine_gets_every_listed_program_from_the_install_list(listed):
    plan = hostdeps.fresh_plan(hostdeps.packages())
    problems = hostdeps.install_problems(listed, plan)
    assert not problems, "\n".join(problems)


def test_every_program_the_scripts_run_is_listed(listed):
    names = {program for program, _package, _note in listed}
    missing = ["%s (%s)" % (program, ", ".join(sorted(set(where))))
               for program, where in sorted(hostdeps.needed().items()) if program not in names]
    assert not missing, (
        "programs run by the Makefile, lab/, tests/, bench/ or scripts/ (or by the tools they drive) "
        "but not in %s with their Debian package: %s" % (hostdeps.MANIFEST.relative_to(ROOT), "; ".join(missing)))


def test_every_listed_program_is_still_used(listed):
    used = hostdeps.needed()
    stale = [program for program, _package, _note in listed if program not in used]
    assert not stale, "listed in %s but run by nothing: %s (remove them, or the scan misses a caller)" % (
        hostdeps.MANIFEST.relative_to(ROOT), ", ".join(stale))


def test_the_makefile_installs_exactly_the_listed_packages():
    printed = subprocess.run(["make", "--no-print-directory", "-s", "print-apt-packages"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert printed == hostdeps.packages()


@pytest.mark.parametrize("suite, repo", [("bookworm", "apt-repo"), ("trixie", "trixie/apt-repo")])
def test_the_lab_hosts_get_every_program_run_in_them(suite, repo):
    # Molecule runs nodes of both releases (a mixed pair): each image must ship what runs in it.
    image = subprocess.run([str(ROOT / "lab" / "build-image"), suite], capture_output=True, text=True,
                           check=True).stdout.strip()
    files = hostdeps.lab_files(image, ROOT / "lab" / ".cache" / repo)
    problems = hostdeps.lab_problems(hostdeps.lab_scan(), files)
    assert not problems, "\n".join(problems)


# The check itself: it must catch the defect it was written for.

def test_the_check_names_a_program_whose_package_is_missing(listed):
    without = [p for p in hostdeps.packages() if p != "iptables"]
    problems = hostdeps.install_problems(listed, hostdeps.fresh_plan(without))
    assert any(line.startswith("iptables ") and "Debian package iptables" in line for line in problems), problems


def test_the_scan_finds_commands_in_shell_and_python():
    shell = ("set -e\nfoo() { bar; }\nX=1 podman run x | grep y && $(ip link) ; echo 'a; nonexistent-x'\n"
             "  # a comment, then install words\necho ${#x} # then rsync\n")
    assert {"podman", "grep", "ip"} <= hostdeps._shell_programs(shell)
    assert not {"echo", "install", "rsync"} & hostdeps._shell_programs(shell)
    python = 'import subprocess\nQ = "qemu-system-x86_64"\nsubprocess.run(["ip", "netns"])\n_run(Q, "-m")\n'
    assert hostdeps._python_programs(python) >= {"ip"}
    for word in ("free", "kill"):
        assert word not in hostdeps._python_programs("for x in (%r, 'b'):\n    pass\n" % word)
        # Tuple unpacking assigns values, not a command line; `argv = (...)` still counts.
        assert word not in hostdeps._python_programs("state, other = %r, None\n" % word)
        assert word in hostdeps._python_programs("argv = (%r, '-9')\n" % word)


def test_the_lab_scan_skips_what_runs_on_the_controller():
    plays = [
        {"hosts": "localhost", "tasks": [{"name": "a", "ansible.builtin.command": "podman stop x"}]},
        {"hosts": "dhcp_servers", "tasks": [
            {"name": "b", "ansible.builtin.command": "dhcpd -t"},
            {"name": "c", "ansible.builtin.command": "podman start x", "delegate_to": "localhost"},
        ]},
    ]
    found = []
    hostdeps._yaml_commands(plays, found)
    assert found == ["dhcpd -t"]
