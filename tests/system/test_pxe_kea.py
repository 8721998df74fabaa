"""PXE boot from a Kea HA pair (issue 20): real qemu clients, the collection's own renderers.

After playbooks/migrate_to_kea.yml the pair's PXE answers come from the client classes that
kea_config renders out of the pxe role's settings (kea_pxe_settings, published by the role's
dhcpd.yml): each node names itself as boot server, as with dhcpd. The boot trees and those
settings come from the pxe role's own task files (tests/pxelab/render.yml); each Kea server's
namespace serves its node's tree over TFTP and HTTP (as in test_pxe_boot.py).

* hot-standby, both servers up: a BIOS guest (iPXE ROM) boots the menu default over HTTP, every
  file from the primary, the only server that answered it;
* kill -9 of the primary's kea-dhcp4 and control agent: the standby reaches partner-down and a
  UEFI guest (OVMF's native PXE, then grub over TFTP) boots from it alone.
"""

import pytest
from dhcplab import kea as labkea
from pxelab import net, render
from pxelab.servers import BootServers
import test_pxe_boot
from test_pxe_boot import BIOS_MAC, MARKER_RE, SERVERS, UEFI_MAC, assert_fetched_from_acking_server, pxe_vars

pytestmark = pytest.mark.system

# test_pxe_boot's module fixtures: the test kernel and initrd, tftpd-hpa's in.tftpd.
boot_files = test_pxe_boot.boot_files
tftpd = test_pxe_boot.tftpd


class KeaPxeLab(test_pxe_boot.GuestLab):
    """A Kea HA pair whose servers each serve their own rendered tree, plus a wire watcher."""

    def __init__(self, lab, trees, watch_macs, tftp_server):
        self.lab = lab
        model = labkea.pair_model()
        assert set(SERVERS) == set(model["nodes"]), (SERVERS, model["nodes"])
        self.pair = lab.start_kea_pair(model, {"kea_ha_mode": "hot-standby"}, pxe=render.kea_settings(trees))
        self.boot = {name: BootServers(lab.servers[name].netns, lab.servers[name].address, trees[name][0],
                                       lab.workdir, tftp_server) for name in SERVERS}  # fmt: skip
        self.watcher = net.Watcher(lab.bridge, watch_macs)
        self.taps, self.guests = [], []


@pytest.fixture
def kea_pxe(dhcp_lab, boot_files, tftpd, tmp_path):  # noqa: F811 - test_pxe_boot's fixtures
    trees = render.render(tmp_path / "trees", SERVERS, pxe_vars(boot_files))
    lab = KeaPxeLab(dhcp_lab, trees, [BIOS_MAC, UEFI_MAC], tftpd)
    try:
        yield lab
    finally:
        lab.close()


def assert_booted_from(lab, guest, server):
    cmdline = guest.wait_for(MARKER_RE).group(1)
    assert "netboot.entry=install" in cmdline, cmdline
    acks = lab.watcher.acks_to(guest.mac)
    assert acks, "%s got no DHCPACK" % guest.name
    assert {ack.server_ip for ack in acks} == {server.address}, (guest.name, acks)
    requests = lab.watcher.requests_from(guest.mac)
    assert {r.server_ip for r in requests} == {server.address}, (guest.name, requests)
    assert_fetched_from_acking_server(lab, guest.mac)
    return requests


def test_guests_boot_from_the_kea_pair_and_from_the_standby_after_kill_9_of_the_primary(kea_pxe):
    primary, standby = kea_pxe.pair.primary, kea_pxe.pair.secondary
    kea_pxe.pair.wait_states("hot-standby", "hot-standby")

    bios = kea_pxe.guest("bios", BIOS_MAC, "bios")
    requests = assert_booted_from(kea_pxe, bios, primary)
    # iPXE matched the class netboot-ipxe: the script, kernel and initrd over HTTP from the primary.
    assert {r.proto for r in requests} == {"http"}, requests
    paths = [path for _client, path, status in kea_pxe.boot["s1"].http_requests() if status == 200]
    assert paths[:3] == ["/boot.ipxe", "/images/test-vmlinuz", "/images/test-initrd"], paths
    bios.close()

    primary.kill()
    standby.wait_for_ha_state("partner-down", timeout=60)
    uefi = kea_pxe.guest("uefi", UEFI_MAC, "uefi")
    requests = assert_booted_from(kea_pxe, uefi, standby)
    # OVMF matched the class netboot-uefi: grub and the images over TFTP from the standby.
    assert {r.proto for r in requests} == {"tftp"}, requests
    paths = [r.path for r in requests]
    assert paths[0] == "grubx64.efi", paths
    assert {"/grub/grub.cfg", "/images/test-vmlinuz", "/images/test-initrd"} <= set(paths), paths
