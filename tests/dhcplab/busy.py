"""Clients that keep a DHCP pair busy: new clients (DORA), renewals and releases, in threads.

Bounded twice: by ``stop()`` (or the ``with`` block) and by ``max_seconds``; the pace is a total
rate of exchanges per second over all clients, as in a network where leases are renewed, given
back and taken all the time.
"""

import random
import threading
import time

from .client import Ack, DhcpError
from .threads import ClientThreads


class BusyClients(ClientThreads):
    """``count`` clients (MACs 02:00:00:bb:HH:LL) acting at ``rate`` exchanges per second in total."""

    def __init__(self, client, *, count=60, rate=20.0, threads=4, max_seconds=300.0, seed=14):
        if not 1 <= count <= 65535 or rate <= 0 or threads < 1 or max_seconds <= 0:
            raise ValueError(
                "count=%r, rate=%r, threads=%r, max_seconds=%r: expected 1..65535 clients, a rate > 0, "
                "threads >= 1, max_seconds > 0" % (count, rate, threads, max_seconds)
            )
        super().__init__()
        self.client = client
        self.macs = ["02:00:00:bb:%02x:%02x" % (i >> 8, i & 0xFF) for i in range(count)]
        self.rate = rate
        self.max_seconds = max_seconds
        self.counts = {"discover": 0, "renew": 0, "release": 0, "ack": 0, "nak": 0, "no_answer": 0}
        self.acks_by_server = {}
        self._random = random.Random(seed)  # noqa: S311 - picks test clients, not secrets
        self._leases = {}
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(self.macs[i::threads], threads), name="busy-%d" % i, daemon=True)
            for i in range(min(threads, count))
        ]

    def snapshot(self):
        with self._lock:
            return dict(self.counts)

    def _count(self, key, reply=None):
        with self._lock:
            self.counts[key] += 1
            if isinstance(reply, Ack):
                self.acks_by_server[reply.server_id] = self.acks_by_server.get(reply.server_id, 0) + 1

    def _run(self, macs, threads):
        interval = threads / self.rate
        deadline = self.started + self.max_seconds
        next_at = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                mac = self._random.choice(macs)
                roll = self._random.random()
            try:
                self._act(mac, roll)
            except DhcpError:
                self._count("no_answer")
            next_at = max(next_at + interval, time.monotonic() - interval)
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _act(self, mac, roll):
        held = self._leases.get(mac)
        if held is None:
            self._count("discover")
            offers = self.client.discover(mac, timeout=1.0, expect=1, grace=0.0)
            if not offers:
                raise DhcpError("no offer for %s" % mac)
            reply = self.client.request(offers[0], timeout=1.0, grace=0.0)
        elif roll < 0.2:
            self._count("release")
            self.client.release(held)
            self._leases.pop(mac, None)
            return
        else:
            # A rebinding client: broadcast, no server identifier, so either peer may answer.
            self._count("renew")
            reply = self.client.request(mac=mac, requested_ip=held.yiaddr, timeout=1.0, grace=0.0, broadcast=True)
        if isinstance(reply, Ack):
            self._count("ack", reply)
            self._leases[mac] = reply
        else:
            self._count("nak")
            self._leases.pop(mac, None)
