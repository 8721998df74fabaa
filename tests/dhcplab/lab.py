"""Bridge, namespaces and dhcpd processes of one lab (see the package docstring)."""

import atexit
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import collection_path  # tests/ is on sys.path wherever dhcplab is importable

from . import configs

# The lease files are read with the collection's own parser: one parser for tests and modules.
collection_path.ensure()
from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases  # noqa: E402

DHCPD = "/usr/sbin/dhcpd"
PREFIX = "nbt"
# All labs share the fixed 198.18.100.0/24: two at once would put two
# routes for it in the root namespace and the controller would talk to
# the wrong servers.  This machine-wide lock serialises labs instead.
LOCK_PATH = "/run/lock/dhcplab-198.18.100.0.lock"
LOCK_TIMEOUT = float(os.environ.get("DHCPLAB_LOCK_TIMEOUT", "900"))
SERVER_ADDRESSES = {"s1": configs.PRIMARY_ADDRESS, "s2": configs.SECONDARY_ADDRESS}
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,3}$")
# Every object this library creates is named nbt<owner pid>..., which is how
# a later session recognises the leftovers of a crashed one.
_OWNED_RE = re.compile(r"^%s(\d+)(br|-[a-z0-9]+)$" % PREFIX)
_MOVE_RE = re.compile(r"failover peer (\S+): I move from (\S+) to (\S+)")
_READY_LINE = "Server starting service."
# dhcpd echoes a config line it cannot parse: that line may hold an OMAPI key.
_SECRET_RE = re.compile(r"(secret\s+)\S+", re.IGNORECASE)
_BALANCING_RE = re.compile(r"^balancing pool (\S+) ", re.MULTILINE)
_BALANCED_RE = re.compile(r"^balanced pool (\S+) \S+\s+total \d+\s+free \d+\s+backup (\d+)", re.MULTILINE)
_PR_SET_PDEATHSIG = 1

_active = {"lab": None}
_active_guard = threading.Lock()


@atexit.register
def _close_forgotten_lab():
    # Scripts that exit without close() must not leave dhcpd and links behind.
    lab = _active["lab"]
    if lab is not None:
        lab.close()


class LabError(RuntimeError):
    """The lab could not be built, a server misbehaved or a wait timed out."""


def run(*argv, check=True, netns=None):
    """Run a command (optionally inside a namespace); raise LabError with its output on failure."""
    if netns is not None:
        argv = ("ip", "netns", "exec", netns, *argv)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise LabError("command failed (rc=%d): %s\n%s%s" % (proc.returncode, " ".join(argv), proc.stdout, proc.stderr))
    return proc


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent():
    # Runs in the child between fork and exec: if the test process is killed
    # outright, the kernel kills dhcpd too instead of leaving it serving.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(netns, argv, log_path, env=None):
    """Start argv inside netns, its output appended to log_path; it dies with this process."""
    # Do not tie the process to a worker thread: PDEATHSIG fires when the
    # creating thread exits, not the process.
    preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ("ip", "netns", "exec", netns, *argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=preexec,  # noqa: PLW1509 - only set from the main thread, see above
        )


def read_log(path):
    """The text of a log file ('' before anything wrote it)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def wait_ready(proc, what, log_path, ready, *, start, log_tail, timeout):
    """Wait until the text ready is in log_path after offset start; LabError with log_tail() if
    proc exits first or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError("%s exited with rc=%d during startup; log tail:\n%s" % (what, proc.returncode, log_tail()))
        if ready in read_log(log_path)[start:]:
            return
        time.sleep(0.01)
    raise LabError("%s not ready after %.1fs; log tail:\n%s" % (what, timeout, log_tail()))


def _netns_list():
    out = run("ip", "-j", "netns", "list").stdout.strip()
    return [entry["name"] for entry in json.loads(out)] if out else []


def _link_list():
    out = run("ip", "-j", "link", "show").stdout.strip()
    return [entry["ifname"] for entry in json.loads(out)] if out else []


def _kill_netns_processes(netns):
    pids = run("ip", "netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = run("ip", "netns", "pids", netns, check=False).stdout.split()
        if pids:
            time.sleep(0.02)


def owned_objects(owner=None):
    """(netns names, link names) created by this library, optionally only those of one owner PID."""

    def keep(name):
        match = _OWNED_RE.match(name)
        return bool(match) and (owner is None or int(match.group(1)) == owner)

    return [n for n in _netns_list() if keep(n)], [n for n in _link_list() if keep(n)]


def cleanup_stale():
    """Remove leftovers of earlier sessions whose owning process is dead; return what was removed.

    Leftovers of this very process count as stale too (a teardown that
    failed): only one lab per process exists, and it is not built yet.
    """
    namespaces, links = owned_objects()
    owners = sorted({int(_OWNED_RE.match(name).group(1)) for name in namespaces + links})
    removed = []
    for owner in owners:
        if owner != os.getpid() and _pid_alive(owner):
            continue
        stale_namespaces, stale_links = owned_objects(owner)
        # A namespace and its root-side veth share a name; the kernel removes the veth only
        # some time after the namespace, so both are deleted explicitly.
        _delete_owned(owner)
        removed += stale_namespaces + stale_links
    return removed


def _conflicts():
    """Root-namespace addresses or routes in the lab subnet that are not ours."""
    found = []
    addrs = json.loads(run("ip", "-j", "-4", "addr", "show").stdout or "[]")
    for link in addrs:
        for info in link.get("addr_info", []):
            if info.get("local", "").startswith("198.18.100."):
                found.append("address %s on %s" % (info["local"], link["ifname"]))
    routes = json.loads(run("ip", "-j", "-4", "route", "show", "match", "198.18.100.1").stdout or "[]")
    for route in routes:
        if route.get("dst") != "default":
            found.append("route %s dev %s" % (route.get("dst"), route.get("dev")))
    return found


class Server:
    """One dhcpd process in its own namespace, logging to a file."""

    def __init__(self, lab, name, address, conf_text):
        self.lab = lab
        self.name = name
        self.address = address
        self.netns = "%s-%s" % (lab.tag, name)
        self.veth = self.netns  # host side; links and namespaces have separate name spaces
        self.iface = "eth0"
        self.conf_text = conf_text
        self.omapi_port = 7911
        match = re.search(r"^\s*omapi-port\s+(\d+)\s*;", conf_text, re.MULTILINE)
        if match:
            self.omapi_port = int(match.group(1))
        self.dir = os.path.join(lab.workdir, name)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)  # config and log may hold the OMAPI secret
        self.conf_file = os.path.join(self.dir, "dhcpd.conf")
        self.lease_file = os.path.join(self.dir, "dhcpd.leases")
        self.pid_file = os.path.join(self.dir, "dhcpd.pid")
        self.log_file = os.path.join(self.dir, "dhcpd.log")
        self.proc = None
        self._log_start = 0
        # The config may hold an OMAPI secret: owner-only from the first byte.
        fd = os.open(self.conf_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(conf_text)
        open(self.lease_file, "a").close()
        self.mac = None

    def __repr__(self):
        return "<Server %s %s pid=%s>" % (self.name, self.address, self.pid)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def processes(self):
        return [self.proc] if self.proc is not None else []

    def log(self):
        """The whole dhcpd log (all runs of this server)."""
        return read_log(self.log_file)

    def current_log(self):
        """The log of the current (or last) run only."""
        return self.log()[self._log_start :]

    def log_tail(self, lines=40):
        """The last lines of the log for error messages, with any key secret masked."""
        tail = self.log().splitlines()[-lines:]
        return "\n".join(_SECRET_RE.sub(r"\1<hidden>", line) for line in tail)

    def leases(self):
        with open(self.lease_file, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def lease_states(self):
        """{address: binding state} from the lease file, read by the collection's parser (the last
        entry of an address wins, as in dhcpd; a half-written last entry is left out)."""
        bindings = leases.latest(leases.parse(self.leases())["entries"])
        return {address: record["binding_state"] for address, record in bindings.items()}

    def count_leases(self, binding_state):
        return sum(1 for state in self.lease_states().values() if state == binding_state)

    def start(self, timeout=10.0):
        """Start (or restart) dhcpd with the same config and lease file; wait until it serves."""
        if self.running():
            raise LabError("server %s is already running (pid %d)" % (self.name, self.pid))
        with open(self.log_file, "a", encoding="utf-8") as log:
            log.write("=== dhcplab: start of %s at %.3f ===\n" % (self.name, time.time()))
            self._log_start = log.tell()
        self.proc = spawn(
            self.netns,
            (DHCPD, "-4", "-f", "-d", "-cf", self.conf_file, "-lf", self.lease_file, "-pf", self.pid_file, self.iface),
            self.log_file,
        )
        wait_ready(
            self.proc,
            "dhcpd %s" % self.name,
            self.log_file,
            _READY_LINE,
            start=self._log_start,
            log_tail=self.log_tail,
            timeout=timeout,
        )
        return self

    def kill(self, sig=signal.SIGKILL, timeout=5.0):
        """Send sig (default SIGKILL) and wait for the process to exit."""
        if not self.running():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise LabError(
                "dhcpd %s (pid %d) ignored signal %s for %.1fs" % (self.name, self.pid, sig, timeout)
            ) from None

    def stop(self, timeout=5.0):
        """SIGTERM (Debian's dhcpd has no gentler shutdown), then SIGKILL if it lingers."""
        if not self.running():
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self, timeout=10.0):
        self.stop()
        return self.start(timeout)

    def state(self, peer=None):
        """This server's failover state from the current run's log (None before any move)."""
        state = None
        for match in _MOVE_RE.finditer(self.current_log()):
            if peer is None or match.group(1) == peer:
                state = match.group(3)
        return state

    def wait_for_state(self, state_name, timeout=30.0, peer=None):
        """Wait until the log of the current run shows `I move from ... to state_name` as the latest move."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.state(peer)
            if current == state_name:
                return current
            if not self.running():
                raise LabError(
                    "dhcpd %s exited (rc=%s) while waiting for state %r (last: %r); log tail:\n%s"
                    % (self.name, self.proc.returncode if self.proc else None, state_name, current, self.log_tail())
                )
            if time.monotonic() > deadline:
                raise LabError(
                    "dhcpd %s: failover state %r not reached in %.1fs (last: %r); log tail:\n%s"
                    % (self.name, state_name, timeout, current, self.log_tail())
                )
            time.sleep(0.02)

    def wait_for_log(self, pattern, timeout=30.0, since=None):
        """Wait until the regex pattern appears in the log after offset since (default: current run)."""
        start = self._log_start if since is None else since
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log(), start)
            if match:
                return match
            if time.monotonic() > deadline:
                raise LabError(
                    "dhcpd %s: %r not in log after %.1fs; log tail:\n%s"
                    % (self.name, pattern, timeout, self.log_tail())
                )
            time.sleep(0.02)

    def log_mark(self):
        """An offset for wait_for_log(since=...): only later log lines count."""
        return len(self.log())

    def link_down(self):
        """Cut the server off the bridge; dhcpd and its peer only notice via timeouts."""
        run("ip", "link", "set", self.veth, "down")

    def link_up(self):
        run("ip", "link", "set", self.veth, "up")


class Pair:
    def __init__(self, primary, secondary):
        self.primary = primary
        self.secondary = secondary

    @property
    def servers(self):
        return (self.primary, self.secondary)

    def wait_normal(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        for server in self.servers:
            server.wait_for_state("normal", max(0.0, deadline - time.monotonic()))
        return self

    def wait_balanced(self, timeout=10.0):
        """Wait until the secondary holds the BACKUP leases the primary's pool balancing gave it.

        A fresh primary owns every address; on reaching NORMAL it logs
        `balanced pool ... backup N` per pool and sends the leases to the
        secondary.  Until they land the secondary has nothing to offer and
        the primary answers its clients as well.  Meant for pairs started on
        empty lease files (the primary logs one balancing run per pool).
        """
        deadline = time.monotonic() + timeout
        while True:
            log = self.primary.current_log()
            started = set(_BALANCING_RE.findall(log))
            balanced = dict(_BALANCED_RE.findall(log))  # the last run of each pool wins
            wanted = sum(int(count) for count in balanced.values())
            have = self.secondary.count_leases("backup")
            if started and started <= set(balanced) and have >= wanted:
                return have
            if time.monotonic() > deadline:
                raise LabError(
                    "pool balancing not done after %.1fs: pools started %s, balanced %s, secondary has %d of %d "
                    "backup leases; primary log tail:\n%s"
                    % (timeout, sorted(started), balanced, have, wanted, self.primary.log_tail())
                )
            time.sleep(0.02)


class Lab:
    """One bridge in the root namespace plus one namespace per server.

    Use as a context manager or call close(); close() is idempotent.
    """

    def __init__(self, workdir=None, lock_timeout=LOCK_TIMEOUT):
        with _active_guard:
            if _active["lab"] is not None:
                raise LabError("a lab is already open in this process (%s): close it first" % _active["lab"].tag)
            _active["lab"] = self
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.bridge = self.tag + "br"
        self.address = configs.CONTROLLER_ADDRESS
        self.servers = {}
        self.clients = []
        self.closed = False
        self._own_workdir = workdir is None
        self.workdir = str(workdir) if workdir is not None else tempfile.mkdtemp(prefix="dhcplab-")
        self._lock = None
        try:
            self._acquire_lock(lock_timeout)
            self.removed_stale = cleanup_stale()
            conflicts = _conflicts()
            if conflicts:
                raise LabError(
                    "198.18.100.0/24 is already in use in the root namespace (%s); "
                    "remove it or end its owner before running lab tests" % ", ".join(conflicts)
                )
            run("ip", "link", "add", self.bridge, "type", "bridge", "forward_delay", "0")
            # No IPv6 on the bridge: router solicitations and DAD only add noise to captures.
            run("sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % self.bridge, check=False)
            run("ip", "addr", "add", self.address + "/24", "dev", self.bridge)
            # Offers go to the client's (made-up) MAC: only a promiscuous
            # bridge passes such frames up to the raw socket of the client.
            run("ip", "link", "set", self.bridge, "promisc", "on", "up")
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<Lab %s %s>" % (self.tag, "closed" if self.closed else "open")

    def _acquire_lock(self, timeout):
        os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
        started = time.monotonic()
        deadline = started + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if not told and time.monotonic() > started + 5:
                told = True
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                sys.stderr.write("dhcplab: waiting for the lab lock held by pid %s\n" % (holder or "?"))
            if time.monotonic() > deadline:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                os.close(fd)
                raise LabError("lab lock %s still held by pid %s after %.0fs" % (LOCK_PATH, holder or "?", timeout))
            time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock = fd

    def _add_netns(self, name, address):
        netns = "%s-%s" % (self.tag, name)
        run("ip", "netns", "add", netns)
        run("ip", "link", "add", netns, "type", "veth", "peer", "name", "eth0", "netns", netns)
        run("ip", "link", "set", netns, "master", self.bridge, "up")
        run("ip", "link", "set", "lo", "up", netns=netns)
        run("ip", "addr", "add", address + "/24", "dev", "eth0", netns=netns)
        run("ip", "link", "set", "eth0", "up", netns=netns)
        info = json.loads(run("ip", "-j", "link", "show", "eth0", netns=netns).stdout)
        return info[0]["address"]

    def add_server(self, name, conf_text, address=None):
        """Create the namespace and config of a server without starting dhcpd."""
        if self.closed:
            raise LabError("lab %s is closed" % self.tag)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise LabError(
                "server name %r is invalid: expected 1-4 lowercase letters/digits starting with a letter" % (name,)
            )
        if name in self.servers:
            raise LabError("server %r already exists in lab %s" % (name, self.tag))
        if address is None:
            address = SERVER_ADDRESSES.get(name)
        if address is None:
            used = {s.address for s in self.servers.values()} | set(SERVER_ADDRESSES.values())
            address = next("198.18.100.%d" % i for i in range(3, 100) if "198.18.100.%d" % i not in used)
        server = Server(self, name, address, conf_text)
        self.servers[name] = server
        server.mac = self._add_netns(name, address)
        return server

    def start_server(self, name, conf_text, address=None, timeout=10.0):
        """Create and start one server (s1 -> 198.18.100.1, s2 -> .2, others from .3)."""
        return self.add_server(name, conf_text, address).start(timeout)

    def add_kea_server(self, name, model, settings=None, *, take_over=False, pxe=None):
        """A Kea server (kea-dhcp4 + kea-ctrl-agent, see dhcplab.kea) in the slot of ``name``.

        pxe: the pxe role's settings for this node (kea_pxe_settings), rendered as client classes.

        take_over=True: the slot is a stopped dhcpd server of this lab (a migration); Kea gets its
        namespace and address, and the lab keeps the Kea server instead.
        """
        from .kea import KeaServer  # noqa: PLC0415 - only Kea tests need it

        if self.closed:
            raise LabError("lab %s is closed" % self.tag)
        old = self.servers.get(name)
        if take_over:
            if old is None or old.running() or old.address != model["nodes"].get(name, {}).get("address"):
                raise LabError("kea server %r: take_over needs a stopped server of lab %s at the model's address"
                               % (name, self.tag))
        elif name not in model["nodes"] or old is not None:
            raise LabError("kea server %r: expected a member of the model not yet in lab %s" % (name, self.tag))
        server = KeaServer(self, name, model["nodes"][name]["address"], model, settings, pxe=pxe)
        self.servers[name] = server
        server.mac = old.mac if take_over else self._add_netns(name, server.address)
        return server

    def start_kea_pair(self, model, settings=None, timeout=15.0, pxe=None):
        """Start the model's primary and secondary as Kea HA servers; does not wait for a HA state.

        pxe: {node name: the pxe role's settings for it} (see add_kea_server)."""
        from .kea import KeaPair  # noqa: PLC0415

        pxe = pxe or {}
        primary = self.add_kea_server(model["primary"], model, settings, pxe=pxe.get(model["primary"]))
        secondary = self.add_kea_server(model["secondary"], model, settings, pxe=pxe.get(model["secondary"]))
        primary.start(timeout)
        secondary.start(timeout)
        return KeaPair(primary, secondary)

    def start_pair(self, primary_conf, secondary_conf, timeout=10.0):
        """Start s1 (primary) and s2 (secondary); does not wait for NORMAL (see Pair.wait_normal)."""
        primary = self.add_server("s1", primary_conf)
        secondary = self.add_server("s2", secondary_conf)
        primary.start(timeout)
        secondary.start(timeout)
        return Pair(primary, secondary)

    def client(self, **kwargs):
        """A DhcpClient on the bridge, closed with the lab."""
        from .client import DhcpClient  # noqa: PLC0415 - scapy import is slow; only when needed

        dhcp = DhcpClient(iface=self.bridge, **kwargs)
        self.clients.append(dhcp)
        return dhcp

    def close(self):
        """Kill every process, delete namespaces, links and the bridge; release the lock."""
        if self.closed:
            return
        self.closed = True
        errors = []
        try:
            errors += self._close_clients()
            errors += self._kill_servers()
            errors += _delete_owned(os.getpid())
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            with _active_guard:
                if _active["lab"] is self:
                    _active["lab"] = None
        if errors:
            raise LabError("lab %s teardown problems: %s" % (self.tag, "; ".join(errors)))

    def _close_clients(self):
        errors = []
        for dhcp in self.clients:
            try:
                dhcp.close()
            except Exception as exc:  # noqa: BLE001 - teardown must go on
                errors.append("client: %s" % exc)
        return errors

    def _kill_servers(self):
        errors = []
        for server in self.servers.values():
            for proc in server.processes():
                if proc.poll() is None:
                    proc.kill()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        errors.append("%s of %s (pid %d) survived SIGKILL" % (proc.args[4], server.name, proc.pid))
        return errors


def _delete_owned(owner):
    """Delete the namespaces (after killing what runs in them) and links of owner; return problems."""
    namespaces, links = owned_objects(owner)
    for netns in namespaces:
        _kill_netns_processes(netns)
        run("ip", "netns", "delete", netns, check=False)
    for link in links:
        run("ip", "link", "delete", link, check=False)
    namespaces, links = owned_objects(owner)
    return ["left behind: %s" % ", ".join(namespaces + links)] if namespaces or links else []
