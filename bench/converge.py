"""On the podman lab: site.yml converge time (podman exec and SSH), then the maintenance round trip.

Each run starts fresh lab hosts (lab/lab up), runs site.yml (first run), runs it again
(idempotent run), then the same on fresh hosts over SSH (lab/lab up --ssh: pipelining,
ControlPersist) as users run it, then, over podman exec, takes the secondary out of service and
back four times:

  plain-old    stop, partner-down, start, wait for NORMAL (bench/plain_maintenance.yml) when
               the node's last state change is older than MCLT;
  plain-young  the same right after that, so the node's last state change is seconds old;
  playbook-young / playbook-old   maintenance.yml start + end, in the same two situations.

A restarted peer whose last state change is younger than MCLT waits in recover-wait until
that change + MCLT; the maintenance playbook ends that wait with recover-done when its record
says the stop was clean.  MCLT is set to --lab-mclt for every playbook run (default 60 s,
not the role's 600) so that the young case costs a minute, not ten.
"""

import os
import re
import subprocess
import threading
import time

import yaml
from common import REPO, log, summary

LAB = REPO / "lab" / "lab"
INVENTORY = REPO / "lab" / ".state" / "inventory.yml"
INVENTORY_SSH = REPO / "lab" / ".state" / "inventory-ssh.yml"
PLAIN = REPO / "bench" / "plain_maintenance.yml"
_RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
ROUND_TRIPS = ("plain-old", "plain-young", "playbook-young", "playbook-old")


def _env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "lab" / "containers.conf"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    return env


def _tree_pss_kib(root):
    """Proportional set size (KiB) of a process and all its descendants: forks share pages."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open("/proc/%d/smaps_rollup" % pid, encoding="ascii") as handle:
                total += sum(int(line.split()[1]) for line in handle if line.startswith("Pss:"))
        except (OSError, ValueError):
            continue
    return total


def _timed(argv, timeout, env=None):
    """(seconds, stdout, peak MiB of the controller: PSS of the process tree sampled every 0.25 s)."""
    start = time.monotonic()
    peak = [0]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or _env())
    done = threading.Event()

    def sample():
        while not done.wait(0.25):
            peak[0] = max(peak[0], _tree_pss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = proc.communicate(timeout=timeout)[0]
    finally:
        done.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc=%d):\n%s" % (" ".join(map(str, argv)), proc.returncode, out[-3000:]))
    return elapsed, out, peak[0] / 1024.0


def _playbook(playbook, mclt, *extra, inventory=INVENTORY, env=None, memory=False):
    argv = ["ansible-playbook", "-i", str(inventory), "-i", str(REPO / "lab" / "inventory")]
    argv += ["-e", "dhcpd_mclt=%d" % mclt, *extra, str(playbook)]
    elapsed, out, peak = _timed(argv, 1800, env=env)
    recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3))} for m in _RECAP_RE.finditer(out)}
    if memory:
        return elapsed, recap, peak
    return elapsed, recap


def _secondary():
    """The lab's second DHCP server, the one taken out of service."""
    data = yaml.safe_load(INVENTORY.read_text())
    hosts = data["all"]["children"]["dhcp_servers"]["children"]["dhcp_pair_lab"]["hosts"]
    return sorted(hosts)[1]


def _round_trip(kind, node, mclt):
    """Seconds from taking the node out of service until both peers are NORMAL again."""
    if kind.startswith("plain"):
        return _playbook(PLAIN, mclt, "-e", "bench_node=" + node, "-e", "bench_timeout=%d" % (mclt + 120))[0]
    out = _playbook("netboot.dhcp_failover.maintenance", mclt, "-e", "dhcp_ops_node=" + node)[0]
    back = _playbook(
        "netboot.dhcp_failover.maintenance",
        mclt,
        "-e",
        "dhcp_ops_node=" + node,
        "-e",
        "dhcp_ops_action=end",
        "-e",
        "dhcp_ops_timeout=%d" % (mclt + 120),
    )[0]
    return out + back


def load_average():
    """The 1-minute load average when a run starts: other work on the machine slows every task."""
    with open("/proc/loadavg", encoding="ascii") as handle:
        return float(handle.read().split()[0])


def run(runs, mclt=60):
    if INVENTORY.exists():
        # A running lab may be someone else's: "fresh hosts" would mean tearing it down.
        return {"skipped": "a lab is already up (%s); run lab/lab down first" % INVENTORY}
    first, second, ups, recaps = [], [], [], []
    ssh_first, ssh_second, ssh_recaps = [], [], []
    loads = []
    trips = {kind: [] for kind in ROUND_TRIPS}
    for index in range(runs):
        log("converge: run %d/%d: lab up" % (index + 1, runs))
        loads.append(load_average())
        try:
            # SSH first, on hosts of its own: each connection type converges fresh hosts.
            _timed([str(LAB), "up", "--ssh"], 900)
            elapsed, recap_ssh_first = _playbook("netboot.dhcp_failover.site", mclt, inventory=INVENTORY_SSH)
            ssh_first.append(elapsed)
            elapsed, recap_ssh_second = _playbook("netboot.dhcp_failover.site", mclt, inventory=INVENTORY_SSH)
            ssh_second.append(elapsed)
            ssh_recaps.append({"first": recap_ssh_first, "second": recap_ssh_second})
            log("  over SSH: first site.yml %.1f s, second %.1f s" % (ssh_first[-1], ssh_second[-1]))
            subprocess.run([str(LAB), "down"], capture_output=True, env=_env(), timeout=300, check=False)
            up = _timed([str(LAB), "up"], 900)[0]
            ups.append(up)
            elapsed, recap_first = _playbook("netboot.dhcp_failover.site", mclt)
            # The pair reached NORMAL during this run: its last state change is no later than now.
            changed_at = time.monotonic()
            first.append(elapsed)
            log("  first site.yml %.1f s" % elapsed)
            elapsed, recap_second = _playbook("netboot.dhcp_failover.site", mclt)
            second.append(elapsed)
            log("  second site.yml %.1f s" % elapsed)
            recaps.append({"first": recap_first, "second": recap_second})
            node = _secondary()
            for kind in ROUND_TRIPS:
                if kind.endswith("-old"):
                    # Let the node's last state change age past MCLT.
                    time.sleep(max(0.0, changed_at + mclt + 5 - time.monotonic()))
                trips[kind].append(_round_trip(kind, node, mclt))
                changed_at = time.monotonic()
                log("  %s round trip %.1f s" % (kind, trips[kind][-1]))
        finally:
            subprocess.run([str(LAB), "down"], capture_output=True, env=_env(), timeout=300, check=False)
    return {
        "mclt": mclt,
        "lab_up_s": summary(ups),
        "first_run_s": summary(first),
        "second_run_s": summary(second),
        "recaps": recaps,
        "ssh": {"first_run_s": summary(ssh_first), "second_run_s": summary(ssh_second), "recaps": ssh_recaps},
        "load_average": loads,
        "round_trip_s": {kind: summary(values) for kind, values in trips.items()},
    }
