"""PXE boot against the pair site.yml deployed: real qemu clients and both nodes' boot files.

The guests sit on a tap device on the scenario's bridge (nbpxe0): a BIOS one running the iPXE
ROM of ipxe-qemu (DHCP, then boot.ipxe, kernel and initrd over HTTP) and a UEFI one running
OVMF's native PXE (pxe_secure_boot: Debian's signed shimx64.efi, which loads the signed
grubx64.efi, then grub.cfg, kernel and initrd over TFTP; OVMF without Secure Boot here, the
firmware's check is tests/system/test_pxe_secure_boot.py). A guest has booted when the test
initramfs prints its marker with its command line: the BIOS guest the default entry's, the UEFI
guest, listed in pxe_hosts, its own.
"""

import hashlib
import os
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import testinfra

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[4]))
sys.path.insert(0, str(PROJECT / "tests"))

import collection_path  # noqa: E402
from pxelab import artifacts, net, qemu, tftp  # noqa: E402

collection_path.ensure()
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance  # noqa: E402

# dhcp1 has the lower address, so the dhcpd role makes it the primary; split 128.
SERVERS = {"mol-pxe-dhcp1": "198.18.22.11", "mol-pxe-dhcp2": "198.18.22.12"}
PEER_ADDRESS = {"primary": SERVERS["mol-pxe-dhcp1"], "secondary": SERVERS["mol-pxe-dhcp2"]}
BRIDGE = "nbpxe0"
ROOT = "/srv/netboot"
# iPXE keys load balancing on its client identifier 01+MAC, OVMF (no option 61) on the MAC:
# these two land on different peers, by either key.
BIOS_MAC = "52:54:00:22:00:05"
UEFI_MAC = "52:54:00:22:00:01"
# UEFI_MAC's per-host menus (pxe_hosts in molecule.yml).
HOST_MENUS = ("grub/grub.cfg-01-52-54-00-22-00-01", "pxelinux.cfg/01-52-54-00-22-00-01")
# Where the Debian packages put the signed loaders each node copies into its tree.
PACKAGE_FILES = {
    "shimx64.efi": "/usr/lib/shim/shimx64.efi.signed",
    "grubx64.efi": "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
}
MARKER_RE = artifacts.MARKER_RE
testinfra_hosts = [f"podman://{name}" for name in SERVERS]


def predicted(mac):
    """The peer load balancing gives mac, asserting that both possible keys agree."""
    by_mac = loadbalance.lb_peer(128, mac=mac)
    by_client_id = loadbalance.lb_peer(128, client_id=bytes.fromhex("01" + mac.replace(":", "")))
    assert by_mac == by_client_id, (mac, by_mac, by_client_id)
    return PEER_ADDRESS[by_mac]


def http_get(address, path):
    # No proxy: the servers are on the scenario's internal bridge.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{address}/{path}", timeout=10) as answer:
        return answer.read()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("pxe-guests")


class Clients:
    """Taps, guests and a watcher on the bridge; everything ends with close()."""

    def __init__(self, workdir, macs):
        self.workdir = workdir
        self.watcher = net.Watcher(BRIDGE, macs)
        self.taps, self.guests = [], []

    def guest(self, name, mac, firmware):
        tap = net.Tap(f"nbpxe{os.getpid() % 100000}q{len(self.taps)}", BRIDGE)
        self.taps.append(tap)
        guest = qemu.Guest(name, self.workdir, tap.name, mac, firmware=firmware)
        self.guests.append(guest)
        return guest

    def assert_fetched_from_acking_server(self, mac):
        fetches = self.watcher.fetches_by(mac)
        assert fetches, f"{mac} fetched nothing over TFTP or HTTP"
        for request, ack in fetches:
            assert ack is not None, f"{mac} fetched before any DHCPACK: {request}"
            assert (request.server_ip, request.client_ip) == (ack.server_ip, ack.client_ip), (request, ack)

    def close(self):
        for guest in self.guests:
            guest.close()
        self.watcher.close()
        for tap in self.taps:
            tap.close()


@pytest.fixture
def clients(workdir):
    made = []

    def make(macs):
        made.append(Clients(workdir, macs))
        return made[-1]

    yield make
    for item in made:
        item.close()


def test_boot_services_run(host):
    for service in ("tftpd-hpa", "nginx", "isc-dhcp-server"):
        assert host.service(service).is_running, service
    assert host.socket("udp://0.0.0.0:69").is_listening
    assert host.socket("tcp://0.0.0.0:80").is_listening


def test_both_nodes_serve_identical_files_over_tftp_and_http():
    # Once for the pair: every file of dhcp1's tree, fetched from both nodes by both protocols.
    host = testinfra.get_host("podman://mol-pxe-dhcp1")
    paths = sorted(line.removeprefix(ROOT + "/") for line in host.check_output(f"find {ROOT} -type f").splitlines())
    assert {"undionly.kpxe", "ipxe.efi", "grubx64.efi", "shimx64.efi", "boot.ipxe", "grub/grub.cfg",
            "images/test-vmlinuz", "images/test-initrd", *HOST_MENUS} <= set(paths), paths  # fmt: skip
    # The signed loaders are the packages' bytes (each node checked them before copying).
    for name in SERVERS:
        node = testinfra.get_host(f"podman://{name}")
        for path, package_file in PACKAGE_FILES.items():
            assert node.file(f"{ROOT}/{path}").sha256sum == node.file(package_file).sha256sum, (name, path)
    current = PROJECT / "lab" / ".cache" / "pxe" / "current"
    sources = {"images/test-vmlinuz": current / "vmlinuz", "images/test-initrd": current / "initrd.img"}
    for path in paths:
        digests = {}
        for name, address in SERVERS.items():
            digests[f"{name} tftp"] = hashlib.sha256(tftp.fetch(address, path)).hexdigest()
            digests[f"{name} http"] = hashlib.sha256(http_get(address, path)).hexdigest()
        if path in sources:
            digests["source"] = hashlib.sha256(sources[path].read_bytes()).hexdigest()
        assert len(set(digests.values())) == 1, (path, digests)
    # Nothing outside the boot tree: tftpd runs --secure and nginx has no other root.
    with pytest.raises(tftp.TftpError):
        tftp.fetch(SERVERS["mol-pxe-dhcp1"], "../etc/passwd")


def test_bios_over_http_and_uefi_over_tftp_boot_at_once(clients):
    lab = clients([BIOS_MAC, UEFI_MAC])
    bios = lab.guest("bios", BIOS_MAC, "bios")
    uefi = lab.guest("uefi", UEFI_MAC, "uefi")
    cmdlines = qemu.boot_all([bios, uefi], MARKER_RE)
    # The BIOS guest is not in pxe_hosts: the menu default. The UEFI guest is: its own entry.
    assert "netboot.entry=install" in cmdlines["bios"] and "netboot.host" not in cmdlines["bios"], cmdlines
    assert "netboot.entry=rescue netboot.host=listed" in cmdlines["uefi"], cmdlines
    # shim first, then the grub shim loaded, then the host's own menu.
    paths = [r.path for r in lab.watcher.requests_from(UEFI_MAC)]
    assert paths[0] == "shimx64.efi" and "grubx64.efi" in paths, paths
    assert "/" + HOST_MENUS[0] in paths, paths
    leases = {}
    for guest in (bios, uefi):
        # Each loads its files from the server that gave it its lease.
        lab.assert_fetched_from_acking_server(guest.mac)
        acks = lab.watcher.acks_to(guest.mac)
        leases[guest.name] = acks[-1].client_ip
        requests = lab.watcher.requests_from(guest.mac)
        expected = {"bios": {"http"}, "uefi": {"tftp"}}[guest.name]
        assert {r.proto for r in requests} == expected, requests
        assert set(SERVERS.values()) >= {r.server_ip for r in requests}
    assert leases["bios"] != leases["uefi"], leases
    # The boot load is shared: each guest was answered, and served, by the peer its hash names.
    served = {guest.name: lab.watcher.acks_to(guest.mac)[-1].server_ip for guest in (bios, uefi)}
    assert served == {"bios": predicted(BIOS_MAC), "uefi": predicted(UEFI_MAC)}
    assert served["bios"] != served["uefi"]
    assert lab.watcher.rs_answered >= 1


def test_a_client_boots_with_one_node_down(clients):
    # mol-pxe-dhcp1, the peer that serves BIOS_MAC while both are up, goes down entirely
    # (dhcpd, TFTP and HTTP): everything must come from dhcp2.
    assert predicted(BIOS_MAC) == SERVERS["mol-pxe-dhcp1"]
    services = ("isc-dhcp-server", "tftpd-hpa", "nginx")
    down = "mol-pxe-dhcp1"
    node = testinfra.get_host(f"podman://{down}")
    try:
        for service in services:
            node.check_output(f"service {service} stop")
        lab = clients([BIOS_MAC])
        guest = lab.guest("bios-one-node", BIOS_MAC, "bios")
        assert "netboot.entry=install" in guest.wait_for(MARKER_RE).group(1)
        lab.assert_fetched_from_acking_server(BIOS_MAC)
        assert {ack.server_ip for ack in lab.watcher.acks_to(BIOS_MAC)} == {SERVERS["mol-pxe-dhcp2"]}
    finally:
        for service in services:
            node.run(f"service {service} start")
        # Leave the pair as found: back in NORMAL before destroy (or a rerun of verify).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = node.run("journalctl -q -t dhcpd --no-pager | tail -n 20").stdout
            if "Both servers normal" in log.split("Server starting service.")[-1]:
                break
            time.sleep(1)
