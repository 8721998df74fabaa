"""OMAPI client and the failover modules against a real dhcpd pair (tests/dhcplab).

The modules run through ansible-playbook (localhost, connection local) on a `make collection`
copy: ANSIBLE_COLLECTIONS_PATH when set (CI refreshes it before pytest), else build/omapi.
Measured times are printed (pytest -s shows them).
"""

import base64
import concurrent.futures
import json
import os
import re
import struct
import subprocess
import sys
import time

import collection_path
import pypureomapi
import pytest

from dhcplab import configs

collection_path.ensure()

from ansible_collections.netboot.dhcp_failover.plugins.module_utils.loadbalance import lb_peer  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import (  # noqa: E402
    errors,
    objects,
    protocol,
)

pytestmark = pytest.mark.system

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY_NAME = configs.OMAPI_KEY_NAME
PEER = "pair"
MOVE_RE = re.compile(r"failover peer \S+: I move from (\S+) to (\S+)")


def new_secret():
    """A fresh secret per test: nothing to find in the repository, everything to find in a leak."""
    return base64.b64encode(os.urandom(16)).decode()


def start_pair(lab, secret, **kwargs):
    pair = lab.start_pair(*configs.failover_pair(omapi_key=secret, **kwargs))
    return pair.wait_normal()


def read(server, secret, key_name=KEY_NAME, port=7911, peer=PEER):
    key = protocol.HmacMd5Key.from_base64(key_name, secret) if secret else None
    with protocol.Connection(server.address, port, key, timeout=5) as conn:
        return objects.read_failover_state(conn, peer)[1]


def moves(server):
    """States the server's current run moved to, from its own log."""
    return [match.group(2) for match in MOVE_RE.finditer(server.current_log())]


# -- ansible-playbook ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def collections_path():
    path = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if not path:
        subprocess.run(["make", "--no-print-directory", "collection", "COLL_BASE=build/omapi"], cwd=REPO,
                       check=True, capture_output=True)
        path = os.path.join(REPO, "build", "omapi")
    assert os.path.isfile(os.path.join(path.split(":")[0], "ansible_collections", "netboot", "dhcp_failover",
                                       "plugins", "modules", "failover_state.py")), path
    return path


class Playbook:
    def __init__(self, tmp_path, collections, secret):
        self.dir = tmp_path / "playbook"
        self.dir.mkdir(exist_ok=True)
        self.collections = collections
        self.secret = secret
        self.runs = 0

    def run(self, tasks, check=False):
        """Run the tasks (each registered as t0, t1, ...; failures allowed) with -vvv.

        Returns (results by register name, combined output). Fails the test if the key appears.
        """
        self.runs += 1
        results_file = self.dir / ("results%d.json" % self.runs)
        registered = []
        play_tasks = []
        for index, task in enumerate(tasks):
            name = "t%d" % index
            registered.append(name)
            play_tasks.append(dict(task, register=name, ignore_errors=True))
        play_tasks.append({
            "name": "Save results",
            "ansible.builtin.copy": {
                "content": "{{ {%s} | to_nice_json }}" % ", ".join("'%s': %s" % (n, n) for n in registered),
                "dest": str(results_file),
                "mode": "0600",
            },
            "check_mode": False,
        })
        play = [{"name": "OMAPI test", "hosts": "localhost", "gather_facts": False, "tasks": play_tasks}]
        playbook = self.dir / ("play%d.yml" % self.runs)
        playbook.write_text(json.dumps(play, indent=1))
        secrets = self.dir / "secrets.json"
        fd = os.open(str(secrets), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"omapi_secret": self.secret}, handle)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=self.collections, ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=str(self.dir / "tmp"), ANSIBLE_HOME=str(self.dir / "home"))
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", "-i", "localhost,",
                "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % secrets,
                str(playbook)]
        if check:
            argv.append("--check")
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=600)
        output = proc.stdout + proc.stderr
        print("ansible-playbook run %d: %.1f s" % (self.runs, time.monotonic() - started))
        assert proc.returncode == 0, output[-4000:]
        assert self.secret not in output, "the OMAPI key leaked into the ansible-playbook output"
        text = results_file.read_text()
        assert self.secret not in text
        return json.loads(text), output


def module_task(module, server, **args):
    # The key comes from the extra-vars file, so it never sits in the playbook text.
    params = {"host": server.address, "name": PEER, "key_name": KEY_NAME, "key": "{{ omapi_secret }}", "timeout": 5}
    params.update(args)
    return {"name": "%s on %s" % (module, server.name), "netboot.dhcp_failover.%s" % module: params}


# -- reader and errors, straight from Python ------------------------------------------------------


def test_reader_agrees_with_pypureomapi_on_both_peers(dhcp_lab):
    secret = new_secret()
    pair = start_pair(dhcp_lab, secret, split=100, mclt=40, lb_max_secs=4, max_response_delay=6)
    for server, role, local_port, partner_port in (
        (pair.primary, "primary", configs.PRIMARY_PORT, configs.SECONDARY_PORT),
        (pair.secondary, "secondary", configs.SECONDARY_PORT, configs.PRIMARY_PORT),
    ):
        info = read(server, secret)
        # pypureomapi is an independent implementation of the same protocol.
        raw = pypureomapi.Omapi(server.address, 7911, KEY_NAME.encode(), secret.encode(), timeout=5) \
            .lookup_by_failoverstate(name=PEER, raw=True)

        def number(name, raw=raw):
            return struct.unpack("!I", raw[name.encode()])[0]

        assert info["role"] == role == ("primary", "secondary")[number("hierarchy")]
        assert info["local_state"] == info["partner_state"] == "normal"
        assert info["local_state_number"] == number("local-state") == 2
        assert info["partner_state_number"] == number("partner-state") == 2
        assert (info["local_port"], info["partner_port"]) == (local_port, partner_port)
        assert (info["local_port"], info["partner_port"]) == (number("local-port"), number("partner-port"))
        assert info["mclt"] == number("mclt") == 40
        assert info["load_balance_max_secs"] == number("load-balance-max-secs") == 4
        assert info["max_response_delay"] == number("max-response-delay") == 6
        assert info["max_unacked_updates"] == number("max-outstanding-updates") == 10
        assert info["hba"] == ":".join("%02x" % b for b in raw[b"load-balance-hba"])
        assert info["split"] == 100, (server.name, info["hba"])
        assert info["local_stos_epoch"] == number("local-stos")
        # stos is dhcpd's clock: it entered normal seconds ago.
        assert abs(info["local_stos_epoch"] - time.time()) < 60
        assert info["local_stos"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(number("local-stos")))


def test_error_paths_against_real_dhcpd(dhcp_lab):
    secret = new_secret()
    pair = start_pair(dhcp_lab, secret)
    server = pair.primary
    wrong = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(errors.OmapiBadSignature) as info:
        read(server, wrong)
    assert wrong not in str(info.value) and secret not in str(info.value)
    with pytest.raises(errors.OmapiUnknownKey, match="'other_key'"):
        read(server, secret, key_name="other_key")
    with pytest.raises(errors.OmapiConnectionRefused, match="198.18.100.1:7912"):
        read(server, secret, port=7912)
    with pytest.raises(errors.OmapiProtocolError, match="198.18.100.1:647.*is 647 the omapi-port"):
        read(server, secret, port=configs.PRIMARY_PORT)  # the failover port is not OMAPI
    with pytest.raises(errors.OmapiNotFound, match="'nopeer'"):
        read(server, secret, peer="nopeer")
    with pytest.raises(errors.OmapiKeyRequired):
        read(server, None)
    # None of that disturbed the server or the pair.
    assert server.running()
    assert read(server, secret)["local_state"] == "normal"


# -- the modules through ansible-playbook ---------------------------------------------------------


def test_modules_in_normal_refuse_partner_down_and_report_errors(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start_pair(dhcp_lab, secret)
    book = Playbook(tmp_path, collections_path, secret)
    partner = {"partner_address": pair.secondary.address, "partner_port": configs.SECONDARY_PORT}
    results, output = book.run([
        module_task("failover_info", pair.primary),
        module_task("failover_info", pair.secondary),
        module_task("failover_state", pair.primary, state="partner-down", **partner),
        dict(module_task("failover_state", pair.primary, state="partner-down", **partner), check_mode=True),
        module_task("failover_info", pair.primary, key="{{ 'AAAAAAAAAAAAAAAAAAAAAA==' }}"),
        module_task("failover_info", pair.primary, key_name="other_key"),
        module_task("failover_info", pair.primary, port=7912),
        module_task("failover_info", pair.primary, name="nopeer"),
        module_task("failover_state", pair.primary, state="normal"),
    ])
    primary, secondary = results["t0"]["failover"], results["t1"]["failover"]
    assert results["t0"]["changed"] is False
    assert (primary["role"], secondary["role"]) == ("primary", "secondary")
    assert primary["local_state"] == primary["partner_state"] == secondary["local_state"] == "normal"
    assert primary["split"] == secondary["split"] == 128
    assert "partner_address" not in primary and "skew" not in primary
    for refused in (results["t2"], results["t3"]):
        assert refused["failed"] is True
        assert "local state is normal" in refused["msg"]
        assert "same address" in refused["msg"]
    assert "rejected the signature" in results["t4"]["msg"]
    assert "no HMAC-MD5 key named 'other_key'" in results["t5"]["msg"]
    assert "198.18.100.1:7912" in results["t6"]["msg"] and "refused" in results["t6"]["msg"]
    assert "no failover-state object named 'nopeer'" in results["t7"]["msg"]
    assert "value of state must be one of" in results["t8"]["msg"]
    # -vvv prints module arguments: the key must show up masked.
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output
    # The refusal really sent nothing.
    assert read(pair.primary, secret)["local_state"] == "normal"
    assert "I move from normal" not in pair.primary.current_log()


def test_partner_down_takeover_and_recovery(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start_pair(dhcp_lab, secret)
    survivor, dead = pair.primary, pair.secondary
    book = Playbook(tmp_path, collections_path, secret)
    partner = {"partner_address": dead.address, "partner_port": configs.SECONDARY_PORT}

    killed = time.monotonic()
    dead.kill()
    survivor.wait_for_state("communications-interrupted", timeout=30)
    print("kill -9 of the secondary -> primary in communications-interrupted: %.3f s" % (time.monotonic() - killed))
    assert read(survivor, secret)["local_state"] == "communications-interrupted"

    # check mode first: predicts, changes nothing; then the real change; then idempotent.
    results, _output = book.run([
        dict(module_task("failover_state", survivor, state="partner-down", **partner), check_mode=True),
        dict(module_task("failover_state", survivor, state="partner-down", **partner), diff=True),
        {"name": "A second passes: a re-sent state would show as a new stos", "ansible.builtin.pause": {"seconds": 1}},
        module_task("failover_state", survivor, state="partner-down", wait_for="partner-down", **partner),
        module_task("failover_info", survivor),
    ])
    check, first, second, info = results["t0"], results["t1"], results["t3"], results["t4"]
    assert check["changed"] is True and check["after"]["local_state"] == "partner-down"
    assert moves(survivor).count("partner-down") == 1  # only the real run moved it
    assert first["changed"] is True, first
    assert first["diff"]["before"]["local_state"] == "communications-interrupted"
    assert first["diff"]["after"]["local_state"] == "partner-down"
    assert first["states_seen"] == ["communications-interrupted", "partner-down"]
    assert second["changed"] is False, second
    assert second["states_seen"] == ["partner-down"]
    assert info["failover"]["local_state"] == "partner-down"
    # dhcpd restarts stos (and so the MCLT clock) on every write, even of the same state.
    assert info["failover"]["local_stos_epoch"] == first["failover"]["local_stos_epoch"]
    assert "I move from communications-interrupted to partner-down" in survivor.current_log()

    # A client that load balancing gives to the dead secondary now gets its lease from the survivor.
    mac = next(m for m in ("02:00:00:00:00:%02x" % i for i in range(256)) if lb_peer(128, mac=m) == "secondary")
    with dhcp_lab.client() as client:
        asked = time.monotonic()
        ack = client.lease(mac, timeout=5)
        print("lease for %s (secondary's bucket) from the survivor: %.3f s" % (mac, time.monotonic() - asked))
    assert ack.server_id == survivor.address

    restarted = time.monotonic()
    dead.start()
    dead.wait_for_state("normal", timeout=120)
    survivor.wait_for_state("normal", timeout=30)
    print("restart of the secondary -> both normal: %.3f s; secondary went %s; primary went %s"
          % (time.monotonic() - restarted, " -> ".join(moves(dead)), " -> ".join(moves(survivor)[-3:])))
    for server in pair.servers:
        state = read(server, secret)
        assert (state["local_state"], state["partner_state"]) == ("normal", "normal")


def test_recover_done_ends_recover_wait(dhcp_lab, tmp_path, collections_path):
    # A long MCLT: without recover-done the restarted server would wait about 10 minutes.
    secret = new_secret()
    pair = start_pair(dhcp_lab, secret, mclt=600)
    survivor, dead = pair.primary, pair.secondary
    book = Playbook(tmp_path, collections_path, secret)
    assert read(dead, secret)["cur_unacked_updates"] == 0  # the precondition recover-done relies on
    dead.kill()
    survivor.wait_for_state("communications-interrupted", timeout=30)
    key = protocol.HmacMd5Key.from_base64(KEY_NAME, secret)
    with protocol.Connection(survivor.address, 7911, key, timeout=5) as conn:
        handle, _info = objects.read_failover_state(conn, PEER)
        objects.set_local_state(conn, handle, "partner-down")
    survivor.wait_for_state("partner-down", timeout=10)
    dead.start()
    dead.wait_for_state("recover-wait", timeout=60)
    assert read(dead, secret)["local_state"] == "recover-wait"

    started = time.monotonic()
    results, _output = book.run([
        module_task("failover_state", dead, state="recover-done"),
        module_task("failover_state", dead, state="recover-done", force=True, wait_for="normal", wait_timeout=60),
    ])
    print("recover-done (with playbook start-up) -> normal: %.3f s" % (time.monotonic() - started))
    refused, forced = results["t0"], results["t1"]
    assert refused["failed"] is True and "cur_unacked_updates" in refused["msg"]
    assert forced["changed"] is True, forced
    assert forced["states_seen"][0] == "recover-wait" and forced["states_seen"][-1] == "normal"
    survivor.wait_for_state("normal", timeout=30)
    assert read(survivor, secret)["partner_state"] == "normal"


def test_recover_resynchronises_and_waits_for_normal(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start_pair(dhcp_lab, secret, mclt=10)
    book = Playbook(tmp_path, collections_path, secret)
    started = time.monotonic()
    results, _output = book.run([
        module_task("failover_state", pair.secondary, state="recover", wait_for="normal", wait_timeout=120),
    ])
    recovered = results["t0"]
    assert recovered["changed"] is True, recovered
    assert recovered["states_seen"][0] == "normal"
    assert recovered["states_seen"][1] in ("recover", "recover-wait"), recovered["states_seen"]
    assert recovered["states_seen"][-1] == "normal"
    went = moves(pair.secondary)  # a fresh secondary already went startup -> recover ... at start
    last = len(went) - 1 - went[::-1].index("recover")
    assert went[last:] == ["recover", "recover-wait", "recover-done", "normal"], went
    print("recover -> normal with mclt 10: %.1f s waited (%.1f s with playbook); states %s"
          % (recovered["waited"], time.monotonic() - started, recovered["states_seen"]))
    # The primary saw the recover and covered for its partner meanwhile.
    assert "peer moves from normal to recover" in pair.primary.current_log()
    pair.primary.wait_for_state("normal", timeout=30)


def test_wait_for_and_lease_info_on_a_real_pair(dhcp_lab, tmp_path, collections_path):
    secret = new_secret()
    pair = start_pair(dhcp_lab, secret)
    pair.wait_balanced()
    book = Playbook(tmp_path, collections_path, secret)
    macs = {}
    for role in ("primary", "secondary"):
        macs[role] = next(m for m in ("02:00:00:00:07:%02x" % i for i in range(256)) if lb_peer(128, mac=m) == role)
    since = int(time.time()) - 1
    with dhcp_lab.client() as client:
        acks = {role: client.lease(mac, timeout=5) for role, mac in macs.items()}
    assert acks["primary"].server_id == pair.primary.address
    assert acks["secondary"].server_id == pair.secondary.address
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=30)

    pool = "%s %s" % (configs.POOL_START, configs.POOL_END)

    def lease_info(server, role, **args):
        params = {"path": server.lease_file, "role": role, "since": since, "ranges": [pool], "records": True}
        params.update(args)
        return {"name": "lease_info on %s" % server.name, "netboot.dhcp_failover.lease_info": params}

    results, _output = book.run([
        module_task("failover_info", pair.primary, wait_for={"local_state": ["communications-interrupted"]}),
        module_task("failover_info", pair.primary, wait_for={"local_state": ["normal"]}, wait_timeout=1),
        lease_info(pair.primary, "primary"),
        dict(lease_info(pair.secondary, "secondary"), check_mode=True),
    ])
    reached, timed_out = results["t0"], results["t1"]
    assert reached["failover"]["local_state"] == "communications-interrupted"
    assert reached["states_seen"] == ["communications-interrupted"]
    assert timed_out["failed"] is True
    assert timed_out["msg"] == ("local state normal not reached within 1.0 s; "
                                "local states seen: communications-interrupted")
    assert timed_out["failover"]["local_state"] == "communications-interrupted"  # the last reading

    for role, other in (("primary", "secondary"), ("secondary", "primary")):
        found = results["t2" if role == "primary" else "t3"]
        assert found["changed"] is False
        # The pool of 100 is split 50/50 between FREE and BACKUP on reaching NORMAL; each node
        # then gave one address from its own half, and the binding updates put both in both files.
        assert found["total"] == 100
        assert {k: v for k, v in found["counts"].items() if v} == {"free": 49, "backup": 49, "active": 2}
        assert (found["own"], found["theirs"]) == (49, 49)
        assert found["allocated_since"] == 1, (role, found)
        assert found["ranges"] == [{"range": pool, "size": 100, "not_in_file": 0, "counts": found["counts"]}]
        active = {r["hardware_address"]: r["address"] for r in found["records"] if r["binding_state"] == "active"}
        assert active == {macs[role]: acks[role].yiaddr, macs[other]: acks[other].yiaddr}
    # The primary saved its move to communications-interrupted; the killed secondary its last normal.
    assert results["t2"]["failover"][PEER]["my_state"] == "communications-interrupted"
    assert results["t3"]["failover"][PEER]["my_state"] == "normal"

    # wait_for rides out a dhcpd that is not running yet: start it while the module waits.
    with concurrent.futures.ThreadPoolExecutor(1) as pool_executor:
        waiting = pool_executor.submit(book.run, [
            module_task("failover_info", pair.secondary,
                        wait_for={"local_state": ["normal"], "partner_state": ["normal"]}, wait_timeout=90),
        ])
        time.sleep(6)  # ansible-playbook starts in 2-3 s: the module meets a closed OMAPI port first
        assert not waiting.done()
        pair.secondary.start()
        results, _output = waiting.result(timeout=120)
    back = results["t0"]
    assert (back["failover"]["local_state"], back["failover"]["partner_state"]) == ("normal", "normal")
    assert back["waited"] > 1.0, back
    print("failover_info wait_for: secondary back in normal after %.1f s of waiting; states %s"
          % (back["waited"], back["states_seen"]))
