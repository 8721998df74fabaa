"""The cutover from a dhcpd failover pair to a Kea HA pair in the lab, without Ansible.

The same steps as netboot.dhcp_failover.migrate_to_kea, on the lab's real daemons: both dhcpds
stop, both lease files become each Kea server's memfile (netboot.dhcp_failover.kea_leases), the
Kea HA pair starts in the dhcpd servers' slots (``Lab.add_kea_server(..., take_over=True)``) and
is waited for until both report the mode's HA state. A ``Probe`` client asks for its address
every 50 ms meanwhile, so the time nobody answered it can be read afterwards.

Shared by tests/system/test_migrate_kea.py (what Kea holds and answers) and
bench/kea_cutover.py (how long clients wait, and where that time goes).
"""

import threading
import time
from dataclasses import dataclass, field

import collection_path

from . import kea as labkea
from .client import Ack

collection_path.ensure()
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea_leases  # noqa: E402

# dhcpd caps a first lease at the MCLT: a long one keeps the leases whole through the cutover.
# With server_id_check (as the role ships it) only the chosen peer ACKs a REQUEST.
PAIR = {"mclt": 600, "server_id_check": True}
PROBE_EVERY = 0.05
# A probe nobody ends (a caller that died between start() and done.set()) still stops.
PROBE_LIMIT = 600.0
# After both HA states: how long to wait for the probe's first answer from Kea.
FIRST_ANSWER_WAIT = 10.0


def lease_all(client, wanted):
    """DISCOVER then REQUEST for every (mac, client_id bytes or None, hostname or None); {mac: Ack}."""
    macs = [mac for mac, _cid, _name in wanted]
    offers = client.discover_many(macs, client_ids=[cid for _mac, cid, _name in wanted], expect=1, grace=0.1,
                                  timeout=5)
    xids = {}
    for mac, cid, name in wanted:
        assert len(offers[mac]) == 1, (mac, offers[mac])
        offer = offers[mac][0]
        options = [("hostname", name.encode())] if name else []
        xids[mac] = client.send("request", mac, xid=offer.xid, client_id=cid, requested_ip=offer.yiaddr,
                                server_id=offer.server_id, options=options)
    answers = client.collect(xids.values(), timeout=5, expect=1, grace=0.1)
    acks = {}
    for mac, xid in xids.items():
        replies = answers[xid]
        assert len(replies) == 1 and isinstance(replies[0], Ack), (mac, replies)
        acks[mac] = replies[0]
    return acks


class Probe(threading.Thread):
    """One client asking for its address again and again (INIT-REBOOT, every ``every`` seconds);
    the times of the answers it got and the answers other than an ACK of its address."""

    def __init__(self, client, mac, address, every=PROBE_EVERY, limit=PROBE_LIMIT):
        super().__init__(name="migrate-probe", daemon=True)
        self.client = client
        self.mac = mac
        self.address = address
        self.every = every
        self.limit = limit
        self.acks = []
        self.wrong = []
        self.done = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.limit
        while not self.done.is_set() and time.monotonic() < deadline:
            sent = time.monotonic()
            replies = self.client.request_all(mac=self.mac, requested_ip=self.address, expect=1, timeout=self.every,
                                              grace=0)
            for reply in replies:
                self.acks.append((reply.time, reply.server_id))
                if not (isinstance(reply, Ack) and reply.yiaddr == self.address):
                    self.wrong.append(reply)
            time.sleep(max(0.0, sent + self.every - time.monotonic()))

    def longest_gap(self):
        """(seconds, time of the answer before, time of the answer after) of the longest silence."""
        times = [at for at, _server in self.acks]
        return max((b - a, a, b) for a, b in zip(times, times[1:]))

    def around(self, moment):
        """(time of the last answer before moment, time of the first answer after it); None where
        there is none."""
        times = [at for at, _server in list(self.acks)]
        before = [at for at in times if at <= moment]
        after = [at for at in times if at > moment]
        return (before[-1] if before else None), (after[0] if after else None)


@dataclass
class Cutover:
    """What cut_over did: the Kea pair, the kea_leases summary per Kea server, and when each
    step ended (time.monotonic())."""

    kea_pair: object
    summaries: list
    stopped: float
    times: dict = field(default_factory=dict)


def cut_over(lab, pair, model, probe, mode, *, settings=None, ha_timeout=60.0):
    """Stop dhcpd, write both lease files as each Kea server's memfile, start the Kea HA pair and
    wait until it serves.

    settings: kea role variables over the lab's (dhcplab.kea.LAB_SETTINGS), e.g. the role's HA
    timers. times: stopping (before the first dhcpd stop), stopped (both dhcpds gone), exported
    (both memfiles written), started (kea-dhcp4 and kea-ctrl-agent of both servers ready),
    serving (both servers in the mode's HA state, polled every 0.2 s).
    """
    times = {"stopping": time.monotonic()}
    for server in pair.servers:
        server.stop()
    stopped = times["stopped"] = time.monotonic()
    texts = [server.leases() for server in pair.servers]
    now = time.time()
    own = dict(settings or {}, kea_ha_mode=mode)
    kea_servers = [lab.add_kea_server(name, model, own, take_over=True)
                   for name in (model["primary"], model["secondary"])]
    summaries = []
    for server in kea_servers:
        csv, summary = kea_leases.kea_leases_csv(texts[0], texts[1], server.config, now)
        summaries.append(summary)
        with open(server.lease_file, "w") as handle:
            handle.write(csv)
    times["exported"] = time.monotonic()
    for server in kea_servers:
        server.start()
    times["started"] = time.monotonic()
    kea_pair = labkea.KeaPair(*kea_servers).wait_states(mode, mode, timeout=ha_timeout)
    times["serving"] = time.monotonic()
    # The probe's first answer from Kea, then a few more.
    deadline = time.monotonic() + FIRST_ANSWER_WAIT
    while time.monotonic() < deadline and not any(at > stopped for at, _server in probe.acks[-1:]):
        time.sleep(0.05)
    time.sleep(0.3)
    return Cutover(kea_pair, summaries, stopped, times)


def cut_over_probed(lab, pair, model, probe_mac, mode, **kwargs):
    """cut_over under a Probe of probe_mac that dhcpd answers first (0.5 s); (Cutover, the ended
    Probe, how many answers it had from dhcpd before the stop). kwargs go to cut_over."""
    probe_client = lab.client()
    probe = Probe(probe_client, probe_mac, probe_client.lease(probe_mac, timeout=5).yiaddr)
    probe.start()
    try:
        time.sleep(0.5)
        dhcpd_answers = len(probe.acks)
        cutover = cut_over(lab, pair, model, probe, mode, **kwargs)
    finally:
        probe.done.set()
        probe.join(5)
    return cutover, probe, dhcpd_answers
