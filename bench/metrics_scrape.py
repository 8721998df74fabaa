"""CPU cost of one run of the metrics exporter with 10,000 leases: python bench/metrics_scrape.py.

Measures and prints (issue 16 asks for less than 100 ms of CPU per node and run); it passes or
fails nothing. The program runs as the timer runs it: the launcher of roles/metrics (rendered
here), the module_utils files the role copies, Debian's /usr/bin/python3 -I. The CPU time is the
child's user + system time (os.wait4), so other load on the machine does not count.

The lease file is written in dhcpd's format: N addresses in one failover pool, as dhcpd writes
it at start (one entry per address), and the same with every address written three times (what
the file looks like after many renewals between two of dhcpd's hourly rewrites). OMAPI points
at a closed port on 127.0.0.1 (a refused connection costs microseconds; a real OMAPI read is
one small TCP exchange), chrony is not asked.
"""

import argparse
import ipaddress
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import jinja2
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLE = os.path.join(REPO, "roles", "metrics")
FIRST = ipaddress.IPv4Address("198.18.0.10")
# A mix as a busy pool has it (first word: the scan of programs run by bench/ reads tuples as argv).
STATES = ("active", "free", "backup", "active", "expired", "released", "free", "backup")


def lease_file(path, count, copies):
    now = time.gmtime()
    stamp = time.strftime("%w %Y/%m/%d %H:%M:%S", now)
    with open(path, "w", encoding="ascii") as handle:
        handle.write("# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
                     'authoring-byte-order little-endian;\n\n')
        for copy in range(copies):
            for index in range(count):
                address = FIRST + index
                state = STATES[(index + copy) % len(STATES)]
                handle.write("lease %s {\n  starts %s;\n  ends %s;\n  tstp %s;\n  cltt %s;\n"
                             "  binding state %s;\n  next binding state free;\n  rewind binding state free;\n"
                             % (address, stamp, stamp, stamp, stamp, state))
                if state == "active":
                    handle.write('  hardware ethernet 52:54:00:%02x:%02x:%02x;\n  uid "\\001RT\\000\\022\\064V";\n'
                                 '  client-hostname "pxe-%d";\n' % (index >> 16 & 255, index >> 8 & 255,
                                                                    index & 255, index))
                handle.write("}\n")
        handle.write('failover peer "pair" state {\n  my state normal at %s;\n  partner state normal at %s;\n'
                     '  mclt 600;\n}\n' % (stamp, stamp))
    return os.path.getsize(path)


def install(directory):
    """The program laid out as the role lays it out; returns the launcher's path."""
    with open(os.path.join(ROLE, "vars", "main.yml"), encoding="utf-8") as handle:
        names = yaml.safe_load(handle)["__metrics_module_utils"]
    libdir = os.path.join(directory, "lib")
    target = os.path.join(libdir, "ansible_collections", "netboot", "dhcp_failover", "plugins", "module_utils")
    for name in names:
        os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
        shutil.copyfile(os.path.join(REPO, "plugins", "module_utils", name), os.path.join(target, name))
    loader = jinja2.FileSystemLoader(os.path.join(ROLE, "templates"))
    env = jinja2.Environment(loader=loader, autoescape=False)  # noqa: S701 - a shell script, not HTML
    env.filters["comment"] = lambda text: "# " + text
    env.filters["quote"] = shlex.quote
    launcher = os.path.join(directory, "dhcpd-failover-metrics")
    with open(launcher, "w", encoding="utf-8") as handle:
        handle.write(env.get_template("dhcpd-failover-metrics.j2").render(ansible_managed="bench",
                                                                          __metrics_libdir=libdir))
    os.chmod(launcher, 0o700)
    return launcher


def cpu_of_one_run(launcher, config):
    start = time.monotonic()
    proc = subprocess.Popen([launcher, "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("the exporter failed (exit %d)" % os.waitstatus_to_exitcode(status))
    return usage.ru_utime + usage.ru_stime, wall


def closed_port():
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leases", type=int, default=10000, help="addresses in the pool (default 10000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (default 7)")
    args = parser.parse_args(argv)
    if not 1 <= args.leases <= 60000 or not 1 <= args.runs <= 100:
        parser.error("--leases 1..60000 and --runs 1..100")
    directory = tempfile.mkdtemp(prefix="bench-metrics-")
    try:
        launcher = install(directory)
        last = FIRST + args.leases - 1
        results = []
        for copies in (1, 3):
            leases = os.path.join(directory, "dhcpd.leases")
            size = lease_file(leases, args.leases, copies)
            config = os.path.join(directory, "metrics.json")
            with open(config, "w", encoding="utf-8") as handle:
                json.dump({"peer_name": "pair", "role": "primary", "omapi_host": "127.0.0.1",
                           "omapi_port": closed_port(), "lease_file": leases, "pid_file": "/nonexistent",
                           "output": os.path.join(directory, "dhcpd_failover.prom"),
                           "pools": [["%s %s" % (FIRST, last)]], "interval": 15, "timeout": 1}, handle)
            cpu_of_one_run(launcher, config)  # warm the page cache
            samples = [cpu_of_one_run(launcher, config) for _run in range(args.runs)]
            cpu = [c * 1000 for c, _w in samples]
            wall = [w * 1000 for _c, w in samples]
            results.append({"leases": args.leases, "entries": args.leases * copies, "file_bytes": size,
                            "cpu_ms": cpu, "wall_ms": wall})
            print("%6d addresses, %6d lease entries (%5.1f MB): CPU %.0f ms [%.0f-%.0f], wall %.0f ms [%.0f-%.0f] "
                  "per run (median [min-max] of %d)"
                  % (args.leases, args.leases * copies, size / 1e6, statistics.median(cpu), min(cpu), max(cpu),
                     statistics.median(wall), min(wall), max(wall), args.runs))
        startup = []
        for _run in range(args.runs):
            proc = subprocess.Popen(["/usr/bin/python3", "-I", "-c", "pass"])
            _pid, _status, usage = os.wait4(proc.pid, 0)
            startup.append((usage.ru_utime + usage.ru_stime) * 1000)
        print("python3 -I startup alone: CPU %.0f ms [%.0f-%.0f]" % (statistics.median(startup), min(startup),
                                                                     max(startup)))
        os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
        with open(os.path.join(REPO, "bench", "results", "metrics_scrape.json"), "w", encoding="utf-8") as handle:
            json.dump({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": results,
                       "python_startup_cpu_ms": startup}, handle, indent=1)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
