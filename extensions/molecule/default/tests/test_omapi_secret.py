"""The pair's OMAPI secret lives on the nodes: no controller state is needed to keep it.

Under AWX every job runs in a throw-away execution environment; these tests run site.yml from a
copy of the inventory in a new directory (nothing of earlier runs next to it) and with two
different keys on the nodes.
"""

import os
import re
import shutil
import subprocess

import testinfra
from helpers import DHCP1, DHCP2, INVENTORY, KEY_FILE, PREFIX, SERVERS, playbook


def _state():
    hosts = {name: testinfra.get_host(f"podman://{name}") for name in SERVERS}
    return {name: (h.file(KEY_FILE).sha256sum, h.check_output("pidof dhcpd")) for name, h in hosts.items()}


def test_a_run_from_a_fresh_inventory_directory_changes_nothing(tmp_path):
    fresh = tmp_path / "inventory"
    # Only the inventory itself: no secret file or other state of earlier runs comes along.
    shutil.copytree(INVENTORY.parent, fresh, ignore=shutil.ignore_patterns("*.secret", ".dhcpd-omapi"))
    before = _state()
    run = subprocess.run(
        ["ansible-playbook", "-i", str(fresh / INVENTORY.name), "netboot.dhcp_failover.site"],
        capture_output=True, text=True, check=False, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    recap = re.findall(rf"^({PREFIX}-dhcp\d)\s*:.*changed=(\d+)", output, re.M)
    assert sorted(recap) == [(DHCP1, "0"), (DHCP2, "0")], output[-3000:]
    assert _state() == before  # same key on both nodes, no dhcpd restarted


def test_different_keys_on_the_nodes_are_refused_naming_both():
    node = testinfra.get_host(f"podman://{DHCP2}")
    original = node.file(KEY_FILE).content_string
    other = re.sub(r'secret "[^"]+"', 'secret "' + "Q" * 43 + '="', original)
    assert other != original
    before = _state()
    try:
        node.run("cat > %s <<'EOF'\n%sEOF" % (KEY_FILE, other))
        run = playbook("netboot.dhcp_failover.site")
    finally:
        node.run("cat > %s <<'EOF'\n%sEOF" % (KEY_FILE, original))
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert (f"{DHCP1} and {DHCP2} hold different OMAPI secrets in /etc/dhcp/dhcpd-omapi.key (values not shown): "
            "set dhcpd_omapi_secret to the one to keep") in output, output[-3000:]
    assert "Q" * 43 not in output and re.search(r'secret "([^"]+)"', original).group(1) not in output
    # Stopped in the first play: nothing else ran on any host.
    assert "PLAY [Keep the clocks of each pair in step]" not in output, output[-3000:]
    assert _state() == before
