"""Run the benchmarks (as root, with the venv's python): python bench/run.py [--only NAME ...].

They measure and print; nothing here passes or fails on speed.  Results go to bench/results/:
results.json (every sample), summary.md and plot.png, plus a copy of the JSON named by the
start time.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import traceback

import common
import converge
import gap
import kea_cutover
import lease_rate
import maintenance_load
import report
import scale
import single_node
import storm

ORDER = ("lease_rate", "gap", "storm", "converge", "scale", "maintenance_load", "single_node", "kea_cutover")
RESULTS = common.REPO / "bench" / "results"


def machine():
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, %s %s, Python %s" % (
        cpu,
        os.cpu_count() or 0,
        platform.system(),
        platform.release(),
        platform.python_version(),
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=ORDER, help="run only these (repeatable)")
    parser.add_argument("--skip", action="append", choices=ORDER, default=[], help="leave these out")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median, min, max); default 3")
    parser.add_argument(
        "--storm-sizes",
        default="50,200,1000:2",
        help="boot storm client counts, comma-separated; N:R runs N clients R times instead of --storm-runs",
    )
    parser.add_argument("--mclt-probe", type=int, default=20, help="mclt (s) of the measured MCLT wait")
    parser.add_argument(
        "--lab-mclt", type=int, default=60, help="mclt (s) of the podman lab pair in the converge benchmark"
    )
    parser.add_argument("--quick", action="store_true", help="shorter steps, one link-cut run: a smoke run")
    parser.add_argument(
        "--storm-scenarios",
        default=None,
        help="boot storm scenarios, comma-separated (default: all of storm.FILES)",
    )
    parser.add_argument("--storm-runs", type=int, default=None, help="runs per boot storm figure (default: --runs)")
    parser.add_argument(
        "--lease-rate-unacked",
        default="",
        help="lease rate: also the pair with each of these max-unacked-updates, comma-separated (e.g. 1,64)",
    )
    parser.add_argument("--out", default=str(RESULTS), help="results directory")
    parser.add_argument(
        "--fresh", action="store_true", help="start a new results.json instead of updating the figures run here"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="measure nothing: rewrite summary.md and plot.png from results.json"
    )
    args = parser.parse_args(argv)
    for option in ("runs", "storm_runs", "lab_mclt"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error("--%s=%d is invalid: expected an integer >= 1" % (option.replace("_", "-"), value))
    sizes = []
    for item in args.storm_sizes.split(","):
        count, _colon, runs = item.partition(":")
        try:
            size = (int(count), int(runs) if runs else None)
        except ValueError:
            size = (0, None)
        if not 1 <= size[0] <= storm.MAX_CLIENTS or (size[1] is not None and size[1] < 1):
            parser.error(
                "--storm-sizes=%r is invalid: expected comma-separated client counts 1..%d, each optionally"
                " with :RUNS (RUNS >= 1), e.g. 50,200,1000:2" % (args.storm_sizes, storm.MAX_CLIENTS)
            )
        sizes.append(size)
    args.storm_sizes = tuple(sizes)
    raw = args.lease_rate_unacked
    try:
        args.lease_rate_unacked = tuple(int(item) for item in raw.split(",") if item.strip())
    except ValueError:
        args.lease_rate_unacked = (0,)
    if any(not 1 <= count <= 65535 for count in args.lease_rate_unacked):
        parser.error("--lease-rate-unacked=%r is invalid: expected comma-separated integers 1..65535, e.g. 1,64" % raw)
    return args


def write_report(results, out):
    summary = report.markdown(results)
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as handle:
        handle.write(summary)
    report.plot(results, os.path.join(out, "plot.png"))
    sys.stdout.write(summary)


def main(argv=None):
    args = parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.out, "results.json"), encoding="utf-8") as handle:
            write_report(json.load(handle), args.out)
        return 0
    if os.geteuid() != 0:
        sys.exit("bench/run.py needs root (network namespaces, raw sockets)")
    selected = [name for name in ORDER if (not args.only or name in args.only) and name not in args.skip]
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = os.path.join(args.out, "results.json")
    results = {}
    if not args.fresh and os.path.exists(path):
        # Benchmarks run one at a time (--only) add up to one summary; each keeps its own meta.
        with open(path, encoding="utf-8") as handle:
            results = json.load(handle)
    results["meta"] = {"machine": machine(), "started": started, "runs": args.runs, "selected": selected}
    errors = results.setdefault("errors", {})
    jobs = {
        "lease_rate": lambda: lease_rate.run(args.runs, quick=args.quick, unacked=args.lease_rate_unacked),
        "gap": lambda: gap.run(args.runs, quick=args.quick, mclt_probe=args.mclt_probe),
        "storm": lambda: storm.run(args.storm_runs or args.runs, sizes_n=args.storm_sizes,
                                   scenarios=args.storm_scenarios.split(",") if args.storm_scenarios else None),
        "converge": lambda: converge.run(1 if args.quick else min(args.runs, 2), mclt=args.lab_mclt),
        "scale": lambda: scale.run(1 if args.quick else min(args.runs, 2), mclt=args.lab_mclt),
        "maintenance_load": lambda: maintenance_load.run(1 if args.quick else args.runs),
        "single_node": lambda: single_node.run(1 if args.quick else args.runs),
        "kea_cutover": lambda: kea_cutover.run(1 if args.quick else args.runs),
    }
    for name in selected:
        common.log("=== %s" % name)
        errors.pop(name, None)
        try:
            results[name] = jobs[name]()
            results[name]["meta"] = {"started": started, "machine": results["meta"]["machine"]}
        except Exception:  # noqa: BLE001 - one broken benchmark must not lose the others' numbers
            errors[name] = traceback.format_exc()
            common.log("%s failed:\n%s" % (name, errors[name]))
    results["meta"]["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.makedirs(args.out, exist_ok=True)
    text = json.dumps(results, indent=2, sort_keys=True)
    for name in ("results.json", "results-%s.json" % started.replace(":", "")):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    write_report(results, args.out)
    return 1 if any(name in errors for name in selected) else 0


if __name__ == "__main__":
    sys.exit(main())
