"""plugins/plugin_utils/pxe.py and the pxe_settings / pxe_tree_differences filters: one rule per test."""

import copy
import re
import subprocess
from pathlib import Path

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter import pxe_settings as settings_plugin
from ansible_collections.netboot.dhcp_failover.plugins.filter import pxe_tree_differences as tree_plugin
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pxe

pxe_settings_filter = settings_plugin.FilterModule().filters()["pxe_settings"]
pxe_tree_differences = tree_plugin.FilterModule().filters()["pxe_tree_differences"]

SHA256 = "sha256:" + "ab" * 32
VALID = {
    "pxe_root": "/srv/netboot",
    "pxe_server_address": "198.18.22.11",
    "pxe_http_port": 80,
    "pxe_bios_loader": "ipxe",
    "pxe_uefi_loader": "grub",
    "pxe_ipxe_http": True,
    "pxe_arch_files": {"00:0b": "images/grubaa64.efi"},
    "pxe_images": [
        {"name": "vmlinuz", "url": "http://mirror.example/debian/linux", "checksum": SHA256},
        {"name": "initrd.gz", "src": "files/netboot/initrd.gz", "checksum": "md5:" + "0" * 32},
        {"name": "grubaa64.efi", "src": "files/grubaa64.efi", "checksum": SHA256},
    ],
    "pxe_entries": [
        {"name": "install", "title": "Debian 12 installer (auto)", "kernel": "vmlinuz", "initrd": ["initrd.gz"],
         "cmdline": "auto=true priority=critical console=ttyS0,115200n8 url=http://198.18.22.11/preseed.cfg"},
        {"name": "rescue", "kernel": "vmlinuz"},
    ],  # fmt: skip
    "pxe_default_entry": "",
    "pxe_menu_timeout": 5,
    "pxe_menu_title": "Network boot",
    "pxe_peers": [],
    "pxe_tftp_options": "--secure --verbose",
    "pxe_apt_cache_valid_time": 3600,
}


def check(**changes):
    variables = copy.deepcopy(VALID)
    variables.update(changes)
    return pxe.pxe_settings(variables)


def errors(**changes):
    return check(**changes)[1]


def with_image(index, **changes):
    images = copy.deepcopy(VALID["pxe_images"])
    images[index].update(changes)
    return images


def with_entry(index, **changes):
    entries = copy.deepcopy(VALID["pxe_entries"])
    entries[index].update(changes)
    return entries


def assert_one_error(found, start, *parts):
    assert len(found) == 1, found
    assert found[0].startswith(start), found
    for part in parts:
        assert part in found[0], found


# --- the valid definition and its normalization ---------------------------------------------


def test_valid_definition_has_no_errors():
    assert errors() == []


def test_settings_are_normalized_for_the_templates():
    settings, found = check(
        pxe_root="/srv/netboot/",
        pxe_http_port="8080",
        pxe_ipxe_http="yes",
        pxe_arch_files={"00:0B": "images/grubaa64.efi", "00:0a": "images/arm32.efi"},
        pxe_images=with_image(0, checksum="SHA256:" + "AB" * 32),
    )
    assert found == []
    assert settings["root"] == "/srv/netboot"
    assert settings["http_port"] == 8080
    assert settings["http_base"] == "http://198.18.22.11:8080"
    assert settings["ipxe_http"] is True
    assert settings["arch_files"] == [
        {"arch": "00:0a", "path": "images/arm32.efi"},
        {"arch": "00:0b", "path": "images/grubaa64.efi"},
    ]
    image = settings["images"][0]
    assert (image["checksum"], image["algorithm"], image["digest"]) == (SHA256, "sha256", "ab" * 32)
    assert image["src"] is None
    assert settings["images"][1]["url"] is None


def test_port_80_is_left_out_of_the_http_url():
    assert check()[0]["http_base"] == "http://198.18.22.11"


def test_entry_defaults_title_initrd_and_cmdline():
    rescue = check()[0]["entries"][1]
    assert rescue == {"name": "rescue", "title": "rescue", "kernel": "vmlinuz", "initrd": [], "cmdline": ""}


def test_empty_default_entry_is_the_first_entry():
    assert check()[0]["default_entry"] == "install"
    assert check(pxe_default_entry="rescue")[0]["default_entry"] == "rescue"


def test_no_entries_is_valid_and_has_no_default():
    settings, found = check(pxe_entries=[], pxe_images=[])
    assert found == []
    assert settings["default_entry"] == ""


@pytest.mark.parametrize(
    ("bios", "uefi", "bios_file", "uefi_file"),
    [("ipxe", "grub", "undionly.kpxe", "grubx64.efi"), ("pxelinux", "ipxe", "pxelinux.0", "ipxe.efi")],
)
def test_loader_choice_gives_the_loader_file(bios, uefi, bios_file, uefi_file):
    settings = check(pxe_bios_loader=bios, pxe_uefi_loader=uefi)[0]
    assert (settings["bios_file"], settings["uefi_file"]) == (bios_file, uefi_file)
    assert settings["uefi_arches"] == ["00:07", "00:09"]


def test_missing_variables_take_the_role_defaults():
    settings, found = pxe.pxe_settings({"pxe_server_address": "192.0.2.10"})
    assert found == []
    assert (settings["root"], settings["http_port"], settings["menu_timeout"]) == ("/srv/netboot", 80, 5)
    assert (settings["bios_loader"], settings["uefi_loader"], settings["ipxe_http"]) == ("ipxe", "grub", True)


# --- pxe_images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "-lead", ".hidden", "..", "../etc/passwd", "a/b", "a b", 'a"b', "a;b", "a\nb", "a{b", "x" * 65, None, 7,
     ["k"]],
)
def test_bad_image_name(name):
    assert_one_error(errors(pxe_images=with_image(2, name=name)), "pxe_images[2].name=", "expected 1 to 64 letters")


def test_duplicate_image_names():
    images = with_image(1, name="vmlinuz")
    found = errors(pxe_images=images, pxe_entries=[VALID["pxe_entries"][1]])
    assert found == ['pxe_images[1].name="vmlinuz" is invalid: pxe_images[0] has the same name '
                     "(each is a file under images/)"]  # fmt: skip


def test_image_with_both_url_and_src():
    found = errors(pxe_images=with_image(0, src="files/k"))
    assert found == ['pxe_images[0] ("vmlinuz") has both url and src: expected exactly one of them']


def test_image_with_neither_url_nor_src():
    images = copy.deepcopy(VALID["pxe_images"])
    del images[1]["src"]
    assert errors(pxe_images=images) == [
        'pxe_images[1] ("initrd.gz") has neither url nor src: expected exactly one of them'
    ]


@pytest.mark.parametrize(
    "url", ["", "mirror.example/linux", "gopher://x/y", "http://x/a b", "http://x/\n", "javascript:alert(1)", 5]
)
def test_bad_image_url(url):
    assert_one_error(errors(pxe_images=with_image(0, url=url)), "pxe_images[0].url=", "http, https, ftp or file URL")


@pytest.mark.parametrize("src", ["", "files/a\nb", None, ["a"]])
def test_bad_image_src(src):
    assert_one_error(errors(pxe_images=with_image(1, src=src)), "pxe_images[1].src=", "a file on the controller")


@pytest.mark.parametrize(
    "checksum",
    [
        None,
        "",
        "ab" * 32,  # no algorithm
        "sha256:",
        "crc32:deadbeef",
        "sha256:" + "ab" * 31,  # too short for sha256
        "sha256:" + "ab" * 33,  # too long
        "md5:" + "0" * 64,  # a sha256 length under md5
        "sha256:" + "g" * 64,
        "sha256: " + "ab" * 32,
        "sha256:" + "ab" * 32 + "\n",
        12345,
    ],
)
def test_bad_image_checksum(checksum):
    assert_one_error(errors(pxe_images=with_image(0, checksum=checksum)), "pxe_images[0].checksum=",
                     "md5, sha1, sha224, sha256, sha384, sha512", "sha256 64")  # fmt: skip


@pytest.mark.parametrize(("algorithm", "length"), sorted(pxe.CHECKSUM_HEX_LENGTHS.items()))
def test_each_checksum_algorithm_with_its_length(algorithm, length):
    assert errors(pxe_images=with_image(0, checksum="%s:%s" % (algorithm, "f" * length))) == []


def test_unknown_image_key():
    found = errors(pxe_images=with_image(0, sha256sum="x"))
    assert found == ['pxe_images[0] has the unknown key "sha256sum": expected only name, url, src, checksum']


@pytest.mark.parametrize("images", ["vmlinuz", {"name": "vmlinuz"}, None])
def test_images_not_a_list(images):
    assert_one_error(errors(pxe_images=images, pxe_entries=[]), "pxe_images=", "expected a list of dicts")


def test_image_not_a_dict():
    images = copy.deepcopy(VALID["pxe_images"]) + ["vmlinuz"]
    assert_one_error(errors(pxe_images=images), 'pxe_images[3]="vmlinuz" is invalid', "expected a dict")


# --- pxe_entries --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a b", "${target}", "a:b", "a;b", "a\nb", "-x", "x" * 65, None, 1])
def test_bad_entry_name(name):
    found = errors(pxe_entries=with_entry(1, name=name))
    assert_one_error(found, "pxe_entries[1].name=", "expected 1 to 64 letters")


def test_duplicate_entry_names():
    found = errors(pxe_entries=with_entry(1, name="install"))
    assert found == ['pxe_entries[1].name="install" is invalid: pxe_entries[0] has the same name '
                     "(menus address entries by name)"]  # fmt: skip


@pytest.mark.parametrize(
    "title",
    [
        "",
        'Debian "12"',  # ends grub's menuentry string
        "Debian ${arch}",  # iPXE and grub expand it
        "a || shell",  # iPXE runs the right side
        "a && b",
        "a; reboot",
        "a\nkernel http://evil/k",
        "a\rb",
        "a\tb",
        "back\\slash",
        "a { b }",
        "a # b",
        "a < b",
        "a `b`",
        "x" * 81,
        7,
        ["t"],
    ],
)
def test_bad_entry_title(title):
    assert_one_error(errors(pxe_entries=with_entry(0, title=title)), "pxe_entries[0].title=", "1 to 80 letters")


@pytest.mark.parametrize("kernel", ["nope", "", None, ["vmlinuz"], "../vmlinuz"])
def test_entry_kernel_must_be_an_image(kernel):
    found = errors(pxe_entries=with_entry(0, kernel=kernel))
    assert_one_error(found, "pxe_entries[0].kernel=", 'expected the name of one of pxe_images ["vmlinuz", ')


def test_entry_kernel_message_as_the_system_test_expects():
    found = errors(pxe_entries=[{"name": "x", "kernel": "nope", "initrd": [], "cmdline": ""}])
    assert found[0].startswith('pxe_entries[0].kernel="nope" is invalid: expected the name of one of pxe_images')


@pytest.mark.parametrize("initrd", ["initrd.gz", ["nope"], ["initrd.gz", "nope"], [None], {"a": 1}, 3])
def test_entry_initrd_must_be_a_list_of_images(initrd):
    found = errors(pxe_entries=with_entry(0, initrd=initrd))
    assert_one_error(found, "pxe_entries[0].initrd=", "expected a list of names from pxe_images")


@pytest.mark.parametrize(
    "cmdline",
    [
        "quiet; reboot",  # grub: a second command
        "quiet\ninitrd http://evil/x",
        "a\rb",
        "a\tb",
        'preseed="x"',
        "a='b'",
        "x=${root}",
        "a || b",
        "a && b",
        "a | b",
        "a & b",
        "a { b }",
        "a # b",
        "a > /tmp/x",
        "a < b",
        "a\\b",
        "a `id`",
        "x" * 1537,
        "é",
        5,
        ["quiet"],
    ],
)
def test_bad_entry_cmdline(cmdline):
    assert_one_error(errors(pxe_entries=with_entry(0, cmdline=cmdline)), "pxe_entries[0].cmdline=",
                     "expected one line of at most 1536")  # fmt: skip


def test_longest_cmdline_is_accepted():
    assert errors(pxe_entries=with_entry(0, cmdline="x" * 1536)) == []


def test_unknown_entry_key():
    found = errors(pxe_entries=with_entry(0, append="quiet"))
    assert found == ['pxe_entries[0] has the unknown key "append": expected only name, title, kernel, initrd, cmdline']


@pytest.mark.parametrize("entries", ["install", {"name": "install"}, None])
def test_entries_not_a_list(entries):
    assert_one_error(errors(pxe_entries=entries), "pxe_entries=", "expected a list of dicts")


def test_entry_not_a_dict():
    assert_one_error(errors(pxe_entries=["install"]), 'pxe_entries[0]="install" is invalid', "expected a dict")


def test_entry_referring_to_a_badly_defined_image_reports_only_the_image():
    found = errors(pxe_images=with_image(0, checksum="sha256:0"))
    assert_one_error(found, "pxe_images[0].checksum=")


# --- pxe_default_entry, menus -------------------------------------------------------------------


@pytest.mark.parametrize("default", ["missing", "INSTALL", 0, ["install"]])
def test_default_entry_must_be_an_entry(default):
    found = errors(pxe_default_entry=default)
    assert_one_error(found, "pxe_default_entry=", 'expected empty or one of ["install", "rescue"]')


def test_default_entry_message_as_the_system_test_expects():
    assert errors(pxe_default_entry="missing") == [
        'pxe_default_entry="missing" is invalid: expected empty or one of ["install", "rescue"]'
    ]


@pytest.mark.parametrize("timeout", [-1, 3600, "5s", 1.5, True, None])
def test_bad_menu_timeout(timeout):
    assert_one_error(errors(pxe_menu_timeout=timeout), "pxe_menu_timeout=", "an integer from 0 to 3599")


@pytest.mark.parametrize("timeout", [0, 3599, "10"])
def test_menu_timeout_bounds(timeout):
    assert errors(pxe_menu_timeout=timeout) == []


@pytest.mark.parametrize("title", ["", "Boot ${x}", "a\nb", 'say "hi"', "a || b", None])
def test_bad_menu_title(title):
    assert_one_error(errors(pxe_menu_title=title), "pxe_menu_title=", "1 to 80 letters")


# --- loaders ------------------------------------------------------------------------------------


@pytest.mark.parametrize("loader", ["grub", "IPXE", "", None, "undionly.kpxe"])
def test_bad_bios_loader(loader):
    assert_one_error(errors(pxe_bios_loader=loader), "pxe_bios_loader=", "expected one of ipxe, pxelinux")


@pytest.mark.parametrize("loader", ["pxelinux", "Grub", "", None])
def test_bad_uefi_loader(loader):
    assert_one_error(errors(pxe_uefi_loader=loader), "pxe_uefi_loader=", "expected one of grub, ipxe")


@pytest.mark.parametrize("value", ["maybe", 2, None, [True]])
def test_bad_ipxe_http(value):
    assert_one_error(errors(pxe_ipxe_http=value), "pxe_ipxe_http=", "expected true or false")


@pytest.mark.parametrize(("bios", "uefi"), [("ipxe", "grub"), ("pxelinux", "ipxe"), ("ipxe", "ipxe")])
def test_ipxe_loader_needs_ipxe_http(bios, uefi):
    found = errors(pxe_ipxe_http=False, pxe_bios_loader=bios, pxe_uefi_loader=uefi)
    assert found == ["pxe_ipxe_http=false with pxe_bios_loader=%s and pxe_uefi_loader=%s is invalid: an iPXE "
                     "loader would be handed itself again; set pxe_ipxe_http=true or use pxelinux/grub" % (bios, uefi)]


def test_no_ipxe_http_with_pxelinux_and_grub():
    settings, found = check(pxe_ipxe_http="false", pxe_bios_loader="pxelinux", pxe_uefi_loader="grub")
    assert found == []
    assert settings["ipxe_http"] is False


# --- pxe_arch_files -----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["00:00", "00:07", "00:09", "0b", "00:0g", "000:0b", "00-0b", "00:0b\n", 11])
def test_bad_arch_key(arch):
    found = errors(pxe_arch_files={arch: "images/x.efi"})
    assert_one_error(found, "pxe_arch_files key ", "expected an option 93 value", "00:00, 00:07, 00:09")


def test_same_arch_twice_in_other_case():
    found = errors(pxe_arch_files={"00:0b": "images/a.efi", "00:0B": "images/b.efi"})
    assert found == ['pxe_arch_files key "00:0B" is invalid: the same architecture as "00:0b"']


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "images/../../etc/passwd",
        "/etc/passwd",
        "images//x.efi",
        "images/",
        "./images/x.efi",
        "",
        'x.efi"; filename "evil',
        "x.efi;",
        "x\n.efi",
        "x y.efi",
        "x{}.efi",
        "x" * 128,
        None,
        ["images/x.efi"],
    ],
)
def test_bad_arch_file_path(path):
    found = errors(pxe_arch_files={"00:0b": path})
    assert_one_error(found, 'pxe_arch_files["00:0b"]=', "is invalid: expected a path inside pxe_root")


def test_arch_file_message_as_the_system_test_expects():
    found = errors(pxe_arch_files={"00:0b": "../etc/passwd"})
    assert found[0].startswith('pxe_arch_files["00:0b"]="../etc/passwd" is invalid: expected a path inside pxe_root')


@pytest.mark.parametrize("value", [["00:0b"], "00:0b=images/x", None])
def test_arch_files_not_a_dict(value):
    assert_one_error(errors(pxe_arch_files=value), "pxe_arch_files=", "expected a dict")


# --- addresses, ports, paths, options -----------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        None,  # dhcp_failover_address not set
        "",
        "198.18.22.300",
        "198.18.22",
        "198.018.22.11",
        "198.18.22.11 ",
        "198.18.22.11;",
        "host.example",
        "2001:db8::1",
        "0.0.0.0",  # noqa: S104 - the value under test, not a bind
        "127.0.0.1",
        "224.0.0.1",
        "255.255.255.255",
        3323598347,
    ],
)
def test_bad_server_address(address):
    found = errors(pxe_server_address=address)
    assert_one_error(found, "pxe_server_address=", "this node's IPv4 address", "dhcp_failover_address")


@pytest.mark.parametrize("port", [0, 65536, -1, "http", "80;", True, None, 80.5])
def test_bad_http_port(port):
    assert_one_error(errors(pxe_http_port=port), "pxe_http_port=", "an integer from 1 to 65535")


@pytest.mark.parametrize(
    "root",
    [
        "/",
        "//",
        "",
        "srv/netboot",
        "/srv/../etc",
        "/srv/./netboot",
        "/srv//netboot",
        "/srv/net boot",
        "/srv/netboot;",  # ends nginx' root statement
        '/srv/"netboot',  # ends tftpd-hpa's TFTP_DIRECTORY
        "/srv/$HOME",
        "/srv/netboot\n",
        None,
    ],
)
def test_bad_root(root):
    assert_one_error(errors(pxe_root=root), "pxe_root=", 'an absolute directory other than "/"')


@pytest.mark.parametrize(
    "options", ['--secure" ; rm -rf / ; "', "--secure $(id)", "--secure `id`", "--secure\n", "-s \\", None]
)
def test_bad_tftp_options(options):
    assert_one_error(errors(pxe_tftp_options=options), "pxe_tftp_options=", "tftpd-hpa options")


def test_tftp_options_with_values():
    assert errors(pxe_tftp_options="--secure --verbose --blocksize 1468 --port-range 4000:4100 -m /etc/map") == []


@pytest.mark.parametrize("value", [-1, "1h", None, True])
def test_bad_apt_cache_valid_time(value):
    assert_one_error(errors(pxe_apt_cache_valid_time=value), "pxe_apt_cache_valid_time=", "an integer from 0")


@pytest.mark.parametrize("peers", ["node1", [""], [None], ["a\nb"], {"a": 1}])
def test_bad_peers(peers):
    assert_one_error(errors(pxe_peers=peers), "pxe_peers=", "a list of inventory host names")


def test_every_error_is_reported_at_once():
    found = errors(pxe_root="/", pxe_http_port=0, pxe_menu_timeout=-1, pxe_default_entry="none")
    assert [message.split("=", 1)[0] for message in found] == [
        "pxe_root",
        "pxe_default_entry",
        "pxe_http_port",
        "pxe_menu_timeout",
    ]


# Every free-text field a user writes, and characters that could end its statement, string or line
# in one of the generated files: each must be refused, naming the field.
HOSTILE = ['"', ";", "\n", "\r", "{", "}", "$", "\\", "`", "|", "&", "#", "<", ">", "\x00"]
FIELDS = [
    ("pxe_menu_title", lambda v: {"pxe_menu_title": "Boot" + v + "x"}),
    ("pxe_entries[0].title", lambda v: {"pxe_entries": with_entry(0, title="T" + v + "x")}),
    ("pxe_entries[0].cmdline", lambda v: {"pxe_entries": with_entry(0, cmdline="quiet" + v + "x")}),
    ("pxe_entries[0].name", lambda v: {"pxe_entries": with_entry(0, name="e" + v + "x")}),
    ("pxe_images[0].name", lambda v: {"pxe_images": with_image(0, name="k" + v + "x"), "pxe_entries": []}),
    ('pxe_arch_files["00:0b"]', lambda v: {"pxe_arch_files": {"00:0b": "images/x" + v + "y"}}),
    ("pxe_root", lambda v: {"pxe_root": "/srv/n" + v + "x"}),
    ("pxe_tftp_options", lambda v: {"pxe_tftp_options": "--secure" + v + "x"}),
]


@pytest.mark.parametrize("char", HOSTILE, ids=[repr(c) for c in HOSTILE])
@pytest.mark.parametrize(("field", "make"), FIELDS, ids=[f[0] for f in FIELDS])
def test_no_field_lets_a_statement_end(field, make, char):
    found = errors(**make(char))
    assert found, (field, char)
    assert found[0].startswith(field + "="), found


# --- the filters --------------------------------------------------------------------------------


def test_filter_returns_settings_and_errors():
    result = pxe_settings_filter(copy.deepcopy(VALID))
    assert result["errors"] == []
    assert result["settings"]["entries"][0]["name"] == "install"


def test_strict_filter_returns_settings():
    assert pxe_settings_filter(copy.deepcopy(VALID), strict=True)["default_entry"] == "install"


def test_strict_filter_fails_with_every_error():
    variables = dict(copy.deepcopy(VALID), pxe_http_port=0, pxe_root="/")
    with pytest.raises(AnsibleFilterError) as failure:
        pxe_settings_filter(variables, strict=True)
    message = str(failure.value)
    assert "netboot.dhcp_failover.pxe_settings: " in message
    assert "pxe_http_port=0 is invalid" in message
    assert 'pxe_root="/" is invalid' in message


def test_filter_refuses_non_dict_input():
    with pytest.raises(AnsibleFilterError, match="expected a dict of the pxe role's variables, got list"):
        pxe_settings_filter([])


def test_tree_differences():
    mine = {"boot.ipxe": "aa", "images/k": "bb", "grub/grub.cfg": "cc"}
    peers = {"n3": None, "n2": {"boot.ipxe": "aa", "grub/grub.cfg": "dd", "extra": "ee"}, "n4": False}
    assert pxe_tree_differences(mine, peers) == [
        "extra missing here, ee on n2",
        "grub/grub.cfg cc here, dd on n2",
        "images/k bb here, missing on n2",
        "n3: no file list (not in this run?)",
        "n4: no file list (not in this run?)",
    ]


def test_identical_trees_have_no_differences():
    assert pxe_tree_differences({"a": "1"}, {"n2": {"a": "1"}}) == []
    assert pxe_tree_differences({"a": "1"}, {}) == []


def test_tree_differences_refuses_non_dicts():
    with pytest.raises(AnsibleFilterError, match="pxe_tree_differences"):
        pxe_tree_differences([], {})


# --- pxe_hosts ----------------------------------------------------------------------------------


def hosts(*items):
    return check(pxe_hosts=list(items))


@pytest.mark.parametrize("spelling", ["52:54:00:AB:cd:03", "52-54-00-ab-cd-03", "5254.00ab.cd03", "525400ABCD03"])
def test_host_mac_takes_the_lb_peer_spellings_and_is_normalized(spelling):
    settings, found = hosts({"mac": spelling, "entry": "rescue"})
    assert found == []
    (host,) = settings["hosts"]
    assert host["mac"] == "52:54:00:ab:cd:03"
    assert (host["hardware"], host["file_id"], host["label"]) == (
        "1:52:54:00:ab:cd:03", "01-52-54-00-ab-cd-03", "host-52-54-00-ab-cd-03")  # fmt: skip


@pytest.mark.parametrize("mac", ["52:54:00:ab:cd", "52:54:00:ab:cd:zz", "52:54:00:ab:cd:03:04", 525400, None])
def test_host_mac_must_be_a_mac(mac):
    assert_one_error(hosts({"mac": mac, "entry": "rescue"})[1], "pxe_hosts[0].mac=",
                     "is invalid: expected a MAC address of 6 bytes written aa:bb:cc:dd:ee:ff")  # fmt: skip


def test_host_entry_must_exist():
    found = hosts({"mac": "52:54:00:00:00:01", "entry": "rescue"},
                  {"mac": "52:54:00:00:00:02", "entry": "reinstall"})[1]  # fmt: skip
    assert found == ['pxe_hosts[1].entry="reinstall" is invalid: expected the name of one of pxe_entries '
                     '["install", "rescue"]']  # fmt: skip


def test_host_entry_is_required():
    assert_one_error(hosts({"mac": "52:54:00:00:00:01"})[1], "pxe_hosts[0].entry=null is invalid")


def test_same_mac_in_two_spellings_is_refused():
    found = hosts({"mac": "52:54:00:00:00:01", "entry": "rescue"}, {"mac": "525400000001", "entry": "install"})[1]
    assert found == ['pxe_hosts[1].mac="525400000001" is invalid: pxe_hosts[0] has the same MAC (52:54:00:00:00:01); '
                     'a host boots one entry']  # fmt: skip


@pytest.mark.parametrize(
    "append",
    ['x" --unrestricted', "x\nmenuentry evil", "x; reboot", "x ${net0/mac}", "x\" }\nlinux /evil", "x || shell", "x\r"],
)
def test_cmdline_append_cannot_leave_its_line(append):
    assert_one_error(hosts({"mac": "52:54:00:00:00:01", "entry": "rescue", "cmdline_append": append})[1],
                     "pxe_hosts[0].cmdline_append=", "expected one line of at most 1536")  # fmt: skip


def test_cmdline_append_is_added_to_the_entry_only_for_that_host():
    settings, found = hosts({"mac": "52:54:00:00:00:01", "entry": "install", "cmdline_append": "hostname=web1"},
                            {"mac": "52:54:00:00:00:02", "entry": "rescue"})  # fmt: skip
    assert found == []
    first, second = settings["hosts"]
    assert first["entry"]["cmdline"] == VALID["pxe_entries"][0]["cmdline"] + " hostname=web1"
    assert first["entry"]["name"] == "install"
    # No trailing space when the entry has no cmdline, and the menu's entries are unchanged.
    assert second["entry"]["cmdline"] == ""
    assert settings["entries"][0]["cmdline"] == VALID["pxe_entries"][0]["cmdline"]


def test_cmdline_append_must_fit_the_kernel_limit_with_the_entry():
    room = 1536 - len(VALID["pxe_entries"][0]["cmdline"]) - 1
    assert hosts({"mac": "52:54:00:00:00:01", "entry": "install", "cmdline_append": "a" * room})[1] == []
    found = hosts({"mac": "52:54:00:00:00:01", "entry": "install", "cmdline_append": "a" * (room + 1)})[1]
    assert_one_error(found, "pxe_hosts[0].cmdline_append=", "expected at most %d characters" % room)


def test_host_unknown_key_and_non_dict_are_refused():
    found = hosts({"mac": "52:54:00:00:00:01", "entry": "rescue", "kernel": "x"}, "52:54:00:00:00:02")[1]
    assert found == [
        'pxe_hosts[0] has the unknown key "kernel": expected only mac, entry, cmdline_append',
        'pxe_hosts[1]="52:54:00:00:00:02" is invalid: expected a dict with mac, entry and optionally cmdline_append',
    ]


def test_pxe_hosts_must_be_a_list():
    assert_one_error(check(pxe_hosts={"mac": "52:54:00:00:00:01"})[1], "pxe_hosts=", "expected a list of dicts")


def test_host_menus_name_one_pxelinux_and_one_grub_file_per_host():
    settings = hosts({"mac": "52:54:00:00:00:01", "entry": "rescue"})[0]
    assert [(m["src"], m["dest"]) for m in settings["host_menus"]] == [
        ("pxelinux.cfg.j2", "pxelinux.cfg/01-52-54-00-00-00-01"),
        ("grub.cfg.j2", "grub/grub.cfg-01-52-54-00-00-00-01"),
    ]
    assert check()[0]["host_menus"] == []


# --- pxe_uefi_http_boot and the rendered dhcpd class ---------------------------------------------

DHCPD = "/usr/sbin/dhcpd"
TEMPLATES = Path(__file__).resolve().parents[4] / "roles" / "pxe" / "templates"


def render_dhcpd_class(settings):
    # Ansible's template defaults: trim_blocks on, lstrip_blocks off.
    env = jinja2.Environment(  # noqa: S701 - dhcpd.conf text, not HTML
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template("dhcpd-pxe.conf.j2").render(__pxe_settings=settings)


def test_http_boot_is_off_by_default_and_names_ipxe_on_this_node():
    assert check()[0]["uefi_http_boot"] is False
    settings, found = check(pxe_uefi_http_boot="yes", pxe_http_port=8080)
    assert found == []
    assert settings["uefi_http_boot"] is True
    assert settings["http_boot_uri"] == "http://198.18.22.11:8080/ipxe.efi"


def test_http_boot_must_be_a_boolean():
    found = errors(pxe_uefi_http_boot="maybe")
    assert_one_error(found, 'pxe_uefi_http_boot="maybe" is invalid: expected true or false')


def test_http_boot_needs_ipxe_over_http():
    found = errors(pxe_uefi_http_boot=True, pxe_ipxe_http=False, pxe_bios_loader="pxelinux")
    assert_one_error(found, "pxe_uefi_http_boot=true with pxe_ipxe_http=false is invalid")  # fmt: skip


def test_http_boot_class_answers_only_x64_http_clients_with_a_uri_and_option_60():
    text = render_dhcpd_class(check(pxe_uefi_http_boot=True)[0])
    (http_class,) = re.findall(r'class "netboot-http-boot" \{\n(.*?)\n\}', text, re.DOTALL)
    lines = [line.strip() for line in http_class.splitlines() if not line.strip().startswith("#")]
    assert lines == [
        'match if substring(option vendor-class-identifier, 0, 10) = "HTTPClient" and option pxe-arch = 00:10;',
        'option vendor-class-identifier "HTTPClient";',
        'filename "http://198.18.22.11/ipxe.efi";',
        "option dhcp-parameter-request-list = concat(option dhcp-parameter-request-list, 3c);",
    ]
    # The PXE class is the same text with or without HTTP Boot: other clients are unchanged.
    assert text.startswith(render_dhcpd_class(check()[0]))
    assert "HTTPClient" not in render_dhcpd_class(check()[0])


def test_pxe_hosts_name_their_pxelinux_menu_in_option_209():
    settings = check(pxe_bios_loader="pxelinux", pxe_hosts=[{"mac": "52-54-00-00-00-03", "entry": "rescue"}])[0]
    text = render_dhcpd_class(settings)
    assert re.search(r'if hardware = 1:52:54:00:00:00:03 \{\n\s+option pxelinux-configfile '
                     r'"pxelinux.cfg/01-52-54-00-00-00-03";\n\s+\} else \{\n\s+option pxelinux-configfile '
                     r'"pxelinux.cfg/default";\n\s+\}', text), text  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [
        {"pxe_uefi_http_boot": True},
        {"pxe_uefi_http_boot": True, "pxe_bios_loader": "pxelinux",
         "pxe_hosts": [{"mac": "52:54:00:00:00:03", "entry": "rescue"},
                       {"mac": "52:54:00:00:00:04", "entry": "install"}]},
    ],  # fmt: skip
)
def test_real_dhcpd_accepts_the_rendered_class(tmp_path, changes):
    settings, found = check(**changes)
    assert found == []
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(render_dhcpd_class(settings) + "subnet 198.18.22.0 netmask 255.255.255.0 { }\n")
    result = subprocess.run([DHCPD, "-t", "-4", "-cf", str(conf), "-lf", str(tmp_path / "leases")],
                            capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr + conf.read_text()
    assert "WARNING" not in result.stderr, result.stderr


def test_real_dhcpd_would_reject_a_broken_class(tmp_path):
    # Shows the check above can fail: the same text with its class left open.
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(render_dhcpd_class(check(pxe_uefi_http_boot=True)[0]).rstrip().rstrip("}") + "\n")
    result = subprocess.run([DHCPD, "-t", "-4", "-cf", str(conf), "-lf", str(tmp_path / "leases")],
                            capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert result.returncode != 0
