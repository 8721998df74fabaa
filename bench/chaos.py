"""The seeded fault campaign (tests/dhcplab/chaos.py), long form: `make chaos SEED=N DURATION=S`.

Prints the checker's report; exits 1 on a violation (the seed and the history excerpt are in the
report). The whole history goes to bench/results/chaos-SEED.json for a post-mortem.
"""

import json
import os
import sys
import tempfile
import time

from common import REPO

sys.path.insert(0, str(REPO / "tests" / "system"))

from dhcplab import chaos  # noqa: E402


def make_ops(collections):
    from dhcplab.service import LabServices  # noqa: PLC0415
    from test_ops_playbooks import Ops  # noqa: PLC0415 - the system tests' playbook runner

    def ops(lab, pair, secret, pool):
        from pathlib import Path  # noqa: PLC0415

        workdir = Path(lab.workdir) / "ops"
        workdir.mkdir(exist_ok=True)
        services = LabServices(lab, workdir)
        return Ops(workdir, collections, pair, secret, pool, services=services)

    return ops


def main():
    seed = int(os.environ.get("SEED", "1"))
    duration = float(os.environ.get("DURATION", "900"))
    clients = int(os.environ.get("CLIENTS", "120"))
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as workdir:
        record, result = chaos.run_campaign(
            workdir, seed, duration, clients=clients, ops=make_ops(collections) if collections else None,
            say=lambda line: print("[%6.1f s] %s" % (time.monotonic() - started, line), flush=True),
        )
    os.makedirs(REPO / "bench" / "results", exist_ok=True)
    out = REPO / "bench" / "results" / ("chaos-%d.json" % seed)
    out.write_text(json.dumps({"record": record, "result": {k: v for k, v in result.items() if k != "text"}},
                              default=str))
    print("\n".join(result["text"]))
    print("campaign seed %d: %s in %.0f s; history in %s" % (seed, "PASSED" if result["ok"] else "FAILED",
                                                             time.monotonic() - started, out))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
