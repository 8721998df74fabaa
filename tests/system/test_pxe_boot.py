"""PXE boot on both nodes of a real dhcpd failover pair, proven by real PXE clients.

The dhcpd statements and the boot trees come from the pxe role itself (its preflight, files,
verify and dhcpd task files, run on the controller by tests/pxelab/render.yml); each server's
namespace serves its own tree over TFTP and HTTP. Clients are qemu guests (TCG): a BIOS one
running the iPXE ROM of ipxe-qemu and a UEFI one running OVMF's native PXE. A guest has booted
when the test initramfs prints its marker with the kernel command line of the chosen entry.
"""

import hashlib
import re
import signal

import pytest

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance
from dhcplab import configs
from pxelab import artifacts, net, qemu, render
from pxelab.servers import BootServers

pytestmark = pytest.mark.system

SERVERS = {"s1": configs.PRIMARY_ADDRESS, "s2": configs.SECONDARY_ADDRESS}
# Under split 128 these hash to different peers (FAILOVER-FACTS: the key is option 61 when sent,
# else the MAC): the BIOS one to the primary both by MAC and by iPXE's client identifier 01+MAC,
# the UEFI one (OVMF sends no option 61) to the secondary. Two guests booting at once are
# therefore answered by different nodes.
BIOS_MAC = "52:54:00:00:00:02"
UEFI_MAC = "52:54:00:00:00:01"
# pxe_hosts: listed guests boot "rescue" plus their own cmdline_append; the others the menu default.
LISTED_BIOS_MAC = "52:54:00:00:00:03"
LISTED_UEFI_MAC = "52:54:00:00:00:04"
MARKER_RE = artifacts.MARKER_RE
# iPXE counts the DISCOVER's secs field from its own start: under TCG its first DISCOVER says
# 4 s (measured), above the usual 3, and then BOTH peers offer. PXE pairs want a higher limit.
LB_MAX_SECS = 15


def predicted_server(mac, client_id=None):
    """The address of the peer that load balancing gives this client (split 128, the lab default)."""
    peer = loadbalance.lb_peer(128, mac=mac, client_id=client_id)
    return configs.PRIMARY_ADDRESS if peer == "primary" else configs.SECONDARY_ADDRESS


def pxe_vars(boot_files, **overrides):
    """Two entries so the menus' default choice is visible in the booted command line."""
    images = [
        {"name": "test-vmlinuz", "src": str(boot_files.kernel), "checksum": "sha256:" + boot_files.sha256("kernel")},
        # By URL (get_url on each node); file:// keeps the test off the network.
        {"name": "test-initrd", "url": boot_files.initrd.as_uri(), "checksum": "sha256:" + boot_files.sha256("initrd")},
    ]
    entries = [
        {"name": "rescue", "title": "Not this one", "kernel": "test-vmlinuz", "initrd": ["test-initrd"],
         "cmdline": "console=ttyS0 netboot.entry=rescue"},
        {"name": "install", "title": "Test install", "kernel": "test-vmlinuz", "initrd": ["test-initrd"],
         "cmdline": "console=ttyS0 panic=-1 netboot.entry=install"},
    ]  # fmt: skip
    values = {"pxe_images": images, "pxe_entries": entries, "pxe_default_entry": "install", "pxe_menu_timeout": 1}
    values.update(overrides)
    return values


@pytest.fixture(scope="module")
def boot_files():
    missing = qemu.missing_tools()
    if missing:
        pytest.fail("PXE tests need these host packages: %s" % ", ".join(missing))
    return artifacts.build()


@pytest.fixture(scope="module")
def default_trees(boot_files, tmp_path_factory):
    return render.render(tmp_path_factory.mktemp("pxe-default"), SERVERS, pxe_vars(boot_files))


class GuestLab:
    """qemu guests on taps of the lab's bridge, beside the boot servers (self.boot) and a wire
    watcher (self.watcher) of a subclass; close() ends them all."""

    def guest(self, name, mac, firmware):
        tap = net.Tap("%s-q%d" % (self.lab.tag, len(self.taps) + 1), self.lab.bridge)
        self.taps.append(tap)
        guest = qemu.Guest(name, self.lab.workdir, tap.name, mac, firmware=firmware)
        self.guests.append(guest)
        return guest

    def close(self):
        for guest in self.guests:
            guest.close()
        self.watcher.close()
        for boot in self.boot.values():
            boot.close()
        for tap in self.taps:
            tap.close()


class PxePair(GuestLab):
    """A NORMAL failover pair whose peers each serve their own rendered tree, plus a watcher."""

    def __init__(self, lab, trees, watch_macs, tftpd):
        self.lab = lab
        # Each node's PXE class is its own dhcpd_extra_config, as the pxe role hands it to dhcpd.
        # server_id_check as the role ships it: without it both peers ACK a broadcast REQUEST,
        # and "the server that gave the lease" would be two servers.
        primary, secondary = configs.failover_pair(
            lb_max_secs=LB_MAX_SECS, server_id_check=True, extra_global={name: trees[name][1] for name in SERVERS}
        )
        self.pair = lab.start_pair(primary, secondary).wait_normal()
        self.pair.wait_balanced()
        self.boot = {}
        for name, server in lab.servers.items():
            self.boot[name] = BootServers(server.netns, server.address, trees[name][0], lab.workdir, tftpd)
        self.watcher = net.Watcher(lab.bridge, watch_macs)
        self.guests = []
        self.taps = []

    def acked_by(self, mac):
        """{server address: [leased addresses]} from the DHCPACK lines of both peers' logs."""
        found = {}
        for server in self.pair.servers:
            leases = re.findall(r"DHCPACK on (\S+) to %s " % re.escape(mac), server.log())
            if leases:
                found[server.address] = leases
        return found


@pytest.fixture(scope="module")
def tftpd():
    return artifacts.tftpd()


@pytest.fixture
def pxe_pair_factory(dhcp_lab, tftpd):
    made = []

    def make(trees, watch_macs):
        pair = PxePair(dhcp_lab, trees, watch_macs, tftpd)
        made.append(pair)
        return pair

    yield make
    for pair in made:
        pair.close()


def assert_fetched_from_acking_server(lab, mac):
    """Every TFTP/HTTP request of mac went to the server of the DHCPACK just before it."""
    fetches = lab.watcher.fetches_by(mac)
    assert fetches, "%s fetched nothing over TFTP or HTTP" % mac
    for request, ack in fetches:
        assert ack is not None, "%s fetched before any DHCPACK: %s" % (mac, request)
        assert (request.server_ip, request.client_ip) == (ack.server_ip, ack.client_ip), (request, ack)


def test_rendered_trees_are_identical_and_name_their_own_node(default_trees):
    (tree1, conf1), (tree2, conf2) = default_trees["s1"], default_trees["s2"]
    files1 = sorted(p.relative_to(tree1).as_posix() for p in tree1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(tree2).as_posix() for p in tree2.rglob("*") if p.is_file())
    assert files1 == files2
    assert {"undionly.kpxe", "ipxe.efi", "grubx64.efi", "boot.ipxe", "grub/grub.cfg"} <= set(files1)
    for path in files1:
        assert (tree1 / path).read_bytes() == (tree2 / path).read_bytes(), path
    for conf, own, other in ((conf1, SERVERS["s1"], SERVERS["s2"]), (conf2, SERVERS["s2"], SERVERS["s1"])):
        assert "next-server %s;" % own in conf
        assert 'filename "http://%s/boot.ipxe";' % own in conf
        assert other not in conf


def test_bios_ipxe_http_and_uefi_grub_tftp_boot_at_once(default_trees, pxe_pair_factory):
    lab = pxe_pair_factory(default_trees, [BIOS_MAC, UEFI_MAC])
    bios = lab.guest("bios", BIOS_MAC, "bios")
    uefi = lab.guest("uefi", UEFI_MAC, "uefi")
    cmdlines = qemu.boot_all([bios, uefi], MARKER_RE, wait_exit=True)

    # The menus' default entry, not the first one, with the kernel and initrd of the images.
    assert "netboot.entry=install" in cmdlines["bios"]
    assert "netboot.entry=install" in cmdlines["uefi"]
    leases = {}
    for guest in (bios, uefi):
        acks = lab.acked_by(guest.mac)
        assert len(acks) == 1, "%s: expected DHCPACKs from exactly one peer, got %s" % (guest.name, acks)
        ((server, addresses),) = acks.items()
        leases[guest.name] = (server, addresses[-1])
        assert_fetched_from_acking_server(lab, guest.mac)
        requests = lab.watcher.requests_from(guest.mac)
        # Every boot file came from the node that gave the lease: next-server and URLs name it.
        assert {r.server_ip for r in requests} == {server}, (guest.name, server, requests)
        assert {r.client_ip for r in requests} == {addresses[-1]}, (guest.name, requests)
        if guest.firmware == "bios":
            assert {r.proto for r in requests} == {"http"}, requests
        else:
            assert {r.proto for r in requests} == {"tftp"}, requests
            paths = [r.path for r in requests]
            # OVMF fetches the loader (size probe, then the file); grub then reads its menu and the images.
            assert paths[0] == "grubx64.efi", paths
            assert {"/grub/grub.cfg", "/images/test-vmlinuz", "/images/test-initrd"} <= set(paths), paths
    # Distinct leases from the peers load balancing predicts: the boot load is shared.
    assert leases["bios"][1] != leases["uefi"][1]
    bios_client_id = bytes.fromhex("01" + BIOS_MAC.replace(":", ""))
    assert predicted_server(BIOS_MAC) == predicted_server(BIOS_MAC, bios_client_id) == configs.PRIMARY_ADDRESS
    assert predicted_server(UEFI_MAC) == configs.SECONDARY_ADDRESS
    assert leases["bios"][0] == configs.PRIMARY_ADDRESS, leases
    assert leases["uefi"][0] == configs.SECONDARY_ADDRESS, leases
    # The BIOS guest got the script, kernel and initrd from that node's HTTP server.
    http_server = next(name for name, addr in SERVERS.items() if addr == leases["bios"][0])
    paths = [(path, status) for client, path, status in lab.boot[http_server].http_requests()
             if client == leases["bios"][1]]  # fmt: skip
    assert paths == [("/boot.ipxe", 200), ("/images/test-vmlinuz", 200), ("/images/test-initrd", 200)], paths
    # iPXE's IPv6 autoconfiguration ended with our router advertisement, not a 15 s timeout.
    assert lab.watcher.rs_answered >= 1


def test_client_boots_with_one_node_dead(default_trees, pxe_pair_factory):
    lab = pxe_pair_factory(default_trees, [BIOS_MAC])
    # Kill the peer that would answer this client; the survivor, in communications-interrupted,
    # answers every client and must serve the boot files as well.
    primary, secondary = lab.pair.primary, lab.pair.secondary
    assert predicted_server(BIOS_MAC) == primary.address
    primary.kill(signal.SIGKILL)
    secondary.wait_for_state("communications-interrupted", timeout=30)
    guest = lab.guest("bios", BIOS_MAC, "bios")
    cmdline = guest.wait_for(MARKER_RE).group(1)
    assert "netboot.entry=install" in cmdline
    assert lab.acked_by(BIOS_MAC).keys() == {secondary.address}
    assert {r.server_ip for r in lab.watcher.requests_from(BIOS_MAC)} == {secondary.address}
    assert_fetched_from_acking_server(lab, BIOS_MAC)


def test_pxelinux_gets_option_209(boot_files, tmp_path, pxe_pair_factory):
    # pxe_ipxe_http=false hands the iPXE ROM pxelinux.0 like any BIOS PXE client.
    trees = render.render(
        tmp_path / "render",
        SERVERS,
        pxe_vars(boot_files, pxe_bios_loader="pxelinux", pxe_ipxe_http=False),
    )
    assert "option dhcp-parameter-request-list = concat(option dhcp-parameter-request-list, d1);" in trees["s1"][1]
    lab = pxe_pair_factory(trees, [BIOS_MAC])
    guest = lab.guest("pxelinux", BIOS_MAC, "bios")
    cmdline = guest.wait_for(MARKER_RE).group(1)
    assert "netboot.entry=install" in cmdline
    paths = [r.path for r in lab.watcher.requests_from(BIOS_MAC)]
    assert {r.proto for r in lab.watcher.requests_from(BIOS_MAC)} == {"tftp"}
    # Option 209 named the menu: pxelinux read it directly instead of trying
    # pxelinux.cfg/<uuid>, /01-<mac>, /<hex address>... first.
    menus = [path for path in paths if "pxelinux.cfg" in path]
    assert menus == ["pxelinux.cfg/default"], paths
    assert paths[0] == "pxelinux.0", paths
    assert {"ldlinux.c32", "images/test-vmlinuz", "images/test-initrd"} <= set(paths), paths


def test_uefi_native_pxe_chains_to_ipxe_over_http(boot_files, tmp_path, pxe_pair_factory):
    trees = render.render(tmp_path / "render", SERVERS, pxe_vars(boot_files, pxe_uefi_loader="ipxe"))
    lab = pxe_pair_factory(trees, [UEFI_MAC])
    guest = lab.guest("uefi-ipxe", UEFI_MAC, "uefi")
    cmdline = guest.wait_for(MARKER_RE).group(1)
    assert "netboot.entry=install" in cmdline
    requests = lab.watcher.requests_from(UEFI_MAC)
    # OVMF loads ipxe.efi over TFTP; iPXE asks again (user-class iPXE) and gets the HTTP script.
    assert [r.path for r in requests if r.proto == "tftp"][0] == "ipxe.efi", requests
    assert {r.path for r in requests if r.proto == "tftp"} == {"ipxe.efi"}, requests
    assert any(r.proto == "http" for r in requests), requests
    # The two stages are two DHCP clients to dhcpd (OVMF sends no client identifier, iPXE sends
    # 01+MAC): each may be answered by either peer, and each stage must fetch its files from the
    # peer that answered it. Both trees are identical, so any mix boots.
    assert len(lab.watcher.acks_to(UEFI_MAC)) >= 2, lab.watcher.requests
    assert_fetched_from_acking_server(lab, UEFI_MAC)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"pxe_entries": [{"name": "x", "kernel": "nope", "initrd": [], "cmdline": ""}]},
            'pxe_entries[0].kernel="nope" is invalid: expected the name of one of pxe_images',
        ),
        (
            {"pxe_default_entry": "missing"},
            'pxe_default_entry="missing" is invalid: expected empty or one of ["rescue", "install"]',
        ),
        (
            {"pxe_ipxe_http": False},
            "pxe_ipxe_http=false with pxe_bios_loader=ipxe and pxe_uefi_loader=grub is invalid",
        ),
        (
            {"pxe_arch_files": {"00:0b": "../etc/passwd"}},
            'pxe_arch_files["00:0b"]="../etc/passwd" is invalid: expected a path inside pxe_root',
        ),
    ],
)
def test_bad_definitions_are_refused_with_the_variable_named(boot_files, tmp_path, overrides, message):
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path, SERVERS, pxe_vars(boot_files, **overrides))
    assert message in str(failure.value)
    # Refused in the preflight: no boot tree was laid out.
    assert not (tmp_path / "s1" / "tree").exists()


def test_wrong_checksum_of_a_downloaded_image_is_refused(boot_files, tmp_path):
    values = pxe_vars(boot_files)
    values["pxe_images"][1]["checksum"] = "sha256:" + "1" * 64
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path, SERVERS, values)
    assert "checksum" in str(failure.value).lower()
    assert not (tmp_path / "s1" / "tree" / "images" / "test-initrd").exists()


def test_wrong_image_checksum_is_refused(boot_files, tmp_path):
    values = pxe_vars(boot_files)
    values["pxe_images"][0]["checksum"] = "sha256:" + "0" * 64
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path, SERVERS, values)
    assert "pxe_images test-vmlinuz: src=" in str(failure.value)
    assert "expected sha256:" + "0" * 64 in str(failure.value)
    assert not (tmp_path / "s1" / "tree").exists()


def test_differing_trees_on_the_two_nodes_are_refused(boot_files, tmp_path):
    trees = render.render(tmp_path, SERVERS, pxe_vars(boot_files))
    # A file the role does not manage, left on one node only: a per-address pxelinux menu written
    # by hand. (Under images/ and for per-MAC menus the role removes such files itself:
    # tests/roles/test_pxe_images.py, test_a_host_dropped_from_pxe_hosts_loses_its_menus.)
    (trees["s2"][0] / "pxelinux.cfg" / "C61200").write_bytes(b"default rescue")
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path, SERVERS, pxe_vars(boot_files))
    message = str(failure.value)
    assert "the boot files under %s differ from the peers'" % trees["s1"][0] in message
    digest = hashlib.sha256(b"default rescue").hexdigest()
    assert "pxelinux.cfg/C61200 missing here, %s on s2" % digest in message


def listed_hosts(*macs):
    # Spelled differently from the guests' MACs: the role normalizes them (dashes, upper case).
    return [
        {"mac": mac.replace(":", "-").upper(), "entry": "rescue", "cmdline_append": "netboot.host=%s" % mac[-2:]}
        for mac in macs
    ]


def assert_boots(cmdlines, name, entry, host=None):
    words = cmdlines[name].split()
    assert "netboot.entry=%s" % entry in words, (name, cmdlines[name])
    assert [w for w in words if w.startswith("netboot.host=")] == (["netboot.host=%s" % host] if host else []), (
        name, cmdlines[name])  # fmt: skip


def test_pxe_hosts_boot_their_entry_through_ipxe_and_grub(boot_files, tmp_path, pxe_pair_factory):
    """A listed BIOS guest (iPXE), a listed UEFI guest (grub) and an unlisted one, booting at once."""
    trees = render.render(
        tmp_path / "render", SERVERS, pxe_vars(boot_files, pxe_hosts=listed_hosts(LISTED_BIOS_MAC, LISTED_UEFI_MAC))
    )
    lab = pxe_pair_factory(trees, [LISTED_BIOS_MAC, LISTED_UEFI_MAC, BIOS_MAC])
    guests = [
        lab.guest("listed-bios", LISTED_BIOS_MAC, "bios"),
        lab.guest("listed-uefi", LISTED_UEFI_MAC, "uefi"),
        lab.guest("unlisted-bios", BIOS_MAC, "bios"),
    ]
    cmdlines = qemu.boot_all(guests, MARKER_RE, wait_exit=True)
    assert_boots(cmdlines, "listed-bios", "rescue", "03")
    assert_boots(cmdlines, "listed-uefi", "rescue", "04")
    assert_boots(cmdlines, "unlisted-bios", "install")
    uefi_paths = [r.path for r in lab.watcher.requests_from(LISTED_UEFI_MAC)]
    # grub.cfg switched on $net_default_mac to the host's own file.
    assert "/grub/grub.cfg-01-52-54-00-00-00-04" in uefi_paths, uefi_paths
    for guest in guests:
        assert_fetched_from_acking_server(lab, guest.mac)


def test_pxe_hosts_boot_their_entry_through_pxelinux(boot_files, tmp_path, pxe_pair_factory):
    trees = render.render(
        tmp_path / "render",
        SERVERS,
        pxe_vars(boot_files, pxe_bios_loader="pxelinux", pxe_ipxe_http=False, pxe_hosts=listed_hosts(LISTED_BIOS_MAC)),
    )
    lab = pxe_pair_factory(trees, [LISTED_BIOS_MAC, BIOS_MAC])
    guests = [lab.guest("listed", LISTED_BIOS_MAC, "bios"), lab.guest("unlisted", BIOS_MAC, "bios")]
    cmdlines = qemu.boot_all(guests, MARKER_RE, wait_exit=True)
    assert_boots(cmdlines, "listed", "rescue", "03")
    assert_boots(cmdlines, "unlisted", "install")
    # Option 209 named each client's own menu file, so pxelinux searched no others.
    menus = {mac: [r.path for r in lab.watcher.requests_from(mac) if "pxelinux.cfg" in r.path]
             for mac in (LISTED_BIOS_MAC, BIOS_MAC)}  # fmt: skip
    assert menus == {LISTED_BIOS_MAC: ["pxelinux.cfg/01-52-54-00-00-00-03"], BIOS_MAC: ["pxelinux.cfg/default"]}


def test_a_host_dropped_from_pxe_hosts_loses_its_menus(boot_files, tmp_path):
    listed = render.render(tmp_path, SERVERS, pxe_vars(boot_files, pxe_hosts=listed_hosts(LISTED_BIOS_MAC)))
    tree = listed["s1"][0]
    own = ["pxelinux.cfg/01-52-54-00-00-00-03", "grub/grub.cfg-01-52-54-00-00-00-03"]
    assert all((tree / path).is_file() for path in own)
    assert "iseq ${netX/mac} 52:54:00:00:00:03 && goto host-52-54-00-00-00-03 ||" in (tree / "boot.ipxe").read_text()
    render.render(tmp_path, SERVERS, pxe_vars(boot_files))
    assert not any((tree / path).exists() for path in own)
    assert "52:54:00:00:00:03" not in (tree / "boot.ipxe").read_text() + (tree / "grub/grub.cfg").read_text()


def test_unknown_host_entry_is_refused_before_any_tree(boot_files, tmp_path):
    hosts = listed_hosts(LISTED_BIOS_MAC, LISTED_UEFI_MAC)
    hosts[1]["entry"] = "reinstall"
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path, SERVERS, pxe_vars(boot_files, pxe_hosts=hosts))
    assert 'pxe_hosts[1].entry="reinstall" is invalid: expected the name of one of pxe_entries' in str(failure.value)
    assert not (tmp_path / "s1" / "tree").exists()


def test_uefi_http_boot_loads_ipxe_over_http_from_the_answering_node(boot_files, tmp_path, pxe_pair_factory):
    """OVMF's own UEFI HTTP Boot (PXE switched off): no TFTP at all, every file from the node that answered."""
    trees = render.render(tmp_path / "render", SERVERS, pxe_vars(boot_files, pxe_uefi_http_boot=True))
    lab = pxe_pair_factory(trees, [UEFI_MAC])
    guest = lab.guest("uefi-http", UEFI_MAC, "uefi-http")
    cmdline = guest.wait_for(MARKER_RE).group(1)
    assert "netboot.entry=install" in cmdline
    requests = lab.watcher.requests_from(UEFI_MAC)
    assert requests and {r.proto for r in requests} == {"http"}, requests
    assert_fetched_from_acking_server(lab, UEFI_MAC)
    # The firmware's stage (no user-class) fetched the URI of the node that answered it, then
    # iPXE boot.ipxe and the images; several DHCP exchanges, each stage from its own answerer.
    fetched = [(path, status) for boot in lab.boot.values() for _client, path, status in boot.http_requests()]
    assert ("/ipxe.efi", 200) in fetched, fetched
    assert {("/boot.ipxe", 200), ("/images/test-vmlinuz", 200), ("/images/test-initrd", 200)} <= set(fetched), fetched
