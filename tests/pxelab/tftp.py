"""A minimal TFTP (RFC 1350 + blksize, RFC 2348) client: read one file, octet mode."""

import socket
import struct

RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6


class TftpError(RuntimeError):
    """The server answered with an error packet, or stopped answering."""


def fetch(server, path, blksize=1428, timeout=5.0, port=69, *, requests=3):
    """Return the bytes of path on server.

    An unanswered request is sent again, up to `requests` times, as PXE firmware does: Debian 13's
    tftpd-hpa (5.2+20240610-3) drops the first request after every start of the daemon (its
    first child opens its socket with family AF_UNSPEC and exits; README, "PXE on Debian 13").
    """
    request = struct.pack("!H", RRQ) + b"%s\0octet\0blksize\0%d\0" % (path.encode(), blksize)
    data = bytearray()
    expected, size = 1, 512
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (server, port))
        sent = 1
        peer = None
        while True:
            try:
                packet, address = sock.recvfrom(65536)
            except socket.timeout:
                if peer is None and sent < requests:
                    sock.sendto(request, (server, port))
                    sent += 1
                    continue
                raise TftpError(
                    "tftp://%s/%s: no answer for %.0f s at block %d (%d requests sent)"
                    % (server, path, timeout, expected, sent)
                ) from None
            # The transfer runs from a new port of the server: lock onto it.
            if peer is None:
                peer = address
            elif address != peer:
                continue
            opcode = struct.unpack("!H", packet[:2])[0]
            if opcode == ERROR:
                code = struct.unpack("!H", packet[2:4])[0]
                raise TftpError("tftp://%s/%s: error %d %s" % (server, path, code, packet[4:].rstrip(b"\0").decode()))
            if opcode == OACK:
                options = packet[2:].split(b"\0")
                values = dict(zip(options[0::2], options[1::2]))
                size = int(values.get(b"blksize", b"512"))
                sock.sendto(struct.pack("!HH", ACK, 0), peer)
                continue
            if opcode != DATA:
                raise TftpError("tftp://%s/%s: unexpected opcode %d" % (server, path, opcode))
            block = struct.unpack("!H", packet[2:4])[0]
            if block == expected & 0xFFFF:
                data += packet[4:]
                expected += 1
            sock.sendto(struct.pack("!HH", ACK, block), peer)
            if block == (expected - 1) & 0xFFFF and len(packet) - 4 < size:
                return bytes(data)
