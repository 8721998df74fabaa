"""UEFI HTTP Boot answers (pxe_uefi_http_boot) from both nodes of a real dhcpd failover pair.

The dhcpd statements come from the pxe role (tests/pxelab/render.yml runs its task files); the
clients are raw DHCP frames with the options OVMF's HttpBootDxe sends: vendor class
"HTTPClient:Arch:00016:UNDI:003001" and option 93 = 00:10. Each node must answer with a URI naming
itself and option 60 "HTTPClient"; PXE clients must get what they got before.
"""

import pytest

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance
from dhcplab import configs
from dhcplab.client import Ack, DhcpClient
from pxelab import render

pytestmark = pytest.mark.system

SERVERS = {"s1": configs.PRIMARY_ADDRESS, "s2": configs.SECONDARY_ADDRESS}
HTTP_BOOT = [("vendor_class_id", b"HTTPClient:Arch:00016:UNDI:003001"), ("pxe_client_architecture", b"\x00\x10")]
UEFI_PXE = [("vendor_class_id", b"PXEClient:Arch:00007:UNDI:003001"), ("pxe_client_architecture", b"\x00\x07")]
# ARM64 UEFI HTTP (00:13): not the x64 class's business.
ARM_HTTP_BOOT = [("vendor_class_id", b"HTTPClient:Arch:00019:UNDI:003001"), ("pxe_client_architecture", b"\x00\x13")]


def mac_answered_by(peer):
    """The first lab MAC that split 128 gives to peer ('primary' or 'secondary')."""
    for last in range(256):
        mac = "52:54:00:00:10:%02x" % last
        if loadbalance.lb_peer(128, mac=mac) == peer:
            return mac
    raise AssertionError("no MAC for %s" % peer)


def answer(client, mac, options):
    """(server id, file name, option 60) of the single OFFER and of the ACK that follows it."""
    offers = client.discover(mac, expect=1, options=options)
    assert len(offers) == 1, offers
    ack = client.request(offers[0], options=options)
    assert isinstance(ack, Ack), ack
    return [(reply.server_id, reply.file, reply.options.get("vendor_class_id")) for reply in (offers[0], ack)]


def test_http_boot_clients_get_a_uri_of_the_answering_node(tmp_path, dhcp_lab):
    trees = render.render(tmp_path / "render", SERVERS, {"pxe_uefi_http_boot": True})
    primary, secondary = configs.failover_pair(
        server_id_check=True, extra_global={name: trees[name][1] for name in SERVERS}
    )
    dhcp_lab.start_pair(primary, secondary).wait_normal().wait_balanced()
    client = DhcpClient(iface=dhcp_lab.bridge)
    dhcp_lab.clients.append(client)
    for peer, server in (("primary", configs.PRIMARY_ADDRESS), ("secondary", configs.SECONDARY_ADDRESS)):
        mac = mac_answered_by(peer)
        uri = ("http://%s/ipxe.efi" % server).encode()
        # The client's parameter request list (1 3 6 15 51 54 58 59) lacks 60: it comes all the same.
        assert answer(client, mac, HTTP_BOOT) == [(server, uri, b"HTTPClient")] * 2, (peer, mac)
        # The same machine PXE booting, and an ARM64 HTTP client: unchanged, no option 60.
        assert answer(client, mac, UEFI_PXE) == [(server, b"grubx64.efi", None)] * 2, (peer, mac)
        assert answer(client, mac, ARM_HTTP_BOOT) == [(server, b"", None)] * 2, (peer, mac)
