"""plugins/plugin_utils/secure_boot.py and its filters, against Debian's real signed binaries.

The verdict tests run the same two commands as roles/pxe/tasks/secure_boot.yml (sbverify, and
sbattach | openssl smime) on the host's shim-signed and grub-efi-amd64-signed files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.netboot.dhcp_failover.plugins.filter import pxe_secure_boot_plan as plan_plugin
from ansible_collections.netboot.dhcp_failover.plugins.filter import pxe_secure_boot_verdicts as verdicts_plugin
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pxe
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import secure_boot as sb

REPO = Path(__file__).resolve().parents[4]
SHIM = Path("/usr/lib/shim/shimx64.efi.signed")
GRUB = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")
# The role's pins, the one place they are written.
PINS = yaml.safe_load((REPO / "roles/pxe/vars/main.yml").read_text())["__pxe_secure_boot_certificates"]
plan_filter = plan_plugin.FilterModule().filters()["pxe_secure_boot_plan"]
verdicts_filter = verdicts_plugin.FilterModule().filters()["pxe_secure_boot_verdicts"]


def test_the_pins_name_the_chain_certificates():
    assert set(PINS) == {sb.SHIM_SIGNER, sb.DEBIAN_SIGNER}


def test_shim_carries_both_pinned_certificates():
    anchors, errors = sb.trust_anchors(SHIM.read_bytes(), PINS)
    assert errors == []
    assert sorted(anchors) == sorted(PINS)
    for name, anchor in anchors.items():
        der = base64.b64decode("".join(anchor["pem"].splitlines()[1:-1]))
        assert sb.fingerprint(der) == PINS[name]["sha256"]
        subject = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=anchor["pem"],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert subject.strip().endswith("CN = " + PINS[name]["subject"]), subject


def test_the_debian_ca_is_shims_vendor_certificate():
    (vendor,) = sb.vendor_certificates(SHIM.read_bytes())
    assert sb.fingerprint(vendor) == PINS[sb.DEBIAN_SIGNER]["sha256"]


def test_grub_carries_only_its_signer_not_the_ca():
    certificates = sb.signature_certificates(GRUB.read_bytes())
    assert len(certificates) == 1
    assert sb.fingerprint(certificates[0]) not in {pin["sha256"] for pin in PINS.values()}
    assert sb.vendor_certificates(GRUB.read_bytes()) == []


def test_a_pin_the_shim_does_not_carry_is_an_error_naming_it():
    pins = {"other-ca": {"subject": "Other CA", "sha256": "AB:" * 31 + "AB"}}
    anchors, errors = sb.trust_anchors(SHIM.read_bytes(), pins, "/usr/lib/shim/shimx64.efi.signed")
    assert anchors == {}
    assert errors[0].startswith("/usr/lib/shim/shimx64.efi.signed carries no certificate other-ca with SHA-256 "
                                + "ab" * 32)  # fmt: skip


def test_a_file_that_is_not_a_pe_image_is_an_error():
    _anchors, errors = sb.trust_anchors(b"#!/bin/sh\n" * 10, PINS, "shim")
    assert errors == ["shim: cannot read its certificates (not a PE image (no MZ header))"]


def test_fingerprints_in_any_spelling():
    assert sb.normalize_fingerprint("48:E9:9b") == "48e99b"


CHAIN = [
    {"file": "shimx64.efi", "cert": sb.SHIM_SIGNER, "loader": True},
    {"file": "grubx64.efi", "cert": sb.DEBIAN_SIGNER, "loader": True},
    {"file": "images/vmlinuz", "cert": sb.DEBIAN_SIGNER, "loader": False},
]
LOADERS = {"shimx64.efi": str(SHIM), "grubx64.efi": str(GRUB), "ipxe.efi": "/usr/lib/ipxe/ipxe.efi"}


def test_plan_checks_loaders_at_their_package_path_and_images_where_served():
    plan = sb.plan(SHIM.read_bytes(), CHAIN, LOADERS, "/srv/netboot", PINS)
    assert plan["errors"] == []
    assert [(link["file"], link["path"], link["cert"]) for link in plan["chain"]] == [
        ("shimx64.efi", str(SHIM), sb.SHIM_SIGNER),
        ("grubx64.efi", str(GRUB), sb.DEBIAN_SIGNER),
        ("images/vmlinuz", "/srv/netboot/images/vmlinuz", sb.DEBIAN_SIGNER),
    ]


def test_plan_names_a_loader_without_source():
    plan = sb.plan(SHIM.read_bytes(), CHAIN, {"shimx64.efi": str(SHIM)}, "/srv/netboot", PINS)
    assert plan["errors"] == ["grubx64.efi has no source among the loaders shimx64.efi"]


def test_plan_filter_reads_slurp_content_and_refuses_other_input():
    plan = plan_filter(base64.b64encode(SHIM.read_bytes()).decode(), CHAIN, LOADERS, "/srv/netboot", PINS)
    assert sorted(plan["certificates"]) == sorted(PINS)
    with pytest.raises(AnsibleFilterError, match="base64 content of a shim"):
        plan_filter("not base64!", CHAIN, LOADERS, "/srv/netboot", PINS)
    with pytest.raises(AnsibleFilterError, match="expected pins as"):
        plan_filter("", CHAIN, LOADERS, "/srv/netboot", {"x": "y"})


def run_checks(tmp_path, links):
    """The role's two commands on each link: (sbverify results, signer check results)."""
    anchors, errors = sb.trust_anchors(SHIM.read_bytes(), PINS)
    assert errors == []
    for name, anchor in anchors.items():
        (tmp_path / (name + ".pem")).write_text(anchor["pem"])
    signatures, signers = [], []
    for link in links:
        cert = str(tmp_path / (link["cert"] + ".pem"))
        proc = subprocess.run(["sbverify", "--cert", cert, link["path"]], capture_output=True, text=True, check=False)
        signatures.append({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr})
        proc = subprocess.run(
            ["bash", "-c", 'set -o pipefail; sbattach --detach /dev/stdout "$1" | openssl smime -verify -inform DER '
             '-binary -nosigs -no_check_time -partial_chain -purpose any -CAfile "$2" -out /dev/null', "-",
             link["path"], cert],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        signers.append({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr})
    return signatures, signers


def test_debians_shim_and_grub_verify_against_their_certificates(tmp_path):
    links = [{"file": "shimx64.efi", "path": str(SHIM), "cert": sb.SHIM_SIGNER},
             {"file": "grubx64.efi", "path": str(GRUB), "cert": sb.DEBIAN_SIGNER}]  # fmt: skip
    decided = sb.verdicts(links, *run_checks(tmp_path, links), PINS)
    assert [(item["file"], item["verified"], item["reason"]) for item in decided] == [
        ("shimx64.efi", True, sb.VERIFIED),
        ("grubx64.efi", True, sb.VERIFIED),
    ]
    assert sb.refusals(decided, "node1") == []


def test_sbverify_alone_passes_shim_against_the_wrong_ca_the_signer_check_refuses_it(tmp_path):
    links = [{"file": "shimx64.efi", "path": str(SHIM), "cert": sb.DEBIAN_SIGNER}]
    signatures, signers = run_checks(tmp_path, links)
    # sbsigntool 0.9.4: the Debian CA did not sign shim, yet sbverify says OK.
    assert signatures[0]["rc"] == 0 and sb.SBVERIFY_OK in signatures[0]["stdout"]
    (item,) = sb.verdicts(links, signatures, signers, PINS)
    assert not item["verified"]
    assert item["reason"].startswith("its signer does not chain to Debian Secure Boot CA: "), item["reason"]
    assert "unable to get local issuer certificate" in item["reason"]


def test_a_tampered_grub_is_refused_naming_it(tmp_path):
    data = bytearray(GRUB.read_bytes())
    data[len(data) // 3] ^= 1
    tampered = tmp_path / "grubx64.efi"
    tampered.write_bytes(bytes(data))
    links = [{"file": "grubx64.efi", "path": str(tampered), "cert": sb.DEBIAN_SIGNER, "loader": True}]
    result = verdicts_filter(links, *run_checks(tmp_path, links), PINS, host="node2")
    assert result["files"][0]["reason"] == "sbverify: Image fails hash check"
    assert result["refused"] == [
        "node2: refusing grubx64.efi (%s): it does not verify against Debian Secure Boot CA (SHA-256 %s): "
        "sbverify: Image fails hash check" % (tampered, PINS[sb.DEBIAN_SIGNER]["sha256"])
    ]


def test_an_unsigned_file_is_refused(tmp_path):
    links = [{"file": "ipxe.efi", "path": "/usr/lib/ipxe/ipxe.efi", "cert": sb.DEBIAN_SIGNER}]
    (item,) = sb.verdicts(links, *run_checks(tmp_path, links), PINS)
    assert not item["verified"]
    assert item["reason"].startswith("sbverify: "), item


def test_verdicts_need_one_result_of_each_check_per_file():
    links = [{"file": "grubx64.efi", "path": str(GRUB), "cert": sb.DEBIAN_SIGNER}] * 2
    ok = {"rc": 0, "stdout": sb.SBVERIFY_OK, "stderr": ""}
    with pytest.raises(AnsibleFilterError, match="expected 2 results of each check, got 2 and 1"):
        verdicts_filter(links, [ok, ok], [ok], PINS)


def test_settings_secure_boot_off_by_default():
    settings, errors = pxe.pxe_settings({"pxe_server_address": "198.18.22.11"})
    assert errors == []
    assert (settings["secure_boot"], settings["uefi_file"], settings["secure_boot_chain"]) == (False, "grubx64.efi", [])


def test_settings_secure_boot_sends_shim_and_chains_every_entry_kernel():
    images = [{"name": n, "url": "http://mirror.example/" + n, "checksum": "sha256:" + "ab" * 32}
              for n in ("vmlinuz", "vmlinuz-rescue", "initrd.gz")]  # fmt: skip
    entries = [{"name": "install", "kernel": "vmlinuz", "initrd": ["initrd.gz"]},
               {"name": "rescue", "kernel": "vmlinuz-rescue"}, {"name": "again", "kernel": "vmlinuz"}]  # fmt: skip
    settings, errors = pxe.pxe_settings({"pxe_server_address": "198.18.22.11", "pxe_secure_boot": True,
                                         "pxe_images": images, "pxe_entries": entries})  # fmt: skip
    assert errors == []
    assert settings["uefi_file"] == "shimx64.efi"
    assert [(link["file"], link["cert"], link["loader"]) for link in settings["secure_boot_chain"]] == [
        ("shimx64.efi", sb.SHIM_SIGNER, True),
        ("grubx64.efi", sb.DEBIAN_SIGNER, True),
        ("images/vmlinuz", sb.DEBIAN_SIGNER, False),
        ("images/vmlinuz-rescue", sb.DEBIAN_SIGNER, False),
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pxe_secure_boot": "maybe"}, 'pxe_secure_boot="maybe" is invalid: expected true or false'),
        ({"pxe_uefi_loader": "ipxe"}, "pxe_secure_boot=true with pxe_uefi_loader=ipxe is invalid"),
        ({"pxe_uefi_http_boot": True}, "pxe_secure_boot=true with pxe_uefi_http_boot=true is invalid"),
    ],
)
def test_settings_secure_boot_refuses_unsigned_loaders(overrides, message):
    variables = {"pxe_server_address": "198.18.22.11", "pxe_secure_boot": True}
    variables.update(overrides)
    _settings, errors = pxe.pxe_settings(variables)
    assert len(errors) == 1 and errors[0].startswith(message), errors
