"""Kea DHCPv4 HA servers in the lab: the same bridge and namespaces as dhcpd (dhcplab.lab).

A KeaServer runs kea-dhcp4 and kea-ctrl-agent in its namespace, with the configuration the
collection renders (plugins/plugin_utils/kea.py) from the lab's pair model; only the paths
(control socket, lease file) are the server's own directory and logs go to stdout (its log
file). The HA peers talk HTTP through each other's control agent; the controller asks the
agent too (``command``, ``ha_state``).
"""

import json
import os
import signal
import subprocess
import time
import urllib.request

import collection_path

from . import configs
from .lab import LabError, read_log, spawn, wait_ready

collection_path.ensure()
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea, pair  # noqa: E402

KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
KEA_CTRL_AGENT = "/usr/sbin/kea-ctrl-agent"
AGENT_PORT = 8000
_DHCP4_READY = "DHCP4_STARTED"
_AGENT_READY = "CTRL_AGENT_HTTP_SERVICE_STARTED"
# Unix socket paths are limited to 107 bytes (sun_path).
_MAX_SOCKET_PATH = 100
# Short HA timers: the lab pair reaches its state in seconds, not the defaults' tens of seconds.
LAB_SETTINGS = {
    "kea_ctrl_agent_port": AGENT_PORT,
    "kea_heartbeat_delay": 1000,
    "kea_max_response_delay": 5000,
    "kea_max_ack_delay": 2000,
    "kea_max_unacked_clients": 0,
    "kea_interfaces": ["eth0"],
    "kea_log_output": "stdout",
}


def pair_model(**kwargs):
    """The lab's pair model (configs.pair_settings keywords), as the dhcpd lab pairs use it."""
    model, errors = pair.pair_model(configs.GROUP, configs.pair_settings(**kwargs), configs.NODES)
    if errors:
        raise ValueError("the lab pair is invalid: %s" % "; ".join(errors))
    return model


class KeaServer:
    """kea-dhcp4 + kea-ctrl-agent of one pair member, in the namespace of a lab server slot."""

    def __init__(self, lab, name, address, model, settings, *, pxe=None):
        self.lab = lab
        self.name = name
        self.address = address
        self.netns = "%s-%s" % (lab.tag, name)
        self.veth = self.netns
        self.dir = os.path.join(lab.workdir, name)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        socket = os.path.join(self.dir, "kea4.sock")
        if len(socket) > _MAX_SOCKET_PATH:
            raise LabError("control socket path %s is longer than %d bytes" % (socket, _MAX_SOCKET_PATH))
        self.lease_file = os.path.join(self.dir, "kea-leases4.csv")
        own = dict(LAB_SETTINGS, kea_control_socket=socket, kea_lease_file=self.lease_file)
        own.update(settings or {})
        rendered, errors = kea.kea_config(model, name, own, pxe=pxe)
        if errors:
            raise LabError("kea_config refused the lab pair: %s" % "; ".join(errors))
        self.config = rendered
        self.conf_file = os.path.join(self.dir, "kea-dhcp4.conf")
        self.agent_file = os.path.join(self.dir, "kea-ctrl-agent.conf")
        with open(self.conf_file, "w") as handle:
            json.dump(rendered["dhcp4"], handle, indent=2)
        with open(self.agent_file, "w") as handle:
            json.dump(rendered["agent"], handle, indent=2)
        self.log_file = os.path.join(self.dir, "kea-dhcp4.log")
        self.agent_log = os.path.join(self.dir, "kea-ctrl-agent.log")
        self.proc = None
        self.agent = None
        self.mac = None

    def __repr__(self):
        return "<KeaServer %s %s pid=%s>" % (self.name, self.address, self.proc.pid if self.proc else None)

    def processes(self):
        return [proc for proc in (self.proc, self.agent) if proc is not None]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, argv, log_path):
        env = dict(os.environ, KEA_PIDFILE_DIR=self.dir, KEA_LOCKFILE_DIR="none")
        return spawn(self.netns, argv, log_path, env=env)

    def log_tail(self, lines=30):
        return "\n".join(read_log(self.log_file).splitlines()[-lines:] + ["--- agent ---"]
                         + read_log(self.agent_log).splitlines()[-10:])

    def start(self, timeout=15.0):
        if self.running():
            raise LabError("kea %s is already running" % self.name)
        marks = (len(read_log(self.log_file)), len(read_log(self.agent_log)))
        self.proc = self._spawn((KEA_DHCP4, "-c", self.conf_file), self.log_file)
        wait_ready(self.proc, "kea-dhcp4 of %s" % self.name, self.log_file, _DHCP4_READY,
                   start=marks[0], log_tail=self.log_tail, timeout=timeout)
        self.agent = self._spawn((KEA_CTRL_AGENT, "-c", self.agent_file), self.agent_log)
        wait_ready(self.agent, "kea-ctrl-agent of %s" % self.name, self.agent_log, _AGENT_READY,
                   start=marks[1], log_tail=self.log_tail, timeout=timeout)
        return self

    def kill(self, sig=signal.SIGKILL, timeout=5.0):
        for proc in self.processes():
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    raise LabError("kea %s (pid %d) ignored signal %s" % (self.name, proc.pid, sig)) from None

    def command(self, name, arguments=None, timeout=5.0):
        """A control command sent to this server's kea-dhcp4 through its control agent."""
        body = {"command": name, "service": ["dhcp4"]}
        if arguments is not None:
            body["arguments"] = arguments
        request = urllib.request.Request(  # noqa: S310 - http to a lab address
            "http://%s:%d/" % (self.address, AGENT_PORT), data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - lab address
            answer = json.loads(response.read().decode())
        return answer[0] if isinstance(answer, list) else answer

    def ha_state(self):
        """This server's HA state from status-get (e.g. 'load-balancing', 'hot-standby')."""
        answer = self.command("status-get")
        if answer.get("result") != 0:
            raise LabError("status-get on %s failed: %s" % (self.name, answer))
        return answer["arguments"]["high-availability"][0]["ha-servers"]["local"]["state"]

    def wait_for_ha_state(self, state, timeout=60.0):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = self.ha_state()
            except (OSError, ValueError, KeyError) as exc:
                last = "no answer (%s)" % exc
            if last == state:
                return last
            if not self.running():
                raise LabError("kea %s exited while waiting for HA state %r; log tail:\n%s"
                               % (self.name, state, self.log_tail()))
            if time.monotonic() > deadline:
                raise LabError("kea %s: HA state %r not reached in %.0fs (last: %s); log tail:\n%s"
                               % (self.name, state, timeout, last, self.log_tail()))
            time.sleep(0.2)


class KeaPair:
    def __init__(self, primary, secondary):
        self.primary = primary
        self.secondary = secondary

    @property
    def servers(self):
        return (self.primary, self.secondary)

    def wait_states(self, primary_state, secondary_state, timeout=60.0):
        deadline = time.monotonic() + timeout
        self.primary.wait_for_ha_state(primary_state, timeout)
        self.secondary.wait_for_ha_state(secondary_state, max(1.0, deadline - time.monotonic()))
        return self
