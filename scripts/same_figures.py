"""Do two saved runs measure the same things? For a change that must not change what is
measured (a renovation, a refactor), a run before it and a run after it:

    python scripts/same_figures.py BEFORE.json AFTER.json

Checks that both runs hold the same benchmarks (pytest node ids) in the same groups, that
each benchmark recorded the same `extra_info` keys, and that every figure not read from a
clock is
equal: accuracy and its spread, each seed's per-epoch accuracy and loss (`curves`),
epochs to the target, peak memory, parameters, FLOPs, bytes... Figures read from a
clock (times, throughputs, the paired ratios, accuracy within a time budget) differ
between any two runs and are left out (`CLOCK`). Prints the differences and a count;
exit 0 when there are none, 1 when there are, 2 when a run cannot be read (the message
names the file).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from tabulate import tabulate

from visionbench.measure import results
from visionbench.measure.metrics import METRICS

#: Figures read from a clock: they differ between any two runs. Everything else that a
#: benchmark records is compared for equality.
CLOCK = {name for name, m in METRICS.items() if m.kind in ("time", "throughput", "energy")} | {
    "time_to_target_s_per_seed",
    "prep_time_s",
    "load_time_s",
    "compile_time_s",
    "ratio_vs_ref",
    "ratio_ci_low",
    "ratio_ci_high",
    "scaling_efficiency",
    "allreduce_time_s",
    "allreduce_share",
    "accuracy_in_budget",  # read at a number of training seconds
    "accuracy_in_budget_per_seed",
}
CURVES_CLOCK = {"train_time_s"}  # a curve's training seconds so far
MAX_ROWS = 40


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, through lists and mappings."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(before: results.Run, after: results.Run) -> tuple[list[list[str]], int]:
    """(rows naming each difference, figures compared)."""
    rows: list[list[str]] = []
    a, b = before.benchmarks, after.benchmarks
    for name in sorted(a.keys() - b.keys()):
        rows.append([name, "-", "benchmark", "only before"])
    for name in sorted(b.keys() - a.keys()):
        rows.append([name, "-", "benchmark", "only after"])
    compared = 0
    for name in sorted(a.keys() & b.keys()):
        if a[name].group != b[name].group:
            rows.append([name, "(group)", str(a[name].group), str(b[name].group)])
        ia, ib = a[name].extra_info, b[name].extra_info
        for key in sorted(ia.keys() ^ ib.keys()):
            rows.append([name, key, "key", "only before" if key in ia else "only after"])
        for key in sorted(ia.keys() & ib.keys()):
            if key in CLOCK:
                continue
            va, vb = ia[key], ib[key]
            if key == "curves" and isinstance(va, dict) and isinstance(vb, dict):
                va = {k: v for k, v in va.items() if k not in CURVES_CLOCK}
                vb = {k: v for k, v in vb.items() if k not in CURVES_CLOCK}
            compared += 1
            if not same(va, vb):
                rows.append([name, key, short(va), short(vb)])
    return rows, compared


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        before, after = (results.load(Path(p)) for p in argv)
    except results.ResultsError as exc:
        print(f"same_figures: {exc}", file=sys.stderr)
        return 2
    rows, compared = differences(before, after)
    if rows:
        shown = [[n.split("::")[-1], *rest] for n, *rest in rows[:MAX_ROWS]]
        print(tabulate(shown, headers=["benchmark", "figure", "before", "after"]))
        if len(rows) > MAX_ROWS:
            print(f"... and {len(rows) - MAX_ROWS} more")
        print()
    keys = sum(len(bench.extra_info) for bench in before.benchmarks.values())
    print(
        f"{len(before.benchmarks)} benchmarks before, {len(after.benchmarks)} after; "
        f"{keys} keys before; {compared} figures compared, not read from a clock; "
        f"{len(rows)} difference(s)"
    )
    return 1 if rows else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
