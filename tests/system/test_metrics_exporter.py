"""The metrics exporter program against a real dhcpd pair and a real Kea HA pair (tests/dhcplab).

The program runs as the role installs it: the launcher rendered from
roles/metrics/templates/dhcpd-failover-metrics.j2, the module_utils files listed in
roles/metrics/vars/main.yml copied in their ansible_collections layout; the launcher runs them with
Debian's /usr/bin/python3 -I (nothing from the venv). What it wrote is compared with what OMAPI and the lease file say
right after, read with the collection's client and parser in this process; on the Kea pair, with
what kea-ctrl-agent answers to status-get.
"""

import base64
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import collection_path
import jinja2
import pytest
import yaml

from dhcplab import configs
from dhcplab import kea as labkea
from dhcplab.busy import BusyClients

collection_path.ensure()

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases, metrics  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import objects, protocol  # noqa: E402

pytestmark = pytest.mark.system

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, "roles", "metrics")
PEER = "pair"
POOL = "%s %s" % (configs.POOL_START, configs.POOL_END)
POOL_LABEL = metrics.pool_label([POOL])
SAMPLE_RE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    out = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            match = SAMPLE_RE.match(line)
            assert match, line
            labels = frozenset(LABEL_RE.findall(match.group("labels") or ""))
            out[(match.group("name")[len(metrics.PREFIX):], labels)] = float(match.group("value"))
    return out


def get(parsed, name, **labels):
    return parsed[(name, frozenset(labels.items()))]


@pytest.fixture
def installed(tmp_path):
    """The program laid out as the role lays it out; returns the launcher's path."""
    with open(os.path.join(ROLE, "vars", "main.yml"), encoding="utf-8") as handle:
        role_vars = yaml.safe_load(handle)
    libdir = tmp_path / "lib"
    target = libdir / "ansible_collections" / "netboot" / "dhcp_failover" / "plugins" / "module_utils"
    for name in role_vars["__metrics_module_utils"]:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(REPO, "plugins", "module_utils", name), target / name)
    # A Python program, not HTML: escaping would break it (Ansible renders it the same way).
    loader = jinja2.FileSystemLoader(os.path.join(ROLE, "templates"))
    env = jinja2.Environment(loader=loader, autoescape=False)  # noqa: S701
    env.filters["comment"] = lambda text: "# " + text
    env.filters["quote"] = shlex.quote
    launcher = tmp_path / "dhcpd-failover-metrics"
    launcher.write_text(env.get_template("dhcpd-failover-metrics.j2").render(
        ansible_managed="test", __metrics_libdir=str(libdir)))
    launcher.chmod(0o755)
    return launcher


class Exporter:
    def __init__(self, launcher, tmp_path, server, secret, **config):
        self.launcher = launcher
        self.output = tmp_path / ("%s.prom" % server.name)
        self.config = tmp_path / ("%s.json" % server.name)
        self.seen = set()  # metric names of every file this exporter wrote
        fd = os.open(str(self.config), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(dict({"peer_name": PEER, "role": "primary" if server.name == "s1" else "secondary",
                            "omapi_host": server.address, "omapi_port": getattr(server, "omapi_port", 7911),
                            "omapi_key_name": configs.OMAPI_KEY_NAME, "omapi_key": secret,
                            "lease_file": server.lease_file, "pid_file": getattr(server, "pid_file", None),
                            "output": str(self.output), "pools": [[POOL]], "interval": 15, "max_clock_skew": 5,
                            "timeout": 3}, **config), handle)

    def run(self):
        """Run the program once as the timer does; returns (parsed metrics, text, stderr)."""
        answer = subprocess.run([str(self.launcher), "--config", str(self.config)],
                                capture_output=True, text=True, timeout=30, check=False, env={"PATH": "/usr/bin:/bin"})
        assert answer.returncode == 0, answer.stderr
        text = self.output.read_text()
        parsed = parse(text)
        self.seen |= {metrics.PREFIX + name for name, _labels in parsed}
        return parsed, text, answer.stderr


def queried_metrics():
    """Every metric name the dashboard and the alerting rules query."""
    with open(os.path.join(REPO, "roles", "metrics", "files", "dhcpd-failover-dashboard.json"),
              encoding="utf-8") as handle:
        queried = set(re.findall(r"\b(dhcpd_failover_[a-z_]+)\b", handle.read()))
    with open(os.path.join(ROLE, "files", "dhcpd-failover-alerts.yml"), encoding="utf-8") as handle:
        queried |= set(re.findall(r"\b(dhcpd_failover_[a-z_]+)\b", handle.read()))
    return queried


def promtool_accepts(text):
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert check.returncode == 0 and not check.stdout + check.stderr, check.stdout + check.stderr


def omapi(server, secret):
    key = protocol.HmacMd5Key.from_base64(configs.OMAPI_KEY_NAME, secret)
    with protocol.Connection(server.address, server.omapi_port, key, timeout=5) as conn:
        return objects.read_failover_state(conn, PEER)[1]


def stable_lease_counts(server):
    """Binding-state counts of the pool when two reads in a row agree (dhcpd may be mid-write)."""
    first, last = leases.parse_range(POOL)
    previous = None
    for _attempt in range(50):
        states = server.lease_states()
        counts = {}
        for address, state in states.items():
            if first <= int.from_bytes(bytes(int(p) for p in address.split(".")), "big") <= last:
                counts[state] = counts.get(state, 0) + 1
        if counts == previous:
            return counts
        previous = counts
        time.sleep(0.05)
    raise AssertionError("the lease file of %s kept changing" % server.name)


def assert_matches_now(parsed, server, secret):
    info = omapi(server, secret)
    counts = stable_lease_counts(server)
    assert get(parsed, "omapi_up") == 1 and get(parsed, "process_up") == 1
    assert get(parsed, "local_state", state=info["local_state"]) == 1
    assert get(parsed, "partner_state", state=info["partner_state"]) == 1
    assert sum(v for (name, _l), v in parsed.items() if name == "local_state") == 1
    assert get(parsed, "mclt_seconds") == info["mclt"]
    assert get(parsed, "unacked_updates") == info["cur_unacked_updates"]
    assert get(parsed, "max_unacked_updates") == info["max_unacked_updates"]
    assert get(parsed, "local_state_change_timestamp_seconds") == info["local_stos_epoch"]
    if info["split"] is not None:
        assert get(parsed, "split") == info["split"]
    for state in ("free", "backup", "active", "expired", "released", "abandoned"):
        assert get(parsed, "pool_addresses", pool=POOL_LABEL, state=state) == counts.get(state, 0), state
    own, theirs = ("free", "backup") if info["role"] == "primary" else ("backup", "free")
    assert get(parsed, "pool_free_addresses", pool=POOL_LABEL, owner="self") == counts.get(own, 0)
    assert get(parsed, "pool_free_addresses", pool=POOL_LABEL, owner="partner") == counts.get(theirs, 0)
    assert get(parsed, "pool_size_addresses", pool=POOL_LABEL) == 100
    assert get(parsed, "info", peer=PEER, role=info["role"]) == 1
    assert all(get(parsed, "scrape_errors", source=s) == 0 for s in ("omapi", "lease_file"))
    return info, counts


def test_exporter_on_a_real_pair_normal_clients_partner_down_and_dhcpd_down(dhcp_lab, tmp_path, installed):
    secret = base64.b64encode(os.urandom(16)).decode()
    pair = dhcp_lab.start_pair(*configs.failover_pair(omapi_key=secret, mclt=30)).wait_normal()
    pair.wait_balanced()
    exporters = {server.name: Exporter(installed, tmp_path, server, secret,
                                       kea_control_socket=str(tmp_path / "no-kea.sock"),
                                       kea_pid_file=str(tmp_path / "no-kea.pid"),
                                       kea_enabled_link=str(tmp_path / "no-kea.service"))
                 for server in pair.servers}

    # NORMAL, right after balancing: both sides hold free addresses of the pool.
    for server in pair.servers:
        parsed, text, _stderr = exporters[server.name].run()
        info, counts = assert_matches_now(parsed, server, secret)
        assert info["local_state"] == "normal"
        assert counts.get("free", 0) > 0 and counts.get("backup", 0) > 0
        assert "partner_down_usable_timestamp_seconds" not in {name for name, _l in parsed}
        stat = os.stat(server.lease_file)
        assert get(parsed, "lease_file_size_bytes") == stat.st_size
        assert get(parsed, "lease_file_modified_timestamp_seconds") == pytest.approx(stat.st_mtime, abs=1e-3)
        assert secret not in text and os.listdir(tmp_path).count("%s.prom" % server.name) == 1
        promtool_accepts(text)
        # A dhcpd node, even one where Kea's socket is configured (the role always does): no Kea series.
        assert not [name for name, _l in parsed if name.startswith("kea_")]

    # Clients take addresses: the primary's active count follows.
    client = dhcp_lab.client()
    before = get(exporters["s1"].run()[0], "pool_addresses", pool=POOL_LABEL, state="active")
    for index in range(6):
        client.lease("02:00:00:00:16:%02x" % index)
    # Each peer writes the other's bindings when their updates arrive: wait for both files.
    deadline = time.monotonic() + 15
    while not all(stable_lease_counts(s).get("active", 0) == before + 6 for s in pair.servers):
        assert time.monotonic() < deadline, [stable_lease_counts(s) for s in pair.servers]
        time.sleep(0.2)
    for server in pair.servers:
        parsed, _text, _stderr = exporters[server.name].run()
        assert_matches_now(parsed, server, secret)
        assert get(parsed, "pool_addresses", pool=POOL_LABEL, state="active") == before + 6

    # The secondary dies; the primary is put in partner-down: the usable time is stos + MCLT.
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=15)
    key = protocol.HmacMd5Key.from_base64(configs.OMAPI_KEY_NAME, secret)
    with protocol.Connection(pair.primary.address, pair.primary.omapi_port, key, timeout=5) as conn:
        handle, _info = objects.read_failover_state(conn, PEER)
        objects.set_local_state(conn, handle, "partner-down")
    pair.primary.wait_for_state("partner-down", timeout=10)
    parsed, _text, _stderr = exporters["s1"].run()
    info, _counts = assert_matches_now(parsed, pair.primary, secret)
    assert info["local_state"] == "partner-down"
    assert get(parsed, "partner_down_usable_timestamp_seconds") == info["local_stos_epoch"] + 30

    # The dead secondary: no process, no OMAPI, and still a complete file saying so.
    parsed, _text, stderr = exporters["s2"].run()
    assert get(parsed, "process_up") == 0 and get(parsed, "omapi_up") == 0
    assert get(parsed, "scrape_errors", source="omapi") == 1 and get(parsed, "scrape_errors", source="lease_file") == 0
    assert "omapi: OMAPI connection to %s" % pair.secondary.address in stderr
    assert get(parsed, "pool_free_addresses", pool=POOL_LABEL, owner="self") == \
        stable_lease_counts(pair.secondary).get("backup", 0)

    # Every dhcpd metric the dashboard and the alerts query was written by the real exporter at
    # some point of this test, except the clock skew: the namespaces lab runs no chronyd. (The Kea
    # ones: the next test.)
    seen = set().union(*(exporter.seen for exporter in exporters.values()))
    queried = {name for name in queried_metrics() if not name.startswith(metrics.PREFIX + "kea_")}
    assert queried - seen == {"dhcpd_failover_clock_skew_seconds"}


def kea_states(parsed, side):
    """{state: value} of kea_ha_local_state / kea_ha_partner_state."""
    return {dict(labels)["state"]: v for (name, labels), v in parsed.items() if name == "kea_ha_%s_state" % side}


def wait_heard(server, state, timeout=15.0):
    """Until the server's status-get says it last heard its partner in ``state`` (heartbeats)."""
    deadline = time.monotonic() + timeout
    while True:
        ha = server.command("status-get")["arguments"]["high-availability"][0]["ha-servers"]
        if ha["remote"].get("last-state") == state:
            return
        assert time.monotonic() < deadline, "%s last heard its partner in %s" % (server.name, ha["remote"])
        time.sleep(0.2)


def test_exporter_on_a_real_kea_pair_up_with_ha_state_then_0_after_kill_9(dhcp_lab, tmp_path, installed):
    """Nodes moved to Kea HA: dhcpd stopped (its lease file kept), kea-dhcp4-server enabled. The lab
    runs Kea without systemd, so the link of `systemctl enable` is a file of this test."""
    model = labkea.pair_model()
    pair = dhcp_lab.start_kea_pair(model).wait_states("hot-standby", "hot-standby")
    exporters, links = {}, {}
    for server in pair.servers:
        pid_file = os.path.join(server.dir, "kea-dhcp4.kea-dhcp4.pid")
        # Kea names its pid file after the configuration file and the program: the lab's
        # kea-dhcp4.conf gives the name Debian's /etc/kea/kea-dhcp4.conf gives (metrics.KEA_PID_FILE).
        assert os.path.basename(pid_file) == os.path.basename(metrics.KEA_PID_FILE)
        with open(pid_file, encoding="ascii") as handle:
            assert int(handle.read()) == server.proc.pid
        links[server.name] = tmp_path / ("%s-kea-dhcp4-server.service" % server.name)
        links[server.name].symlink_to(server.conf_file)
        dhcpd_leases = tmp_path / ("%s-dhcpd.leases" % server.name)
        dhcpd_leases.write_text("")
        exporters[server.name] = Exporter(
            installed, tmp_path, server, base64.b64encode(os.urandom(16)).decode(),
            lease_file=str(dhcpd_leases), pid_file=str(tmp_path / ("%s-dhcpd.pid" % server.name)),
            kea_control_socket=os.path.join(server.dir, "kea4.sock"), kea_pid_file=pid_file,
            kea_enabled_link=str(links[server.name]))

    # Both serve as hot-standby: up, with the state kea-ctrl-agent reports right after.
    for server, role in ((pair.primary, "primary"), (pair.secondary, "standby")):
        wait_heard(server, "hot-standby")
        parsed, text, _stderr = exporters[server.name].run()
        assert get(parsed, "kea_process_up") == 1 and get(parsed, "scrape_errors", source="kea") == 0
        assert get(parsed, "kea_ha_info", mode="hot-standby", role=role) == 1
        local = kea_states(parsed, "local")
        assert [state for state, v in local.items() if v == 1] == [server.ha_state()] == ["hot-standby"]
        assert kea_states(parsed, "partner")["hot-standby"] == 1
        # dhcpd is stopped on purpose: its series say so (the alerts take this for a Kea node).
        assert get(parsed, "process_up") == 0 and get(parsed, "omapi_up") == 0
        promtool_accepts(text)

    # kill -9 of the primary's kea-dhcp4 (its agent stays): the pid file stays behind, naming a
    # dead process; the standby takes over.
    os.kill(pair.primary.proc.pid, signal.SIGKILL)
    pair.primary.proc.wait(5)
    assert os.path.exists(os.path.join(pair.primary.dir, "kea-dhcp4.kea-dhcp4.pid"))
    parsed, text, stderr = exporters["s1"].run()
    assert get(parsed, "kea_process_up") == 0
    assert get(parsed, "scrape_errors", source="kea") == 0 and "kea:" not in stderr  # not asked
    assert not kea_states(parsed, "local") and ("kea_ha_info" not in {name for name, _l in parsed})
    promtool_accepts(text)
    pair.secondary.wait_for_ha_state("partner-down", timeout=30)
    parsed, text, _stderr = exporters["s2"].run()
    assert get(parsed, "kea_process_up") == 1
    assert [state for state, v in kea_states(parsed, "local").items() if v == 1] == ["partner-down"]
    promtool_accepts(text)

    # systemctl disable kea-dhcp4-server (a rollback to dhcpd): the same dead Kea is no Kea node.
    links["s1"].unlink()
    parsed, _text, _stderr = exporters["s1"].run()
    assert not [name for name, _l in parsed if name.startswith("kea_")]
    assert ("scrape_errors", frozenset({("source", "kea")})) not in parsed

    # Every Kea metric the dashboard and the alerts query was written by the real exporter here.
    seen = exporters["s1"].seen | exporters["s2"].seen
    assert {name for name in queried_metrics() if name.startswith(metrics.PREFIX + "kea_")} - seen == set()


def test_the_exporters_fast_lease_reading_on_big_real_lease_files(dhcp_lab):
    """leases.binding_states() (the exporter's fast path) against the full parser on lease files
    of a real pair: every address of the lab's biggest pools, and clients taking, renewing and
    releasing leases while it is read. Every lease block dhcpd wrote must take the fast regex."""
    pair = dhcp_lab.start_pair(*configs.failover_pair(extra_subnets=configs.MAX_EXTRA_SUBNETS)).wait_normal()
    with BusyClients(dhcp_lab.client(), count=300, rate=60, max_seconds=60) as busy:
        time.sleep(10)
        texts = {server.name: server.leases() for server in pair.servers}
    assert busy.snapshot()["ack"] >= 100, busy.snapshot()
    texts.update({server.name + " after": server.leases() for server in pair.servers})
    for name, text in texts.items():
        blocks = re.findall(r"^lease \S+ \{\n.*?^\}", text, re.MULTILINE | re.DOTALL)
        assert len(blocks) >= 1878, name
        assert [block for block in blocks if not leases._FAST_LEASE_RE.fullmatch(block)] == [], name
        states = leases.binding_states(text)
        assert states == {a: r["binding_state"] for a, r in leases.latest(leases.parse(text)["entries"]).items()}
        assert {"active", "free", "backup"} <= set(states.values()), (name, set(states.values()))
