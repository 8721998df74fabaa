"""Lease rate: perfdhcp against a single dhcpd and against the pair (DORA exchanges per second)."""

import functools
import re
import subprocess
import time

from common import configs, log, mac, pair_lab, percentile, role_defaults, single_lab, summary

PERFDHCP = "/usr/sbin/perfdhcp"
# Offered rates double from FIRST_RATE until a step has >= 1% drops (at most MAX_RATE, a bound
# far above what one core of perfdhcp can send), then the interval between the last good and
# the failed rate is halved BISECT times: the figure is the server's capacity, not the top of a
# fixed ladder.
FIRST_RATE = 100
MAX_RATE = 102400
BISECT = 4
DROP_LIMIT = 1.0
KEEP_UP = 0.9
_RATE_RE = re.compile(r"^Rate:\s+([0-9.]+)\s+4-way exchanges/second", re.MULTILINE)
_SECTION_RE = re.compile(r"\*\*\*Statistics for: (\S+)\*\*\*(.*?)(?=\*\*\*|\Z)", re.DOTALL)
_FIELD_RE = re.compile(r"^([a-z ]+):\s+([0-9.e+-]+)", re.MULTILINE)


def parse(output):
    """{'rate': achieved exchanges/s, 'DISCOVER-OFFER': {field: value}, 'REQUEST-ACK': {...}}."""
    result = {}
    match = _RATE_RE.search(output)
    result["rate"] = float(match.group(1)) if match else None
    for name, body in _SECTION_RE.findall(output):
        result[name] = {key.strip(): float(value) for key, value in _FIELD_RE.findall(body)}
    return result


def perfdhcp(rate, clients, seconds, local=configs.CONTROLLER_ADDRESS):
    argv = [PERFDHCP, "-4", "-l", local, "-r", str(rate), "-R", str(clients), "-p", str(seconds),
            "-d", "1", "-b", "mac=02:cc:00:00:00:00", "all"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    parsed = parse(proc.stdout)
    parsed["rc"] = proc.returncode
    if parsed["rate"] is None:
        parsed["error"] = (proc.stdout + proc.stderr)[-400:]
    return parsed


def drops(parsed):
    """The worse drop ratio (percent) of the two exchanges."""
    ratios = [parsed.get(k, {}).get("drops ratio") for k in ("DISCOVER-OFFER", "REQUEST-ACK")]
    ratios = [r for r in ratios if r is not None]
    return max(ratios) if ratios else 100.0


def ladder(clients, seconds):
    """Run the rate ladder once; return the steps and the best achieved rate under DROP_LIMIT."""
    steps = []
    best = None
    # Warm-up, not counted: the first exchanges of a fresh lab wait for ARP of the relay address
    # (dhcpd answers perfdhcp's giaddr by unicast) and showed up as a few % drops at 100/s.
    perfdhcp(50, clients, 1)
    good, failed = 0, None
    rate = FIRST_RATE
    while rate <= MAX_RATE:
        passed, achieved = _step(steps, rate, clients, seconds)
        if not passed:
            failed = rate
            break
        good, best = rate, achieved
        rate *= 2
    for _step_index in range(BISECT if failed and good else 0):
        rate = (good + failed) // 2
        passed, achieved = _step(steps, rate, clients, seconds)
        if passed:
            good, best = rate, achieved
        else:
            failed = rate
    return best, steps


def _step(steps, rate, clients, seconds):
    """One perfdhcp run at this offered rate: (under the drop limit?, achieved rate)."""
    parsed = perfdhcp(rate, clients, seconds)
    step = {
        "offered": rate,
        "achieved": parsed["rate"],
        "drops_pct": drops(parsed),
        "offer_delay_ms": parsed.get("DISCOVER-OFFER", {}),
        "ack_delay_ms": parsed.get("REQUEST-ACK", {}),
    }
    steps.append(step)
    log("  offered %d/s: achieved %s/s, drops %.2f%%" % (rate, parsed["rate"], step["drops_pct"]))
    # Also a failed step: perfdhcp achieving well below the offered rate without drops means the
    # sender (one core) is the limit, and raising the offer further would measure perfdhcp.
    kept_up = parsed["rate"] is not None and parsed["rate"] >= KEEP_UP * rate
    return kept_up and step["drops_pct"] < DROP_LIMIT, parsed["rate"]


def latency(client, macs):
    """DISCOVER->OFFER and REQUEST->ACK round trips (ms) of sequential exchanges, one client at a time."""
    offer_ms, ack_ms = [], []
    for address in macs:
        xid = client.send("discover", address)
        sent = _now()
        offers = client.collect([xid], timeout=1.0, expect=1, grace=0.001)[xid]
        if not offers:
            continue
        offer_ms.append((offers[0].time - sent) * 1000.0)
        sent = _now()
        acks = client.request_all(offers[0], timeout=1.0, expect=1, grace=0.001)
        if acks:
            ack_ms.append((acks[0].time - sent) * 1000.0)
    return {"offer": _percentiles(offer_ms), "ack": _percentiles(ack_ms)}


def _now():
    # The client stamps replies with time.monotonic() too.
    return time.monotonic()


def _percentiles(values):
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": max(values),
    }


def variant_name(unacked):
    return "pair, max-unacked-updates %d" % unacked


def run(runs, quick=False, unacked=()):
    """Single and pair (the role's defaults); ``unacked``: more pair targets, each with that
    max-unacked-updates (dhcpd's limit of lease updates sent to the peer before an ack)."""
    clients = 200 if quick else 400
    seconds = 3 if quick else 5
    probes = 50 if quick else 200
    results = {}
    targets = {
        "single": lambda: single_lab(extra_subnets=3),
        "pair": lambda: pair_lab(role_defaults(), extra_subnets=3),
    }
    for count in unacked:
        targets[variant_name(count)] = functools.partial(
            pair_lab, dict(role_defaults(), max_unacked_updates=count), extra_subnets=3
        )
    for name, make in targets.items():
        bests, all_steps, lat = [], [], []
        for index in range(runs):
            log("lease rate: %s, run %d/%d" % (name, index + 1, runs))
            with make() as built:
                lab = built[0]
                best, steps = ladder(clients, seconds)
                bests.append(best)
                all_steps.append(steps)
                client = lab.client()
                lat.append(latency(client, [mac(0xD0 + index, i) for i in range(probes)]))
        results[name] = {
            "leases_per_s": summary(bests),
            "ladders": all_steps,
            "latency_ms": {
                kind: {
                    key: summary([run_lat[kind].get(key) for run_lat in lat]) for key in ("p50", "p90", "p99", "max")
                }
                for kind in ("offer", "ack")
            },
        }
    single = results["single"]["leases_per_s"]["median"]
    pair = results["pair"]["leases_per_s"]["median"]
    results["pair_over_single"] = (pair / single) if single and pair else None
    for count in unacked:
        variant = results[variant_name(count)]["leases_per_s"]["median"]
        results[variant_name(count)]["over_single"] = (variant / single) if single and variant else None
    results["unacked_variants"] = list(unacked)
    results["method"] = {
        "clients": clients,
        "seconds_per_step": seconds,
        "offered_rates": "doubling from %d/s until >= %.0f%% drops (at most %d/s), then bisection" % (
            FIRST_RATE, DROP_LIMIT, MAX_RATE),
        "bisection_steps": BISECT,
        "drop_limit_pct": DROP_LIMIT,
        "latency_probes": probes,
    }
    return results
