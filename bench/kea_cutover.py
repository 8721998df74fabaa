"""dhcpd failover -> Kea HA cutover: how long a client goes unanswered, daemons only (issue 20).

On the netns lab (tests/dhcplab, no Ansible): a dhcpd failover pair (the role's configuration,
mclt 600, server-id-check) leases 40 clients from both peers; a probe client asks for its address
every 50 ms (INIT-REBOOT); then the cutover of tests/system/test_migrate_kea.py
(dhcplab.cutover.cut_over: both dhcpds stop, both lease files become each Kea server's memfile,
the Kea HA pair starts in their slots and is waited for until both report the mode's state).

Per run: the probe's longest silence across the cutover (its last answer from dhcpd to its first
from Kea), the time from dhcpd's stop to Kea's first answer, and where that goes: dhcpd's stop,
the export (lease files read, memfiles written), the start of kea-dhcp4 and kea-ctrl-agent on
both nodes, and the HA handshake (both processes ready -> the first answer). This is the floor
under the playbook's gap (netboot.dhcp_failover.migrate_to_kea adds Ansible's per-task cost).

Rows: hot-standby and load-balancing with the lab's short HA timers (dhcplab.kea.LAB_SETTINGS),
and hot-standby with the kea role's default timers (roles/kea/defaults/main.yml).
"""

import os

from common import configs, kea_role_ha_timeout, kea_role_timers, log, mac, summary
from dhcplab import Lab
from dhcplab import kea as labkea
from dhcplab.cutover import PAIR, PROBE_EVERY, cut_over_probed, lease_all

CLIENTS = 40
PREFIX = 0x4C
PROBE_MAC = mac(PREFIX, 0xFFFF)
# The lab rows' bound on the HA state (tests/system/test_migrate_kea.py's).
LAB_HA_TIMEOUT = 60.0
FIGURES = ("unanswered_s", "first_kea_answer_s", "dhcpd_stop_s", "export_s", "kea_start_s", "ha_handshake_s",
           "ha_state_s")


def rows():
    """{name: (mode, kea role variables over the lab's, HA timeout s, the timers in force)}."""
    lab_timers = {name: labkea.LAB_SETTINGS[name] for name in kea_role_timers()}
    return {
        "hot-standby/lab-timers": ("hot-standby", {}, LAB_HA_TIMEOUT, lab_timers),
        "load-balancing/lab-timers": ("load-balancing", {}, LAB_HA_TIMEOUT, lab_timers),
        "hot-standby/role-timers": ("hot-standby", kea_role_timers(), kea_role_ha_timeout(), kea_role_timers()),
    }


def figures(times, last_dhcpd, first_kea):
    """The per-run figures (s) from cut_over's step times and the probe's answers around the stop."""
    first = None if first_kea is None else first_kea - times["stopped"]
    return {
        "unanswered_s": None if first_kea is None or last_dhcpd is None else first_kea - last_dhcpd,
        "first_kea_answer_s": first,
        "dhcpd_stop_s": times["stopped"] - times["stopping"],
        "export_s": times["exported"] - times["stopped"],
        "kea_start_s": times["started"] - times["exported"],
        "ha_handshake_s": None if first_kea is None else first_kea - times["started"],
        "ha_state_s": times["serving"] - times["started"],
    }


def one_cutover(mode, settings, ha_timeout):
    load = os.getloadavg()[0]
    with Lab() as lab:
        pair = lab.start_pair(*configs.failover_pair(**PAIR)).wait_normal(60)
        pair.wait_balanced(30)
        model = labkea.pair_model(**PAIR)
        acks = lease_all(lab.client(), [(mac(PREFIX, index), None, None) for index in range(CLIENTS)])
        by_server = {}
        for ack in acks.values():
            by_server[ack.server_id] = by_server.get(ack.server_id, 0) + 1
        if set(by_server) != {configs.PRIMARY_ADDRESS, configs.SECONDARY_ADDRESS}:
            raise RuntimeError("the clients were not leased from both peers: %s" % by_server)
        cutover, probe, dhcpd_answers = cut_over_probed(lab, pair, model, PROBE_MAC, mode, settings=settings,
                                                        ha_timeout=ha_timeout)
    # dhcpd answers until both are stopped (the second one serves while the first stops); Kea
    # cannot answer before its processes start: an answer in between would be a stray.
    last_dhcpd = probe.around(cutover.times["stopped"])[0]
    first_kea = probe.around(cutover.times["exported"])[1]
    kea_answers = [(at, server) for at, server in probe.acks if at > cutover.times["exported"]]
    sample = figures(cutover.times, last_dhcpd, first_kea)
    sample.update({
        "load1": load,
        "dhcpd_answers": dhcpd_answers,
        "kea_answers": len(kea_answers),
        "stray_answers": sum(1 for at, _server in probe.acks
                             if cutover.times["stopped"] < at <= cutover.times["exported"]),
        "probe_wrong": sorted({reply.kind for reply in probe.wrong}),
        "first_kea_server": kea_answers[0][1] if kea_answers else None,
        "leases_by_dhcpd_server": by_server,
        "exported": cutover.summaries[0]["exported"],
    })
    return sample


def run(runs):
    results = {"clients": CLIENTS, "probe_every_s": PROBE_EVERY, "rows": {}}
    for name, (mode, settings, ha_timeout, timers) in rows().items():
        samples = []
        for index in range(runs):
            log("kea cutover: %s, run %d" % (name, index + 1))
            try:
                samples.append(one_cutover(mode, settings, ha_timeout))
            except Exception as exc:  # noqa: BLE001 - a failed run is counted, the others still measured
                samples.append(dict(dict.fromkeys(FIGURES), error="%s: %s" % (type(exc).__name__, exc)))
            log("  %s" % {key: value for key, value in samples[-1].items() if key != "leases_by_dhcpd_server"})
        results["rows"][name] = {
            "mode": mode,
            "timers": timers,
            "ha_timeout_s": ha_timeout,
            "samples": samples,
            **{key: summary([sample[key] for sample in samples]) for key in FIGURES},
        }
    return results
