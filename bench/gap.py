"""Failover gap: how long clients of a dead node's bucket go unanswered, and the MCLT wait.

For kill -9 the peer sees the TCP connection close at once; for a cut link it only notices
after max-response-delay.  Three probe clients from the dead node's bucket run side by side:
secs 0 (a client repeating its first DISCOVER), secs 4 (iPXE's usual value, above the role's
load balance max seconds, so the survivor may answer it even while it still thinks NORMAL),
and a PXE ROM that starts at the failure and retries on the PXE spec's schedule (4, 8, 16,
32 s apart) with secs counting from its first DISCOVER.  The ROM client is the one that
decides `load balance max seconds`: the survivor answers it once secs exceeds that limit.
"""

import time

from common import bucket_macs, configs, log, mac, pair_lab, settings_sets, summary

PROBE_TIMEOUT = 0.3
IPXE_SECS = 4
# PXE 2.1 spec: DISCOVER timeouts of 4, 8, 16 and 32 s, so retries at these offsets.
ROM_RETRIES = (0, 4, 12, 28, 60)


def _offered_by(client, address, secs, server):
    offers = client.discover(address, secs=secs, timeout=PROBE_TIMEOUT, expect=1, grace=0.001)
    return any(o.server_id == server for o in offers)


def one_gap(settings, mode, limit):
    """Kill or cut s2; seconds until s1 offers to s2's clients (secs 0, secs 4, PXE ROM) and until its state move."""
    survivor_address = configs.PRIMARY_ADDRESS
    with pair_lab(settings) as (lab, pair):
        client = lab.client()
        macs = bucket_macs(client, configs.SECONDARY_ADDRESS, 3, probe=16)
        # Who answers the iPXE-like client while both are up: with secs above load balance max
        # seconds both peers do, so this client never sees a gap.
        before = client.discover(macs[1], secs=IPXE_SECS, timeout=0.5, expect=2, grace=0.05)
        mark = pair.primary.log_mark()
        start = time.monotonic()
        if mode == "kill":
            pair.secondary.kill()
        else:
            pair.secondary.link_down()
        found = {0: None, IPXE_SECS: None, "rom": None}
        rom_retries = list(ROM_RETRIES)
        interrupted = None
        while time.monotonic() - start < limit and (None in found.values() or interrupted is None):
            for secs, address in zip((0, IPXE_SECS), macs):
                if found[secs] is None and _offered_by(client, address, secs, survivor_address):
                    found[secs] = time.monotonic() - start
            elapsed = time.monotonic() - start
            if found["rom"] is None and rom_retries and elapsed >= rom_retries[0]:
                rom_retries.pop(0)
                if _offered_by(client, macs[2], int(elapsed), survivor_address):
                    found["rom"] = time.monotonic() - start
            if interrupted is None and "to communications-interrupted" in pair.primary.log()[mark:]:
                interrupted = time.monotonic() - start
            time.sleep(0.02)
        return {
            "secs0": found[0],
            "secs%d" % IPXE_SECS: found[IPXE_SECS],
            "pxe_rom": found["rom"],
            "interrupted": interrupted,
            "secs%d_answered_by_before" % IPXE_SECS: sorted({o.server_id for o in before}),
        }


def mclt_wait(mclt, limit):
    """Measured: partner-down (auto-partner-down 1 s after a kill) until the survivor offers an
    address of the dead peer's free leases, with its own free leases used up first."""
    settings = {"max_response_delay": 5, "mclt": mclt, "lb_max_secs": 3, "max_unacked_updates": 10}
    # Ten addresses: five per node after balancing, so the survivor's own share runs out quickly.
    with pair_lab(settings, pool=("198.18.100.100", "198.18.100.109"), auto_partner_down=1) as (lab, pair):
        client = lab.client()
        pair.secondary.kill()
        pair.primary.wait_for_state("partner-down", 30)
        down = time.monotonic()
        index = 0
        # Take every address the survivor may hand out now (offers hold them for 120 s).
        while True:
            index += 1
            if not client.discover(_mac(index), timeout=0.3, expect=1, grace=0.001):
                break
        own = index - 1
        while time.monotonic() - down < limit:
            index += 1
            if client.discover(_mac(index), timeout=0.5, expect=1, grace=0.001):
                return {"seconds": time.monotonic() - down, "own_free_used": own, "mclt": mclt}
        return {"seconds": None, "own_free_used": own, "mclt": mclt}


def _mac(index):
    return mac(0xE0, index)


def run(runs, quick=False, mclt_probe=20):
    sets = settings_sets()
    # The alternative the PXE ROM client decides between: a higher load balance max seconds
    # would balance iPXE's secs-4 DISCOVERs too.  Only a cut link tells them apart.
    sets["collection-lbmax15"] = dict(sets["collection"], lb_max_secs=15)
    results = {"settings": sets, "gaps": {}}
    for name, settings in sets.items():
        for mode in ("kill", "linkcut"):
            if name == "collection-lbmax15" and mode == "kill":
                continue
            limit = max(settings["max_response_delay"], ROM_RETRIES[-2]) + 30
            samples = []
            for index in range(1 if quick and mode == "linkcut" else runs):
                log("failover gap: %s settings, %s, run %d" % (name, mode, index + 1))
                samples.append(one_gap(settings, mode, limit))
                log("  %s" % samples[-1])
            results["gaps"]["%s/%s" % (name, mode)] = {key: summary([s[key] for s in samples]) for key in samples[0]}
    log("mclt wait: measured with mclt %d s" % mclt_probe)
    measured = [mclt_wait(mclt_probe, mclt_probe + 60) for _run in range(1 if quick else min(runs, 2))]
    results["mclt_measured"] = {
        "mclt": mclt_probe,
        "seconds": summary([m["seconds"] for m in measured]),
        "own_free_used": [m["own_free_used"] for m in measured],
    }
    # What the measured run supports: the peer's free leases open up MCLT after partner-down.
    results["mclt_computed"] = {
        name: {
            "after_kill_s": s["mclt"],
            "after_linkcut_s": s["max_response_delay"] + s["mclt"],
            "note": "plus the time until partner-down (operator or auto-partner-down)",
        }
        for name, s in settings_sets().items()
    }
    return results
