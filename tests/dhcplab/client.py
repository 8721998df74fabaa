"""A raw-socket DHCP client for the lab bridge.

One AF_PACKET socket and one receiver thread per DhcpClient: replies are
matched to requests by xid, so thousands of exchanges cost one socket.
Frames are built with scapy; only replies to our own xids are parsed.
"""

import os
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
MESSAGE_TYPES = {1: "discover", 2: "offer", 3: "request", 4: "decline", 5: "ack", 6: "nak", 7: "release", 8: "inform"}
# Replies from dhcpd on the same machine arrive within milliseconds; this is
# how long an exchange keeps listening for a duplicate after the expected
# number of answers is in (the "did the other server answer too" check).
DEFAULT_GRACE = 0.25
# A client without an address sends from 0.0.0.0 (RFC 2131 4.1).
NO_ADDRESS = "0.0.0.0"  # noqa: S104 - an address field value, nothing binds to it
# How many finished xids are remembered to recognise a late reply, and how many late replies kept.
LATE_KEPT = 100000


class DhcpError(RuntimeError):
    """No usable answer (no offer, NAK where an ACK was needed, ...)."""


def mac_bytes(mac):
    """'aa:bb:cc:dd:ee:ff' (or '-' separated) -> 6 bytes; raises ValueError naming the bad value."""
    parts = mac.replace("-", ":").split(":") if isinstance(mac, str) else None
    if not parts or len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError("mac=%r is invalid: expected six colon-separated hex bytes" % (mac,))
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError("mac=%r is invalid: expected six colon-separated hex bytes" % (mac,)) from None


def mac_str(raw):
    return ":".join("%02x" % b for b in raw[:6])


@dataclass
class Reply:
    """One BOOTREPLY: kind is 'offer', 'ack' or 'nak' (or another message type name)."""

    kind: str
    xid: int
    server_id: str
    yiaddr: str
    src_ip: str
    src_mac: str
    chaddr: str
    options: dict
    raw: object = field(repr=False)
    time: float = field(repr=False, default=0.0)
    siaddr: str = ""
    file: bytes = b""

    @property
    def lease_time(self):
        return self.options.get("lease_time")


class Offer(Reply):
    pass


class Ack(Reply):
    pass


class Nak(Reply):
    pass


_KINDS = {"offer": Offer, "ack": Ack, "nak": Nak}


def _parse(frame, received):
    pkt = Ether(frame)
    bootp = pkt[BOOTP]
    options = {}
    if DHCP in pkt:
        for opt in pkt[DHCP].options:
            if isinstance(opt, tuple) and opt:
                options[opt[0]] = opt[1] if len(opt) == 2 else opt[1:]
    kind = MESSAGE_TYPES.get(options.get("message-type"), "bootp")
    return _KINDS.get(kind, Reply)(
        kind=kind,
        xid=bootp.xid,
        server_id=str(options.get("server_id", "")),
        yiaddr=bootp.yiaddr,
        src_ip=pkt[IP].src,
        src_mac=pkt.src,
        chaddr=mac_str(bytes(bootp.chaddr)),
        options=options,
        raw=pkt,
        time=received,
        siaddr=bootp.siaddr,
        file=bytes(bootp.file).rstrip(b"\0"),
    )


class DhcpClient:
    """DHCP client speaking raw Ethernet on iface (normally lab.bridge).

    Every method takes the client MAC per call: one object plays any number
    of clients.  Close it (or use `with`) to stop the receiver thread.
    """

    def __init__(self, iface, grace=DEFAULT_GRACE):
        self.iface = iface
        self.grace = grace
        self.sent = 0
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock.bind((iface, ETH_P_IP))
        self._cond = threading.Condition()
        self._pending = {}  # xid -> list of Reply
        # Replies to xids whose exchange was over (a server answering a queue of old requests
        # after a hang): kept for whoever asks, as (xid, Reply), bounded by LATE_KEPT.
        self._expired = {}
        self.late = []
        self._stop_r, self._stop_w = os.pipe()
        self._closed = False
        self.error = None
        self._thread = threading.Thread(target=self._receive, name="dhcplab-rx-%s" % iface, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._closed:
            return
        self._closed = True
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        self._sock.close()
        os.close(self._stop_r)
        os.close(self._stop_w)

    # --- receiving ---------------------------------------------------------
    def _receive(self):
        try:
            while True:
                ready = select.select([self._sock, self._stop_r], [], [])[0]
                if self._stop_r in ready:
                    return
                frame, addr = self._sock.recvfrom(65535)
                received = time.monotonic()
                if addr[2] == PACKET_OUTGOING or len(frame) < 14 + 20 + 8 + 240:
                    continue
                ihl = (frame[14] & 0x0F) * 4
                udp = 14 + ihl
                # UDP to port 68 with op=BOOTREPLY: cheap byte checks before scapy.
                if frame[23] != 17 or frame[udp + 2 : udp + 4] != b"\x00\x44" or frame[udp + 8] != 2:
                    continue
                xid = struct.unpack_from("!I", frame, udp + 12)[0]
                with self._cond:
                    if xid not in self._pending:
                        if xid in self._expired and len(self.late) < LATE_KEPT:
                            self.late.append((xid, _parse(frame, received)))
                        continue
                reply = _parse(frame, received)
                with self._cond:
                    if xid in self._pending:
                        self._pending[xid].append(reply)
                        self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - surfaced to the caller by _wait
            self.error = exc
            with self._cond:
                self._cond.notify_all()

    def _new_xid(self):
        with self._cond:
            while True:
                xid = random.getrandbits(32)  # noqa: S311 - not security relevant
                if xid not in self._pending:
                    self._pending[xid] = []
                    return xid

    def _wait(self, xids, timeout, expect, grace):
        """Wait for answers to all xids; return {xid: [Reply]} and forget the xids.

        With expect=None: listen for the whole timeout.  With expect=N:
        stop once every xid has N answers and then `grace` more seconds
        passed with nothing new, so a duplicate answer is still seen.
        """
        grace = self.grace if grace is None else grace
        deadline = time.monotonic() + timeout
        with self._cond:
            try:
                self._wait_locked(xids, deadline, expect, grace)
            finally:
                answers = {x: self._pending.pop(x, []) for x in xids}
                for x in xids:
                    self._expired[x] = True
                while len(self._expired) > LATE_KEPT:
                    del self._expired[next(iter(self._expired))]
        return answers

    def _wait_locked(self, xids, deadline, expect, grace):
        satisfied_at = None
        while True:
            if self.error is not None:
                raise DhcpError("receiver on %s failed: %r" % (self.iface, self.error))
            now = time.monotonic()
            if expect is not None:
                done = all(len(self._pending[x]) >= expect for x in xids)
                if done and satisfied_at is None:
                    satisfied_at = now
                if satisfied_at is not None:
                    last = max((r.time for x in xids for r in self._pending[x]), default=now)
                    if now >= max(satisfied_at, last) + grace:
                        break
            if now >= deadline:
                break
            wake = deadline if satisfied_at is None else min(deadline, now + grace)
            self._cond.wait(max(0.001, wake - now))

    # --- sending -------------------------------------------------------------
    def _frame(
        self,
        kind,
        mac,
        xid,
        *,
        client_id=None,
        secs=0,
        broadcast=False,
        requested_ip=None,
        server_id=None,
        ciaddr=NO_ADDRESS,
        options=(),
        unicast=None,
    ):
        """unicast=(server MAC, server address): a RENEWING client's REQUEST, sent to its server only."""
        chaddr = mac_bytes(mac)
        opts = [("message-type", kind)]
        if client_id is not None:
            if not isinstance(client_id, (bytes, bytearray)):
                raise ValueError(
                    "client_id=%r is invalid: expected bytes, the option 61 payload (e.g. b'\\x01' + MAC bytes)"
                    % (client_id,)
                )
            opts.append(("client_id", bytes(client_id)))
        if requested_ip:
            opts.append(("requested_addr", requested_ip))
        if server_id:
            opts.append(("server_id", server_id))
        opts.extend(options)
        opts.append(("param_req_list", [1, 3, 6, 15, 51, 54, 58, 59]))
        opts.append("end")
        dst_mac, dst_ip = unicast or ("ff:ff:ff:ff:ff:ff", "255.255.255.255")
        return bytes(
            Ether(src=mac_str(chaddr), dst=dst_mac)
            / IP(src=ciaddr, dst=dst_ip)
            / UDP(sport=68, dport=67)
            / BOOTP(
                op=1, chaddr=chaddr + b"\0" * 10, xid=xid, secs=secs, flags=0x8000 if broadcast else 0, ciaddr=ciaddr
            )
            / DHCP(options=opts)
        )

    def _send(self, frame):
        self._sock.send(frame)
        self.sent += 1

    def _forget(self, xids):
        with self._cond:
            for xid in xids:
                self._pending.pop(xid, None)

    def send(self, kind, mac, xid=None, **kwargs):
        """Send one message (kind: 'discover', 'request', 'release', ...) and return its xid.

        Answers are collected until collect(xid) is called.
        """
        if xid is None:
            xid = self._new_xid()
        else:
            with self._cond:
                self._pending.setdefault(xid, [])
        try:
            self._send(self._frame(kind, mac, xid, **kwargs))
        except BaseException:
            self._forget([xid])
            raise
        return xid

    def collect(self, xids, timeout=2.0, expect=None, grace=None):
        """Answers for xids sent with send(): {xid: [Reply, ...]}."""
        return self._wait(list(xids), timeout, expect, grace)

    # --- exchanges -----------------------------------------------------------
    def discover(
        self, mac, client_id=None, *, secs=0, timeout=2.0, expect=None, grace=None, broadcast=False, options=()
    ):
        """Send one DHCPDISCOVER; return every Offer (from all servers) seen for its xid.

        expect=None waits the full timeout; expect=N returns once N offers
        arrived and nothing more came for `grace` seconds.
        """
        xid = self.send("discover", mac, client_id=client_id, secs=secs, broadcast=broadcast, options=options)
        return self._wait([xid], timeout, expect, grace)[xid]

    def discover_many(
        self, macs, client_ids=None, *, secs=0, timeout=2.0, expect=None, grace=None, rate=None, broadcast=False
    ):
        """DISCOVER for every MAC at once; return {mac: [Offer, ...]} in the order of macs.

        client_ids: None, or a list parallel to macs (items may be None).
        rate: packets per second to pace the sends (None = as fast as possible).
        """
        macs = list(macs)
        if len(set(macs)) != len(macs):
            raise ValueError("macs has duplicates: each MAC may appear once per discover_many call")
        if client_ids is not None and len(client_ids) != len(macs):
            raise ValueError("client_ids has %d items but macs has %d" % (len(client_ids), len(macs)))
        xids = []
        start = time.monotonic()
        try:
            for index, mac in enumerate(macs):
                cid = client_ids[index] if client_ids is not None else None
                xids.append(self.send("discover", mac, client_id=cid, secs=secs, broadcast=broadcast))
                if rate:
                    delay = start + (index + 1) / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
        except BaseException:
            self._forget(xids)
            raise
        answers = self._wait(xids, timeout, expect, grace)
        return {mac: answers[xid] for mac, xid in zip(macs, xids)}

    def request_all(
        self,
        offer=None,
        *,
        mac=None,
        requested_ip=None,
        server_id=None,
        client_id=None,
        secs=0,
        ciaddr=NO_ADDRESS,
        xid=None,
        timeout=2.0,
        expect=None,
        grace=None,
        broadcast=False,
        options=(),
        unicast=None,
    ):
        """Send a DHCPREQUEST; return every ACK/NAK seen.

        From an offer (SELECTING: same xid, requested address and server id
        of the offer) or from explicit fields (INIT-REBOOT: requested_ip
        without server_id; RENEW-like: ciaddr).
        """
        if offer is not None:
            mac = mac or offer.chaddr
            requested_ip = requested_ip or offer.yiaddr
            server_id = server_id or offer.server_id
            xid = offer.xid if xid is None else xid
        if mac is None:
            raise ValueError("request needs an offer or mac=")
        xid = self.send(
            "request",
            mac,
            xid=xid,
            client_id=client_id,
            secs=secs,
            broadcast=broadcast,
            requested_ip=requested_ip,
            server_id=server_id,
            ciaddr=ciaddr,
            options=options,
            unicast=unicast,
        )
        return self._wait([xid], timeout, expect, grace)[xid]

    def request(self, offer=None, timeout=2.0, **kwargs):
        """Like request_all but return the first answer (Ack or Nak); DhcpError if none came."""
        kwargs.setdefault("expect", 1)
        replies = self.request_all(offer, timeout=timeout, **kwargs)
        if not replies:
            raise DhcpError("no answer to DHCPREQUEST within %.1fs (offer: %r)" % (timeout, offer))
        return replies[0]

    def lease(self, mac, client_id=None, *, secs=0, timeout=2.0, server_id=None):
        """DISCOVER -> REQUEST -> ACK; return the Ack.

        server_id picks the offer of that server when several answered.
        """
        offers = self.discover(mac, client_id=client_id, secs=secs, timeout=timeout, expect=1)
        chosen = [o for o in offers if server_id is None or o.server_id == server_id]
        if not chosen:
            raise DhcpError(
                "no DHCPOFFER for %s%s within %.1fs (got %r)"
                % (mac, " from " + server_id if server_id else "", timeout, offers)
            )
        reply = self.request(chosen[0], client_id=client_id, secs=secs, timeout=timeout)
        if not isinstance(reply, Ack):
            raise DhcpError(
                "DHCPREQUEST for %s of %s answered with %s: %r" % (chosen[0].yiaddr, mac, reply.kind, reply)
            )
        return reply

    def release(self, ack, client_id=None):
        """Send a DHCPRELEASE for an Ack (fire and forget, as RFC 2131 clients do)."""
        xid = self.send("release", ack.chaddr, client_id=client_id, server_id=ack.server_id, ciaddr=ack.yiaddr)
        self._forget([xid])
