"""The pxe role run again on the converged pair: check mode, a tampered GRUB, HTTP Boot and back.

Runs after test_pxe.py (file order) and leaves the pair as converge left it: Secure Boot on, the
chain verified on both nodes, both peers NORMAL. The switch to HTTP Boot goes through site.yml in
check mode first: the check run must change nothing on the nodes and name exactly the tasks the
real run then changes (check mode tells the truth), on both Debian suites.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[4]))
sys.path.insert(0, str(PROJECT / "tests"))

import collection_path  # noqa: E402
from dhcplab.client import Ack, DhcpClient  # noqa: E402

collection_path.ensure()
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance  # noqa: E402

SERVERS = {"mol-pxe-dhcp1": "198.18.22.11", "mol-pxe-dhcp2": "198.18.22.12"}
PEER_ADDRESS = {"primary": SERVERS["mol-pxe-dhcp1"], "secondary": SERVERS["mol-pxe-dhcp2"]}
BRIDGE = "nbpxe0"
ROOT = "/srv/netboot"
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SITE = "netboot.dhcp_failover.site"
# The pxe role alone on the pair (no dhcpd): enough to show what it refuses.
PXE_ONLY = str(Path(__file__).resolve().parents[1] / "pxe-role.yml")
GRUB = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
HTTP_BOOT_VARS = json.dumps({"pxe_secure_boot": False, "pxe_uefi_http_boot": True})
# What OVMF's HttpBootDxe and its PXE driver send (tests/system/test_pxe_http_boot.py).
HTTP_BOOT = [("vendor_class_id", b"HTTPClient:Arch:00016:UNDI:003001"), ("pxe_client_architecture", b"\x00\x10")]
UEFI_PXE = [("vendor_class_id", b"PXEClient:Arch:00007:UNDI:003001"), ("pxe_client_architecture", b"\x00\x07")]
testinfra_hosts = [f"podman://{name}" for name in SERVERS]


class Run:
    """One ansible-playbook run, read through the ansible.posix.json callback."""

    def __init__(self, *args):
        # Only the JSON report on stdout: no other callback may print there.
        env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_CALLBACKS_ENABLED"}
        env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        proc = subprocess.run(
            ["ansible-playbook", "-i", INVENTORY, *args], capture_output=True, text=True, env=env, check=False
        )
        self.rc, self.stderr = proc.returncode, proc.stderr
        try:
            self.report = json.loads(proc.stdout)
        except ValueError:
            pytest.fail(f"ansible-playbook {' '.join(args)}: rc {proc.returncode}, no JSON report:\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")  # fmt: skip

    def results(self, host):
        """(task name, result) of every task that ran on host, handlers included, in order.

        The name without its role prefix ("netboot.dhcp_failover.pxe : "), as the task file says it.
        """
        return [
            (task["task"]["name"].rsplit(" : ", 1)[-1], task["hosts"][host])
            for play in self.report["plays"]
            for task in play["tasks"]
            if host in task["hosts"]
        ]

    def changed(self, host):
        return [name for name, result in self.results(host) if result.get("changed")]

    def failures(self, host):
        return [(name, result.get("msg")) for name, result in self.results(host) if result.get("failed")]

    def stats(self, host):
        return self.report["stats"][host]

    def __str__(self):
        return json.dumps(
            {host: {"stats": self.stats(host), "changed": self.changed(host), "failed": self.failures(host)}
             for host in self.report["stats"]}, indent=1)[-4000:] + self.stderr[-2000:]  # fmt: skip


def node(name):
    return testinfra.get_host(f"podman://{name}")


def snapshot(name):
    """What a run may change on a node: the served tree, dhcpd.conf, and which daemons run (by PID)."""
    return node(name).check_output(
        f"cd {ROOT} && find . -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum /etc/dhcp/dhcpd.conf; "
        "echo dhcpd $(pgrep -x dhcpd) tftpd $(pgrep -x in.tftpd)"
    )


def snapshots():
    return {name: snapshot(name) for name in SERVERS}


def served(name):
    """{path under ROOT: sha256} of a node's tree."""
    out = node(name).check_output(f"cd {ROOT} && find . -type f -print0 | sort -z | xargs -0 sha256sum")
    return {line.split()[1].removeprefix("./"): line.split()[0] for line in out.splitlines()}


def switch(*args):
    """site.yml in check mode, then for real: the check run changes nothing and predicts the real run."""
    before = snapshots()
    check = Run("--check", *args, SITE)
    assert check.rc == 0, check
    assert snapshots() == before, "the check run changed a node"
    real = Run(*args, SITE)
    assert real.rc == 0, real
    for name in SERVERS:
        assert real.changed(name), (name, str(real))
        assert check.changed(name) == real.changed(name), (name, check.changed(name), real.changed(name))
    return real


def mac_of(peer, index):
    """A MAC that split 128 gives to peer ('primary' or 'secondary')."""
    macs = ("52:54:00:22:10:%02x" % last for last in range(256))
    return [mac for mac in macs if loadbalance.lb_peer(128, mac=mac) == peer][index]


def answers(options, index):
    """{server: (file name, option 60)} of one client per peer, OFFER and ACK alike."""
    out = {}
    with DhcpClient(iface=BRIDGE) as client:
        for peer, server in PEER_ADDRESS.items():
            mac = mac_of(peer, index)
            # Broadcast flag: the answers go to ff:ff:ff:ff:ff:ff, which the (not promiscuous) host
            # side of the scenario's bridge receives; unicast to a made-up MAC it would not.
            offers = client.discover(mac, expect=1, options=options, broadcast=True)
            assert [offer.server_id for offer in offers] == [server], (peer, mac, offers)
            ack = client.request(offers[0], options=options, broadcast=True)
            assert isinstance(ack, Ack), ack
            got = {(reply.file, reply.options.get("vendor_class_id")) for reply in (offers[0], ack)}
            assert len(got) == 1, (peer, mac, offers[0], ack)
            out[server] = got.pop()
    return out


def test_check_mode_on_the_converged_pair_changes_nothing():
    before = snapshots()
    check = Run("--check", SITE)
    assert check.rc == 0, check
    for name in SERVERS:
        assert check.stats(name)["changed"] == 0, (name, str(check))
        # The chain is checked in check mode too: a check run that would refuse a file says so.
        verdicts = [r for task, r in check.results(name) if task == "Show the verdicts"]
        assert len(verdicts) == 1, (name, verdicts)
        messages = [item["msg"] for item in verdicts[0]["results"]]
        assert [m.split(" ")[0] for m in messages] == ["shimx64.efi", "grubx64.efi", "images/test-vmlinuz"], messages
        assert all(m.endswith(": signature and signer verified") for m in messages), messages
    assert snapshots() == before


def test_tampered_grub_on_one_node_is_refused_before_it_is_served():
    tampered = "mol-pxe-dhcp2"
    host = node(tampered)
    # One bit of code in the package's file on one node, signature untouched.
    host.check_output(
        f'cp -p {GRUB} /root/grub.genuine && python3 -c "import sys; p = sys.argv[1]; '
        f"d = bytearray(open(p, 'rb').read()); d[len(d) // 3] ^= 1; open(p, 'wb').write(d)\" {GRUB}"
    )
    try:
        before = snapshots()
        for args in (["--check"], []):
            run = Run(*args, PXE_ONLY)
            assert run.rc == 2, run
            assert run.failures("mol-pxe-dhcp1") == [], run
            [(task, message)] = run.failures(tampered)
            assert task == "Refuse the files that do not verify", run
            assert message.startswith(
                f"{tampered}: refusing grubx64.efi ({GRUB}): it does not verify against Debian Secure Boot CA"
            ), message
            assert "shimx64.efi" not in message and "test-vmlinuz" not in message, message
            # Refused before the copy: both nodes serve what they served, the genuine grub included.
            assert snapshots() == before, args
        assert served(tampered)["grubx64.efi"] == served("mol-pxe-dhcp1")["grubx64.efi"]
        assert host.file(GRUB).sha256sum != host.file(f"{ROOT}/grubx64.efi").sha256sum
    finally:
        host.check_output(f"mv /root/grub.genuine {GRUB}")
    assert host.file(GRUB).sha256sum == host.file(f"{ROOT}/grubx64.efi").sha256sum


def test_switch_to_uefi_http_boot():
    real = switch("-e", HTTP_BOOT_VARS)
    for name in SERVERS:
        assert "Stop serving shim when Secure Boot is off" in real.changed(name), real.changed(name)
        assert "shimx64.efi" not in served(name)
        assert 'class "netboot-http-boot"' in node(name).file("/etc/dhcp/dhcpd.conf").content_string
    assert served("mol-pxe-dhcp1") == served("mol-pxe-dhcp2")
    # Each peer answers its own clients with a URI naming itself; UEFI PXE gets grub, no shim.
    assert answers(HTTP_BOOT, 0) == {s: (f"http://{s}/ipxe.efi".encode(), b"HTTPClient") for s in SERVERS.values()}
    assert answers(UEFI_PXE, 1) == {s: (b"grubx64.efi", None) for s in SERVERS.values()}


def test_switch_back_to_secure_boot():
    # Check mode's truth for a switch is shown above; this run restores what converge left.
    real = Run(SITE)
    assert real.rc == 0, real
    for name in SERVERS:
        assert "Copy the boot loaders from the Debian packages" in real.changed(name), real.changed(name)
        assert 'class "netboot-http-boot"' not in node(name).file("/etc/dhcp/dhcpd.conf").content_string
    assert "shimx64.efi" in served("mol-pxe-dhcp1")
    assert served("mol-pxe-dhcp1") == served("mol-pxe-dhcp2")
    assert answers(UEFI_PXE, 2) == {s: (b"shimx64.efi", None) for s in SERVERS.values()}
    # No HTTP Boot class any more: such a client gets an address and no boot file.
    assert answers(HTTP_BOOT, 3) == {s: (b"", None) for s in SERVERS.values()}
