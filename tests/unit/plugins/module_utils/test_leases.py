"""The lease-file parser against lease files written by a real dhcpd 4.4 pair.

The fixtures were recorded by fixtures/leases/record.py (see its docstring); what the tests expect
comes from what that script did to the pair (which MAC got which client id or host name, which
address was released, declined, handed out in partner-down), not from the parser.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import re
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "leases")


def fixture(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        return handle.read()


def by_mac(text):
    return {r["hardware_address"]: r for r in leases.latest(leases.parse(text)["entries"]).values()
            if "hardware_address" in r and r["binding_state"] == "active"}


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y/%m/%d %H:%M:%S"))


# -- what record.py did, read back --------------------------------------------------------------


@pytest.mark.parametrize("name", ["normal-primary.leases", "normal-secondary.leases"])
def test_clients_of_the_normal_pair(name):
    active = by_mac(fixture(name))
    # 01:04 released its lease and 01:05 declined it: neither is active any more.
    assert sorted(active) == ["02:00:00:00:01:01", "02:00:00:00:01:02", "02:00:00:00:01:03"]
    # An octal-escaped binary client id and a printable one (written as a plain quoted string).
    assert active["02:00:00:00:01:02"]["uid"] == "01:02:00:00:00:01:02"
    assert active["02:00:00:00:01:03"]["uid"] == ":".join("%02x" % b for b in b"pxe-client-3")
    assert "uid" not in active["02:00:00:00:01:01"]
    for record in active.values():
        assert record["hardware_type"] == "ethernet"
        assert record["next_binding_state"] == "expired"
        assert record["ends"] - record["starts"] == 30  # the lab's MCLT caps a first lease


def test_client_hostname_is_kept_by_the_server_that_acked():
    # record.py printed that the secondary (198.18.100.2) acked the request carrying the host name.
    assert by_mac(fixture("normal-secondary.leases"))["02:00:00:00:01:01"]["client_hostname"] == "pxe-node-1"


def test_counts_and_last_entry_wins():
    result = leases.summary(fixture("normal-primary.leases"))
    counts = result["counts"]
    # 100 addresses in the lab pool, each listed several times in the file.
    assert result["total"] == 100
    assert sum(counts.values()) == 100
    assert counts["active"] == 3
    assert counts["abandoned"] == 1  # the declined address
    assert counts["free"] + counts["backup"] == 96
    assert set(leases.BINDING_STATES) <= set(counts)
    text = fixture("normal-primary.leases")
    assert text.count("lease 198.18.100.150 {") > 1
    assert leases.latest(leases.parse(text)["entries"])["198.18.100.150"]["binding_state"] == "abandoned"


def test_released_address_goes_back_to_the_pool():
    entries = leases.parse(fixture("normal-primary.leases"))["entries"]
    history = [e["binding_state"] for e in entries if e["address"] == "198.18.100.146"]
    assert "active" in history and history.index("active") < len(history) - 1
    assert history[-1] in ("free", "backup")


def test_expired_short_leases_epoch_times_and_hex_ids():
    text = fixture("epoch-hex-primary.leases")
    entries = leases.parse(text)["entries"]
    states = {e["binding_state"] for e in entries}
    # 3 s leases: dhcpd wrote them active, then expired, then back to the pool.
    assert {"active", "expired", "free", "backup"} <= states
    assert leases.summary(text)["counts"]["active"] == 0
    hex_ids = [e["uid"] for e in entries if "uid" in e]
    assert hex_ids and set(hex_ids) == {"01:02:00:00:00:02:01"}
    # "starts epoch 1796173026; # Wed Dec 02 00:57:06 2026": the comment is not part of the value.
    first = next(e for e in entries if e.get("hardware_address") == "02:00:00:00:02:03")
    line = next(line for line in text.splitlines() if line.startswith("  starts epoch "))
    assert isinstance(first["starts"], int)
    assert int(line.split()[2].rstrip(";")) in {e.get("starts") for e in entries}


def test_failover_state_blocks():
    normal = leases.summary(fixture("normal-primary.leases"))["failover"]
    assert list(normal) == ["pair"]
    assert (normal["pair"]["my_state"], normal["pair"]["partner_state"]) == ("normal", "normal")
    down = leases.summary(fixture("partner-down-primary.leases"))["failover"]["pair"]
    assert (down["my_state"], down["partner_state"]) == ("partner-down", "normal")
    text = fixture("partner-down-primary.leases")
    assert down["my_state_at"] == utc("2026/12/02 00:57:01")
    assert "my state partner-down at 3 2026/12/02 00:57:01;" in text
    # The secondary's file carries the primary's MCLT (30 in the lab).
    assert leases.summary(fixture("normal-secondary.leases"))["failover"]["pair"]["mclt"] == 30
    epoch = leases.summary(fixture("epoch-hex-secondary.leases"))["failover"]["pair"]
    assert epoch["my_state"] == "normal" and isinstance(epoch["my_state_at"], int)


def test_rewritten_file_keeps_the_state_and_bindings():
    before = leases.summary(fixture("partner-down-primary.leases"), records=True)
    after = leases.summary(fixture("partner-down-primary-restarted.leases"), records=True)
    assert after["failover"]["pair"]["my_state"] == "partner-down"
    active = [r for r in before["records"] if r["binding_state"] == "active"]
    assert active == [r for r in after["records"] if r["binding_state"] == "active"]


def test_allocated_since_in_partner_down():
    text = fixture("partner-down-primary.leases")
    down_at = leases.summary(text)["failover"]["pair"]["my_state_at"]
    # Only 02:00:00:00:01:06 was leased after partner-down, from the primary's free addresses.
    assert leases.summary(text, role="primary", since=down_at)["allocated_since"] == 1
    assert leases.summary(text, role="primary", since=down_at + 3600)["allocated_since"] == 0
    # The three leases of the normal pair came from the secondary's backup addresses.
    normal = fixture("normal-secondary.leases")
    assert leases.summary(normal, role="secondary", since=0)["allocated_since"] == 3
    assert leases.summary(normal, role="primary", since=0)["allocated_since"] == 0
    assert leases.summary(normal)["allocated_since"] is None


def test_own_and_theirs():
    result = leases.summary(fixture("normal-secondary.leases"), role="secondary")
    assert (result["own"], result["theirs"]) == (result["counts"]["backup"], result["counts"]["free"])


def test_ranges():
    result = leases.summary(fixture("normal-primary.leases"),
                            ranges=["198.18.100.100 198.18.100.149", "198.18.100.150-198.18.100.150",
                                    "198.18.100.195 198.18.100.205"])
    first, second, third = result["ranges"]
    assert first["size"] == 50 and first["not_in_file"] == 0
    assert sum(first["counts"].values()) == 50
    assert second["size"] == 1 and second["counts"]["abandoned"] == 1  # the declined address
    assert third["size"] == 11 and third["not_in_file"] == 6  # the lab pool ends at .199
    for bad in ["198.18.100.1", "198.18.100.9 198.18.100.1", "a b", 7]:
        with pytest.raises(ValueError, match="range"):
            leases.summary("", ranges=[bad])


# -- the awk program the module replaced (formerly playbooks/tasks/lease_counts.yml)---------------------


def awk_counts(text, tmp_path, since="", own="free"):
    path = tmp_path / "dhcpd.leases"
    path.write_text(text)
    program = fixture("lease_counts.awk")
    out = subprocess.run(["awk", "-v", "since=" + since, "-v", "own=" + own, program, str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("name,role", [
    ("normal-primary.leases", "primary"), ("normal-secondary.leases", "secondary"),
    ("partner-down-primary.leases", "primary"), ("partner-down-primary-restarted.leases", "primary"),
])
@pytest.mark.parametrize("since", [0, utc("2026/12/02 00:56:57"), utc("2026/12/02 00:57:01"),
                                   utc("2027/01/01 00:00:00")])
def test_same_answers_as_the_awk_program(name, role, since, tmp_path):
    text = fixture(name)
    since_text = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(since))
    expected = awk_counts(text, tmp_path, since_text, leases.OWN_STATE[role])
    got = leases.summary(text, role=role, since=since)
    assert got["allocated_since"] == expected.pop("allocated_since")
    assert {k: v for k, v in got["counts"].items() if v} == expected


# -- the grammar: hand-written entries per dhcpd.leases(5) --------------------------------------


def test_never_and_every_time_field():
    text = """
lease 10.0.0.5 {
  starts 2 2026/01/06 10:00:00;
  ends never;
  tstp epoch 1767693600; # Tue Jan 06 10:00:00 2026
  tsfp 2 2026/01/06 10:00:01;
  atsfp 2 2026/01/06 10:00:02;
  cltt 2 2026/01/06 10:00:03;
  binding state reset;
  next binding state free;
  rewind binding state backup;
  hardware ethernet 2:0:a:bb:c:d;
  uid "\\001\\002\\"q\\\\";
  client-hostname "host \\"x\\"";
  set vendor-class-identifier = "PXEClient";
  on expiry { set x = "y"; }
}
"""
    record = leases.parse(text)["entries"][0]
    assert record["starts"] == utc("2026/01/06 10:00:00")
    assert record["ends"] is None
    assert record["tstp"] == 1767693600 == utc("2026/01/06 10:00:00")
    assert (record["tsfp"], record["atsfp"], record["cltt"]) == (record["starts"] + 1, record["starts"] + 2,
                                                                 record["starts"] + 3)
    assert (record["binding_state"], record["next_binding_state"], record["rewind_binding_state"]) == (
        "reset", "free", "backup")
    assert record["hardware_address"] == "02:00:0a:bb:0c:0d"
    assert record["uid"] == "01:02:22:71:5c"
    assert record["client_hostname"] == 'host "x"'


def test_other_statements_are_skipped():
    text = """# comment { not a block
authoring-byte-order little-endian;
server-duid "\\000\\001";
host fixed { hardware ethernet 02:00:00:00:00:09; fixed-address 10.0.0.9; }
subclass "pxe" 1:2:0:0:0:0:1;
lease 10.0.0.1 { binding state free; }
lease 10.0.0.1 { binding state backup; }
failover peer "a" state {
  my state startup at 1 2026/01/05 00:00:00; partner state unknown-state at 1 2026/01/05 00:00:00; }
failover peer "a" state {
  my state recover-wait at 1 2026/01/05 00:00:09;
  partner state partner-down at 1 2026/01/05 00:00:08;
  mclt 1800;
}
failover peer "b" state { my state normal at 1 2026/01/05 00:00:00; partner state normal at 1 2026/01/05 00:00:00; }
"""
    result = leases.summary(text, records=True)
    assert result["records"] == [{"address": "10.0.0.1", "binding_state": "backup"}]
    assert result["failover"]["a"] == {"name": "a", "my_state": "recover-wait", "partner_state": "partner-down",
                                       "my_state_at": utc("2026/01/05 00:00:09"),
                                       "partner_state_at": utc("2026/01/05 00:00:08"), "mclt": 1800}
    assert result["failover"]["b"]["my_state"] == "normal"


@pytest.mark.parametrize("tail", [
    "lease 10.0.0.2 {\n  starts 3 2026/12/02 00:56:58;\n  binding state act",
    "lease 10.0.0.2 {\n  uid \"\\001ab",
    "lease 10.0.0.2 {\n  uid \"\\001ab\";\n",
    "failover peer \"pair\" state {\n  my state partner-down at 3 2026/12/02 00:57:01;",
    "lease",
    "authoring-byte-order little",
])
def test_half_written_last_statement_is_left_out(tail):
    # dhcpd appends while it runs: a reader can catch the last statement half written.
    complete = "lease 10.0.0.1 {\n  binding state free;\n}\n"
    parsed = leases.parse(complete + tail)
    assert [e["address"] for e in parsed["entries"]] == ["10.0.0.1"]
    assert parsed["peers"] == []
    assert parsed["partial_tail"] == 4
    assert leases.parse(complete)["partial_tail"] is None


_FULL = fixture("normal-primary.leases")
_FULL_ENTRIES = leases.parse(_FULL)["entries"]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(_FULL)))
def test_real_file_cut_anywhere_keeps_the_complete_entries(cut):
    head = _FULL[:cut]
    parsed = leases.parse(head)
    closed = len(re.findall(r"^lease \S+ \{.*?^\}", head, re.MULTILINE | re.DOTALL))
    assert parsed["entries"] == _FULL_ENTRIES[:closed]


@pytest.mark.parametrize("text,message", [
    ("lease 10.0.0.1 { starts 3 2026/13/45; }", "bad date"),
    ("lease 10.0.0.1 { starts soon; }", "bad date"),
    ("lease 10.0.0.1 { starts 3 2026/02/29 00:00:00; }", "bad date"),
    ("lease 10.0.0.1 { ends 3 2026/12/02 24:00:00; }", "bad date"),
    ("lease 10.0.0.300 { binding state free; }", "not an IPv4 address"),
    ("lease 10.0.0.1 { uid zz:1; }", "colon-separated hex"),
    ('lease 10.0.0.1 { uid "a\nb"; }\n}', "unexpected }"),
    ("}", "unexpected }"),
])
def test_broken_files_say_where(text, message):
    with pytest.raises(leases.LeaseFileError, match=message):
        leases.parse(text)


def test_empty_file():
    result = leases.summary("")
    assert result["total"] == 0 and result["failover"] == {} and set(result["counts"].values()) == {0}


# -- properties ---------------------------------------------------------------------------------

_STATES = st.sampled_from(leases.BINDING_STATES)
_ADDRESSES = st.integers(0, 15).map(lambda n: "10.0.0.%d" % n)
_TIMES = st.integers(0, 2**31 - 1)
_IDS = st.binary(min_size=1, max_size=12)


def _write(entry):
    """One lease the way dhcpd's write_lease() prints it (db.c)."""
    lines = ["lease %s {" % entry["address"]]
    for field, value in entry["times"]:
        stamp = time.gmtime(value)
        lines.append("  %s %d %s;" % (field, (stamp.tm_wday + 1) % 7, time.strftime("%Y/%m/%d %H:%M:%S", stamp)))
    lines.append("  binding state %s;" % entry["state"])
    lines.append("  hardware ethernet %s;" % ":".join("%02x" % b for b in entry["mac"]))
    escaped = "".join(chr(b) if 32 < b < 127 and chr(b) not in '"\\' else "\\%03o" % b for b in entry["uid"])
    lines.append('  uid "%s";' % escaped)
    lines.append("}")
    return "\n".join(lines)


_ENTRIES = st.fixed_dictionaries({
    "address": _ADDRESSES,
    "state": _STATES,
    "times": st.lists(st.tuples(st.sampled_from(leases.TIME_FIELDS), _TIMES), unique_by=lambda t: t[0]),
    "mac": st.binary(min_size=6, max_size=6),
    "uid": _IDS,
})


@settings(max_examples=200, deadline=None)
@given(st.lists(_ENTRIES, max_size=30))
def test_round_trip_and_last_entry_wins(entries):
    parsed = leases.parse("\n".join(_write(e) for e in entries))["entries"]
    assert len(parsed) == len(entries)
    for written, read in zip(entries, parsed):
        assert read["address"] == written["address"]
        assert read["binding_state"] == written["state"]
        assert read["hardware_address"] == ":".join("%02x" % b for b in written["mac"])
        assert read["uid"] == ":".join("%02x" % b for b in written["uid"])
        for field, value in written["times"]:
            assert read[field] == value
    last = {}
    for e in entries:
        last[e["address"]] = e["state"]
    counts = leases.summary("\n".join(_write(e) for e in entries))["counts"]
    for state in leases.BINDING_STATES:
        assert counts[state] == sum(1 for s in last.values() if s == state)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_ADDRESSES, _STATES, _TIMES), max_size=30), _TIMES)
def test_allocated_since_counts_only_active_addresses(history, since):
    entries = [{"address": a, "binding_state": s, "starts": t} for a, s, t in history]
    count = leases.allocated_since(entries, since, "free")
    last = leases.latest(entries)
    assert 0 <= count <= sum(1 for r in last.values() if r["binding_state"] == "active" and r["starts"] >= since)
