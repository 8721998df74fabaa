"""Boot storm: N simulated PXE clients (DHCP, then loader, kernel and initrd) at once.

Scenarios (each in a fresh lab):
  single-tftp  one dhcpd, everything over TFTP (pxelinux.0 + ldlinux.c32 + kernel + initrd),
               like the seed article;
  pair-tftp    the pair, each node naming itself as boot server (as the pxe role renders it),
               iPXE loader + kernel + initrd over TFTP;
  pair-http    the pair, iPXE loader over TFTP, kernel + initrd over HTTP from the same node;
  pair-tftp-secondary-killed
               pair-tftp with the secondary killed (SIGKILL) at t = 0, after the pair is NORMAL;
  http-limit   no DHCP: the bytes of pair-http (loader, kernel, initrd per client) copied over plain
               HTTP from both nodes, half each, with the same concurrency: what the bridge, the
               servers and the client machine can move at most; pair-http is reported as a fraction.
Transfers are curl processes (C; TFTP with blksize 1428 like iPXE's), WORKERS at a time, so the
client side is not one Python process holding the GIL.
The kernel and initrd are the pxelab test artefacts (a Debian cloud kernel and a busybox
initramfs); the loaders are Debian's (ipxe, pxelinux, syslinux-common).
"""

import concurrent.futures
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from common import configs, log, mac, pair_lab, role_defaults, single_lab, summary
from pxelab import artifacts, servers

# Debian's loaders (packages ipxe, pxelinux, syslinux-common: `make deps` installs them); random
# bytes of about their size where a package is missing, since only the size matters here.
LOADERS = {
    "undionly.kpxe": ("/usr/lib/ipxe/undionly.kpxe", 74 * 1024),
    "pxelinux.0": ("/usr/lib/PXELINUX/pxelinux.0", 42 * 1024),
    "ldlinux.c32": ("/usr/lib/syslinux/modules/bios/ldlinux.c32", 117 * 1024),
}
FILES = {
    "single-tftp": (("tftp", "pxelinux.0"), ("tftp", "ldlinux.c32"), ("tftp", "vmlinuz"), ("tftp", "initrd.img")),
    "pair-tftp": (("tftp", "undionly.kpxe"), ("tftp", "vmlinuz"), ("tftp", "initrd.img")),
    "pair-http": (("tftp", "undionly.kpxe"), ("http", "vmlinuz"), ("http", "initrd.img")),
    "pair-tftp-secondary-killed": (("tftp", "undionly.kpxe"), ("tftp", "vmlinuz"), ("tftp", "initrd.img")),
    "http-limit": (("http", "undionly.kpxe"), ("http", "vmlinuz"), ("http", "initrd.img")),
}
# Concurrent clients (curl processes, each fetching its files in turn).
WORKERS = 16
# A client that has not finished its files in this time has failed (bounds every transfer).
CLIENT_TIMEOUT = 300
TFTP_BLKSIZE = 1428
# Every extra lab subnet: the lab pool plus seven /24s hold 1878 addresses.  Each peer answers
# from its own half, so a storm must leave room for the hash's spread around half the clients,
# and an offered address stays held for 120 s.
EXTRA_SUBNETS = configs.MAX_EXTRA_SUBNETS
MAX_CLIENTS = 1500


def boot_tree(workdir):
    root = Path(workdir) / "tftp"
    root.mkdir()
    files = artifacts.build()
    for name, (path, size) in LOADERS.items():
        if os.path.isfile(path):
            shutil.copyfile(path, root / name)
        else:
            (root / name).write_bytes(os.urandom(size))
    # Copies, not symlinks: in.tftpd --secure chroots into the tree.
    shutil.copyfile(files.kernel, root / "vmlinuz")
    shutil.copyfile(files.initrd, root / "initrd.img")
    return root, {p.name: p.stat().st_size for p in root.iterdir()}


def fetch_all(server, plan, sizes):
    """One client's files from server with one curl process; raises on a failed or short transfer."""
    argv = ["curl", "--silent", "--show-error", "--fail", "--max-time", str(CLIENT_TIMEOUT),
            "--tftp-blksize", str(TFTP_BLKSIZE), "--write-out", "%{size_download}\\n"]
    for proto, name in plan:
        argv += ["--output", "/dev/null", "%s://%s/%s" % (proto, server, name)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=CLIENT_TIMEOUT + 10)
    got = [int(n) for n in proc.stdout.split()]
    want = [sizes[name] for _proto, name in plan]
    if proc.returncode != 0 or got != want:
        raise RuntimeError("curl from %s: rc %d, got %s bytes, expected %s: %s"
                           % (server, proc.returncode, got, want, proc.stderr.strip()[-200:]))


def dhcp_phase(client, macs):
    """DISCOVER all, REQUEST every first offer; ({mac: Ack}, retried count).

    Clients without an offer DISCOVER once more with secs 4, as a PXE ROM's retry does.
    """
    offers = client.discover_many(macs, timeout=3.0, expect=1, grace=0.05)
    missing = [a for a, got in offers.items() if not got]
    if missing:
        offers.update(client.discover_many(missing, secs=4, timeout=3.0, expect=1, grace=0.05))
    xids = {}
    for address, got in offers.items():
        if got:
            xids[address] = client.send(
                "request", address, xid=got[0].xid, requested_ip=got[0].yiaddr, server_id=got[0].server_id
            )
    answers = client.collect(list(xids.values()), timeout=3.0, expect=1, grace=0.05)
    return {a: answers[x][0] for a, x in xids.items() if answers[x] and answers[x][0].kind == "ack"}, len(missing)


def one_storm(scenario, count, env, run_index):
    """One storm in a fresh lab; env holds workdir, tftpd, root and sizes of the boot tree."""
    sizes = env["sizes"]
    macs = [mac(0xA0 + run_index % 16, i) for i in range(count)]
    plan = FILES[scenario]
    if scenario == "http-limit":
        return copy_limit(count, env)
    if scenario == "single-tftp":
        conf = {"extra_global": "next-server %s;" % configs.PRIMARY_ADDRESS, "extra_subnets": EXTRA_SUBNETS}
        maker = single_lab(**conf)
    else:
        nodes = {"s1": configs.PRIMARY_ADDRESS, "s2": configs.SECONDARY_ADDRESS}
        maker = pair_lab(
            role_defaults(),
            extra_subnets=EXTRA_SUBNETS,
            extra_global={k: "next-server %s;" % v for k, v in nodes.items()},
        )
    with maker as built:
        lab = built[0]
        boots = []
        for server in lab.servers.values():
            boots.append(servers.BootServers(server.netns, server.address, env["root"], env["workdir"], env["tftpd"]))
        try:
            client = lab.client()
            if scenario == "pair-tftp-secondary-killed":
                built[1].secondary.kill(signal.SIGKILL)
            start = time.monotonic()
            acks, retried = dhcp_phase(client, macs)
            dhcp_done = time.monotonic() - start
            failures = count - len(acks)
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                jobs = [pool.submit(fetch_all, ack.siaddr or ack.server_id, plan, sizes) for ack in acks.values()]
                errors = [job.exception() for job in jobs]
            total = time.monotonic() - start
        finally:
            for boot in boots:
                boot.close()
    failures += sum(1 for e in errors if e is not None)
    by_server = {}
    for ack in acks.values():
        by_server[ack.server_id] = by_server.get(ack.server_id, 0) + 1
    first_error = next((str(e) for e in errors if e is not None), None)
    delivered = (len(acks) - sum(1 for e in errors if e is not None)) * sum(sizes[name] for _proto, name in plan)
    return {
        "total_s": total,
        "dhcp_s": dhcp_done,
        "mbytes_per_s": delivered / total / 1e6 if total else None,
        "clients_per_s": (count - failures) / total if total else None,
        "failures": failures,
        "retried_discover": retried,
        "by_server": by_server,
        "first_error": first_error,
    }


def copy_limit(count, env):
    """http-limit: count clients' bytes over plain HTTP from both nodes of a pair, no DHCP."""
    plan, sizes = FILES["http-limit"], env["sizes"]
    nodes = {"s1": configs.PRIMARY_ADDRESS, "s2": configs.SECONDARY_ADDRESS}
    maker = pair_lab(role_defaults(), extra_global={k: "next-server %s;" % v for k, v in nodes.items()})
    with maker as built:
        lab = built[0]
        boots = [servers.BootServers(server.netns, server.address, env["root"], env["workdir"], env["tftpd"])
                 for server in lab.servers.values()]
        try:
            addresses = [server.address for server in lab.servers.values()]
            start = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                jobs = [pool.submit(fetch_all, addresses[i % 2], plan, sizes) for i in range(count)]
                errors = [job.exception() for job in jobs]
            total = time.monotonic() - start
        finally:
            for boot in boots:
                boot.close()
    failures = sum(1 for e in errors if e is not None)
    by_server = {address: (count + (i == 0)) // 2 for i, address in enumerate(addresses)}
    return {
        "total_s": total,
        "dhcp_s": 0.0,
        "mbytes_per_s": (count - failures) * sum(sizes[name] for _proto, name in plan) / total / 1e6,
        "clients_per_s": (count - failures) / total if total else None,
        "failures": failures,
        "retried_discover": 0,
        "by_server": by_server,
        "first_error": next((str(e) for e in errors if e is not None), None),
    }


def run(runs, sizes_n=((50, None), (200, None)), scenarios=None):
    """sizes_n: (client count, runs or None for the default runs) pairs."""
    tftpd = artifacts.tftpd()
    results = {"scenarios": {}, "files": None}
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as workdir:
        root, sizes = boot_tree(workdir)
        env = {"workdir": workdir, "tftpd": tftpd, "root": root, "sizes": sizes}
        results["files"] = sizes
        for scenario in scenarios or FILES:
            for count, own_runs in sizes_n:
                samples = []
                count_runs = own_runs or runs
                for index in range(count_runs):
                    log("boot storm: %s, N=%d, run %d/%d" % (scenario, count, index + 1, count_runs))
                    samples.append(one_storm(scenario, count, env, index))
                    log("  %s" % {k: v for k, v in samples[-1].items() if k != "first_error"})
                split = {}
                for sample in samples:
                    for server, n in sample["by_server"].items():
                        split.setdefault(server, []).append(n / max(1, count - sample["failures"]))
                results["scenarios"]["%s/%d" % (scenario, count)] = {
                    "scenario": scenario,
                    "clients": count,
                    "total_s": summary([s["total_s"] for s in samples]),
                    "dhcp_s": summary([s["dhcp_s"] for s in samples]),
                    "clients_per_s": summary([s["clients_per_s"] for s in samples]),
                    "mbytes_per_s": summary([s["mbytes_per_s"] for s in samples]),
                    "failures": summary([s["failures"] for s in samples]),
                    "retried_discover": summary([s["retried_discover"] for s in samples]),
                    "share_by_server": {k: summary(v) for k, v in sorted(split.items())},
                    "first_error": next((s["first_error"] for s in samples if s["first_error"]), None),
                }
    results["configured_share"] = {configs.PRIMARY_ADDRESS: 0.5, configs.SECONDARY_ADDRESS: 0.5}
    return results
