"""Converge time: site.yml on fresh lab hosts (lab/lab up), then the idempotent second run."""

import os
import re
import subprocess
import time

from common import REPO, log, summary

LAB = REPO / "lab" / "lab"
INVENTORY = REPO / "lab" / ".state" / "inventory.yml"
_RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def _env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "lab" / "containers.conf"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    return env


def _timed(argv, timeout):
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=timeout, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc=%d):\n%s" % (" ".join(map(str, argv)), proc.returncode, proc.stdout[-3000:]))
    return elapsed, proc.stdout


def _playbook():
    argv = [
        "ansible-playbook",
        "-i",
        str(INVENTORY),
        "-i",
        str(REPO / "lab" / "inventory"),
        "netboot.dhcp_failover.site",
    ]
    elapsed, out = _timed(argv, 1800)
    recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3))} for m in _RECAP_RE.finditer(out)}
    return elapsed, recap


def run(runs):
    if INVENTORY.exists():
        # A running lab may be someone else's: "fresh hosts" would mean tearing it down.
        return {"skipped": "a lab is already up (%s); run lab/lab down first" % INVENTORY}
    first, second, ups, recaps = [], [], [], []
    for index in range(runs):
        log("converge: run %d/%d: lab up" % (index + 1, runs))
        try:
            up = _timed([str(LAB), "up"], 900)[0]
            ups.append(up)
            elapsed, recap_first = _playbook()
            first.append(elapsed)
            log("  first site.yml %.1f s" % elapsed)
            elapsed, recap_second = _playbook()
            second.append(elapsed)
            log("  second site.yml %.1f s" % elapsed)
            recaps.append({"first": recap_first, "second": recap_second})
        finally:
            subprocess.run([str(LAB), "down"], capture_output=True, env=_env(), timeout=300, check=False)
    return {
        "lab_up_s": summary(ups),
        "first_run_s": summary(first),
        "second_run_s": summary(second),
        "recaps": recaps,
    }
