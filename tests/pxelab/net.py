"""Tap devices, the IPv6 router advertisement iPXE waits for, and a log of boot-file requests."""

import contextlib
import os
import select
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4
# A locally administered MAC that no test host uses.
RA_MAC = "02:00:00:ee:ee:01"


def _run(*argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc.stdout


class Tap:
    """A tap device enslaved to bridge; deleted by close() (qemu opens it by name)."""

    def __init__(self, name, bridge):
        if len(name) > 15:
            raise ValueError("tap name %r is invalid: at most 15 characters (IFNAMSIZ)" % (name,))
        self.name = name
        _run("ip", "tuntap", "add", "dev", name, "mode", "tap")
        try:
            _run("ip", "link", "set", name, "master", bridge, "up")
        except BaseException:
            self.close()
            raise

    def close(self):
        subprocess.run(("ip", "link", "delete", self.name), capture_output=True, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _packet_socket(iface, promisc):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    if promisc:
        # Per socket: the device leaves promiscuous mode when the socket closes.
        index = socket.if_nametoindex(iface)
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b""))
    return sock


def _mac_bytes(mac):
    return bytes(int(part, 16) for part in mac.split(":"))


def _mac_str(raw):
    return ":".join("%02x" % b for b in raw)


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def router_advertisement(src_mac=RA_MAC):
    """An RA with no prefix, no M/O flags and lifetime 0: ends iPXE's IPv6 autoconfiguration at once."""
    mac = _mac_bytes(src_mac)
    # fe80::/64 with the EUI-64 of src_mac.
    src = bytes([0xFE, 0x80] + [0] * 6) + bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:6]
    dst = bytes([0xFF, 0x02] + [0] * 13 + [1])
    # type 134, code 0, checksum, hop limit 64, flags 0, router lifetime 0, reachable 0, retrans 0,
    # then the source link-layer address option (type 1, length 1 x 8 bytes).
    body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 0, 0, 0) + b"\x01\x01" + mac
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", _checksum(pseudo + body)) + body[4:]
    ipv6 = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + dst
    return b"\x33\x33\x00\x00\x00\x01" + mac + struct.pack("!H", ETH_P_IPV6) + ipv6 + body


@dataclass(frozen=True)
class Request:
    """The first packet of a boot-file fetch (a TFTP read request, an HTTP connection) or a DHCPACK."""

    proto: str
    client_mac: str
    client_ip: str
    server_ip: str
    time: float
    # The file name of a TFTP read request ("" for HTTP: only the connection is seen).
    path: str = ""


class Watcher:
    """One thread on a bridge: answers router solicitations and logs TFTP/HTTP requests.

    Only frames from clients in `client_macs` (lower case) are logged and answered, so the
    servers' own traffic and other tests' hosts on the same bridge are left alone.
    """

    def __init__(self, bridge, client_macs=(), http_ports=(80,), answer_rs=True):
        self.bridge = bridge
        self.client_macs = {mac.lower() for mac in client_macs}
        self.http_ports = set(http_ports)
        self.answer_rs = answer_rs
        self.requests = []
        self.rs_answered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = _packet_socket(bridge, promisc=True)
        self._ra = router_advertisement()
        self._thread = threading.Thread(target=self._loop, name="pxelab-watch-%s" % bridge, daemon=True)
        self._thread.start()

    def add_client(self, mac):
        with self._lock:
            self.client_macs.add(mac.lower())

    def _loop(self):
        while not self._stop.is_set():
            ready = select.select([self._sock], [], [], 0.2)[0]
            if not ready:
                continue
            try:
                frame, addr = self._sock.recvfrom(65535)
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING or len(frame) < 34:
                continue
            src_mac = _mac_str(frame[6:12])
            ethertype = struct.unpack("!H", frame[12:14])[0]
            if ethertype == ETH_P_IP:
                self._dhcp_ack(frame)
            with self._lock:
                if src_mac not in self.client_macs:
                    continue
            if ethertype == ETH_P_IPV6:
                self._ipv6(frame)
            elif ethertype == ETH_P_IP:
                self._ipv4(frame, src_mac)

    def _ipv6(self, frame):
        # Router solicitation: next header ICMPv6 (no extension headers), type 133.
        if self.answer_rs and len(frame) >= 55 and frame[20] == 58 and frame[54] == 133:
            with contextlib.suppress(OSError):
                self._sock.send(self._ra)
                self.rs_answered += 1

    def _ipv4(self, frame, src_mac):
        header = frame[14:]
        ihl = (header[0] & 0x0F) * 4
        proto = header[9]
        src_ip = socket.inet_ntoa(header[12:16])
        dst_ip = socket.inet_ntoa(header[16:20])
        l4 = header[ihl:]
        if len(l4) < 14:
            return
        dport = struct.unpack("!H", l4[2:4])[0]
        kind = None
        path = ""
        if proto == 17 and dport == 69 and l4[8:10] == b"\x00\x01":
            kind = "tftp"
            path = l4[10:].split(b"\0", 1)[0].decode("ascii", errors="replace")
        elif proto == 6 and dport in self.http_ports and l4[13] & 0x12 == 0x02:
            kind = "http"
        if kind:
            with self._lock:
                self.requests.append(Request(kind, src_mac, src_ip, dst_ip, time.time(), path))

    def _dhcp_ack(self, frame):
        header = frame[14:]
        ihl = (header[0] & 0x0F) * 4
        if header[9] != 17 or len(header) < ihl + 8 + 240:
            return
        sport, dport = struct.unpack("!HH", header[ihl : ihl + 4])
        bootp = header[ihl + 8 :]
        if (sport, dport) != (67, 68) or bootp[236:240] != b"\x63\x82\x53\x63":
            return
        chaddr = _mac_str(bootp[28:34])
        with self._lock:
            if chaddr not in self.client_macs:
                return
        options, index = {}, 240
        while index < len(bootp) and bootp[index] != 255:
            if bootp[index] == 0:
                index += 1
                continue
            length = bootp[index + 1]
            options[bootp[index]] = bootp[index + 2 : index + 2 + length]
            index += 2 + length
        if options.get(53) == b"\x05":
            server = (
                socket.inet_ntoa(options[54]) if len(options.get(54, b"")) == 4 else socket.inet_ntoa(header[12:16])
            )
            with self._lock:
                self.requests.append(Request("dhcpack", chaddr, socket.inet_ntoa(bootp[16:20]), server, time.time()))

    def acks_to(self, mac):
        """The DHCPACKs seen for mac, in order (client_ip = the leased address, server_ip = the server id)."""
        with self._lock:
            return [r for r in self.requests if r.client_mac == mac.lower() and r.proto == "dhcpack"]

    def fetches_by(self, mac):
        """TFTP read requests and HTTP connections of mac, each with the DHCPACK that preceded it."""
        with self._lock:
            events = [r for r in self.requests if r.client_mac == mac.lower()]
        last_ack, out = None, []
        for event in events:
            if event.proto == "dhcpack":
                last_ack = event
            else:
                out.append((event, last_ack))
        return out

    def requests_from(self, mac):
        """TFTP read requests and HTTP connections of mac, in order."""
        with self._lock:
            return [r for r in self.requests if r.client_mac == mac.lower() and r.proto != "dhcpack"]

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def unique_tap_name(tag, index):
    """nbt<pid>-qN fits IFNAMSIZ and is removed by the dhcplab teardown with the rest of the lab."""
    return "%s-q%d" % (tag, index) if tag else "nbq%d-%d" % (os.getpid(), index)
