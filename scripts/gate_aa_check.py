"""Check the gate on real noise: A/A pairs of separate runs, and the same pairs slowed down.

Give it a storage folder holding N >= 3 runs of the same code on one machine,
in a storage of their own (not the project's .benchmarks, which mixes commits):

    for i in $(seq 11); do
        nox -s bench -- --benchmark-storage=file://.benchmarks-aa; sleep 30
    done
    python scripts/gate_aa_check.py .benchmarks-aa                # settings from pyproject.toml
    python scripts/gate_aa_check.py .benchmarks-aa --no-history   # each pair alone
    python scripts/gate_aa_check.py .benchmarks-aa --no-history --pair-min 0   # naive: assumed
                                                                  # noise only, for contrast
    python scripts/gate_aa_check.py .benchmarks-aa --quantile 0 -v   # another statistic, rows

It gates each run against the next one (N-1 A/A pairs: nothing changed, so any
"regression" is a false positive), with the history the gate would use (the
runs before the baseline), then gates the same candidates with every raw
timing scaled by --scale (default 1.25): each must come out "regression" or,
where the benchmark's own noise does not allow a decision, "inconclusive";
"unchanged" or "improvement" would be a slowdown passed silently. "missed"
counts inconclusive ones whose detectable change was at or below the slowdown
(the detectable change is where detection reaches about even odds). Only the
`time` metric is counted. It reads the runs and writes nothing. Exit 1 if an
A/A pair gave a regression or a slowed candidate passed, else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from tabulate import tabulate

from visionbench.gate import output as gate_output
from visionbench.gate import runs as gate_runs
from visionbench.gate.config import load_config
from visionbench.measure import results
from visionbench.measure.machines import comparable_history


def between_run_spread(runs: list[results.Run]) -> list[list[object]]:
    """Per benchmark: sd of log(statistic) across all runs, for a few statistics."""
    quantiles = {"min": 0.0, "q10": 0.1, "q25": 0.25, "median": 0.5}
    table = []
    for name in runs[0].benchmarks:
        row: list[object] = [name.split("::")[-1]]
        for q in quantiles.values():
            values = [
                gate_runs.quantile_of(r.benchmarks[name], q) for r in runs if name in r.benchmarks
            ]
            logs = np.log([v for v in values if v])
            row.append(f"{np.std(logs, ddof=1):.1%}" if len(logs) > 1 else "-")
        table.append(row)
    return [["benchmark", *(f"sd {k}" for k in quantiles)], *table]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("storage", type=Path, help="storage dir or machine folder with N runs")
    parser.add_argument("--scale", type=float, default=1.25, help="slow-down factor to detect")
    parser.add_argument("--config", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--no-history", action="store_true", help="gate each pair alone")
    parser.add_argument("--quantile", type=float, help="override the compared quantile")
    parser.add_argument("--pair-min", type=int, help="override pair_min (0: no pair spread)")
    parser.add_argument("--noise", type=float, help="override the assumed noise of samples")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every row")
    args = parser.parse_args(argv)

    config = load_config(args.config if args.config.is_file() else None)
    changes: dict[str, object] = {}
    if args.quantile is not None:
        changes["quantile"] = args.quantile
    if args.pair_min is not None:
        changes["pair_min"] = args.pair_min
    if args.noise is not None:
        changes["noise"] = {**config.noise, "samples": args.noise}
    config = dataclasses.replace(config, **changes)

    folder = results.machine_folder(args.storage)
    runs = list(results.load_history(folder))
    if len(runs) < 3:
        print(f"{folder}: need at least 3 runs, found {len(runs)}", file=sys.stderr)
        return 2
    print(
        f"{len(runs)} runs in {folder}; quantile {config.quantile}, alpha {config.alpha}, "
        f"assumed noise {config.noise['samples']:.0%}, pair_min {config.pair_min}, "
        f"history {'off' if args.no_history else f'lookback {config.lookback}'}"
    )
    print(tabulate(between_run_spread(runs), headers="firstrow"))

    totals = {"A/A": Counter(), f"x{args.scale}": Counter()}
    table = []
    for base, cand in itertools.pairwise(runs):
        history = [base] if args.no_history else comparable_history(base, runs, config.lookback)
        slowed = results.Run(cand.path, results.scale_timings(cand.data, args.scale))
        for label, candidate in (("A/A", cand), (f"x{args.scale}", slowed)):
            rows = [
                r
                for r in gate_runs.compare_runs(base, candidate, config, history)
                if r.metric == "time"
            ]
            totals[label].update(r.verdict for r in rows)
            totals[label].update(
                "missed" for r in rows if r.verdict == "inconclusive" and _could_see(r, args.scale)
            )
            for r in rows if args.verbose else ():
                table.append(
                    [
                        f"{base.label[:4]}>{cand.label[:4]}",
                        label,
                        r.benchmark.split("::")[-1],
                        f"{r.change:+.1%}",
                        r.verdict,
                        "" if r.detectable is None else gate_output.fmt_detectable(r),
                        r.note,
                    ]
                )
    if table:
        print(
            tabulate(
                table,
                headers=["pair", "case", "benchmark", "change", "verdict", "detectable", "note"],
            )
        )
    verdicts = ["regression", "inconclusive", "unchanged", "improvement"]
    print(
        tabulate(
            [[k, *(totals[k][v] for v in verdicts)] for k in totals],
            headers=["time verdicts", *verdicts],
        )
    )
    false_positives = totals["A/A"]["regression"]
    slowed = totals[f"x{args.scale}"]
    passed = slowed["unchanged"] + slowed["improvement"]
    print(
        f"A/A: {false_positives} false regressions of {sum(totals['A/A'][v] for v in verdicts)}; "
        f"x{args.scale}: {slowed['regression']} caught, {slowed['inconclusive']} inconclusive "
        f"({slowed['missed']} of them with a detectable change at or below "
        f"{args.scale - 1:.0%}), {passed} passed silently"
    )
    return 1 if false_positives or passed else 0


def _could_see(row: gate_runs.Comparison, scale: float) -> bool:
    """The benchmark's own noise would have let the gate flag a change of `scale`."""
    return row.detectable is not None and row.detectable <= scale - 1


if __name__ == "__main__":
    sys.exit(main())
