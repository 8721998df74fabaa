"""A changed pair definition restarts only the peers whose configuration changed, one at a time.

Runs last (file order) and leaves the pair converged with another split.
"""

import re

import testinfra
from helpers import DHCP1, DHCP2, SERVERS, failover_info, playbook


def test_split_change_restarts_only_the_primary_and_waits_for_normal():
    hosts = {name: testinfra.get_host(f"podman://{name}") for name in SERVERS}
    pids = {name: h.check_output("pidof dhcpd") for name, h in hosts.items()}
    # Another split than the current one, whatever an earlier verify left.
    split = 100 if failover_info(DHCP1)["split"] != 100 else 90
    run = playbook("netboot.dhcp_failover.site", "-e", f'{{"dhcpd_split": {split}}}')
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    # split is written on the primary only: the secondary keeps running untouched.
    assert hosts[DHCP2].check_output("pidof dhcpd") == pids[DHCP2]
    assert hosts[DHCP1].check_output("pidof dhcpd") != pids[DHCP1]
    assert f"split {split};" in hosts[DHCP1].file("/etc/dhcp/dhcpd.conf").content_string
    # The restarted primary was waited for before the run went on (ok, not skipped).
    waits = re.findall(r"TASK \[netboot\.dhcp_failover\.dhcpd : Wait until the restarted peer is back in NORMAL\]"
                       r"[^\n]*\n((?:(?:ok|skipping|changed|FAILED - RETRYING): \[[^\]]+\][^\n]*\n)+)", output)
    assert any(f"ok: [{DHCP1}]" in block for block in waits), waits
    for name in SERVERS:
        info = failover_info(name)
        assert (info["local_state"], info["partner_state"]) == ("normal", "normal"), info
    assert failover_info(DHCP1)["split"] == split
