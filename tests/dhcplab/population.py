"""A population of DHCP clients that live the way real ones do, recording every exchange.

Each client is a small RFC 2131 state machine: DORA (secs counting up across retries), RENEW at
T1 (a REQUEST unicast to the server that granted the lease, no server id, ciaddr set), REBIND at
T2 (the same, broadcast), INIT-REBOOT now and then (broadcast REQUEST for the remembered address,
no server id), RELEASE (unicast to its server), DECLINE (rarely, right after an ACK), and its
lease running out. Some send a client identifier (option 61); some are PXE ROMs (vendor class
PXEClient, option 93) whose "operating system" then asks for the same address by INIT-REBOOT.

Every exchange goes into ``self.exchanges`` in the format of dhcplab.history (wall-clock times).
The servers answer unicast RENEWs by unicast to the client's address: the lab has no host there,
so ``neighbours()`` gives the ip commands that point the pool's addresses at a MAC nobody owns
(the bridge floods such frames, and the client's raw socket on the promiscuous bridge sees them).
"""

import random
import threading
import time

from .client import NO_ADDRESS, DhcpError
from .threads import ClientThreads

import collection_path

collection_path.ensure()
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import loadbalance  # noqa: E402

# Nobody owns it: frames to it are flooded over the bridge.
UNOWNED_MAC = "02:00:00:ff:ff:fe"
PXE_VENDOR = b"PXEClient:Arch:00000:UNDI:002001"
# How long one exchange listens; a second server's answer within GRACE is recorded too.
TIMEOUT = 1.0
GRACE = 0.15
# Retry spacing of a client without an address (RFC 2131 says 4, 8, 16 ... s; shorter here, so
# an outage is measured to within a few seconds).
RETRY = (1.0, 2.0, 4.0)
PROBABILITY = {"client_id": 0.3, "pxe": 0.1, "release": 0.08, "reboot": 0.08, "decline": 0.01}


class Sim:
    """One client's state."""

    def __init__(self, index, rng, split):
        self.mac = "02:00:00:cc:%02x:%02x" % (index >> 8, index & 0xFF)
        self.client_id = None
        if rng.random() < PROBABILITY["client_id"]:
            self.client_id = b"\x00chaos-%d" % index
        self.pxe = rng.random() < PROBABILITY["pxe"]
        self.key = ("id:" + self.client_id.hex()) if self.client_id else self.mac
        self.bucket = loadbalance.lb_peer(split, mac=self.mac, client_id=self.client_id)
        self.state = "init"
        self.address = None
        self.server = None
        self.bound_at = self.t1 = self.t2 = self.end = None
        self.tries = 0
        self.first_try = None
        self.next_at = 0.0
        self.booting = False  # a PXE ROM's lease, which its OS asks for again


class Population(ClientThreads):
    """``count`` clients on ``client`` (a DhcpClient), served by ``servers`` {address: mac}."""

    def __init__(self, client, servers, *, count=120, seed=1, split=128, threads=6, max_seconds=3600):
        if not 1 <= count <= 4096 or threads < 1 or max_seconds <= 0:
            raise ValueError("count=%r, threads=%r, max_seconds=%r: expected 1..4096 clients, threads >= 1, "
                             "max_seconds > 0" % (count, threads, max_seconds))
        super().__init__()
        self.client = client
        self.servers = dict(servers)
        self.rng = random.Random(seed)  # noqa: S311 - test behaviour, not secrets
        self.sims = [Sim(i, self.rng, split) for i in range(count)]
        for sim in self.sims:
            sim.next_at = self.rng.uniform(0, 5)
        self.max_seconds = max_seconds
        self.exchanges = []
        self._by_xid = {}
        self._lock = threading.Lock()
        self._offset = time.time() - time.monotonic()
        self._threads = [threading.Thread(target=self._run, args=(self.sims[i::threads], random.Random(seed * 31 + i)),  # noqa: S311
                                          name="population-%d" % i, daemon=True) for i in range(threads)]
        self.errors = []

    # --- life cycle ----------------------------------------------------------------------------
    def _starting(self, now):
        for sim in self.sims:
            sim.next_at += now

    def collect_late(self):
        """Attach the replies that came after their exchange was over (marked late) to it."""
        with self._lock:
            for xid, reply in self.client.late:
                found = self._by_xid.get(xid, [])
                wanted = [e for e in found if (e["kind"] == "discover") == (reply.kind == "offer")]
                if wanted:
                    wanted[-1]["replies"].append(self._reply(reply, late=True))
            self.client.late.clear()

    @staticmethod
    def neighbours(first, last):
        """`ip -batch` lines for a server namespace: every pool address -> UNOWNED_MAC."""
        start = int(first.rsplit(".", 1)[1])
        end = int(last.rsplit(".", 1)[1])
        prefix = first.rsplit(".", 1)[0]
        return "".join("neigh replace %s.%d lladdr %s dev eth0 nud permanent\n" % (prefix, i, UNOWNED_MAC)
                       for i in range(start, end + 1))

    # --- recording -----------------------------------------------------------------------------
    def wall(self, monotonic):
        return monotonic + self._offset

    def _reply(self, reply, late=False):
        kind = reply.kind
        return {"t": self.wall(reply.time), "server": reply.server_id or reply.src_ip, "kind": kind,
                "address": reply.yiaddr if kind in ("ack", "offer") else None,
                "lease_time": reply.lease_time, "late": late}

    def _record(self, sim, kind, sent, address=None, *, replies=(), secs=0, held=False, xid=None):
        exchange = {"t": self.wall(sent), "client": sim.key, "bucket": sim.bucket, "kind": kind, "address": address,
                    "held": held, "secs": secs, "replies": [self._reply(r) for r in replies], "pxe": sim.pxe}
        with self._lock:
            self.exchanges.append(exchange)
            if xid is not None:
                self._by_xid.setdefault(xid, []).append(exchange)
        return exchange

    # --- the clients -----------------------------------------------------------------------------
    def _run(self, sims, rng):
        deadline = self.started + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            sim = min(sims, key=lambda s: s.next_at)
            wait = sim.next_at - time.monotonic()
            if wait > 0:
                self._stop.wait(min(wait, 0.5))
                continue
            try:
                self._act(sim, rng)
            except (DhcpError, OSError) as exc:
                self.errors.append(repr(exc))
                sim.next_at = time.monotonic() + 1

    def _extra(self, sim, secs):
        options = []
        if sim.pxe and sim.state == "init":
            options = [("vendor_class_id", PXE_VENDOR), ("pxe_client_architecture", b"\x00\x00")]
        return dict(client_id=sim.client_id, secs=min(int(secs), 65535), options=options)

    def _send(self, sim, kind, **fields):
        xid = self.client.send(kind, sim.mac, **fields)
        sent = time.monotonic()
        replies = self.client.collect([xid], timeout=TIMEOUT, expect=1, grace=GRACE)[xid]
        return xid, sent, replies

    def _bind(self, sim, ack, now, rng):
        lease = float(ack.lease_time or 0)
        sim.state, sim.address, sim.server = "bound", ack.yiaddr, ack.server_id
        sim.bound_at, sim.t1, sim.t2, sim.end = now, now + lease / 2, now + lease * 7 / 8, now + lease
        sim.tries, sim.first_try = 0, None
        sim.next_at = sim.t1
        roll = rng.random()
        if sim.pxe and not sim.booting:
            # The ROM hands over; the OS it loaded asks for the same address a few seconds later.
            sim.booting = True
            sim.next_at, sim.state = now + rng.uniform(2, 5), "reboot"
        elif roll < PROBABILITY["decline"]:
            sim.next_at, sim.state = now + 0.1, "decline"
        elif roll < PROBABILITY["decline"] + PROBABILITY["release"]:
            sim.next_at, sim.state = now + rng.uniform(1, lease / 2), "release"
        elif roll < PROBABILITY["decline"] + PROBABILITY["release"] + PROBABILITY["reboot"]:
            sim.next_at, sim.state = now + rng.uniform(1, lease / 2), "reboot"

    def _restart(self, sim, now, rng, pause=0.5):
        sim.state, sim.address, sim.server = "init", None, None
        sim.tries, sim.first_try, sim.booting = 0, None, False
        sim.next_at = now + pause + rng.uniform(0, 0.5)

    def _retry(self, sim, now, rng):
        sim.tries += 1
        sim.next_at = now + RETRY[min(sim.tries - 1, len(RETRY) - 1)] + rng.uniform(0, 0.5)

    def _act(self, sim, rng):
        now = time.monotonic()
        if sim.state in ("bound", "release", "reboot", "decline") and sim.end is not None and now >= sim.end:
            self._record(sim, "expire", now, sim.address, held=True)
            self._restart(sim, now, rng)
            return
        getattr(self, "_" + sim.state)(sim, now, rng)

    def _init(self, sim, now, rng):
        if sim.first_try is None:
            sim.first_try = now
        secs = now - sim.first_try
        xid, sent, offers = self._send(sim, "discover", **self._extra(sim, secs))
        self._record(sim, "discover", sent, None, replies=offers, secs=int(secs), xid=xid)
        offers = [o for o in offers if o.kind == "offer"]
        if not offers:
            self._retry(sim, time.monotonic(), rng)
            return
        offer = offers[0]
        xid = self.client.send("request", sim.mac, xid=offer.xid, requested_ip=offer.yiaddr,
                               server_id=offer.server_id, **self._extra(sim, secs))
        sent = time.monotonic()
        replies = self.client.collect([xid], timeout=TIMEOUT, expect=1, grace=GRACE)[xid]
        self._record(sim, "select", sent, offer.yiaddr, replies=replies, secs=int(secs), xid=xid)
        self._answer(sim, replies, rng, on_silence=self._retry)

    def _answer(self, sim, replies, rng, on_silence):
        now = time.monotonic()
        acks = [r for r in replies if r.kind == "ack"]
        if acks:
            self._bind(sim, acks[0], now, rng)
        elif any(r.kind == "nak" for r in replies):
            self._restart(sim, now, rng)
        else:
            on_silence(sim, now, rng)

    def _bound(self, sim, now, rng):
        held = now < sim.end
        if now < sim.t2:
            server_mac = self.servers.get(sim.server)
            xid, sent, replies = self._send(
                sim, "request", ciaddr=sim.address, client_id=sim.client_id,
                unicast=(server_mac, sim.server) if server_mac else None)
            self._record(sim, "renew", sent, sim.address, replies=replies, held=held, xid=xid)
        else:
            xid, sent, replies = self._send(sim, "request", ciaddr=sim.address, client_id=sim.client_id)
            self._record(sim, "rebind", sent, sim.address, replies=replies, held=held, xid=xid)

        def silence(sim, now, rng):
            # RFC 2131 4.4.5: retry at half the time left to T2 (then to the end), at least 1 s later.
            target = sim.t2 if now < sim.t2 else sim.end
            sim.next_at = now + max(1.0, (target - now) / 2)

        self._answer(sim, replies, rng, on_silence=silence)

    def _reboot(self, sim, now, rng):
        held = now < sim.end
        xid, sent, replies = self._send(sim, "request", requested_ip=sim.address, client_id=sim.client_id,
                                        ciaddr=NO_ADDRESS)
        self._record(sim, "reboot", sent, sim.address, replies=replies, held=held, xid=xid)

        def silence(sim, now, rng):
            # No answer: keep the address until its lease runs out, asking again now and then.
            sim.next_at = now + 2 + rng.uniform(0, 0.5)

        self._answer(sim, replies, rng, on_silence=silence)

    def _release(self, sim, now, rng):
        server_mac = self.servers.get(sim.server)
        xid = self.client.send("release", sim.mac, client_id=sim.client_id, server_id=sim.server, ciaddr=sim.address,
                               unicast=(server_mac, sim.server) if server_mac else None)
        self.client.collect([xid], timeout=0)
        self._record(sim, "release", now, sim.address, held=True, xid=xid)
        self._restart(sim, now, rng, pause=rng.uniform(1, 5))

    def _decline(self, sim, now, rng):
        xid = self.client.send("decline", sim.mac, client_id=sim.client_id, server_id=sim.server,
                               requested_ip=sim.address)
        self.client.collect([xid], timeout=0)
        self._record(sim, "decline", now, sim.address, held=True, xid=xid)
        self._restart(sim, now, rng, pause=1)
