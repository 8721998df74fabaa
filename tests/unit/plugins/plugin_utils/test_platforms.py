"""plugins/plugin_utils/platforms.py: supported releases and the same-dhcpd rule of a pair."""

import subprocess
from pathlib import Path

import pytest

from ansible_collections.netboot.dhcp_failover.plugins.filter.platforms import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import platforms

FILTERS = FilterModule().filters()
# As the lab's trixie image ships it (lab/build-image trixie).
TRIXIE = """PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
ID=debian
"""
UBUNTU = """PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
ID=ubuntu
ID_LIKE=debian
"""
BULLSEYE = 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_ID="11"\nID=debian\n'


def test_this_debian_12_machine_is_supported():
    # The controller is a Debian 12 machine like the lab's bookworm nodes.
    text = Path("/etc/os-release").read_text()
    assert platforms.os_release(text)["VERSION_ID"] == "12"
    assert FILTERS["platform_errors"](text, host="dhcp1") == []


def test_debian_13_is_supported():
    assert platforms.platform_errors("dhcp2", TRIXIE) == []


@pytest.mark.parametrize(
    "text, seen",
    [
        (UBUNTU, "Ubuntu 24.04.1 LTS"),
        (BULLSEYE, "Debian GNU/Linux 11 (bullseye)"),
        ("", "an unreadable /etc/os-release"),
    ],
)
def test_other_releases_are_refused_naming_host_release_and_what_is_supported(text, seen):
    assert platforms.platform_errors("dhcp1", text) == [
        "dhcp1 runs %s: the roles support Debian 12 (bookworm), Debian 13 (trixie)" % seen
    ]


def test_os_release_unquotes_and_ignores_comments():
    text = '# c\nA="x \\"y\\""\nB=\'z\'\nC=plain\nnot a pair\n'
    assert platforms.os_release(text) == {"A": 'x "y"', "B": "z", "C": "plain"}


def test_the_real_dhcpd_version_line_is_read():
    proc = subprocess.run(["/usr/sbin/dhcpd", "--version"], capture_output=True, text=True, check=False)
    printed = proc.stdout + proc.stderr
    version = platforms.dhcpd_version(printed)
    assert version is not None and version.startswith("4.4."), printed


def test_same_release_on_both_peers_passes():
    assert FILTERS["dhcpd_version_errors"]({"a": "isc-dhcpd-4.4.3-P1", "b": "isc-dhcpd-4.4.3-P1\n"}) == []


def test_different_releases_name_both_hosts_and_versions():
    assert platforms.dhcpd_version_errors({"b": "isc-dhcpd-4.4.3-P1", "a": "isc-dhcpd-4.4.1"}) == [
        "the members of the pair run different dhcpd releases (a 4.4.1, b 4.4.3-P1): failover needs the "
        "same release on both; upgrade the older node first"
    ]


def test_a_member_without_dhcpd_is_not_compared():
    assert platforms.dhcpd_version_errors({"a": None, "b": "isc-dhcpd-4.4.3-P1"}) == []


def test_unreadable_version_output_is_an_error():
    assert platforms.dhcpd_version_errors({"a": "command not found"}) == [
        "a: dhcpd --version printed 'command not found', expected a line like isc-dhcpd-4.4.3-P1"
    ]


def test_registered_command_results_are_read_from_stderr_and_failures_skipped():
    versions = {
        "a": {"rc": 0, "stdout": "", "stderr": "isc-dhcpd-4.4.3-P1"},
        "b": {"rc": 0, "stdout": "", "stderr": "isc-dhcpd-4.4.1"},
        "c": {"rc": 2, "stdout": "", "stderr": "No such file or directory"},
        "d": {"skipped": True},
    }
    assert platforms.dhcpd_version_errors(versions) == [
        "the members of the pair run different dhcpd releases (a 4.4.3-P1, b 4.4.1): failover needs the "
        "same release on both; upgrade the older node first"
    ]


def test_members_on_different_releases_are_named_with_the_reason():
    bookworm = Path("/etc/os-release").read_text()
    assert FILTERS["same_release_errors"]({"a": bookworm, "b": TRIXIE}, why="boot loaders differ") == [
        "a runs %s and b runs Debian GNU/Linux 13 (trixie): boot loaders differ"
        % platforms.os_release(bookworm)["PRETTY_NAME"]
    ]


def test_members_on_one_release_or_not_read_pass():
    assert platforms.same_release_errors({"a": TRIXIE, "b": TRIXIE, "c": None}, "x") == []
    assert platforms.same_release_errors({"a": TRIXIE, "b": None}, "x") == []
