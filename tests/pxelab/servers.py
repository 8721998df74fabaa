"""TFTP (tftpd-hpa's in.tftpd) and HTTP servers inside a dhcplab server namespace.

The role deploys tftpd-hpa and nginx; here the same tree is served by in.tftpd and Python's
http.server, started in the namespace of the dhcpd that names them, and ended by PID.
"""

import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path

_HTTP_LINE = re.compile(r'^(\S+) - - \[[^\]]*\] "GET (\S+) HTTP/[0-9.]+" (\d+)', re.MULTILINE)


class BootServers:
    """in.tftpd (artifacts.tftpd()) and an HTTP server on address:69 and :80 in netns, serving root."""

    def __init__(self, netns, address, root, workdir, tftpd):
        self.netns = netns
        self.address = address
        self.root = Path(root)
        self.http_log = Path(workdir) / ("http-%s.log" % address)
        self.procs = []
        try:
            # -u root: the tree lives under pytest's private (0700) temporary directory.
            self._start(
                tftpd.argv("--listen", "--foreground", "--user", "root", "--address", address + ":69",
                           "--secure", str(self.root)),
                subprocess.DEVNULL,
            )  # fmt: skip
            with open(self.http_log, "wb") as log:
                self._start(
                    # -u: "Serving HTTP" (stdout) must reach the log before the first request.
                    [sys.executable, "-u", "-m", "http.server", "--bind", address, "--directory", str(self.root), "80"],
                    log,
                )
            self._wait_http()
        except BaseException:
            self.close()
            raise

    def _start(self, argv, output):
        self.procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
        )

    def _wait_http(self, timeout=10):
        deadline = time.monotonic() + timeout
        while "Serving HTTP" not in self.http_log.read_text():
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError("boot server %s exited (rc=%s)" % (proc.args, proc.returncode))
            if time.monotonic() > deadline:
                raise RuntimeError("HTTP server on %s not up after %d s" % (self.address, timeout))
            time.sleep(0.05)

    def http_requests(self):
        """[(client address, path, status)] from the HTTP server's log."""
        return [(m.group(1), m.group(2), int(m.group(3))) for m in _HTTP_LINE.finditer(self.http_log.read_text())]

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
