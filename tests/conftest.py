"""Shared pytest set-up: import paths, and the real-dhcpd lab fixtures (tests/dhcplab)."""

import os
import sys

import pytest

# Test modules import the lab library as `dhcplab` whatever their directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import collection_path  # noqa: E402
from dhcplab import configs  # noqa: E402
from dhcplab.lab import Lab  # noqa: E402

# Plugins import each other as ansible_collections.netboot.dhcp_failover.*.
collection_path.ensure()


def pytest_collection_modifyitems(items):
    """One lane for the network-namespace lab under `pytest -n`: its labs share 198.18.100.0/24
    (tests/dhcplab/lab.py locks it), so a second worker would only wait for the lock."""
    for item in items:
        if item.path.is_relative_to(os.path.join(os.path.dirname(os.path.abspath(__file__)), "system")):
            item.add_marker(pytest.mark.xdist_group("netns"))


@pytest.fixture
def dhcp_lab(tmp_path):
    """A fresh lab (bridge + namespaces); every process and link is removed afterwards."""
    if os.geteuid() != 0:
        pytest.fail("system tests need root (network namespaces, raw sockets, dhcpd)")
    lab = Lab(workdir=tmp_path)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def failover_pair(dhcp_lab):
    """A pair from configs.failover_pair() defaults, NORMAL on both peers, pool balanced."""
    pair = dhcp_lab.start_pair(*configs.failover_pair()).wait_normal()
    pair.wait_balanced()
    return pair
