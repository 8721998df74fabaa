"""A minimal DHCP client run inside the test client: DISCOVER, collect every OFFER, REQUEST one.

Prints JSON {"offers": [{"server", "address"}...], "ack": {"server", "address"} or null}.
Usage: python3 dhcp_probe.py MAC [SERVER_TO_REQUEST_FROM]
With a server given, the REQUEST goes to that server's offer (other DHCP servers on the
segment are ignored); without, to the first offer. Standard library only (the lab image).
"""

import json
import os
import socket
import struct
import sys
import time

COOKIE = b"\x63\x82\x53\x63"


def packet(mac, xid, message_type, extra=b""):
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4), bytes(4),
                         bytes(4), mac.ljust(16, b"\0"), b"", b"")
    options = bytes([53, 1, message_type]) + bytes([55, 2, 1, 3]) + extra + b"\xff"
    return header + COOKIE + options


def parse(data, xid):
    if len(data) < 240 or data[0] != 2 or struct.unpack("!I", data[4:8])[0] != xid or data[236:240] != COOKIE:
        return None
    options, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        options[data[i]] = data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    if 53 not in options or 54 not in options:
        return None
    return {"type": options[53][0], "server": socket.inet_ntoa(options[54]), "address": socket.inet_ntoa(data[16:20])}


def exchange(sock, payload, xid, wanted_type, seconds, *, first_from=None):
    """Replies of wanted_type within seconds; stops early at the first one from first_from."""
    sock.sendto(payload, ("255.255.255.255", 67))
    replies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and not any(r["server"] == first_from for r in replies):
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recvfrom(2048)[0]
        except socket.timeout:
            break
        reply = parse(data, xid)
        if reply and reply["type"] == wanted_type:
            replies.append({"server": reply["server"], "address": reply["address"]})
    return replies


def main():
    mac = bytes.fromhex(sys.argv[1].replace(":", ""))
    wanted = sys.argv[2] if len(sys.argv) > 2 else None
    xid = struct.unpack("!I", os.urandom(4))[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    # The answers are broadcast to port 68 (the client has no lease yet).
    sock.bind(("0.0.0.0", 68))  # noqa: S104
    # Collect for a while: every server that answers this DISCOVER must show up.
    offers = exchange(sock, packet(mac, xid, 1), xid, 2, 3.0)
    chosen = [o for o in offers if wanted is None or o["server"] == wanted][:1]
    ack = None
    if chosen:
        extra = bytes([50, 4]) + socket.inet_aton(chosen[0]["address"]) + bytes([54, 4]) + socket.inet_aton(
            chosen[0]["server"])
        acks = exchange(sock, packet(mac, xid, 3, extra), xid, 5, 4.0, first_from=chosen[0]["server"])
        acks = [a for a in acks if a["server"] == chosen[0]["server"]]
        ack = acks[0] if acks else None
    print(json.dumps({"offers": offers, "ack": ack}))


if __name__ == "__main__":
    main()
