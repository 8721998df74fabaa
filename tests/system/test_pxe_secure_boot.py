"""Secure Boot (pxe_secure_boot) from both nodes of a real dhcpd failover pair, with real firmware.

The trees and dhcpd statements come from the pxe role's task files (tests/pxelab/render.yml),
which check every file of the chain with sbverify and openssl before the loaders reach the tree.
The clients are qemu q35 guests with OVMF's Secure Boot build and Microsoft's keys enrolled
(Secure Boot on): the firmware checks shim against Microsoft's UEFI CA, shim checks grub against
the Debian Secure Boot CA it carries, grub asks shim to check the kernel.
"""

import subprocess
from pathlib import Path

import pytest

from dhcplab import configs
from pxelab import qemu, render
import test_pxe_boot
from test_pxe_boot import (
    BIOS_MAC,
    MARKER_RE,
    SERVERS,
    UEFI_MAC,
    assert_fetched_from_acking_server,
    predicted_server,
    pxe_vars,
)

pytestmark = pytest.mark.system

# test_pxe_boot's fixtures: the test kernel, tftpd-hpa, and a NORMAL pair serving rendered trees.
boot_files = test_pxe_boot.boot_files
tftpd = test_pxe_boot.tftpd
pxe_pair_factory = test_pxe_boot.pxe_pair_factory

# Printed by Debian's kernel when the firmware says Secure Boot is on (and lockdown follows).
SECURE_BOOT_ON = "Secure boot enabled"
# q35 with SMM under TCG, two guests at once on two busy cores: slower than the other UEFI boots.
SECURE_BOOT_TIMEOUT = 300
# grub's answer when shim's verifier refuses the kernel (grub-efi-amd64-signed 2.06, Debian 12).
KERNEL_REFUSED = "bad shim signature"
SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
CHAIN = ["shimx64.efi", "grubx64.efi", "/grub/grub.cfg", "/images/test-vmlinuz", "/images/test-initrd"]


@pytest.fixture(scope="module")
def unsigned_kernel(boot_files, tmp_path_factory):
    """The test kernel with its signature removed (sbattach --remove)."""
    path = tmp_path_factory.mktemp("unsigned") / "vmlinuz"
    path.write_bytes(boot_files.kernel.read_bytes())
    subprocess.run(["sbattach", "--remove", str(path)], check=True, capture_output=True)
    listed = subprocess.run(["sbverify", "--list", str(path)], capture_output=True, text=True, check=False)
    assert "signature 1" not in listed.stdout, listed.stdout
    return path


def secure_vars(boot_files, **overrides):
    return pxe_vars(boot_files, pxe_secure_boot=True, **overrides)


def test_secure_boot_chain_boots_from_each_node(boot_files, tmp_path, pxe_pair_factory):
    trees = render.render(tmp_path / "render", SERVERS, secure_vars(boot_files))
    for tree, conf in trees.values():
        assert 'filename "shimx64.efi";' in conf
        assert (tree / "shimx64.efi").read_bytes() == SHIM.read_bytes()
    # OVMF sends no client identifier: by MAC, one guest is the primary's and one the secondary's.
    guests_by_server = {predicted_server(BIOS_MAC): BIOS_MAC, predicted_server(UEFI_MAC): UEFI_MAC}
    assert set(guests_by_server) == {configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS}
    lab = pxe_pair_factory(trees, list(guests_by_server.values()))
    guests = [lab.guest("sb-%s" % server, mac, "uefi-secure-boot") for server, mac in guests_by_server.items()]
    cmdlines = qemu.boot_all(guests, MARKER_RE, timeout=SECURE_BOOT_TIMEOUT)
    results = {guest.name: guest for guest in guests}
    for server, mac in guests_by_server.items():
        guest = results["sb-%s" % server]
        assert "netboot.entry=install" in cmdlines[guest.name], cmdlines
        # The firmware told the kernel Secure Boot is on: it was enforced for shim and grub too.
        assert SECURE_BOOT_ON in guest.output(), guest.tail()
        assert lab.acked_by(mac).keys() == {server}, (guest.name, lab.acked_by(mac))
        requests = lab.watcher.requests_from(mac)
        assert {r.server_ip for r in requests} == {server}, (guest.name, requests)
        assert {r.proto for r in requests} == {"tftp"}, requests
        paths = [r.path for r in requests]
        # The firmware loads shim; shim loads grub from the same server; grub the menu and images.
        assert paths[0] == "shimx64.efi", paths
        # (OVMF fetches shim twice, size probe then file; shim also asks for its optional
        # revocations_*.efi and shim_certificate_0.efi, which the tree does not have.)
        firsts = [path for index, path in enumerate(paths) if path in CHAIN and path not in paths[:index]]
        assert firsts == CHAIN, paths
        assert_fetched_from_acking_server(lab, mac)


def test_unsigned_kernel_is_refused_by_shim_and_grub(boot_files, unsigned_kernel, tmp_path, pxe_pair_factory):
    trees = render.render(tmp_path / "render", SERVERS, secure_vars(boot_files))
    # Behind the role's back (it refuses such a kernel: the next test): both trees get the unsigned one.
    for tree, _conf in trees.values():
        (tree / "images" / "test-vmlinuz").write_bytes(unsigned_kernel.read_bytes())
    lab = pxe_pair_factory(trees, [UEFI_MAC])
    guest = lab.guest("sb-unsigned", UEFI_MAC, "uefi-secure-boot")
    guest.wait_for(KERNEL_REFUSED, timeout=SECURE_BOOT_TIMEOUT)
    paths = [r.path for r in lab.watcher.requests_from(UEFI_MAC)]
    # shim and grub ran (they are signed); the kernel was fetched, then refused, never started.
    assert paths[0] == "shimx64.efi" and "/images/test-vmlinuz" in paths, paths
    assert "Linux version" not in guest.output(), guest.tail()
    assert "NETBOOT-PXE-TEST-BOOTED" not in guest.output()


def test_role_refuses_an_unsigned_kernel_and_removes_it(boot_files, unsigned_kernel, tmp_path):
    values = secure_vars(boot_files)
    digest = subprocess.run(["sha256sum", str(unsigned_kernel)], capture_output=True, text=True, check=True)
    values["pxe_images"][0].update(src=str(unsigned_kernel), checksum="sha256:" + digest.stdout.split()[0])
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path, SERVERS, values)
    message = str(failure.value)
    assert "refusing images/test-vmlinuz (%s/images/test-vmlinuz)" % (tmp_path / "s1" / "tree") in message, message
    assert "it does not verify against Debian Secure Boot CA" in message, message
    for name in SERVERS:
        assert not (tmp_path / name / "tree" / "images" / "test-vmlinuz").exists()
        # Refused before the loaders were copied: nothing to boot from.
        assert not (tmp_path / name / "tree" / "shimx64.efi").exists()


def test_tampered_grub_on_one_node_is_refused_before_it_is_served(boot_files, tmp_path):
    tampered = tmp_path / "grubnetx64.efi.signed"
    data = bytearray(GRUB.read_bytes())
    # One bit of code, signature untouched.
    data[len(data) // 3] ^= 1
    tampered.write_bytes(bytes(data))
    loaders = {
        "undionly.kpxe": "/usr/lib/ipxe/undionly.kpxe",
        "ipxe.efi": "/usr/lib/ipxe/ipxe.efi",
        "grubx64.efi": str(tampered),
        "pxelinux.0": "/usr/lib/PXELINUX/pxelinux.0",
        "ldlinux.c32": "/usr/lib/syslinux/modules/bios/ldlinux.c32",
    }
    with pytest.raises(render.RenderError) as failure:
        render.render(
            tmp_path / "render", SERVERS, secure_vars(boot_files), {"s2": {"pxe_test_loader_sources": loaders}}
        )
    message = str(failure.value)
    assert "s2: refusing grubx64.efi (%s): it does not verify against Debian Secure Boot CA" % tampered in message
    assert "sbverify: Image fails hash check" in message, message
    # s2 never served it; s1, whose grub is Debian's, went on.
    assert not (tmp_path / "render" / "s2" / "tree" / "grubx64.efi").exists()
    assert (tmp_path / "render" / "s1" / "tree" / "grubx64.efi").read_bytes() == GRUB.read_bytes()
