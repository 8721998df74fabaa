"""Many DHCP clients from one container (scenario kea): stdlib only, raw Ethernet frames on eth0.

  dhcp_clients.py lease FILE PREFIX COUNT     DISCOVER/REQUEST for COUNT clients; writes FILE
  dhcp_clients.py renew FILE OUT               INIT-REBOOT REQUEST of every client of FILE; writes OUT
  dhcp_clients.py probe FILE OUT STOPFILE MAX  one client (the first of FILE) asks again every 0.1 s
                                               until STOPFILE exists (at most MAX s); writes OUT

Clients are MACs 02:4b:PREFIX:00:00:NN; one in five sends a client identifier 01+MAC, one in
seven an opaque one (bytes a dhcpd lease file escapes), one in three a hostname. Only answers
from SERVERS count: another pair on the shared bridge cannot answer for this scenario's.
Every answer is JSON: {mac: {ip, server, kind, ...}}.
"""

import json
import os
import random
import socket
import struct
import sys
import time

IFACE = "eth0"
SERVERS = set(os.environ.get("KEA_SCENARIO_SERVERS", "198.18.24.47,198.18.24.48").split(","))
ETH_P_IP = 0x0800
MAGIC = b"\x63\x82\x53\x63"
KINDS = {2: "offer", 5: "ack", 6: "nak"}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(mac, payload):
    """Ethernet + IPv4 + UDP from 0.0.0.0:68 to 255.255.255.255:67 (a client without an address)."""
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\xff" * 6 + bytes.fromhex(mac.replace(":", "")) + struct.pack("!H", ETH_P_IP) + ip + udp


def bootp(kind, client, xid, requested=None, server=None):
    chaddr = bytes.fromhex(client["mac"].replace(":", ""))
    head = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1,
        1,
        6,
        0,
        xid,
        0,
        0x8000,
        bytes(4),
        bytes(4),
        bytes(4),
        bytes(4),
        chaddr + bytes(10),
        bytes(64),
        bytes(128),
    )
    opts = bytes([53, 1, kind])
    if client.get("cid"):
        cid = bytes.fromhex(client["cid"].replace(":", ""))
        opts += bytes([61, len(cid)]) + cid
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server:
        opts += bytes([54, 4]) + socket.inet_aton(server)
    if client.get("hostname") and kind == 3:
        name = client["hostname"].encode()
        opts += bytes([12, len(name)]) + name
    opts += bytes([55, 4, 1, 3, 51, 54, 255])
    return head + MAGIC + opts


def parse(data):
    """(xid, kind, yiaddr, server) of a BOOTREPLY to port 68, else None."""
    if len(data) < 14 + 20 + 8 + 240 or data[12:14] != b"\x08\x00":
        return None
    ihl = (data[14] & 0x0F) * 4
    ip = data[14:]
    if ip[9] != 17:
        return None
    udp = ip[ihl:]
    if struct.unpack("!H", udp[2:4])[0] != 68:
        return None
    msg = udp[8:]
    if msg[0] != 2 or msg[236:240] != MAGIC:
        return None
    xid = struct.unpack("!I", msg[4:8])[0]
    yiaddr = socket.inet_ntoa(msg[16:20])
    kind, server, index = None, socket.inet_ntoa(ip[12:16]), 240
    while index < len(msg) and msg[index] != 255:
        code = msg[index]
        if code == 0:
            index += 1
            continue
        length = msg[index + 1]
        value = msg[index + 2 : index + 2 + length]
        if code == 53 and length == 1:
            kind = KINDS.get(value[0], str(value[0]))
        elif code == 54 and length == 4:
            server = socket.inet_ntoa(value)
        index += 2 + length
    return xid, kind, yiaddr, server


class Link:
    def __init__(self):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock.bind((IFACE, ETH_P_IP))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)

    def send(self, mac, payload):
        self.sock.send(frame(mac, payload))

    def collect(self, xids, timeout):
        """{xid: [(kind, yiaddr, server, time)]} for replies from SERVERS within timeout seconds;
        returns early once every xid has an answer (and a short grace for a second server)."""
        answers = dict((xid, []) for xid in xids)
        deadline = time.monotonic() + timeout
        settled = None
        while time.monotonic() < deadline:
            if settled is None and all(answers.values()):
                settled = time.monotonic() + 0.3
            if settled is not None and time.monotonic() > settled:
                break
            self.sock.settimeout(max(0.01, min(deadline, settled or deadline) - time.monotonic()))
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            reply = parse(data)
            if reply and reply[0] in answers and reply[3] in SERVERS:
                answers[reply[0]].append((reply[1], reply[2], reply[3], time.time()))
        return answers


def clients(prefix, count):
    out = []
    for n in range(count):
        mac = "02:4b:%02x:00:00:%02x" % (prefix, n)
        cid = None
        if n % 5 == 1:
            cid = "01:" + mac
        elif n % 7 == 3:
            cid = "ff:00:0a:22:5c:%02x" % n
        out.append({"mac": mac, "cid": cid, "hostname": "kea-%02x-%02d" % (prefix, n) if n % 3 == 0 else None})
    return out


def lease(path, prefix, count):
    link = Link()
    wanted = clients(prefix, count)
    xids = dict((c["mac"], random.getrandbits(32)) for c in wanted)
    for c in wanted:
        link.send(c["mac"], bootp(1, c, xids[c["mac"]]))
    offers = link.collect(list(xids.values()), 10)
    req = {}
    for c in wanted:
        got = [a for a in offers[xids[c["mac"]]] if a[0] == "offer"]
        if got:
            req[c["mac"]] = xids[c["mac"]]
            link.send(c["mac"], bootp(3, c, req[c["mac"]], requested=got[0][1], server=got[0][2]))
    acks = link.collect(list(req.values()), 10)
    for c in wanted:
        ack = [a for a in acks.get(req.get(c["mac"]), []) if a[0] == "ack"]
        c.update(ip=ack[0][1] if ack else None, server=ack[0][2] if ack else None)
    with open(path, "w") as handle:
        json.dump(wanted, handle, indent=1)
    print(
        json.dumps(
            {"leased": sum(1 for c in wanted if c["ip"]), "asked": count, "by_server": count_by(wanted, "server")}
        )
    )


def count_by(items, key):
    out = {}
    for item in items:
        out[str(item.get(key))] = out.get(str(item.get(key)), 0) + 1
    return out


def renew(path, out):
    link = Link()
    with open(path) as handle:
        wanted = [c for c in json.load(handle) if c.get("ip")]
    xids = dict((c["mac"], random.getrandbits(32)) for c in wanted)
    for c in wanted:
        link.send(c["mac"], bootp(3, c, xids[c["mac"]], requested=c["ip"]))
    answers = link.collect(list(xids.values()), 10)
    result = []
    for c in wanted:
        first = (answers[xids[c["mac"]]] or [(None, None, None, None)])[0]
        result.append(
            dict(c, kind=first[0], got=first[1], answered_by=first[2], same=first[0] == "ack" and first[1] == c["ip"])
        )
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1)
    print(
        json.dumps(
            {
                "asked": len(result),
                "same": sum(1 for r in result if r["same"]),
                "kinds": count_by(result, "kind"),
                "by_server": count_by(result, "answered_by"),
            }
        )
    )


def probe(path, out, stop, limit):
    link = Link()
    with open(path) as handle:
        client = json.load(handle)[0]
    start = time.time()
    times, servers, wrong = [], {}, 0
    while time.time() - start < limit and not os.path.exists(stop):
        xid = random.getrandbits(32)
        link.send(client["mac"], bootp(3, client, xid, requested=client["ip"]))
        for kind, ip, server, at in link.collect([xid], 0.1)[xid][:1]:
            if kind == "ack" and ip == client["ip"]:
                times.append(at)
                servers[server] = servers.get(server, 0) + 1
            else:
                wrong += 1
        time.sleep(0.05)
    gaps = [(b - a, a, b) for a, b in zip(times, times[1:])]
    gap = max(gaps) if gaps else (None, None, None)
    result = {
        "answers": len(times),
        "servers": servers,
        "wrong": wrong,
        "seconds": round(time.time() - start, 1),
        "longest_gap": round(gap[0], 2) if gap[0] is not None else None,
        "gap_from": gap[1],
        "gap_to": gap[2],
    }
    with open(out, "w") as handle:
        json.dump(result, handle)
    print(json.dumps(result))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "lease":
        lease(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif command == "renew":
        renew(sys.argv[2], sys.argv[3])
    elif command == "probe":
        probe(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        sys.exit("usage: dhcp_clients.py lease|renew|probe ...")
