"""A broadcast from the client crosses the bridge to both servers, like a DHCPDISCOVER."""

import secrets
import threading
import time

import testinfra

testinfra_hosts = ["podman://mol-client"]
SERVERS = ("mol-dhcp1", "mol-dhcp2")

# Prints the first datagram on UDP port 67 as "SOURCE PAYLOAD", or exits 1.
LISTEN = (
    "import socket;"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
    "s.bind(('0.0.0.0',67));s.settimeout(15);"
    "d,a=s.recvfrom(512);print(a[0],d.decode())"
)
# Repeats the datagram so that it does not matter when the listeners are ready.
SEND = (
    "import socket,sys,time;"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1);"
    "s.bind(('0.0.0.0',68));"
    "[(s.sendto(sys.argv[1].encode(),(sys.argv[2],67)),time.sleep(0.2)) for _ in range(15)]"
)


def _listen_all(results):
    def listen(name):
        results[name] = testinfra.get_host(f"podman://{name}").run(f'python3 -c "{LISTEN}"')

    threads = [threading.Thread(target=listen, args=(name,)) for name in SERVERS]
    for thread in threads:
        thread.start()
    return threads


def _check(host, destination):
    nonce = secrets.token_hex(8)
    results = {}
    threads = _listen_all(results)
    time.sleep(1)
    sender = host.run(f'python3 -c "{SEND}" {nonce} {destination}')
    for thread in threads:
        thread.join(30)
    assert sender.rc == 0, sender.stderr
    for name in SERVERS:
        got = results[name]
        assert got.rc == 0, f"{name} heard no broadcast to {destination}: {got.stderr}"
        assert got.stdout.split() == ["198.18.20.21", nonce]


def test_limited_broadcast_reaches_both_servers(host):
    _check(host, "255.255.255.255")


def test_subnet_broadcast_reaches_both_servers(host):
    _check(host, "198.18.20.255")
