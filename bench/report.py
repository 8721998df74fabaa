"""Write the results: JSON (everything), Markdown (the figures) and a PNG plot."""

import json

import matplotlib

matplotlib.use("Agg")  # no display on a CI machine
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from storm import FILES as STORM_SCENARIOS  # noqa: E402 - after the backend, with the other imports


def _storm_rows(storm):
    """The storm figures by client count, then in storm.FILES order (single first)."""
    order = list(STORM_SCENARIOS)
    return sorted(storm["scenarios"].values(), key=lambda d: (d["clients"], order.index(d["scenario"])))


def _median(stat):
    return (stat or {}).get("median")


def _fmt(stat, digits=2):
    if not stat or stat.get("median") is None:
        return "n/a"
    text = "%.*f [%.*f-%.*f]" % (digits, stat["median"], digits, stat["min"], digits, stat["max"])
    if stat.get("failed"):
        text += " (%d of %d runs failed)" % (stat["failed"], stat["runs"])
    return text


def _when(data):
    meta = data.get("meta") or {}
    return " (run %s)" % meta["started"] if meta.get("started") else ""


def _lease_rate_md(rate):
    lines = []
    lines += ["## Lease rate (perfdhcp, DORA exchanges/s at < 1%% drops)%s" % _when(rate), ""]
    lines += ["| target | leases/s | OFFER p50 / p99 ms | ACK p50 / p99 ms |", "|---|---|---|---|"]
    variants = ["pair, max-unacked-updates %d" % count for count in rate.get("unacked_variants", ())]
    for name in ["single", "pair", *variants]:
        data = rate[name]
        lat = data["latency_ms"]
        lines.append(
            "| %s | %s | %s / %s | %s / %s |"
            % (
                name,
                _fmt(data["leases_per_s"], 0),
                _fmt(lat["offer"]["p50"]),
                _fmt(lat["offer"]["p99"]),
                _fmt(lat["ack"]["p50"]),
                _fmt(lat["ack"]["p99"]),
            )
        )
    ratio = rate.get("pair_over_single")
    lines += ["", "pair / single: %s" % ("%.2f" % ratio if ratio else "n/a")]
    for name in variants:
        over = rate[name].get("over_single")
        lines.append("%s / single: %s" % (name, "%.2f" % over if over else "n/a"))
    lines.append("")
    return lines


def _gap_md(gap):
    lines = []
    lines += ["## Failover gap: s until the survivor offers to the dead node's clients%s" % _when(gap), ""]
    lines += [
        "| settings / event | secs 0 client | secs 4 client (iPXE) | PXE ROM from the failure"
        " | survivor leaves NORMAL |",
        "|---|---|---|---|---|",
    ]
    for key, data in gap["gaps"].items():
        lines.append(
            "| %s | %s | %s | %s | %s |"
            % (
                key,
                _fmt(data["secs0"]),
                _fmt(data["secs4"]),
                _fmt(data.get("pxe_rom")),
                _fmt(data["interrupted"]),
            )
        )
    for name, settings in gap["settings"].items():
        lines.append("")
        lines.append("- %s: %s" % (name, ", ".join("%s %s" % kv for kv in sorted(settings.items()))))
    measured = gap["mclt_measured"]
    lines += [
        "",
        "Peer's free leases after partner-down, measured with mclt %d: %s s (own free leases used first: %s)."
        % (measured["mclt"], _fmt(measured["seconds"], 1), measured["own_free_used"]),
        "",
        "Computed wait for the peer's free leases (stos + MCLT):",
        "",
    ]
    for name, data in gap["mclt_computed"].items():
        lines.append(
            "- %s: %d s after partner-down following a kill, %d s after a cut link (%s)"
            % (name, data["after_kill_s"], data["after_linkcut_s"], data["note"])
        )
    lines.append("")
    return lines


def _storm_md(storm):
    lines = []
    lines += ["## Boot storm%s" % _when(storm), "", "Files (bytes): %s" % storm["files"], ""]
    lines += [
        "| scenario | N | runs | total s | DHCP s | clients/s | failures | share per node |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for data in _storm_rows(storm):
        share = ", ".join("%s %s" % (k, _fmt(v)) for k, v in data["share_by_server"].items())
        lines.append(
            "| %s | %d | %d | %s | %s | %s | %s | %s |"
            % (
                data["scenario"],
                data["clients"],
                data["total_s"]["runs"],
                _fmt(data["total_s"], 1),
                _fmt(data["dhcp_s"]),
                _fmt(data["clients_per_s"], 1),
                _fmt(data["failures"], 0),
                share,
            )
        )
    lines += ["", "Configured share: %s" % storm["configured_share"], ""]
    ratios = []
    for count in sorted({data["clients"] for data in storm["scenarios"].values()}):
        base = _median(storm["scenarios"].get("single-tftp/%d" % count, {}).get("total_s"))
        for scenario in ("pair-tftp", "pair-http"):
            other = _median(storm["scenarios"].get("%s/%d" % (scenario, count), {}).get("total_s"))
            if base and other:
                ratios.append("N=%d %s %.2f" % (count, scenario, other / base))
    if ratios:
        lines += ["Total time relative to single-tftp (same run, medians): %s" % "; ".join(ratios), ""]
    return lines


def _converge_md(converge):
    lines = []
    lines += ["## Converge time (site.yml on the podman lab)%s" % _when(converge), ""]
    if "lab_up_s" in converge:
        lines += ["Runs: %d (fresh lab hosts each)." % converge["lab_up_s"]["runs"], ""]
    if "skipped" in converge:
        lines.append("Skipped: %s" % converge["skipped"])
    else:
        lines.append("- lab up: %s s" % _fmt(converge["lab_up_s"], 1))
        lines.append("- first run on fresh hosts: %s s" % _fmt(converge["first_run_s"], 1))
        lines.append("- second (idempotent) run: %s s" % _fmt(converge["second_run_s"], 1))
        lines.append("- recaps: %s" % json.dumps(converge["recaps"]))
        ssh = converge.get("ssh")
        if ssh:
            lines.append("- over SSH (pipelining, ControlPersist), first run: %s s" % _fmt(ssh["first_run_s"], 1))
            lines.append("- over SSH, second run: %s s" % _fmt(ssh["second_run_s"], 1))
            lines.append("- over SSH, recaps: %s" % json.dumps(ssh["recaps"]))
        if converge.get("load_average"):
            lines.append("- 1-min load average at each start: %s" % converge["load_average"])
        trips = converge.get("round_trip_s")
        if trips:
            lines += [
                "",
                "Maintenance round trip (secondary out and back until both NORMAL; mclt %d s):" % converge["mclt"],
                "",
                "| method | last state change older than MCLT | just changed |",
                "|---|---|---|",
                "| plain partner-down + restart | %s | %s |"
                % (_fmt(trips["plain-old"], 1), _fmt(trips["plain-young"], 1)),
                "| maintenance.yml start + end | %s | %s |"
                % (_fmt(trips["playbook-old"], 1), _fmt(trips["playbook-young"], 1)),
            ]
            plain, playbook = _median(trips["plain-young"]), _median(trips["playbook-young"])
            if plain and playbook:
                lines += ["", "Just changed: plain / maintenance.yml = %.2f (medians)" % (plain / playbook)]
    lines.append("")
    return lines


def _scale_md(scale):
    lines = ["## site.yml on 1-8 lab pairs%s" % _when(scale), ""]
    if "skipped" in scale:
        return lines + ["Skipped: %s" % scale["skipped"], ""]
    lines += ["| pairs | hosts | forks | first run s | second run s | peak MiB first / second | changed (2nd) |",
              "|---|---|---|---|---|---|---|"]
    for pairs, data in sorted(scale["sizes"].items(), key=lambda item: int(item[0])):
        lines.append("| %s | %d | %d | %s | %s | %s / %s | %s |" % (
            pairs, data["hosts"], data["forks"], _fmt(data["first_run_s"], 1), _fmt(data["second_run_s"], 1),
            _fmt(data["first_run_peak_mib"], 0), _fmt(data["second_run_peak_mib"], 0), data["second_run_changed"]))
    one, eight = scale["sizes"].get("1"), scale["sizes"].get("8")
    if one and eight:
        ratios = []
        for key in ("first_run_s", "second_run_s"):
            if _median(one[key]) and _median(eight[key]):
                ratios.append("%s %.2f" % (key.split("_", maxsplit=1)[0], _median(eight[key]) / _median(one[key])))
        lines += ["", "8 pairs / 1 pair (medians; goal <= 2): %s" % ", ".join(ratios)]
    return lines + [""]


def _maintenance_load_md(data):
    title = "## maintenance.yml start + end, clients busy vs idle (netns pair, mclt %d)%s"
    lines = [title % (data["mclt"], _when(data)), ""]
    lines += ["| clients | start s | end s | start + end s | clean / recover-done per run |", "|---|---|---|---|---|"]
    for kind in ("idle", "busy"):
        runs = ", ".join("%s/%s (%d bindings)" % (s["clean"], s["recover_done"], s["bindings"])
                         for s in data["samples"][kind])
        lines.append("| %s | %s | %s | %s | %s |" % (kind, _fmt(data["start_s"][kind], 1), _fmt(data["end_s"][kind], 1),
                                                     _fmt(data["total_s"][kind], 1), runs))
    return lines + [""]


def _single_node_md(data):
    title = "## A pair brought up with one node missing: OMAPI partner-down vs static partner-down (netns, mclt %d)%s"
    lines = [title % (data["mclt"], _when(data)), ""]
    lines += ["| method | first lease s | join to NORMAL s | potential-conflict (join / later restart) | "
              "served during the join (primary/secondary/nobody) |", "|---|---|---|---|---|"]
    for kind in ("omapi", "static"):
        samples = data["samples"][kind]
        conflicts = ", ".join("%s/%s" % (s["potential_conflict"], s.get("restart_potential_conflict"))
                              for s in samples)
        served = ", ".join("%(primary)d/%(secondary)d/%(nobody)d" % s["served_during_join"] for s in samples)
        lines.append("| %s | %s | %s | %s | %s |" % (kind, _fmt(data["first_lease_s"][kind], 1),
                                                     _fmt(data["join_normal_s"][kind], 2), conflicts, served))
    lines += ["", "| fresh secondary alone | MCLT over OMAPI | first lease s | lease time s |", "|---|---|---|---|"]
    for kind, samples in (data.get("lone_secondary") or {}).items():
        lines.append("| %s | %s | %s | %s |" % (
            kind, ", ".join(str(s["omapi_mclt"]) for s in samples),
            ", ".join("%.1f" % s["first_lease_s"] if s["first_lease_s"] is not None else "none" for s in samples),
            ", ".join(str(s["lease_time"]) for s in samples)))
    return lines + [""]


def _kea_cutover_md(data):
    title = "## dhcpd failover -> Kea HA cutover, daemons only (netns, %d clients, probe every %.2f s)%s"
    lines = [title % (data["clients"], data["probe_every_s"], _when(data)), ""]
    lines += ["| mode / HA timers | probe unanswered s | dhcpd stop -> first Kea answer s | dhcpd stop s | export s "
              "| Kea processes start s | HA handshake s (started -> first answer) | both HA states s (started -> seen) "
              "| load (1 min) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, row in data["rows"].items():
        loads = ", ".join("%.1f" % s["load1"] for s in row["samples"] if s.get("load1") is not None)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, _fmt(row["unanswered_s"]), _fmt(row["first_kea_answer_s"]), _fmt(row["dhcpd_stop_s"]),
            _fmt(row["export_s"]), _fmt(row["kea_start_s"]), _fmt(row["ha_handshake_s"]), _fmt(row["ha_state_s"]),
            loads))
    lines.append("")
    for name, row in data["rows"].items():
        timers = ", ".join("%s %s" % kv for kv in sorted(row["timers"].items()))
        errors = [s["error"].splitlines()[0] for s in row["samples"] if s.get("error")]
        lines.append("- %s: %s%s" % (name, timers, "; failed: %s" % "; ".join(errors) if errors else ""))
    return lines + [""]


def markdown(results):
    lines = ["# Benchmark results", "", "Each figure: median [min-max] over the runs.", ""]
    meta = results["meta"]
    lines += ["Machine: %s; last invocation started %s." % (meta["machine"], meta["started"]), ""]
    if results.get("lease_rate"):
        lines += _lease_rate_md(results["lease_rate"])
    if results.get("gap"):
        lines += _gap_md(results["gap"])
    if results.get("storm"):
        lines += _storm_md(results["storm"])
    if results.get("converge"):
        lines += _converge_md(results["converge"])
    if results.get("scale"):
        lines += _scale_md(results["scale"])
    if results.get("maintenance_load"):
        lines += _maintenance_load_md(results["maintenance_load"])
    if results.get("single_node"):
        lines += _single_node_md(results["single_node"])
    if results.get("kea_cutover"):
        lines += _kea_cutover_md(results["kea_cutover"])
    for name, error in results.get("errors", {}).items():
        lines.append("Benchmark %s failed: %s" % (name, error.splitlines()[0] if error else ""))
    return "\n".join(lines) + "\n"


def _bars(axis, labels, stats, ylabel, title, *, log=False):
    medians = [s["median"] or 0 for s in stats]
    low = [m - (s["min"] if s["min"] is not None else m) for m, s in zip(medians, stats)]
    high = [(s["max"] if s["max"] is not None else m) - m for m, s in zip(medians, stats)]
    axis.bar(range(len(labels)), medians, yerr=[low, high], capsize=3, color="#4c72b0")
    axis.set_xticks(range(len(labels)))
    axis.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    if log:
        # Seconds from 0.01 (kill -9, HTTP) to 600 (TFTP storms) share one panel.
        axis.set_yscale("log")
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)


def plot(results, path):
    panels = []
    if results.get("storm"):
        rows = _storm_rows(results["storm"])
        labels = ["%s N=%d" % (row["scenario"], row["clients"]) for row in rows]
        panels.append((labels, [row["total_s"] for row in rows], "s (log)", "Boot storm: time to all booted", True))
    if results.get("gap"):
        labels, stats = [], []
        for key, data in sorted(results["gap"]["gaps"].items()):
            for probe in ("secs0", "secs4", "pxe_rom"):
                if probe in data:
                    labels.append("%s %s" % (key, probe))
                    stats.append(data[probe])
        panels.append((labels, stats, "s (log)", "Failover gap (median, min-max)", True))
    trips = (results.get("converge") or {}).get("round_trip_s")
    if trips:
        panels.append((list(trips), list(trips.values()), "s", "Maintenance round trip (lab)", False))
    if results.get("kea_cutover"):
        cut = results["kea_cutover"]["rows"]
        panels.append((list(cut), [row["unanswered_s"] for row in cut.values()], "s",
                       "Kea cutover: probe unanswered", False))
    if results.get("lease_rate"):
        rate = results["lease_rate"]
        names = ("single", "pair")
        panels.append((list(names), [rate[n]["leases_per_s"] for n in names], "leases/s", "Lease rate", False))
    if not panels:
        return None
    columns = min(2, len(panels))
    rows_n = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows_n, columns, figsize=(8 * columns, 5.5 * rows_n), squeeze=False)
    cells = [axis for row in axes for axis in row]
    for axis, (labels, stats, ylabel, title, log) in zip(cells, panels):
        _bars(axis, labels, stats, ylabel, title, log=log)
    for axis in cells[len(panels) :]:
        axis.set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
