"""A seeded fault campaign against a real dhcpd pair with a client population running.

    result = run_campaign(workdir, seed=7, duration=240, ops=make_ops)   # ops: optional

The pair is the role's own rendering (configs.failover_pair) with a short MCLT and short leases,
so the windows where a duplicate could appear (after stos + MCLT) are reached within a fault.
The schedule is drawn from the seed: every fault kind once in a shuffled order, then again in a
new order while time is left. Each fault runs while the clients do, then heals, then the pair
must be NORMAL again before the next. At the end the clients stop, the updates settle, both lease
files go through the collection's lease audit and the history through dhcplab.history.check().

``ops(lab, pair, secret, pool)`` returns an object with ``run(playbook, *args)`` (the system
tests' Ops): with it the campaign also runs maintenance.yml start/end and recover.yml after a kill.
"""

import base64
import json
import os
import random
import re
import signal
import time

from . import configs, history
from .lab import Lab, LabError, run
from .population import Population

import collection_path

collection_path.ensure()
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import objects, protocol  # noqa: E402
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import audit, decisions  # noqa: E402

PEER = "pair"
POOL = ("198.18.100.10", "198.18.100.250")
# Short enough that stos + MCLT passes inside a fault; leases short enough that clients renew,
# rebind and expire during one.
SETTINGS = {"mclt": 10, "max_response_delay": 5, "default_lease_time": 30, "max_lease_time": 60,
            "server_id_check": True}
HEAL_TIMEOUT = 120
SETTLE = 4
KINDS = ("kill9", "stop_cont", "stop_cont_partner_down", "link_cut", "failover_cut", "restart_both",
         "restart_in_potential_conflict", "restart_in_recover", "maintenance", "recover_after_kill")
PLAYBOOK_KINDS = ("maintenance", "recover_after_kill")


def omapi(server, secret):
    key = protocol.HmacMd5Key.from_base64(configs.OMAPI_KEY_NAME, secret)
    return protocol.Connection(server.address, server.omapi_port, key, timeout=5)


def read_state(server, secret):
    with omapi(server, secret) as conn:
        return objects.read_failover_state(conn, PEER)[1]


def set_state(server, secret, state):
    with omapi(server, secret) as conn:
        handle, _info = objects.read_failover_state(conn, PEER)
        objects.set_local_state(conn, handle, state)


def schedule(seed, duration, kinds=KINDS):
    """The faults of a campaign: [(kind, target)], every kind once per round, shuffled by the seed."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible schedule, not a secret
    rounds = max(1, int(duration // 240) + (1 if duration % 240 else 0))
    plan = []
    for _round in range(rounds):
        order = list(kinds)
        rng.shuffle(order)
        plan += [(kind, rng.choice(("s1", "s2"))) for kind in order]
    return plan


class Campaign:
    def __init__(self, lab, pair, secret, seed, *, ops=None, say=print):
        self.lab, self.pair, self.secret, self.ops = lab, pair, secret, ops
        self.rng = random.Random(seed + 1)  # noqa: S311 - fault timings, reproducible
        self.say = say
        self.windows = []
        self.mrd = SETTINGS["max_response_delay"]

    def node(self, name):
        return self.lab.servers[name]

    def other(self, name):
        return self.lab.servers["s2" if name == "s1" else "s1"]

    def both_normal(self, timeout=HEAL_TIMEOUT):
        deadline = time.monotonic() + timeout
        last, error = None, None
        while time.monotonic() < deadline:
            try:
                last = [read_state(s, self.secret) for s in self.pair.servers]
                # A restarted dhcpd reports the states of its lease file before it reaches its
                # peer: its log's move to normal in this run is what says they talk again.
                if all((i["local_state"], i["partner_state"]) == ("normal", "normal") for i in last) and all(
                        s.state() == "normal" for s in self.pair.servers):
                    return True
            except Exception as exc:  # noqa: BLE001 - a node restarting answers OMAPI with errors for a moment
                error = exc
            time.sleep(0.2)
        raise LabError("the pair is not NORMAL %d s after the heal: OMAPI %s, logs %s, last error %r" % (
            timeout, [(i["local_state"], i["partner_state"]) for i in last or []],
            [s.state() for s in self.pair.servers], error))

    def normal_within(self, timeout):
        try:
            return self.both_normal(timeout)
        except LabError:
            return False

    def ensure_running(self):
        for server in self.pair.servers:
            if not server.running():
                server.start()

    def run_fault(self, kind, target):
        start = time.time()
        self.say("fault %s on %s" % (kind, target))
        detail = getattr(self, "_" + kind)(self.node(target), self.other(target)) or {}
        self.ensure_running()
        self.both_normal()
        window = {"kind": kind, "target": target, "start": start, "end": time.time(), **detail}
        self.windows.append(window)
        self.say("  healed after %.1f s %s" % (window["end"] - start, json.dumps(detail, default=str)))
        time.sleep(SETTLE)
        return window

    def _hold(self, extra=(2, 6)):
        seconds = self.mrd + self.rng.uniform(*extra)
        time.sleep(seconds)
        return round(seconds, 1)

    # --- the faults: each one breaks, waits, heals (the caller waits for NORMAL) --------------------
    def _kill9(self, node, other):
        node.kill(signal.SIGKILL)
        held = round(self.rng.uniform(3, 12), 1)
        time.sleep(held)
        node.start()
        return {"down": held}

    def _stop_cont(self, node, other):
        os.kill(node.pid, signal.SIGSTOP)
        try:
            held = self._hold()
        finally:
            os.kill(node.pid, signal.SIGCONT)
        return {"stopped": held}

    def _stop_cont_partner_down(self, node, other):
        os.kill(node.pid, signal.SIGSTOP)
        try:
            other.wait_for_state("communications-interrupted", timeout=self.mrd + 20)
            set_state(other, self.secret, "partner-down")
            other.wait_for_state("partner-down", timeout=10)
            # Past stos + MCLT: the survivor may now hand out the hung node's addresses.
            held = round(SETTINGS["mclt"] + self.rng.uniform(2, 8), 1)
            time.sleep(held)
        finally:
            os.kill(node.pid, signal.SIGCONT)
        return {"partner_down_for": held}

    def _link_cut(self, node, other):
        node.link_down()
        try:
            held = self._hold()
        finally:
            node.link_up()
        return {"cut": held}

    def _blackhole(self, action):
        for server, peer in ((self.pair.primary, self.pair.secondary), (self.pair.secondary, self.pair.primary)):
            run("ip", "route", action, "blackhole", "%s/32" % peer.address, netns=server.netns, check=action == "add")

    def _failover_cut(self, node, other):
        # Only the failover link: both keep serving their clients (the partition ISC warns about).
        self._blackhole("add")
        try:
            held = self._hold()
        finally:
            self._blackhole("del")
        return {"cut": held}

    def _restart_both(self, node, other):
        for server in self.pair.servers:
            server.stop()
        for server in self.pair.servers:
            server.start()
        return {}

    def _restart_on(self, servers, states, timeout, marks):
        """Kill -9 and restart the first server whose log (after marks) moves to one of states."""
        deadline = time.monotonic() + timeout
        regex = re.compile(" to (%s)\n" % "|".join(states))
        while time.monotonic() < deadline:
            for server in servers:
                match = regex.search(server.log(), marks[server.name])
                if match and server.running():
                    server.kill(signal.SIGKILL)
                    server.start()
                    return {"restarted": server.name, "in": match.group(1)}
            time.sleep(0.005)
        return {"restarted": None, "in": None}

    def _restart_in_potential_conflict(self, node, other):
        self._blackhole("add")
        try:
            for server in self.pair.servers:
                server.wait_for_state("communications-interrupted", timeout=self.mrd + 20)
            set_state(node, self.secret, "partner-down")
            node.wait_for_state("partner-down", timeout=10)
        finally:
            marks = {s.name: s.log_mark() for s in self.pair.servers}
            self._blackhole("del")
        return self._restart_on(self.pair.servers, ("potential-conflict", "resolution-interrupted"), 30, marks)

    def _restart_in_recover(self, node, other):
        node.kill(signal.SIGKILL)
        other.wait_for_state("communications-interrupted", timeout=10)
        set_state(other, self.secret, "partner-down")
        other.wait_for_state("partner-down", timeout=10)
        time.sleep(self.rng.uniform(1, 4))
        marks = {node.name: node.log_mark()}
        node.start()
        detail = self._restart_on([node], ("recover", "recover-wait"), 30, marks)
        if self.normal_within(decisions.STUCK_RECOVER + 10):
            return detail
        # dhcpd's stuck recover (README, "A restart during recover"): heal it the way the collection does.
        if self.ops:
            plan = self.ops.plan(self.ops.run("recover"))
            detail.update(healed_by="recover.yml", rule=plan.get("rule"))
        else:
            other.kill(signal.SIGKILL)
            other.start()
            detail.update(healed_by="restart of %s" % other.name)
        return detail

    def _maintenance(self, node, other):
        record = os.path.join(self.lab.workdir, "maintenance-%d.json" % len(self.windows))
        args = ("-e", "dhcp_ops_node=%s" % node.name, "-e", "dhcp_ops_record=%s" % record)
        self.ops.run("maintenance", *args, "-e", "dhcp_ops_action=start")
        held = round(self.rng.uniform(3, 10), 1)
        time.sleep(held)
        self.ops.run("maintenance", *args, "-e", "dhcp_ops_action=end")
        return {"out_for": held}

    def _recover_after_kill(self, node, other):
        node.kill(signal.SIGKILL)
        other.wait_for_state("communications-interrupted", timeout=10)
        parsed = self.ops.run("recover")
        plan = self.ops.plan(parsed)
        detail = {"plan": plan.get("action"), "rule": plan.get("rule")}
        if not node.running():
            node.start()
        return detail


def final_state(pair, secret, pool=POOL):
    """{states, audit} at the end: OMAPI states and the lease audit of both files (0 conflicts wanted)."""
    states = {}
    for server in pair.servers:
        info = read_state(server, secret)
        states[server.name] = [info["local_state"], info["partner_state"]]
    peers = {}
    for role, server in (("primary", pair.primary), ("secondary", pair.secondary)):
        read_at = time.time()
        result = leases.summary(server.leases(), records=True)
        result["read_at"] = read_at
        peers[role] = {"host": server.name, "leases": result}
    subnets = [{"network": "%s/24" % configs.SUBNET, "pools": [{"range": "%s %s" % pool}]}]
    try:
        found = audit.lease_audit(peers, pools=subnets)
    except audit.AuditError as exc:
        return {"states": states, "audit": {"errors": [str(exc)]}}
    conflicts = [f["address"] for f in found["findings"] if f["severity"] == "conflict"]
    return {"states": states, "audit": dict(found["counts"], errors=found["errors"], conflicts=", ".join(conflicts),
                                            summary=found["summary"])}


def wait_all_acked(pair, secret, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        counts = [read_state(s, secret)["cur_unacked_updates"] for s in pair.servers]
        if counts == [0, 0] or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def run_campaign(workdir, seed, duration, *, clients=120, ops=None, say=print, kinds=None):
    """Run the campaign; return (history, check result). Needs root and the lab lock's machine."""
    secret = base64.b64encode(os.urandom(16)).decode()
    kinds = kinds or (KINDS if ops else tuple(k for k in KINDS if k not in PLAYBOOK_KINDS))
    plan = schedule(seed, duration, kinds)
    with Lab(workdir=workdir) as lab:
        pair = lab.start_pair(*configs.failover_pair(omapi_key=secret, pool=POOL, **SETTINGS)).wait_normal()
        pair.wait_balanced(timeout=30)
        for server in pair.servers:
            batch = os.path.join(str(workdir), "neigh-%s" % server.name)
            with open(batch, "w", encoding="utf-8") as handle:
                handle.write(Population.neighbours(*POOL))
            run("ip", "-n", server.netns, "-batch", batch)
        runner = ops(lab, pair, secret, POOL) if ops else None
        campaign = Campaign(lab, pair, secret, seed, ops=runner, say=say)
        client = lab.client(grace=0.15)
        population = Population(client, {s.address: s.mac for s in pair.servers}, count=clients, seed=seed,
                                max_seconds=duration + 900)
        started = time.time()
        failures = []
        slow_heals = []
        with population:
            time.sleep(10)
            for index, (kind, target) in enumerate(plan):
                # The first round always runs whole: every kind once.
                if index >= len(kinds) and time.time() - started > duration:
                    break
                fault_start = time.time()
                try:
                    campaign.run_fault(kind, target)
                except Exception as exc:  # noqa: BLE001 - reported with the seed, the campaign goes on to the end
                    say("  FAILED: %s" % exc)
                    campaign.ensure_running()
                    try:
                        campaign.both_normal()
                    except LabError as again:
                        failures.append("%s on %s: %s; and after it: %s" % (kind, target, exc, again))
                        break
                    # NORMAL again, only late: a liveness finding (the window keeps its outage), not a failure.
                    slow = isinstance(exc, LabError) and str(exc).startswith("the pair is not NORMAL")
                    (slow_heals if slow else failures).append("%s on %s: %s" % (kind, target, exc))
                    campaign.windows.append({"kind": kind, "target": target, "start": fault_start,
                                             "end": time.time(), "failed": str(exc)})
            time.sleep(SETTLE)
        ended = time.time()
        population.collect_late()
        unacked = wait_all_acked(pair, secret)
        final = final_state(pair, secret)
        final["unacked"] = unacked
    record = {"seed": seed, "duration": duration, "clients": clients, "plan": plan, "started": started,
              "ended": ended, "exchanges": population.exchanges, "windows": campaign.windows, "final": final,
              "failures": failures, "slow_heals": slow_heals, "client_errors": population.errors[:20],
              "settings": SETTINGS}
    result = history.check(record)
    result["ok"] = result["ok"] and not failures
    for failure in failures:
        result["text"].append("FAULT FAILED seed %s: %s" % (seed, failure))
    for slow in slow_heals:
        result["text"].append("SLOW HEAL seed %s (NORMAL only later): %s" % (seed, slow))
    return record, result
