"""plugins/plugin_utils/kea_leases.py: one test per carry-over rule and refusal, and the file it
writes loaded by the real kea-dhcp4 2.2 (every row read, none refused)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import re
import subprocess
import time

import pytest

from ansible_collections.netboot.dhcp_failover.plugins.filter.kea import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea_leases as kl

KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
NOW = calendar.timegm((2026, 12, 2, 12, 0, 0, 0, 0, 0))
SUBNETS = [{"id": 1, "subnet": "198.18.10.0/24"}, {"id": 2, "subnet": "198.18.12.0/23"}]
KEA = {"config": {"dhcp4": {"Dhcp4": {"subnet4": SUBNETS[:1],
                                      "shared-networks": [{"name": "wire", "subnet4": SUBNETS[1:]}]}}}}


def when(seconds, base=NOW):
    """dhcpd's date format for base + seconds."""
    return time.strftime("%w %Y/%m/%d %H:%M:%S", time.gmtime(base + seconds))


def lease(address, state="active", *, starts=-60, ends=540, cltt=None, mac="52:54:00:00:00:01", uid=None,
          hostname=None, base=NOW):
    lines = ["lease %s {" % address, "  starts %s;" % when(starts, base),
             "  ends %s;" % ("never" if ends is None else when(ends, base))]
    if cltt is not None:
        lines.append("  cltt %s;" % when(cltt, base))
    lines.append("  binding state %s;" % state)
    if mac:
        lines.append("  hardware ethernet %s;" % mac)
    if uid:
        lines.append("  uid %s;" % uid)
    if hostname is not None:
        lines.append('  client-hostname "%s";' % hostname)
    return "\n".join(lines + ["}", ""])


def rows(text):
    lines = text.splitlines()
    assert lines[0] == kl.HEADER
    return [dict(zip(kl.HEADER.split(","), line.split(","))) for line in lines[1:]]


def export(primary, secondary="", kea=None, now=NOW):
    text, summary = kl.kea_leases_csv(primary, secondary, KEA if kea is None else kea, now)
    return rows(text), summary


def test_header_is_the_one_kea_2_2_writes():
    assert kl.HEADER == ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,"
                         "state,user_context")


def test_active_lease_becomes_a_row():
    found, summary = export(lease("198.18.10.100", starts=-60, ends=540, hostname="Pc-1"))
    assert found == [{"address": "198.18.10.100", "hwaddr": "52:54:00:00:00:01", "client_id": "",
                      "valid_lifetime": "600", "expire": str(NOW + 540), "subnet_id": "1", "fqdn_fwd": "0",
                      "fqdn_rev": "0", "hostname": "pc-1", "state": "0", "user_context": ""}]
    assert summary["exported"] == 1
    assert summary["held_by"] == {"both": 0, "primary": 1, "secondary": 0}


def test_uid_with_octal_escapes_becomes_colon_hex():
    # dhcpd writes printable bytes as themselves and the others as 3-digit octal.
    found, _summary = export(lease("198.18.10.101", uid='"\\001RT\\000\\000\\000\\002"'))
    assert found[0]["client_id"] == "01:52:54:00:00:00:02"
    found, _summary = export(lease("198.18.10.101", uid="01:52:54:00:00:00:02"))
    assert found[0]["client_id"] == "01:52:54:00:00:00:02"


def test_lifetime_counts_from_cltt_when_given():
    found, _summary = export(lease("198.18.10.100", starts=-600, cltt=-30, ends=570))
    assert (found[0]["valid_lifetime"], found[0]["expire"]) == ("600", str(NOW + 570))


def test_lease_held_on_the_secondary_only_is_carried():
    primary = lease("198.18.10.102", "backup", ends=-3000, mac=None)
    secondary = lease("198.18.10.102", mac="52:54:00:00:00:03")
    found, summary = export(primary, secondary)
    assert [(r["address"], r["hwaddr"]) for r in found] == [("198.18.10.102", "52:54:00:00:00:03")]
    assert summary["held_by"] == {"both": 0, "primary": 0, "secondary": 1}


def test_lease_missing_from_the_primary_file_is_carried():
    found, summary = export("", lease("198.18.10.103"))
    assert [r["address"] for r in found] == ["198.18.10.103"]
    assert summary["held_by"]["secondary"] == 1


def test_same_client_on_both_takes_the_newest_entry_and_the_later_end():
    # The answering peer (secondary) knows the renewal; the primary acknowledged a longer end.
    primary = lease("198.18.10.104", starts=-900, ends=900, hostname="old")
    secondary = lease("198.18.10.104", starts=-10, cltt=-10, ends=290, hostname="new")
    found, summary = export(primary, secondary)
    assert (found[0]["hostname"], found[0]["expire"], found[0]["valid_lifetime"]) == ("new", str(NOW + 900), "910")
    assert summary["held_by"] == {"both": 1, "primary": 0, "secondary": 0}


def test_answering_peer_wins_over_the_binding_update_of_the_same_second():
    # What dhcpd 4.4 writes: the partner's entry has neither cltt nor client-hostname.
    primary = lease("198.18.10.104", starts=-10, ends=290)
    secondary = lease("198.18.10.104", starts=-10, cltt=-10, ends=290, hostname="pc-00")
    assert export(primary, secondary)[0][0]["hostname"] == "pc-00"
    assert export(secondary, primary)[0][0]["hostname"] == "pc-00"


def test_hostname_of_the_other_entry_when_the_newest_has_none():
    primary = lease("198.18.10.104", starts=-900, cltt=-900, ends=900, hostname="pc-01")
    secondary = lease("198.18.10.104", starts=-10, cltt=-10, ends=290)
    assert export(primary, secondary)[0][0]["hostname"] == "pc-01"


def test_expired_lease_is_not_carried():
    found, summary = export(lease("198.18.10.105", starts=-700, ends=-100), lease("198.18.10.105", "expired"))
    assert found == []
    assert summary["skipped"] == {"expired": 1}
    assert summary["skipped_addresses"] == {"expired": ["198.18.10.105"]}


def test_free_backup_and_released_are_not_carried_and_kea_has_no_ownership():
    primary = lease("198.18.10.106", "free", mac=None) + lease("198.18.10.107", "backup", mac=None) + lease(
        "198.18.10.108", "released", starts=-100, ends=-50)
    secondary = lease("198.18.10.106", "free", mac=None) + lease("198.18.10.107", "backup", mac=None)
    found, summary = export(primary, secondary)
    assert found == []
    assert summary["skipped"] == {"backup": 1, "free": 1, "released": 1}
    assert "no FREE or BACKUP ownership" in summary["not_carried"]
    assert summary["lines"][0].startswith("kea leases: 0 active leases exported")


def test_the_newest_entry_names_why_an_address_is_left_out():
    # Released on the primary after the secondary's last (expired) active entry.
    primary = lease("198.18.10.109", "released", starts=-20, ends=-20)
    secondary = lease("198.18.10.109", starts=-700, ends=-100)
    assert export(primary, secondary)[1]["skipped"] == {"released": 1}


def test_conflict_is_refused_naming_both_clients():
    primary = lease("198.18.10.110", mac="52:54:00:00:00:0a")
    secondary = lease("198.18.10.110", mac="52:54:00:00:00:0b")
    with pytest.raises(kl.KeaLeasesError, match=r"198\.18\.10\.110 \(52:54:00:00:00:0a on the primary, "
                                                r"52:54:00:00:00:0b on the secondary\)"):
        export(primary, secondary)


def test_same_uid_with_different_macs_is_one_client():
    primary = lease("198.18.10.111", mac="52:54:00:00:00:0a", uid="01:aa")
    secondary = lease("198.18.10.111", mac="52:54:00:00:00:0b", uid="01:aa")
    assert export(primary, secondary)[1]["held_by"]["both"] == 1


def test_subnet_ids_come_from_the_kea_config_including_shared_networks():
    found, summary = export(lease("198.18.13.7") + lease("198.18.99.1"))
    assert [(r["address"], r["subnet_id"]) for r in found] == [("198.18.13.7", "2")]
    assert summary["skipped_addresses"] == {"outside_kea_subnets": ["198.18.99.1"]}


def test_infinite_lease_gets_kea_infinite_lifetime():
    found, _summary = export(lease("198.18.10.112", starts=-60, ends=None))
    assert found[0]["valid_lifetime"] == str(kl.INFINITE_LIFETIME)
    assert int(found[0]["expire"]) - int(found[0]["valid_lifetime"]) == NOW - 60


def test_hostname_separator_is_escaped_and_control_bytes_dropped():
    found, summary = export(lease("198.18.10.113", hostname="a,b&c") + lease("198.18.10.114", hostname="x\\ny"))
    assert [r["hostname"] for r in found] == ["a&#x2cb&#x26c", ""]
    assert any("198.18.10.114: client-hostname" in note for note in summary["notes"])


def test_one_byte_client_id_is_left_out_of_the_row():
    found, summary = export(lease("198.18.10.115", uid='"\\001"'))
    assert (found[0]["client_id"], found[0]["hwaddr"]) == ("", "52:54:00:00:00:01")
    assert "Kea refuses" in summary["notes"][0]


def test_lease_without_any_client_is_skipped():
    assert export(lease("198.18.10.116", mac=None))[1]["skipped"] == {"no_client": 1}


def test_lease_info_results_and_parses_are_read_like_the_text():
    text = lease("198.18.10.117", uid='"\\001RT\\000\\000\\000\\002"')
    parsed = leases.parse(text)
    info = {"records": list(leases.latest(parsed["entries"]).values()), "read_at": NOW}
    expected = export(text)[0]
    assert export(parsed)[0] == expected
    assert export(info)[0] == expected
    assert export("", info)[0] == expected


@pytest.mark.parametrize("kea", [KEA, KEA["config"], KEA["config"]["dhcp4"], SUBNETS])
def test_kea_config_in_any_of_its_shapes(kea):
    assert export(lease("198.18.13.8"), kea=kea)[0][0]["subnet_id"] == "2"


@pytest.mark.parametrize(("bad", "message"), [
    ({"msg": "No such file"}, "the primary lease file was not read: No such file"),
    (42, "the primary leases must be the lease file text"),
    ("lease 198.18.10.1 { starts 9 2026/13/01 00:00:00; }\nlease", "the primary lease file cannot be read"),
])
def test_unreadable_leases_are_refused(bad, message):
    with pytest.raises(kl.KeaLeasesError, match=re.escape(message)):
        export(bad)


def test_a_kea_config_without_subnets_is_refused():
    with pytest.raises(kl.KeaLeasesError, match="expected the Kea configuration"):
        export("", kea={"config": None, "errors": ["bad"]})


def test_filter_returns_csv_and_summary_and_fails_on_conflict():
    from ansible.errors import AnsibleFilterError  # noqa: PLC0415 - only this test needs ansible

    kea_leases = FilterModule().filters()["kea_leases"]
    result = kea_leases(lease("198.18.10.100"), "", KEA, now=NOW)
    assert result["csv"].startswith(kl.HEADER + "\n198.18.10.100,")
    assert result["summary"]["exported"] == 1
    with pytest.raises(AnsibleFilterError, match="netboot.dhcp_failover.kea_leases: 1 address"):
        kea_leases(lease("198.18.10.100"), lease("198.18.10.100", mac="52:54:00:00:00:09"), KEA, now=NOW)


@pytest.mark.skipif(not os.path.exists(KEA_DHCP4), reason="kea-dhcp4 is not installed")
def test_real_kea_dhcp4_loads_every_row(tmp_path):
    now = int(time.time())
    primary = "".join(lease("198.18.10.%d" % (100 + n), mac="52:54:00:00:01:%02x" % n, hostname="h,%d" % n,
                            base=now) for n in range(5))
    secondary = lease("198.18.10.120", uid='"\\001RT\\000\\000\\001\\001"', base=now) + lease(
        "198.18.13.9", ends=None, base=now)
    text, summary = kl.kea_leases_csv(primary + secondary, secondary, KEA, now)
    assert summary["exported"] == 7
    lease_file = tmp_path / "kea-leases4.csv"
    lease_file.write_text(text)
    config = {"Dhcp4": {
        "interfaces-config": {"interfaces": []},
        "lease-database": {"type": "memfile", "persist": True, "name": str(lease_file), "lfc-interval": 0},
        "subnet4": SUBNETS,
        "loggers": [{"name": "kea-dhcp4.dhcpsrv", "severity": "DEBUG", "debuglevel": 99,
                     "output_options": [{"output": "stdout"}]}]}}
    (tmp_path / "kea.json").write_text(json.dumps(config))
    env = dict(os.environ, KEA_PIDFILE_DIR=str(tmp_path), KEA_LOCKFILE_DIR="none")
    proc = subprocess.Popen([KEA_DHCP4, "-c", str(tmp_path / "kea.json")], env=env,  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        # The file is read before the server says it started.
        for line in proc.stdout:
            lines.append(line)
            if "DHCP4_STARTED" in line:
                break
    finally:
        proc.terminate()
        lines.append(proc.communicate(timeout=5)[0])
    output = "".join(lines)
    assert "ROW_ERROR" not in output and "LEASE_LOAD_ROW" not in output, output
    loaded = re.findall(r"DHCPSRV_MEMFILE_LEASE_LOAD loading lease (\S+)", output)
    assert len(loaded) == 7, output
