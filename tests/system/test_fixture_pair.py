"""Proves the dhcplab fixtures against the real dhcpd: NORMAL, a lease, a clean teardown."""

import base64
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dhcplab import configs
from dhcplab.client import Ack, DhcpClient, Offer
from dhcplab.lab import Lab, LabError, owned_objects

pytestmark = pytest.mark.system

POOL = (ipaddress.ip_address(configs.POOL_START), ipaddress.ip_address(configs.POOL_END))


def in_pool(address):
    return POOL[0] <= ipaddress.ip_address(address) <= POOL[1]


def test_pair_reaches_normal_and_leases(failover_pair, dhcp_lab):
    pair = failover_pair
    assert pair.primary.state() == "normal"
    assert pair.secondary.state() == "normal"
    assert "failover peer pair: Both servers normal" in pair.primary.log()
    # The fixture waited for pool balancing: dhcpd gives the secondary half the pool as BACKUP.
    assert pair.secondary.count_leases("backup") == 50
    with dhcp_lab.client() as client:
        offers = client.discover("aa:bb:cc:dd:ee:ff", expect=1)
        assert len(offers) == 1, offers
        offer = offers[0]
        assert isinstance(offer, Offer)
        assert offer.server_id in (configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS)
        assert in_pool(offer.yiaddr)
        ack = client.request(offer)
        assert isinstance(ack, Ack), ack
        assert ack.yiaddr == offer.yiaddr
        assert ack.server_id == offer.server_id
    serving = pair.primary if ack.server_id == pair.primary.address else pair.secondary
    assert "DHCPACK on %s to aa:bb:cc:dd:ee:ff" % ack.yiaddr in serving.log()


def test_split_128_answers_follow_the_hash(failover_pair, dhcp_lab):
    # FAILOVER-FACTS test vectors: MAC ...:01 hashes to bucket 153 (secondary),
    # aa:bb:cc:dd:ee:ff to 57 (primary), client-id 01aabbccddeeff to 102 (primary).
    client = dhcp_lab.client()
    cases = [
        ("00:00:00:00:00:01", None, configs.SECONDARY_ADDRESS),
        ("aa:bb:cc:dd:ee:ff", None, configs.PRIMARY_ADDRESS),
        ("00:00:00:00:00:01", b"\x01\xaa\xbb\xcc\xdd\xee\xff", configs.PRIMARY_ADDRESS),
    ]
    for mac, client_id, server in cases:
        offers = client.discover(mac, client_id=client_id, expect=1)
        assert [o.server_id for o in offers] == [server], (mac, client_id, offers)
    # Above load balance max seconds both peers answer: the client sees both offers.
    both = client.discover("00:00:00:00:00:01", secs=10, expect=2)
    assert sorted(o.server_id for o in both) == [configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS]


def test_lease_helper_and_discover_many(failover_pair, dhcp_lab):
    client = dhcp_lab.client()
    ack = client.lease("02:00:00:00:00:01")
    assert in_pool(ack.yiaddr)
    macs = ["02:00:00:00:01:%02x" % i for i in range(20)]
    answers = client.discover_many(macs, expect=1)
    assert list(answers) == macs
    for mac, offers in answers.items():
        assert len(offers) == 1, (mac, offers)
        assert offers[0].chaddr == mac
        assert in_pool(offers[0].yiaddr)
    servers = {offers[0].server_id for offers in answers.values()}
    # 20 random-ish MACs under split 128 land on both servers.
    assert servers == {configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS}


def test_extra_subnets_hold_more_clients_than_the_lab_pool(dhcp_lab):
    pair = dhcp_lab.start_pair(*configs.failover_pair(extra_subnets=1)).wait_normal()
    # Two pools (100 + 254 addresses): the secondary gets half of each.
    assert pair.wait_balanced() == 50 + 127
    macs = ["02:00:00:00:02:%02x" % i for i in range(150)]
    answers = dhcp_lab.client().discover_many(macs, expect=1, timeout=5)
    addresses = [offers[0].yiaddr for offers in answers.values() if len(offers) == 1]
    # dhcpd holds an offered address for 120 s: 150 offers cannot all come from 100 addresses.
    assert len(set(addresses)) == 150
    assert any(a.startswith("198.18.101.") for a in addresses)


def test_kill_moves_peer_to_communications_interrupted(failover_pair):
    pair = failover_pair
    pair.secondary.kill()
    pair.primary.wait_for_state("communications-interrupted", timeout=10)
    pair.secondary.start()
    pair.wait_normal(timeout=30)


def test_wait_for_state_timeout_shows_log_tail(failover_pair):
    with pytest.raises(LabError, match=r"(?s)not reached in 0\.3s.*Both servers normal"):
        failover_pair.primary.wait_for_state("partner-down", timeout=0.3)


def test_bad_config_fails_with_log(dhcp_lab):
    with pytest.raises(LabError, match=r"(?s)exited with rc=1 during startup.*line \d+: semicolon expected"):
        dhcp_lab.start_server("s1", configs.single_server(extra_global="this is not dhcpd syntax;"))


def test_secret_stays_out_of_errors_and_files(dhcp_lab):
    secret = base64.b64encode(os.urandom(18)).decode()
    # A broken key statement makes dhcpd echo the line holding the secret.
    conf = configs.single_server(extra_global='key other { algorithm hmac-md5; secret %s }' % secret)
    with pytest.raises(LabError) as info:
        dhcp_lab.start_server("s1", conf)
    server = dhcp_lab.servers["s1"]
    assert secret in server.log()  # the echo really happened ...
    assert secret not in str(info.value)  # ... and the error text masks it
    assert "<hidden>" in str(info.value)
    for path in (server.dir, server.conf_file):
        assert os.stat(path).st_mode & 0o077 == 0, path


def test_controller_reaches_omapi_and_release_is_processed(dhcp_lab):
    secret = base64.b64encode(os.urandom(16)).decode()
    server = dhcp_lab.start_server("s1", configs.single_server(omapi_key=secret))
    # The controller talks to the server over the bridge, no namespace hopping.
    with socket.create_connection((server.address, server.omapi_port), timeout=5) as conn:
        assert conn.getsockname()[0] == configs.CONTROLLER_ADDRESS
    client = dhcp_lab.client()
    ack = client.lease("02:00:00:00:03:01")
    assert ack.server_id == server.address
    mark = server.log_mark()
    client.release(ack)
    server.wait_for_log(r"DHCPRELEASE of %s from 02:00:00:00:03:01" % re.escape(ack.yiaddr), timeout=5, since=mark)


def test_teardown_removes_everything(tmp_path):
    lab = Lab(workdir=tmp_path)
    try:
        pair = lab.start_pair(*configs.failover_pair())
        pair.wait_normal()
        pids = [pair.primary.pid, pair.secondary.pid]
        client = DhcpClient(iface=lab.bridge)
        lab.clients.append(client)
        assert client.discover("aa:bb:cc:dd:ee:ff", expect=1)
        names = owned_objects(os.getpid())
        assert lab.bridge in names[1]
        assert {pair.primary.netns, pair.secondary.netns} <= set(names[0])
    finally:
        lab.close()
    assert owned_objects(os.getpid()) == ([], [])
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    assert lab.tag not in netns
    assert lab.tag not in links
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not client._thread.is_alive()


LOCK_HOLDER = """
import sys, time
sys.path.insert(0, %r)
from dhcplab.lab import Lab
lab = Lab(workdir=%r)
print("READY", flush=True)
sys.stdin.readline()
lab.close()
"""


def test_second_lab_waits_for_the_lock(tmp_path):
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER % (tests_dir, str(tmp_path / "holder"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "READY\n"
        with pytest.raises(LabError, match=r"still held by pid %d after" % holder.pid):
            Lab(workdir=tmp_path / "refused", lock_timeout=0.5)
        # The refused lab removed nothing of the holder's.
        assert "nbt%dbr" % holder.pid in owned_objects(holder.pid)[1]
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
    finally:
        holder.kill()
        holder.wait()
    with Lab(workdir=tmp_path / "after"):
        assert owned_objects(holder.pid) == ([], [])


CRASHING_SESSION = """
import sys, time
sys.path.insert(0, %r)
from dhcplab import configs
from dhcplab.lab import Lab
lab = Lab(workdir=%r)
pair = lab.start_pair(*configs.failover_pair())
pair.wait_normal()
print(pair.primary.pid, pair.secondary.pid, flush=True)
time.sleep(120)
"""


def _wait_gone(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def test_leftovers_of_a_killed_session_are_cleaned(tmp_path):
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = CRASHING_SESSION % (tests_dir, str(tmp_path / "crashed"))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        dhcpd_pids = [int(pid) for pid in child.stdout.readline().split()]
        assert len(dhcpd_pids) == 2
        namespaces, links = owned_objects(child.pid)
        assert len(namespaces) == 2 and "nbt%dbr" % child.pid in links
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    # Nothing tore the lab down, but dhcpd died with its parent (PDEATHSIG).
    assert all(_wait_gone(pid) for pid in dhcpd_pids)
    # The next lab removes the leftovers; with parallel sessions on the machine
    # that may be another session's lab (the lock went free with the child).
    with Lab(workdir=tmp_path / "next"):
        assert owned_objects(child.pid) == ([], [])


def test_leftovers_of_a_live_owner_are_kept(tmp_path):
    owner = subprocess.Popen(["sleep", "60"])
    link = "nbt%d-zz" % owner.pid
    try:
        subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
        with Lab(workdir=tmp_path / "a") as lab:
            assert link not in lab.removed_stale
        assert owned_objects(owner.pid) == ([], [link])
        owner.kill()
        owner.wait()
        with Lab(workdir=tmp_path / "b"):
            assert owned_objects(owner.pid) == ([], [])
    finally:
        owner.kill()
        owner.wait()
        subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)


def test_leftovers_of_this_process_are_cleaned(tmp_path):
    # What a failed teardown of an earlier lab in this process would leave.
    link = "nbt%d-zz" % os.getpid()
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
    try:
        with Lab(workdir=tmp_path) as lab:
            assert link in lab.removed_stale
            assert link not in owned_objects(os.getpid())[1]
    finally:
        subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)


def test_unclosed_client_stops_when_the_bridge_goes(tmp_path):
    with Lab(workdir=tmp_path) as lab:
        client = DhcpClient(iface=lab.bridge)
    client._thread.join(5)
    assert not client._thread.is_alive()
    client.close()


def test_link_cut_is_noticed_after_max_response_delay(dhcp_lab):
    pair = dhcp_lab.start_pair(*configs.failover_pair(max_response_delay=3)).wait_normal()
    cut = time.monotonic()
    pair.secondary.link_down()
    for server in pair.servers:
        server.wait_for_state("communications-interrupted", timeout=20)
    noticed = time.monotonic() - cut
    # The peers cannot see a cut link; only the silence timer tells them: max-response-delay
    # (3 s) after the LAST message heard, which may predate the cut by up to a third of it
    # (21-28 s with 30 in FAILOVER-FACTS). A dead process is noticed in ~20 ms instead.
    assert noticed >= 1.5, noticed
    pair.secondary.link_up()
    pair.wait_normal(timeout=20)


INTERRUPTED_TEST = """
import signal, sys, time
sys.path.insert(0, %r)
from conftest import dhcp_lab, failover_pair  # noqa: F401 - the fixtures under test

# A shell's background job (`make test &`, nohup) starts with SIGINT ignored, and Python then
# installs no KeyboardInterrupt handler: Ctrl-C is what this test is about, so restore it.
signal.signal(signal.SIGINT, signal.default_int_handler)

def test_wait_for_interrupt(failover_pair):
    print("READY", failover_pair.primary.pid, failover_pair.secondary.pid, flush=True)
    time.sleep(120)
"""


def test_keyboard_interrupt_tears_down(tmp_path):
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    (tmp_path / "test_inner.py").write_text(INTERRUPTED_TEST % tests_dir)
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "-c", os.devnull, str(tmp_path / "test_inner.py")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path),
    )  # fmt: skip
    try:
        line = ""
        while not line.startswith("READY"):
            line = inner.stdout.readline()
            assert line, "inner pytest ended before its test started"
        pids = [int(pid) for pid in line.split()[1:]]
        assert owned_objects(inner.pid)[0]
        inner.send_signal(signal.SIGINT)
        # A bound against a hang, not a speed target (the interrupt takes ~2 s).
        output = inner.communicate(timeout=60)[0]
    finally:
        inner.kill()
        inner.wait()
    assert "KeyboardInterrupt" in output
    assert owned_objects(inner.pid) == ([], [])
    assert all(_wait_gone(pid, 0) for pid in pids)


HBA_SPLIT_128 = ":".join(["ff"] * 16 + ["00"] * 16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"split": 0},
        {"split": 256},
        {"split": None, "hba": HBA_SPLIT_128},
        {"auto_partner_down": 60, "omapi_key": "c2VjcmV0", "omapi_port": 7912},
        {"extra_subnets": 7, "extra_global": "log-facility local7;", "server_id_check": True},
        {"peer_name": "other-peer", "pool": ("198.18.100.10", "198.18.100.20")},
        {"extra_global": {"s1": "next-server 198.18.100.1;", "s2": "next-server 198.18.100.2;"}},
    ],
)
def test_generated_configs_pass_dhcpd_check(tmp_path, kwargs):
    for role, text in zip(("primary", "secondary"), configs.failover_pair(**kwargs)):
        path = tmp_path / (role + ".conf")
        path.write_text(text)
        check = subprocess.run(
            ["/usr/sbin/dhcpd", "-t", "-4", "-cf", str(path)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, (role, kwargs, check.stderr)
        has_split = re.search(r"^\s*(split|hba) ", text, re.MULTILINE) is not None
        assert has_split == (role == "primary")
        # mclt on both: a secondary that never met its primary would run with MCLT 0 without it.
        assert re.search(r"^\s*mclt \d+;", text, re.MULTILINE) is not None
        assert "load balance max seconds 3;" in text
        # The role's template, not a second renderer.
        assert "Rendered from the pair model (dhcpd_pair_info)" in text


def test_pair_configs_keep_the_secret_in_a_private_file():
    secret = base64.b64encode(os.urandom(16)).decode()
    texts = configs.failover_pair(omapi_key=secret)
    key_files = {re.search(r'^include "([^"]+)";$', text, re.MULTILINE).group(1) for text in texts}
    assert len(key_files) == 1  # both peers use one key, as the role's pair does
    key_file = key_files.pop()
    assert all(secret not in text for text in texts)
    assert 'secret "%s";' % secret in Path(key_file).read_text()
    for path in (key_file, os.path.dirname(key_file)):
        assert os.stat(path).st_mode & 0o077 == 0, path


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": 128, "hba": HBA_SPLIT_128}, r"dhcpd_split=128, dhcpd_hba=.*: expected at most one of dhcpd_split"),
        ({"split": 257}, r"dhcpd_split=257 is invalid: .*an integer from 0 to 256"),
        ({"split": None, "hba": "ff:00"}, r'dhcpd_hba="ff:00" is invalid'),
        ({"mclt": 0}, r"dhcpd_mclt=0 is invalid"),
        ({"lb_max_secs": 0}, r"dhcpd_load_balance_max_seconds=0 is invalid"),
        ({"peer_name": 'a"b'}, r'dhcpd_failover_peer_name="a\\"b" is invalid'),
        (
            {"pool": ("198.18.100.1", "198.18.100.20")},
            r"s1: dhcp_failover_address: '198\.18\.100\.1' is inside the dynamic range dhcpd_subnets\[0\]",
        ),
        ({"extra_subnets": 8}, r"extra_subnets=8 is invalid: expected an integer 0\.\.7"),
    ],
)
def test_bad_config_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        configs.failover_pair(**kwargs)


def test_bad_omapi_key_is_refused_without_echo():
    with pytest.raises(ValueError, match="omapi_key is invalid") as info:
        configs.failover_pair(omapi_key='abc"; } evil')
    assert "evil" not in str(info.value)


def test_hba_equal_to_split_128_balances_like_it(dhcp_lab):
    pair = dhcp_lab.start_pair(*configs.failover_pair(split=None, hba=HBA_SPLIT_128)).wait_normal()
    pair.wait_balanced()
    client = dhcp_lab.client()
    answers = client.discover_many(["00:00:00:00:00:01", "aa:bb:cc:dd:ee:ff"], expect=1)
    assert [[o.server_id for o in offers] for offers in answers.values()] == [
        [configs.SECONDARY_ADDRESS],
        [configs.PRIMARY_ADDRESS],
    ]
