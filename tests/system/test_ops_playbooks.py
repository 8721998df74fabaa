"""status.yml, recover.yml and maintenance.yml's refusal against a real dhcpd pair (tests/dhcplab).

The playbooks run through ansible-playbook with an inventory of two "hosts" that are this
machine (connection local): each reads its lab server over OMAPI at the server's address
(dhcp_ops_omapi_host) and its lease file at the lab path (dhcp_ops_lease_file). The tests assert
on the decisions' data (status as JSON, the recover plan), not on the printed text. The pair definition is
the one the dhcpd role's preflight reads, so the playbooks see the lab pair as a deployed one.
Collection copy: ANSIBLE_COLLECTIONS_PATH when set, else `make collection COLL_BASE=build/ops`.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import collection_path
import pytest

from dhcplab import configs
from dhcplab.busy import BusyClients
from dhcplab.service import LabServices

collection_path.ensure()

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import objects, protocol  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import decisions  # noqa: E402

pytestmark = pytest.mark.system

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = "pair"
GROUP = "dhcp_pair_lab"


def new_secret():
    # Fresh per test: a leak of it into the output is then unambiguous.
    return base64.b64encode(os.urandom(16)).decode()


@pytest.fixture(scope="session")
def collections_path():
    path = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if not path:
        subprocess.run(
            ["make", "--no-print-directory", "collection", "COLL_BASE=build/ops"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        path = os.path.join(REPO, "build", "ops")
    assert os.path.isfile(
        os.path.join(path.split(":")[0], "ansible_collections", "netboot", "dhcp_failover", "playbooks", "status.yml")
    ), path
    return path


class Ops:
    """Runs the collection's playbooks against the lab pair."""

    def __init__(self, tmp_path, collections, pair, secret, pool, *, unreachable=(), services=None):
        self.dir = tmp_path / "ops"
        self.dir.mkdir(exist_ok=True)
        self.collections = collections
        self.secret = secret
        self.runs = 0
        # dhcpd's service tasks act on the lab servers (dhcplab.service), not on this machine.
        self.env = services.ansible_env() if services else {}
        hosts = {}
        for name, server, port in (
            ("s1", pair.primary, configs.PRIMARY_PORT),
            ("s2", pair.secondary, configs.SECONDARY_PORT),
        ):
            hosts[name] = {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "dhcp_failover_address": server.address,
                "dhcpd_failover_port": port,
                "dhcp_ops_omapi_host": server.address,
                "dhcp_ops_lease_file": server.lease_file,
                # Both lab servers run on this machine: tell their processes apart.
                "dhcp_ops_dhcpd_pattern": "dhcpd .*-cf %s" % server.conf_file,
                # The playbooks run here, not in the node's namespace: the liveness probe asks the
                # lab's clients' link, the bridge.
                "dhcp_ops_probe_interface": server.lab.bridge,
            }
            if services:
                hosts[name]["nbtest_service_mgr"] = services.host(server)
            if name in unreachable:
                # ssh to the lab server's address, where nothing listens on port 22: Ansible
                # cannot reach this "host" although its dhcpd runs.
                hosts[name].update(
                    ansible_connection="ssh", ansible_host=server.address, ansible_port=22, ansible_timeout=3
                )
        inventory = {
            "all": {
                "children": {
                    "dhcp_servers": {
                        "children": {
                            GROUP: {
                                "hosts": hosts,
                                "vars": {
                                    "dhcpd_failover_peer_name": PEER,
                                    "dhcpd_failover_primary": "s1",
                                    "dhcpd_omapi_key_name": configs.OMAPI_KEY_NAME,
                                    "dhcpd_omapi_secret": secret,
                                    "dhcpd_subnets": [
                                        {"network": "198.18.100.0/24", "pools": [{"range": "%s %s" % pool}]}
                                    ],
                                },
                            }
                        }
                    }
                }
            }
        }
        self.inventory = self.dir / "inventory.json"
        # Holds the OMAPI secret: owner-only from the first byte.
        fd = os.open(str(self.inventory), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(inventory, handle)
        if services:
            services.prime(os.path.dirname(sys.executable), self.inventory, self._environment())

    def _environment(self):
        return dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=self.collections,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOCAL_TEMP=str(self.dir / "tmp"),
            ANSIBLE_HOME=str(self.dir / "home"),
            **self.env,
        )

    def run(self, playbook, *extra, expect_rc=0):
        """Run netboot.dhcp_failover.PLAYBOOK with the json callback; return (rc, parsed output)."""
        self.runs += 1
        env = self._environment()
        argv = [
            os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
            "-i",
            str(self.inventory),
            "netboot.dhcp_failover.%s" % playbook,
            *extra,
        ]
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=900)
        self.last_seconds = time.monotonic() - started
        print("%s run %d: %.1f s, rc=%d" % (playbook, self.runs, self.last_seconds, proc.returncode))
        output = proc.stdout + proc.stderr
        # The whole run, for a failure's post-mortem (the assertion shows only its end).
        (self.dir / ("%s-%d.out" % (playbook, self.runs))).write_text(output)
        assert self.secret not in output, "the OMAPI key leaked into the ansible-playbook output"
        assert proc.returncode == expect_rc, output[-6000:]
        return json.loads(proc.stdout)

    @staticmethod
    def task_results(parsed, task_name, prefix=False):
        """{host: result} of the (last) task with this name (or, with prefix, a name starting so)."""
        found = {}
        for play in parsed["plays"]:
            for task in play["tasks"]:
                name = task["task"]["name"]
                if name == task_name or (prefix and name.startswith(task_name)):
                    found = task["hosts"]
        return found

    def status(self, *extra, expect_rc=0):
        """The status verdict of the lab pair as data (status_format=json): verdict, issues, rows by node."""
        parsed = self.run("status", "-e", "status_format=json", *extra, expect_rc=expect_rc)
        status = self.task_results(parsed, "Report the pair as data")["s1"]["msg"]
        assert (status["pair"], status["peer_name"]) == (GROUP, PEER), status
        status["by_node"] = {row["node"]: row for row in status["rows"]}
        return status

    def plan(self, parsed):
        """The recover plan as decided (the same on both hosts)."""
        return self.task_results(parsed, "Decide what to do with the pair")["s1"]["ansible_facts"]["__ops_plan"]


def issues_of(status, node, level=None):
    return [i["why"] for i in status["issues"] if i["node"] == node and level in (None, i["level"])]


def omapi(server, secret):
    key = protocol.HmacMd5Key.from_base64(configs.OMAPI_KEY_NAME, secret)
    return protocol.Connection(server.address, 7911, key, timeout=5)


def read(server, secret):
    with omapi(server, secret) as conn:
        return objects.read_failover_state(conn, PEER)[1]


def wait_all_acked(pair, secret, timeout=10):
    """Both peers' cur_unacked_updates once they are 0, or as last read when the timeout ends.

    A lease just granted may still have its update in flight to the peer for a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        counts = [read(server, secret)["cur_unacked_updates"] for server in (pair.primary, pair.secondary)]
        if counts == [0, 0] or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def start(lab, secret, pool=(configs.POOL_START, configs.POOL_END), **kwargs):
    pair = lab.start_pair(*configs.failover_pair(omapi_key=secret, pool=pool, **kwargs)).wait_normal()
    pair.wait_balanced()
    return pair


def test_status_of_a_healthy_pair_matches_the_lease_files(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start(dhcp_lab, secret, mclt=90, split=128)
    client = dhcp_lab.client()
    for index in range(6):
        client.lease("02:00:00:00:06:%02x" % index)
    assert wait_all_acked(pair, secret) == [0, 0]
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END))
    status = ops.status("-e", "status_fail_on=needs_action")
    assert (status["verdict"], status["issues"], status["node"]) == ("healthy", [], None), status
    rows = status["by_node"]
    for name, server, own in (("s1", pair.primary, "free"), ("s2", pair.secondary, "backup")):
        row = rows[name]
        assert row["state"] == "normal" and row["dhcpd_running"] is True
        assert row["role"] == ("primary" if name == "s1" else "secondary")
        assert (row["mclt"], row["unacked"], row["leases_error"]) == (90, 0, None)
        # The lab's own lease-file parser (dhcplab) is the independent reference.
        for state in ("free", "backup", "active"):
            assert row[state] == server.count_leases(state), (name, state, row)
        assert row["own"] == server.count_leases(own)
    assert rows["s1"]["split"] == 128
    assert rows["s1"]["active"] >= 6


def test_status_says_what_to_do_when_the_partner_dies_and_fails_when_asked(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start(dhcp_lab, secret)
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=10)
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END))
    status = ops.status()
    assert status["verdict"] == "needs action"
    assert status["by_node"]["s1"]["state"] == "communications-interrupted"
    assert status["by_node"]["s2"]["state"] is None and status["by_node"]["s2"]["dhcpd_running"] is False
    assert any(why.startswith("s2 does not answer (") and "start dhcpd there" in why for why in issues_of(status, "s2"))
    assert any("netboot.dhcp_failover.recover" in why for why in issues_of(status, "s1", "needs action"))
    # The same run with status_fail_on=needs_action fails, after reporting.
    parsed = ops.run("status", "-e", "status_format=json", "-e", "status_fail_on=needs_action", expect_rc=2)
    failed = ops.task_results(parsed, "Fail when the verdict is as bad as dhcp_ops_status_fail_on")["s1"]
    assert failed["failed"] and "needs action" in failed["msg"], failed
    assert ops.task_results(parsed, "Report the pair as data")["s1"]["msg"]["verdict"] == "needs action"


def test_status_and_recover_call_a_hung_dhcpd_what_it_is(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start(dhcp_lab, secret, max_response_delay=3)
    os.kill(pair.secondary.pid, signal.SIGSTOP)
    try:
        pair.primary.wait_for_state("communications-interrupted", timeout=20)
        ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END))
        status = ops.status()
        row = status["by_node"]["s2"]
        assert (row["state"], row["omapi"], row["dhcpd_running"]) == (None, False, True), row
        why = issues_of(status, "s2", "needs action")
        assert len(why) == 1 and "process runs but does not answer OMAPI" in why[0], status["issues"]
        # Not the advice for a stopped dhcpd ("s2 does not answer (...): start dhcpd there").
        assert "does not answer (" not in why[0] and "Restart dhcpd there" in why[0]
        plan = ops.plan(ops.run("recover"))
        assert (plan["action"], plan["node"], plan["rule"]) == (None, "s2", "hung"), plan
        assert "None" not in plan["why"]
        assert read(pair.primary, secret)["local_state"] == "communications-interrupted"
    finally:
        os.kill(pair.secondary.pid, signal.SIGCONT)


def test_status_warns_when_partner_down_runs_out_before_stos_plus_mclt(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pool = ("198.18.100.100", "198.18.100.119")
    pair = start(dhcp_lab, secret, pool=pool, mclt=600)
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=10)
    with omapi(pair.primary, secret) as conn:
        handle, _info = objects.read_failover_state(conn, PEER)
        objects.set_local_state(conn, handle, "partner-down")
    pair.primary.wait_for_state("partner-down", timeout=10)
    client = dhcp_lab.client()
    for index in range(4):
        ack = client.lease("02:00:00:00:07:%02x" % index)
        assert ack.server_id == configs.PRIMARY_ADDRESS
    ops = Ops(tmp_path, collections_path, pair, secret, pool)
    status = ops.status()
    own = pair.primary.count_leases("free")
    row = status["by_node"]["s1"]
    assert row["state"] == "partner-down" and row["own"] == own
    assert own < 10, "the four new clients must have come from the primary's own half"
    assert row["allocated_since"] == 4, row
    assert status["verdict"] == "needs action", status["issues"]
    warning = [why for why in issues_of(status, "s1") if "WARNING" in why]
    # At 4 new leases in a few seconds the remaining own addresses last seconds, not the 600 s MCLT.
    assert len(warning) == 1 and "(4 new leases in" in warning[0] and "before s2's" in warning[0], warning


def test_maintenance_refuses_to_stop_the_last_serving_node(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start(dhcp_lab, secret)
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=10)
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END))
    record = tmp_path / "maintenance.json"
    parsed = ops.run("maintenance", "-e", "dhcp_ops_node=s1", "-e", "dhcp_ops_record=%s" % record, expect_rc=2)
    plan = ops.task_results(parsed, "Decide")["s1"]["ansible_facts"]["__ops_plan"]
    assert (plan["action"], plan["node"], plan["partner"]) == ("refuse", "s1", "s2"), plan
    refusal = ops.task_results(parsed, "Refuse to take the last serving node out of service")
    assert [r["msg"] for r in refusal.values() if r.get("failed")] == [plan["why"]], refusal
    # Nothing was touched: s1 still runs and serves in the same state, and no record was written.
    assert pair.primary.running()
    assert read(pair.primary, secret)["local_state"] == "communications-interrupted"
    assert not record.exists()
    for result in ops.task_results(parsed, "Stop dhcpd on the node").values():
        assert result.get("skipped") or result.get("changed") is False, result


def test_maintenance_rejects_bad_requests_and_names_deprecated_variables(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start(dhcp_lab, secret)
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END))
    for extra, expected in (
        (["-e", "dhcp_ops_node=nosuchhost"], 'dhcp_ops_node="nosuchhost"'),
        (["-e", "dhcp_ops_node=s2", "-e", "dhcp_ops_action=stop"], 'dhcp_ops_action="stop"'),
        ([], 'dhcp_ops_node="(undefined)"'),
        # The old names still work (here: reach the same check) and say they are deprecated.
        (["-e", "maintenance_node=s2", "-e", "maintenance_action=stop"], 'dhcp_ops_action="stop"'),
    ):
        parsed = ops.run("maintenance", *extra, expect_rc=2)
        result = ops.task_results(parsed, "Check the request")
        message = next(r["msg"] for r in result.values() if r.get("failed"))
        assert expected in message and "expected dhcp_ops_node to be one of the DHCP servers" in message, message
        if extra and extra[1].startswith("maintenance_"):
            notice = ops.task_results(parsed, "Say which variable names are deprecated")
            text = next(iter(notice.values()))["msg"]
            assert "maintenance_node -> dhcp_ops_node" in text and "maintenance_action -> dhcp_ops_action" in text
    parsed = ops.run("status", "-e", "status_format=yaml", expect_rc=2)
    message = next(r["msg"] for r in ops.task_results(parsed, "Check the settings").values() if r.get("failed"))
    assert 'dhcp_ops_status_format="yaml"' in message, message
    for server in pair.servers:
        assert read(server, secret)["local_state"] == "normal"


def test_recover_brings_a_node_back_from_unknown_state(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    # A short MCLT: recover passes through recover-wait (until stos + MCLT) on its way to NORMAL.
    pair = start(dhcp_lab, secret, mclt=5)
    # dhcpd has no range check on local-state: an unknown number makes it abort and leaves
    # "my state unknown-state" in its lease file (see FAILOVER-FACTS.md). Sent raw on purpose:
    # the collection's own code refuses to.
    with pytest.raises(Exception), omapi(pair.secondary, secret) as conn:  # noqa: B017 - any failure: dhcpd dies mid-answer
        handle, _info = objects.read_failover_state(conn, PEER)
        conn.update(handle, [(b"local-state", protocol.encode_int(12))], "setting an unknown state")
    deadline = time.monotonic() + 10
    while pair.secondary.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pair.secondary.running(), "dhcpd survived an unknown local-state"
    pair.secondary.start()
    time.sleep(1)
    assert read(pair.secondary, secret)["local_state"] == "unknown-state"
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END))

    checked = ops.run("recover", "--check")
    assert ops.plan(checked)["action"] == "recover" and ops.plan(checked)["node"] == "s2"
    report = ops.task_results(checked, "Report what was found and what will be done")["s1"]["msg"]
    assert report[-1] == "CHECK MODE, nothing will be changed. " + ops.plan(checked)["why"], report
    assert read(pair.secondary, secret)["local_state"] == "unknown-state", "check mode changed the state"

    parsed = ops.run("recover")
    done = ops.task_results(parsed, "Set the node in unknown-state to recover and wait for NORMAL")
    assert done["s2"]["changed"] is True and done["s2"]["states_seen"][0] == "unknown-state", done["s2"]
    assert "recover" in done["s2"]["states_seen"]
    for server in pair.servers:
        info = read(server, secret)
        assert (info["local_state"], info["partner_state"]) == ("normal", "normal"), (server, info)


def set_state(server, secret, state):
    with omapi(server, secret) as conn:
        handle, _info = objects.read_failover_state(conn, PEER)
        objects.set_local_state(conn, handle, state)


def test_recover_done_over_omapi_leaves_a_timer_that_strands_the_node(dhcp_lab, tmp_path, collections_path):
    """Why maintenance end restarts the node once more after recover-done (measured here).

    dhcpd arms a timer for old stos + MCLT on entering recover-wait and does not cancel it when
    recover-done is set over OMAPI: at the deadline the node drops from NORMAL to recover-done
    and stays there. status must call it out and recover.yml must plan a restart.
    """
    secret = new_secret()
    mclt = 30
    pair = start(dhcp_lab, secret, mclt=mclt)
    stos = read(pair.secondary, secret)["local_stos_epoch"]
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=10)
    set_state(pair.primary, secret, "partner-down")
    pair.primary.wait_for_state("partner-down", timeout=10)
    pair.secondary.start()
    pair.secondary.wait_for_state("recover-wait", timeout=20)
    assert time.time() < stos + mclt - 5, "too slow to see the early recover-done"
    set_state(pair.secondary, secret, "recover-done")
    pair.wait_normal(timeout=10)
    print("NORMAL %.1f s before the old stos + MCLT" % (stos + mclt - time.time()))
    # The armed timer fires at the old deadline although the node is NORMAL by then.
    pair.secondary.wait_for_state("recover-done", timeout=stos + mclt - time.time() + 10)
    time.sleep(12)
    stuck = read(pair.secondary, secret)
    assert (stuck["local_state"], stuck["partner_state"]) == ("recover-done", "normal"), stuck
    assert read(pair.primary, secret)["local_state"] == "normal"

    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END))
    status = ops.status()
    assert status["verdict"] == "needs action" and status["by_node"]["s2"]["state"] == "recover-done", status
    assert any("s2 is stuck in recover-done" in why for why in issues_of(status, "s2", "needs action"))
    plan = ops.plan(ops.run("recover", "--check"))
    assert (plan["action"], plan["node"], plan["rule"]) == ("restart", "s2", "late_recover_done"), plan
    assert read(pair.secondary, secret)["local_state"] == "recover-done", "check mode changed the state"


def test_status_carries_on_when_ansible_cannot_reach_a_node(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start(dhcp_lab, secret)
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END), unreachable=("s2",))
    status = ops.status()
    assert status["verdict"] == "needs action", status["issues"]
    rows = status["by_node"]
    assert rows["s1"]["state"] == "normal" and rows["s2"]["state"] is None, rows
    assert rows["s2"]["dhcpd_running"] is None, "an unreachable host's process cannot be known"
    assert rows["s1"]["own"] == pair.primary.count_leases("free")
    assert any(why.startswith("s2 does not answer (") and "port 22" in why for why in issues_of(status, "s2")), status


def test_recover_does_not_declare_a_partner_dead_that_answers_ping(dhcp_lab, tmp_path, collections_path):
    assert shutil.which("ping"), (
        "recover.yml pings the partner from the node (here: this machine): install iputils-ping"
    )
    secret = new_secret()
    pair = start(dhcp_lab, secret)
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=10)
    # Ansible cannot log in to s2, so its dhcpd cannot be checked, and its address still answers
    # ping: the death of s2 is not confirmed.
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END), unreachable=("s2",))
    parsed = ops.run("recover")
    plan = ops.plan(parsed)
    seen = "s2 (secondary): Ansible cannot reach it; seen from s1: ping answers, failover port closed"
    assert seen in plan["findings"], plan
    assert (plan["action"], plan["rule"]) == (None, "stuck_unconfirmed"), plan
    for result in ops.task_results(parsed, "Put the survivor in partner-down").values():
        assert result.get("skipped"), result
    assert read(pair.primary, secret)["local_state"] == "communications-interrupted"


def test_recover_puts_the_survivor_in_partner_down_when_the_partner_is_gone(dhcp_lab, tmp_path, collections_path):
    assert shutil.which("ping"), (
        "recover.yml pings the partner from the node (here: this machine): install iputils-ping"
    )
    secret = new_secret()
    pair = start(dhcp_lab, secret, max_response_delay=3)
    # s2 vanishes from the network: no ssh, no ping, no failover port (its dhcpd is not asked).
    pair.secondary.link_down()
    pair.primary.wait_for_state("communications-interrupted", timeout=20)
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END), unreachable=("s2",))
    checked = ops.run("recover", "--check")
    plan = ops.plan(checked)
    assert (plan["action"], plan["node"], plan["rule"]) == ("partner-down", "s1", "partner_confirmed_down"), plan
    assert "does not answer ping" in plan["why"], plan
    assert read(pair.primary, secret)["local_state"] == "communications-interrupted", "check mode changed the state"
    parsed = ops.run("recover")
    # The liveness probe ran on s1 before partner-down: nobody offered for s2's clients but s1.
    probed = ops.task_results(parsed, "Decide whether partner-down is safe")["s1"]["ansible_facts"]
    probed = probed["__ops_probe_verdict"]
    assert (probed["allow"], probed["partner_offered"]) == (True, False), probed
    done = ops.task_results(parsed, "Put the survivor in partner-down")["s1"]
    assert done["changed"] is True and done["after"]["local_state"] == "partner-down", done
    assert read(pair.primary, secret)["local_state"] == "partner-down"


def strand_in_recover(pair, secret, attempts=5):
    """Kill s2 the moment it enters recover behind s1 in partner-down, and start it again, until
    dhcpd's race goes the stuck way (s1's update to the first s2 process still in flight); return
    the attempts it took. A recover that is not stuck ends within milliseconds."""
    for attempt in range(1, attempts + 1):
        pair.secondary.kill()
        pair.primary.wait_for_state("communications-interrupted", timeout=10)
        set_state(pair.primary, secret, "partner-down")
        pair.primary.wait_for_state("partner-down", timeout=10)
        mark = pair.secondary.log_mark()
        pair.secondary.start()
        deadline = time.monotonic() + 20
        while " to recover\n" not in pair.secondary.log()[mark:] and time.monotonic() < deadline:
            time.sleep(0.005)
        pair.secondary.kill()
        assert " to recover\n" in pair.secondary.log()[mark:]
        pair.secondary.start()
        time.sleep(10)
        if read(pair.secondary, secret)["local_state"] == "recover":
            return attempt
        pair.wait_normal(timeout=60)
    pytest.fail("dhcpd finished every recover of %d restarts during recover: the stuck case did not occur" % attempts)


def test_recover_ends_a_recover_stuck_by_a_restart_during_it(dhcp_lab, tmp_path, collections_path, lab_services):
    """dhcpd drops the update it owes a node restarted during recover (README, "A restart during
    recover"): the node stays in recover until its partner-down partner is restarted."""
    secret = new_secret()
    # The whole /24 pool: the longer s1's update of every binding, the likelier the restart lands in it.
    pair = start(dhcp_lab, secret, pool=("198.18.100.10", "198.18.100.250"))
    print("stuck after %d attempt(s)" % strand_in_recover(pair, secret))
    # Past the rule's bound, and still in recover: stuck, not passing through.
    time.sleep(decisions.STUCK_RECOVER - 7)
    info = read(pair.secondary, secret)
    assert (info["local_state"], info["partner_state"]) == ("recover", "partner-down"), info
    ops = Ops(tmp_path, collections_path, pair, secret, ("198.18.100.10", "198.18.100.250"), services=lab_services)
    status = ops.status()
    assert status["verdict"] == "needs action" and any(
        "s2 is stuck in recover" in why for why in issues_of(status, "s2", "needs action")), status
    parsed = ops.run("recover")
    plan = ops.plan(parsed)
    assert (plan["action"], plan["node"], plan["rule"]) == ("restart", "s1", "stuck_recover"), plan
    for server in pair.servers:
        info = read(server, secret)
        assert (info["local_state"], info["partner_state"]) == ("normal", "normal"), (server, info)


# --- maintenance start and end on the real pair, with clients busy -------------------------------


def maintenance(ops, node, action, record):
    """Run maintenance start or end for node; return (parsed output, plan of the Decide task)."""
    parsed = ops.run(
        "maintenance", "-e", "dhcp_ops_node=%s" % node, "-e", "dhcp_ops_action=%s" % action,
        "-e", "dhcp_ops_record=%s" % record,
    )
    return parsed, ops.task_results(parsed, "Decide")[node]["ansible_facts"]["__ops_plan"]


def active_clients(server):
    """{address: MAC} of the server's active leases (its lease file, the last entry of each address)."""
    records = leases.latest(leases.parse(server.leases())["entries"])
    return {a: r.get("hardware_address") for a, r in records.items() if r["binding_state"] == "active"}


@pytest.fixture
def lab_services(dhcp_lab, tmp_path):
    services = LabServices(dhcp_lab, tmp_path)
    yield services
    services.close()


def test_maintenance_under_load_proves_the_stop_clean_and_skips_recover_wait(
    dhcp_lab, tmp_path, collections_path, lab_services
):
    secret = new_secret()
    # mclt 120: s2's last state change (NORMAL, seconds ago) + MCLT is well after the end below,
    # so dhcpd itself would hold s2 in recover-wait; only the proof may end it early.
    pair = start(dhcp_lab, secret, mclt=120)
    ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END), services=lab_services)
    record = tmp_path / "maintenance.json"
    stos = read(pair.secondary, secret)["local_stos_epoch"]
    with BusyClients(dhcp_lab.client(), count=60, rate=20, max_seconds=240) as busy:
        time.sleep(3)
        before = busy.snapshot()
        parsed, plan = maintenance(ops, "s2", "start", record)
        start_seconds = ops.last_seconds
        assert plan["action"] == "stop", plan
        proof = json.loads(record.read_text())
        assert proof["clean"] is True and proof["why_not_clean"] == [], proof
        assert proof["bindings"] > 0, "the busy clients left s2 no binding to prove: %r" % proof
        verdict = ops.task_results(parsed, "Report the verdict on the stop")["s1"]["msg"]
        assert verdict.startswith("Clean stop: every one of the %d bindings of s2" % proof["bindings"]), verdict
        assert read(pair.primary, secret)["local_state"] == "partner-down"
        assert not pair.secondary.running()
        parsed, plan = maintenance(ops, "s2", "end", record)
        end_seconds = ops.last_seconds
        during = busy.snapshot()
    assert plan["clean"] is True, plan
    done = ops.task_results(parsed, "End the recover-wait of a cleanly stopped node (recover-done)")["s2"]
    assert done["changed"] is True and "recover-wait" in done["states_seen"], done
    assert ops.task_results(parsed, "Wait in recover-wait until the deadline", prefix=True)["s2"].get("skipped"), parsed
    assert time.time() < stos + 120, "the end came after the deadline: recover-wait was not skipped by the proof"
    for server in pair.servers:
        info = read(server, secret)
        assert (info["local_state"], info["partner_state"]) == ("normal", "normal"), (server, info)
    assert not record.exists()
    # The clients were busy throughout, and served.
    assert during["ack"] - before["ack"] >= 40 and during["renew"] > before["renew"], (before, during)
    assert during["release"] > before["release"], (before, during)
    print("maintenance start %.1f s + end %.1f s with 60 clients busy; clients: %r, ACKs by server %r"
          % (start_seconds, end_seconds, during, busy.acks_by_server))
    # No address bound to two clients: where both peers hold an address active, it is the same client.
    assert wait_all_acked(pair, secret) == [0, 0]
    mine, theirs = active_clients(pair.primary), active_clients(pair.secondary)
    assert {a: m for a, m in mine.items() if theirs.get(a, m) != m} == {}


def test_maintenance_waits_out_recover_wait_when_the_partner_lacks_a_binding(
    dhcp_lab, tmp_path, collections_path
):
    secret = new_secret()
    # Long enough that s2's old stos + MCLT is still ahead when end starts it on a loaded machine
    # (start took up to 31 s there), so dhcpd itself holds s2 in recover-wait.
    mclt = 90
    pair = start(dhcp_lab, secret, mclt=mclt)
    client = dhcp_lab.client()
    for index in range(4):
        client.lease("02:00:00:00:0e:%02x" % index)
    assert wait_all_acked(pair, secret) == [0, 0]
    stos = read(pair.secondary, secret)["local_stos_epoch"]
    # A lease s2 wrote (and so answered: dhcpd writes before it answers) just before it went down,
    # whose update never reached s1: the lease file a crash between the write and the BNDUPD leaves.
    lost = next(a for a, state in pair.secondary.lease_states().items() if state == "backup")
    now = time.time()

    def lose_an_update(server):
        stamp = time.strftime("%w %Y/%m/%d %H:%M:%S", time.gmtime(now))
        ends = time.strftime("%w %Y/%m/%d %H:%M:%S", time.gmtime(now + 120))
        with open(server.lease_file, "a", encoding="utf-8") as handle:
            handle.write(
                "lease %s {\n  starts %s;\n  ends %s;\n  cltt %s;\n  binding state active;\n"
                "  next binding state expired;\n  hardware ethernet 02:00:00:00:0e:ff;\n}\n"
                % (lost, stamp, ends, stamp)
            )

    services = LabServices(dhcp_lab, tmp_path, on_stop={"s2": lose_an_update})
    try:
        ops = Ops(tmp_path, collections_path, pair, secret, (configs.POOL_START, configs.POOL_END), services=services)
        record = tmp_path / "maintenance.json"
        parsed, plan = maintenance(ops, "s2", "start", record)
        proof = json.loads(record.read_text())
        assert proof["clean"] is False and proof["unknown_count"] == 1, proof
        assert proof["unknown_bindings"] == [
            {"address": lost, "client": "02:00:00:00:0e:ff", "why": "the partner has it backup"}
        ], proof
        assert proof["recover_wait_until_epoch"] == stos + mclt, (proof, stos)
        verdict = ops.task_results(parsed, "Report the verdict on the stop")["s1"]["msg"]
        assert verdict.startswith("NOT a clean stop: 1 of the node's ") and lost in verdict, verdict
        assert "End will wait in recover-wait until %s" % time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(stos + mclt)) in verdict, verdict
        assert time.time() < stos + mclt - 15, "too slow: s2's recover-wait deadline is (nearly) over before end"
        parsed, plan = maintenance(ops, "s2", "end", record)
    finally:
        services.close()
    assert plan["clean"] is False and any("1 of the node's" in d for d in plan["doubts"]), plan
    assert ops.task_results(parsed, "End the recover-wait of a cleanly stopped node (recover-done)")["s2"].get(
        "skipped"
    )
    waited = ops.task_results(parsed, "Wait in recover-wait until the deadline", prefix=True)["s2"]
    assert not waited.get("skipped") and waited["states_seen"][0] == "recover-wait", waited
    assert time.time() >= stos + mclt, "s2 left recover-wait before its old stos + MCLT"
    for server in pair.servers:
        info = read(server, secret)
        assert (info["local_state"], info["partner_state"]) == ("normal", "normal"), (server, info)
