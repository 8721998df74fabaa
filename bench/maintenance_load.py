"""maintenance.yml start + end on the netns lab pair, with clients busy versus idle.

Each run: a fresh pair (tests/dhcplab, mclt 600 as in the role's defaults, so a stop that is not
proven clean would cost up to ten minutes of recover-wait), the playbooks run against it the way
tests/system/test_ops_playbooks.py runs them (connection local, the lab's dhcpd stopped and
started through dhcplab.service), then maintenance start and end of the secondary, timed each.
"busy": 60 clients (dhcplab.busy: new clients, broadcast renewals, releases) at 20 exchanges/s in
total from 3 s before the start until after the end; "idle": no client at all. Recorded per run:
start and end seconds, whether the proof found the stop clean, the bindings it checked and
whether end skipped recover-wait.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, log, summary

sys.path.insert(0, str(REPO / "tests" / "system"))

from dhcplab import Lab, configs  # noqa: E402
from dhcplab.busy import BusyClients  # noqa: E402
from dhcplab.service import LabServices  # noqa: E402
from test_ops_playbooks import PEER, Ops, maintenance, new_secret, read, start  # noqa: E402

MCLT = 600


def _one(kind, collections):
    with tempfile.TemporaryDirectory(prefix="bench-maint-") as tmp, Lab(workdir=tmp) as lab:
        secret = new_secret()
        pair = start(lab, secret, mclt=MCLT)
        services = LabServices(lab, tmp)
        busy = None
        try:
            ops = Ops(Path(tmp), collections, pair, secret, (configs.POOL_START, configs.POOL_END), services=services)
            record = Path(tmp) / "maintenance.json"
            if kind == "busy":
                busy = BusyClients(lab.client(), count=60, rate=20, max_seconds=600).start()
                time.sleep(3)
            parsed, _plan = maintenance(ops, "s2", "start", record)
            start_s = ops.last_seconds
            proof = json.loads(record.read_text())
            parsed, plan = maintenance(ops, "s2", "end", record)
            end_s = ops.last_seconds
            skipped = bool(ops.task_results(parsed, "End the recover-wait of a cleanly stopped node (recover-done)")
                           ["s2"].get("changed"))
            states = [read(server, secret)["local_state"] for server in pair.servers]
            counts = busy.snapshot() if busy else {}
        finally:
            if busy:
                busy.stop()
            services.close()
    return {"start_s": start_s, "end_s": end_s, "total_s": start_s + end_s, "clean": proof["clean"],
            "bindings": proof["bindings"], "unknown": proof["unknown_count"], "recover_done": skipped,
            "end_clean": plan["clean"], "final_states": states, "clients": counts, "peer": PEER}


def run(runs, collections=None):
    collections = collections or os.environ.get("ANSIBLE_COLLECTIONS_PATH") or str(REPO / "build")
    samples = {"idle": [], "busy": []}
    for index in range(runs):
        for kind in ("idle", "busy"):
            sample = _one(kind, collections)
            samples[kind].append(sample)
            log("maintenance %s run %d/%d: start %.1f s + end %.1f s = %.1f s, clean %s (%d bindings), "
                "recover-done %s" % (kind, index + 1, runs, sample["start_s"], sample["end_s"], sample["total_s"],
                                     sample["clean"], sample["bindings"], sample["recover_done"]))
    return {
        "mclt": MCLT,
        "samples": samples,
        "total_s": {kind: summary([s["total_s"] for s in values]) for kind, values in samples.items()},
        "start_s": {kind: summary([s["start_s"] for s in values]) for kind, values in samples.items()},
        "end_s": {kind: summary([s["end_s"] for s in values]) for kind, values in samples.items()},
    }
