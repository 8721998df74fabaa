"""Bad pair definitions are refused, and both servers stay exactly as they were.

Runs last (file order): the rejected-candidate case leaves its candidate file behind.
"""

import json
from pathlib import Path

import pytest
import testinfra
from helpers import DHCP1, DHCP2, NET, SERVERS, playbook

DHCPD_ONLY = str(Path(__file__).with_name("dhcpd_only.yml"))
WATCHED = ("/etc/dhcp/dhcpd.conf", "/etc/dhcp/dhcpd-omapi.key", "/etc/default/isc-dhcp-server",
           "/etc/chrony/chrony.conf")


def _snapshot(with_candidate=True):
    """Checksums of the managed files and the PIDs of dhcpd and chronyd on both servers."""
    state = {}
    for name in SERVERS:
        h = testinfra.get_host(f"podman://{name}")
        files = WATCHED + (("/etc/dhcp/dhcpd.conf.candidate",) if with_candidate else ())
        state[name] = {
            "files": {path: h.file(path).sha256sum for path in files},
            "dhcpd": h.check_output("pidof dhcpd"),
            "chronyd": h.check_output("pidof chronyd"),
        }
    return state


OVERLAPPING = {
    "dhcpd_subnets": [
        {
            "network": f"{NET}.0/24",
            "pools": [{"range": f"{NET}.100 {NET}.199"}, {"range": f"{NET}.150 {NET}.160"}],
        }
    ]
}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            ["-e", json.dumps(OVERLAPPING)],
            f"dhcpd_subnets[0].pools[1].range: '{NET}.150 {NET}.160' overlaps dhcpd_subnets[0].pools[0].range",
            id="overlapping-ranges",
        ),
        pytest.param(
            ["-e", json.dumps({"dhcpd_mclt": 0})],
            "dhcpd_mclt=0 is invalid: expected an integer from 1",
            id="mclt-zero",
        ),
        pytest.param(
            # The pair mixes Debian 12 and 13 (../../config.yml): fine for dhcpd, not for PXE.
            ["-e", json.dumps({"pxe_enabled": True})],
            f"{DHCP1} runs Debian GNU/Linux 12 (bookworm) and {DHCP2} runs Debian GNU/Linux 13 (trixie): "
            "the nodes of a PXE pair (pxe_enabled) serve the boot loaders of their own packages",
            id="pxe-on-mixed-releases",
        ),
    ],
)
def test_preflight_refuses_before_any_host_is_touched(extra, expected):
    before = _snapshot()
    run = playbook("netboot.dhcp_failover.site", *extra)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert expected in output, output[-3000:]
    # Stopped in the first play: nothing else ran on any host.
    assert "PLAY [Keep the clocks of each pair in step]" not in output, output[-3000:]
    assert _snapshot() == before


def test_two_primaries_are_caught_by_the_cross_check(tmp_path):
    # A host variable per node makes each render itself as primary: each file alone would pass
    # dhcpd -t, and the pair would never reach NORMAL.
    overrides = tmp_path / "two-primaries.yml"
    overrides.write_text(
        "all:\n  hosts:\n"
        + "".join(f"    {name}:\n      dhcpd_failover_primary: {name}\n" for name in SERVERS)
    )
    before = _snapshot()
    run = playbook("-i", str(overrides), "netboot.dhcp_failover.site")
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "disagree on the pair definition" in output and "primary: " in output, output[-3000:]
    assert "PLAY [Keep the clocks of each pair in step]" not in output
    assert _snapshot() == before


def test_clock_skew_above_the_threshold_stops_before_the_configuration():
    # The containers share the host's clock, so a real skew cannot be made here; a threshold of
    # 1 microsecond is below the offset chronyd -Q measures over the bridge (tens of microseconds).
    before = _snapshot()
    run = playbook(DHCPD_ONLY, "-e", json.dumps({"dhcpd_max_clock_skew": "0.000001"}))
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "the clock differs from the peer" in output and "more than dhcpd_max_clock_skew (0.000001 s)" in output, (
        output[-3000:]
    )
    assert _snapshot() == before


def test_rejected_candidate_leaves_the_running_server_alone():
    before = _snapshot(with_candidate=False)
    # The raw form passes the preflight (it cannot end a statement); dhcpd itself rejects the name.
    run = playbook(DHCPD_ONLY, "-e", json.dumps({"dhcpd_global_options": {"no-such-option": {"raw": "1"}}}))
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "dhcpd -t rejected /etc/dhcp/dhcpd.conf.candidate" in output, output[-3000:]
    assert "no-such-option" in output  # dhcpd's own message is passed on
    assert _snapshot(with_candidate=False) == before
    for name in SERVERS:
        candidate = testinfra.get_host(f"podman://{name}").file("/etc/dhcp/dhcpd.conf.candidate")
        assert "no-such-option" in candidate.content_string
