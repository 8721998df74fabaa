"""Shared helpers of the benchmarks: statistics, role defaults, lab pairs, client buckets."""

import contextlib
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The lab libraries of the system tests are reused, not copied.
sys.path.insert(0, str(REPO / "tests"))

from dhcplab import Lab, configs  # noqa: E402 - needs the sys.path entry above

# The settings the collection was compared against (the article it started from).
SEED = {"max_response_delay": 30, "mclt": 1800}
_STARTED = time.monotonic()


def log(message):
    sys.stderr.write("[bench %7.1fs] %s\n" % (time.monotonic() - _STARTED, message))
    sys.stderr.flush()


def summary(values):
    """Median, min and max of a list of numbers (None entries are failed runs and are counted)."""
    good = [v for v in values if v is not None]
    if not good:
        return {"median": None, "min": None, "max": None, "runs": len(values), "failed": len(values)}
    return {
        "median": statistics.median(good),
        "min": min(good),
        "max": max(good),
        "runs": len(values),
        "failed": len(values) - len(good),
    }


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def role_defaults():
    """The failover settings of roles/dhcpd/defaults/main.yml, in configs.failover_pair() terms."""
    data = configs.role_defaults()
    return {
        "max_response_delay": int(data["dhcpd_max_response_delay"]),
        "mclt": int(data["dhcpd_mclt"]),
        "lb_max_secs": int(data["dhcpd_load_balance_max_seconds"]),
        "max_unacked_updates": int(data["dhcpd_max_unacked_updates"]),
    }


KEA_TIMERS = ("kea_heartbeat_delay", "kea_max_response_delay", "kea_max_ack_delay", "kea_max_unacked_clients")


def kea_role_timers():
    """The HA timers of roles/kea/defaults/main.yml (what a real deployment gets), kea role variables."""
    data = configs.role_defaults("kea")
    return {name: int(data[name]) for name in KEA_TIMERS}


def kea_role_ha_timeout():
    """The kea role's bound (s) on a restarted node reaching its HA state (kea_ha_timeout)."""
    return int(configs.role_defaults("kea")["kea_ha_timeout"])


def settings_sets():
    """{name: failover_pair() keywords}: the collection's defaults and the seed article's."""
    ours = role_defaults()
    seed = dict(ours, **SEED)
    return {"collection": ours, "seed": seed}


def pair_confs(settings, **kwargs):
    keys = ("max_response_delay", "mclt", "lb_max_secs", "max_unacked_updates")
    return configs.failover_pair(**{k: settings[k] for k in keys if k in settings}, **kwargs)


@contextlib.contextmanager
def pair_lab(settings, **kwargs):
    """A Lab with a NORMAL, balanced pair (configs.failover_pair(); extra_global may be per node)."""
    primary, secondary = pair_confs(settings, **kwargs)
    with Lab() as lab:
        pair = lab.start_pair(primary, secondary)
        pair.wait_normal(60)
        pair.wait_balanced(30)
        yield lab, pair


@contextlib.contextmanager
def single_lab(**kwargs):
    with Lab() as lab:
        server = lab.start_server("s1", configs.single_server(**kwargs))
        yield lab, server


def mac(prefix, index):
    """A locally administered MAC: prefix (one byte) then the index in four bytes."""
    return "02:%02x:%02x:%02x:%02x:%02x" % (
        prefix,
        (index >> 24) & 0xFF,
        (index >> 16) & 0xFF,
        (index >> 8) & 0xFF,
        index & 0xFF,
    )


def bucket_macs(client, server_address, count, prefix=0xB0, probe=64):
    """MACs whose DISCOVER (secs 0) only server_address answers: its load-balancing bucket.

    Found by asking, not by re-implementing dhcpd's hash: what counts is what the daemon does.
    """
    found = []
    start = 0
    while len(found) < count and start < 16 * probe:
        macs = [mac(prefix, i) for i in range(start, start + probe)]
        answers = client.discover_many(macs, timeout=1.0)
        for address, offers in answers.items():
            if {o.server_id for o in offers} == {server_address}:
                found.append(address)
        start += probe
    if len(found) < count:
        raise RuntimeError("only %d of %d MACs found in the bucket of %s" % (len(found), count, server_address))
    return found[:count]
