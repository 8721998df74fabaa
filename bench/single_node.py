"""A pair brought up with one node missing: single-node mode against the seed article's static
partner-down, on the netns lab (tests/dhcplab, real dhcpd, fresh lease files each run).

"omapi" is what site.yml -e dhcpd_single_node does on the dhcpd side: the primary starts alone
with the normal pair configuration, leaves startup, is set to partner-down over OMAPI; later the
secondary starts fresh, reaches recover-wait, is set to recover-done (it never served), and is
restarted once more to drop dhcpd's stale recover-wait timer (roles/dhcpd/tasks/restart.yml).
"static" is the article's: both configurations carry `failover peer "pair" state { my state
partner-down; }`, the primary starts alone, later the secondary.

Recorded per run: seconds from the primary's dhcpd start to the first ACK for a client of the
secondary's bucket; after the secondary's start, seconds until both are NORMAL (limit 180 s);
the states each passed through (from its log); how many new clients each served during the join (a
DISCOVER every 0.5 s, alternating buckets); and after a later routine restart of the primary, the
seconds until both are NORMAL again and whether potential-conflict came back. Then a fresh
secondary alone in partner-down, as configured and with `mclt` added to its configuration: the MCLT
it reports, when it first ACKs a client of the primary's bucket and the lease time it gives.
Ansible's own time (the deploy) is not in these figures: the molecule scenario single_node times the
whole site.yml run.
"""

import base64
import os
import re
import sys
import tempfile
import time

from common import REPO, log, mac, summary

sys.path.insert(0, str(REPO / "tests"))

import collection_path  # noqa: E402

collection_path.ensure()

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance as lb  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import objects, protocol  # noqa: E402
from dhcplab import Lab, configs  # noqa: E402

MCLT = 60
PEER = "pair"
JOIN_LIMIT = 180.0
STATIC = 'failover peer "%s" state { my state partner-down; }' % PEER
_MOVE_RE = re.compile(r"failover peer \S+: I move from (\S+) to (\S+)")


def _omapi(server, secret):
    key = protocol.HmacMd5Key.from_base64(configs.OMAPI_KEY_NAME, secret)
    return protocol.Connection(server.address, 7911, key, timeout=5)


def _state(server, secret):
    try:
        with _omapi(server, secret) as conn:
            return objects.read_failover_state(conn, PEER)[1]["local_state"]
    except Exception:  # noqa: BLE001 - not answering yet is a state here
        return None


def _set(server, secret, state):
    with _omapi(server, secret) as conn:
        handle, _info = objects.read_failover_state(conn, PEER)
        objects.set_local_state(conn, handle, state)


def _wait(server, secret, wanted, limit):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        state = _state(server, secret)
        if state in wanted:
            return state
        time.sleep(0.1)
    return None


def _macs(bucket, count, prefix):
    found, index = [], 0
    while len(found) < count:
        address = mac(prefix, index)
        if lb.lb_peer(128, mac=address) == bucket:
            found.append(address)
        index += 1
    return found


def _first_ack(client, macs, server, start, limit=120.0):
    for address in macs:
        while time.monotonic() - start < limit:
            try:
                ack = client.lease(address, timeout=0.5)
            except Exception:  # noqa: BLE001 - no answer yet
                time.sleep(0.1)
                continue
            if ack.server_id == server:
                return time.monotonic() - start
            break
    return None


def _moves(server):
    return [m.group(2) for m in _MOVE_RE.finditer(server.log())]


def _one(kind):
    secret = base64.b64encode(os.urandom(16)).decode()
    p_conf, s_conf = configs.failover_pair(128, omapi_key=secret, mclt=MCLT)
    if kind == "static":
        # After the peer declaration: dhcpd refuses a state for a peer it does not know yet.
        p_conf, s_conf = (conf + "\n" + STATIC + "\n" for conf in (p_conf, s_conf))
    with tempfile.TemporaryDirectory(prefix="bench-single-") as tmp, Lab(workdir=tmp) as lab:
        client = lab.client()
        theirs = _macs("secondary", 40, 0xC1)
        primary = lab.add_server("s1", p_conf)
        start = time.monotonic()
        primary.start()
        if kind == "omapi":
            _wait(primary, secret, [s for s in objects.STATES.values() if s != "startup"], 60)
            _set(primary, secret, "partner-down")
        first = _first_ack(client, theirs[:1], primary.address, start)
        secondary = lab.add_server("s2", s_conf)
        join = time.monotonic()
        secondary.start()
        served = {primary.address: 0, secondary.address: 0, "nobody": 0}
        normal = None
        done = False
        index = 1
        while time.monotonic() - join < JOIN_LIMIT:
            if kind == "omapi" and not done and _state(secondary, secret) == "recover-wait":
                _set(secondary, secret, "recover-done")
                _wait(secondary, secret, ["normal"], 30)
                secondary.restart()
                done = True
            if (
                _state(primary, secret) == "normal"
                and _state(secondary, secret) == "normal"
                and (kind != "omapi" or done)
            ):
                normal = time.monotonic() - join
                break
            bucket = theirs if index % 2 else _macs("primary", 40, 0xC2)
            offers = client.discover(bucket[index // 2 % len(bucket)], timeout=0.4, expect=1, grace=0.001)
            served[offers[0].server_id if offers else "nobody"] += 1
            index += 1
        conflict = any("potential-conflict" in s.log() for s in (primary, secondary))
        # A later restart of the primary (a routine one, both NORMAL): does the static statement
        # drag it through potential-conflict again?
        marks = [server.log_mark() for server in (primary, secondary)]
        restart = time.monotonic()
        primary.restart()
        again = None
        if _wait(primary, secret, ["normal"], 60) and _wait(secondary, secret, ["normal"], 60):
            again = time.monotonic() - restart
        conflict_again = any(
            "potential-conflict" in server.log()[mark:] for server, mark in zip((primary, secondary), marks)
        )
        return {
            "first_lease_s": first,
            "join_normal_s": normal,
            "potential_conflict": conflict,
            "restart_normal_s": again,
            "restart_potential_conflict": conflict_again,
            "primary_moves": _moves(primary),
            "secondary_moves": _moves(secondary),
            "served_during_join": {
                "primary": served[primary.address],
                "secondary": served[secondary.address],
                "nobody": served["nobody"],
            },
        }


def _lone_secondary(with_mclt):
    """A fresh secondary alone set to partner-down: its MCLT over OMAPI, when it first ACKs a client of
    the primary's bucket and the lease time of that ACK; with_mclt adds `mclt` to its configuration."""
    secret = base64.b64encode(os.urandom(16)).decode()
    _p_conf, s_conf = configs.failover_pair(128, omapi_key=secret, mclt=MCLT)
    if with_mclt:
        s_conf = s_conf.replace("  secondary;\n", "  secondary;\n  mclt %d;\n" % MCLT, 1)
    with tempfile.TemporaryDirectory(prefix="bench-single-") as tmp, Lab(workdir=tmp) as lab:
        client = lab.client()
        macs = _macs("primary", 40, 0xC3)
        secondary = lab.add_server("s2", s_conf)
        start = time.monotonic()
        secondary.start()
        _wait(secondary, secret, [s for s in objects.STATES.values() if s != "startup"], 60)
        _set(secondary, secret, "partner-down")
        with _omapi(secondary, secret) as conn:
            mclt = objects.read_failover_state(conn, PEER)[1].get("mclt")
        first, lease_time, index = None, None, 0
        while time.monotonic() - start < MCLT + 60 and first is None:
            try:
                ack = client.lease(macs[index % len(macs)], timeout=0.5)
                first, lease_time = time.monotonic() - start, ack.lease_time
            except Exception:  # noqa: BLE001 - nothing yet
                index += 1
                time.sleep(0.2)
        return {"omapi_mclt": mclt, "first_lease_s": first, "lease_time": lease_time}


def run(runs):
    samples = {"omapi": [], "static": []}
    for index in range(runs):
        for kind, values in samples.items():
            sample = _one(kind)
            values.append(sample)
            log("single-node %s run %d/%d: %s" % (kind, index + 1, runs, sample))
    lone = {"secondary": [], "secondary_with_mclt": []}
    for index in range(runs):
        for kind, values in lone.items():
            sample = _lone_secondary(kind == "secondary_with_mclt")
            values.append(sample)
            log("single-node %s alone run %d/%d: %s" % (kind, index + 1, runs, sample))
    return {
        "mclt": MCLT,
        "samples": samples,
        "lone_secondary": lone,
        "first_lease_s": {k: summary([s["first_lease_s"] for s in v]) for k, v in samples.items()},
        "join_normal_s": {k: summary([s["join_normal_s"] for s in v]) for k, v in samples.items()},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1), indent=1))
