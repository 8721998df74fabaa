"""Write the results: JSON (everything), Markdown (the figures) and a PNG plot."""

import json

import matplotlib

matplotlib.use("Agg")  # no display on a CI machine
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


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


def markdown(results):
    lines = ["# Benchmark results", "", "Each figure: median [min-max] over the runs.", ""]
    meta = results["meta"]
    lines += ["Machine: %s; started %s; runs per figure: %d." % (meta["machine"], meta["started"], meta["runs"]), ""]
    rate = results.get("lease_rate")
    if rate:
        lines += ["## Lease rate (perfdhcp, DORA exchanges/s at < 1%% drops)%s" % _when(rate), ""]
        lines += ["| target | leases/s | OFFER p50 / p99 ms | ACK p50 / p99 ms |", "|---|---|---|---|"]
        for name in ("single", "pair"):
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
        lines += ["", "pair / single: %s" % ("%.2f" % ratio if ratio else "n/a"), ""]
    gap = results.get("gap")
    if gap:
        lines += ["## Failover gap: s until the survivor offers to the dead node's clients%s" % _when(gap), ""]
        lines += ["| settings / event | secs 0 client | secs 4 client (iPXE) | survivor leaves NORMAL |"]
        lines += ["|---|---|---|---|"]
        for key, data in gap["gaps"].items():
            lines.append(
                "| %s | %s | %s | %s |" % (key, _fmt(data["secs0"]), _fmt(data["secs4"]), _fmt(data["interrupted"]))
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
    storm = results.get("storm")
    if storm:
        lines += ["## Boot storm%s" % _when(storm), "", "Files (bytes): %s" % storm["files"], ""]
        lines += [
            "| scenario | N | total s | DHCP s | clients/s | failures | share per node |",
            "|---|---|---|---|---|---|---|",
        ]
        for data in storm["scenarios"].values():
            share = ", ".join("%s %s" % (k, _fmt(v)) for k, v in data["share_by_server"].items())
            lines.append(
                "| %s | %d | %s | %s | %s | %s | %s |"
                % (
                    data["scenario"],
                    data["clients"],
                    _fmt(data["total_s"], 1),
                    _fmt(data["dhcp_s"]),
                    _fmt(data["clients_per_s"], 1),
                    _fmt(data["failures"], 0),
                    share,
                )
            )
        lines += ["", "Configured share: %s" % storm["configured_share"], ""]
    converge = results.get("converge")
    if converge:
        lines += ["## Converge time (site.yml on the podman lab)%s" % _when(converge), ""]
        if "skipped" in converge:
            lines.append("Skipped: %s" % converge["skipped"])
        else:
            lines.append("- lab up: %s s" % _fmt(converge["lab_up_s"], 1))
            lines.append("- first run on fresh hosts: %s s" % _fmt(converge["first_run_s"], 1))
            lines.append("- second (idempotent) run: %s s" % _fmt(converge["second_run_s"], 1))
            lines.append("- recaps: %s" % json.dumps(converge["recaps"]))
        lines.append("")
    for name, error in results.get("errors", {}).items():
        lines.append("Benchmark %s failed: %s" % (name, error.splitlines()[0] if error else ""))
    return "\n".join(lines) + "\n"


def _bars(axis, labels, stats, ylabel, title):
    medians = [s["median"] or 0 for s in stats]
    low = [m - (s["min"] if s["min"] is not None else m) for m, s in zip(medians, stats)]
    high = [(s["max"] if s["max"] is not None else m) - m for m, s in zip(medians, stats)]
    axis.bar(range(len(labels)), medians, yerr=[low, high], capsize=3, color="#4c72b0")
    axis.set_xticks(range(len(labels)))
    axis.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)


def plot(results, path):
    panels = []
    if results.get("storm"):
        items = list(results["storm"]["scenarios"].items())
        labels = [key for key, _value in items]
        stats = [value["total_s"] for _key, value in items]
        panels.append((labels, stats, "s", "Boot storm: time to all booted"))
    if results.get("gap"):
        labels, stats = [], []
        for key, data in results["gap"]["gaps"].items():
            for probe in ("secs0", "secs4"):
                labels.append("%s %s" % (key, probe))
                stats.append(data[probe])
        panels.append((labels, stats, "s", "Failover gap (median, min-max)"))
    if results.get("lease_rate"):
        rate = results["lease_rate"]
        panels.append(
            (["single", "pair"], [rate[n]["leases_per_s"] for n in ("single", "pair")], "leases/s", "Lease rate")
        )
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for axis, (labels, stats, ylabel, title) in zip(axes[0], panels):
        _bars(axis, labels, stats, ylabel, title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
