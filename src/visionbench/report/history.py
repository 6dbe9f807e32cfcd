"""`visionbench history`: one metric across the newest saved runs, a row per benchmark."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from visionbench.measure.format import fmt_value, short_name
from visionbench.measure.metrics import METRICS
from visionbench.measure.results import Bench, Run


def matches(fullname: str, pattern: str | None) -> bool:
    """-k: a glob if it has wildcards, else a case-insensitive substring."""
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatch(fullname.lower(), pattern.lower())
    return pattern.lower() in fullname.lower()


def metric_value(bench: Bench, metric: str) -> Any:
    """`time` is the median of the samples; other metrics come from extra_info."""
    if metric == "time":
        return bench.stats.get("median")
    return bench.extra_info.get(metric)


def history_table(
    runs: Sequence[Run], metric: str = "time", pattern: str | None = None, last: int = 5
) -> tuple[list[str], list[list[str]]]:
    """One row per benchmark, one column per run (the newest `last`, oldest on the
    left, headed by run, date and commit), then the newest run's change against
    the one before it: long, like `git log` or asv's tables, so that a run of 80
    benchmarks stays readable in a terminal."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if last < 1:
        raise ValueError(f"--last must be at least 1, not {last}")
    runs = list(runs)[-last:]
    names: list[str] = []
    for run in runs:
        for name in run.benchmarks:
            if name not in names and matches(name, pattern):
                names.append(name)
    tests = [n.partition("::")[2] or n for n in names]
    labels = tests if len(set(tests)) == len(tests) else [short_name(n) for n in names]
    headers = ["benchmark", *(f"{r.label}\n{r.date}\n{r.commit}" for r in runs)]
    if len(runs) > 1:
        headers.append("change")
    rows = []
    for label, name in zip(labels, names, strict=True):
        benches = [run.benchmarks.get(name) for run in runs]
        row = [label, *(_cell(b, metric) for b in benches)]
        if len(runs) > 1:
            row.append(_change(benches[-2], benches[-1], metric))
        rows.append(row)
    return headers, rows


def _change(before: Bench | None, after: Bench | None, metric: str) -> str:
    """The newest value against the one before it, relative (or in points for a fraction)."""
    if before is None or after is None or before.error or after.error:
        return "-"
    old, new = metric_value(before, metric), metric_value(after, metric)
    if not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
        return "-"
    if METRICS[metric].kind == "accuracy":
        return f"{100 * (new - old):+.1f} pt"
    return f"{100 * (new / old - 1):+.0f}%" if old else "-"


def _cell(bench: Bench | None, metric: str) -> str:
    if bench is None:
        return "-"
    if bench.error:
        return "failed"
    return fmt_value(metric, metric_value(bench, metric))
