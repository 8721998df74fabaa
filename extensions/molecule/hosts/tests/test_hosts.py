"""The molecule test hosts: systemd, addresses, reachability, offline apt."""

import os
from pathlib import Path

ADDRESSES = {
    "mol-dhcp1": "198.18.20.11",
    "mol-dhcp2": "198.18.20.12",
    "mol-client": "198.18.20.21",
}
testinfra_hosts = [f"podman://{name}" for name in ADDRESSES]

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[4]))


def repo_packages():
    lines = (PROJECT / "lab" / "repo-packages").read_text().splitlines()
    return [word for line in lines for word in line.split("#", 1)[0].split()]


def test_systemd_is_running(host):
    state = host.run("systemctl is-system-running")
    assert state.stdout.strip() == "running", host.run("systemctl --failed --no-legend").stdout


def test_own_address_and_hostname(host):
    name = host.backend.get_hostname()
    assert host.interface("eth0").addresses[0] == ADDRESSES[name]
    assert host.run("hostname").stdout.strip() == name.removeprefix("mol-")


def test_reaches_every_other_host(host):
    name = host.backend.get_hostname()
    for peer, address in ADDRESSES.items():
        if peer != name:
            ping = host.run(f"ping -c 1 -W 2 {address}")
            assert ping.rc == 0, f"{name} cannot reach {peer} ({address}): {ping.stdout}{ping.stderr}"


def test_apt_knows_only_the_offline_repo(host):
    # Every configured source, fetched or not: one line-style entry in sources.list.
    sources = host.check_output(
        "cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^[[:space:]]*#' | grep . || true"
    )
    assert sources.splitlines() == ["deb [trusted=yes] file:/srv/lab-apt ./"], sources
    policy = host.check_output("apt-cache policy")
    assert "file:/srv/lab-apt ./ Packages" in policy, policy
    assert "http" not in policy, policy


def test_offline_repo_closes_over_the_role_packages(host):
    # A simulated install resolves every dependency without changing the host.
    simulation = host.run("apt-get install --simulate " + " ".join(repo_packages()))
    assert simulation.rc == 0, simulation.stdout[-2000:] + simulation.stderr
    assert "Inst isc-dhcp-server " in simulation.stdout


def test_role_packages_are_not_in_the_image(host):
    for package in ("isc-dhcp-server", "chrony", "tftpd-hpa", "pxelinux", "ipxe"):
        assert not host.package(package).is_installed, package
