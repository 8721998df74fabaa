"""site.yml on 1, 2, 4 and 8 lab pairs (up to 16 podman hosts) in one run each: fresh and idempotent.

Per size: lab/lab up --pairs N (fresh hosts), site.yml (first run), site.yml again (second run,
changed=0 expected), lab/lab down. Figures: seconds, and the controller's peak memory (PSS of
ansible-playbook and its forks, sampled every 0.25 s). Forks are set to the number of hosts
(ANSIBLE_FORKS=2N, at least Ansible's default 5): with fewer, each task runs on the hosts in
batches of `forks` and the run grows with the number of pairs. The linear strategy stays: the
role's checks read the peer's results of the task before (hostvars), which a free strategy
does not guarantee.
"""

import subprocess

from common import log, summary
from converge import INVENTORY, LAB, _env, _playbook, _timed, load_average

SIZES = (1, 2, 4, 8)


def forks(pairs):
    return max(5, 2 * pairs)


def run(runs, mclt=60, sizes=SIZES):
    if INVENTORY.exists():
        return {"skipped": "a lab is already up (%s); run lab/lab down first" % INVENTORY}
    results = {}
    for pairs in sizes:
        env = dict(_env(), ANSIBLE_FORKS=str(forks(pairs)))
        first, second, first_mib, second_mib, recaps, loads = [], [], [], [], [], []
        for index in range(runs):
            log("scale: %d pairs, run %d/%d: lab up" % (pairs, index + 1, runs))
            try:
                _timed([str(LAB), "up", "--pairs", str(pairs)], 1800)
                loads.append(load_average())
                elapsed, recap_first, peak = _playbook("netboot.dhcp_failover.site", mclt, env=env, memory=True)
                first.append(elapsed)
                first_mib.append(peak)
                elapsed, recap_second, peak = _playbook("netboot.dhcp_failover.site", mclt, env=env, memory=True)
                second.append(elapsed)
                second_mib.append(peak)
                recaps.append({"first": recap_first, "second": recap_second})
                log("  first %.1f s (%.0f MiB), second %.1f s (%.0f MiB), changed on the second: %d" % (
                    first[-1], first_mib[-1], second[-1], second_mib[-1],
                    sum(r["changed"] for r in recap_second.values())))
            finally:
                subprocess.run([str(LAB), "down"], capture_output=True, env=_env(), timeout=600, check=False)
        results[str(pairs)] = {
            "hosts": 2 * pairs,
            "forks": forks(pairs),
            "first_run_s": summary(first),
            "second_run_s": summary(second),
            "first_run_peak_mib": summary(first_mib),
            "second_run_peak_mib": summary(second_mib),
            "second_run_changed": [sum(r["changed"] for r in rec["second"].values()) for rec in recaps],
            "load_average": loads,
        }
    return {"mclt": mclt, "sizes": results}
