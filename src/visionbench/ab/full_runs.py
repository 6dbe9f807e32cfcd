"""The A/B gate's deterministic figures: one full run per side, and what a lane left out.

Accuracy, memory and flags do not need pairs: one full run per side (training
included) decides them by `visionbench gate`'s rules. The baseline's saved run
of the same commit and fingerprint is reused when the storage holds one (the
`baseline` runs CI saves on main), so that only the candidate trains; each run
is stopped when the invocation's budget ends, and its duration is remembered
(`calibration.Store`) so that the next invocation leaves it its time.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from visionbench.ab.calibration import Store
from visionbench.ab.processes import Pytest, Side
from visionbench.core.exits import say
from visionbench.gate.config import GateConfig
from visionbench.gate.runs import Comparison, compare_runs
from visionbench.measure.machines import machine_differences
from visionbench.measure.metrics import METRICS
from visionbench.measure.results import Run

DETERMINISTIC_KINDS = ("memory", "accuracy", "flag")  # compared once per side
SKIPPED_IN = "skipped in "  # a coverage row's note: why one side did not run a benchmark


def deterministic_rows(base: Run, cand: Run, config: GateConfig) -> list[Comparison]:
    """`visionbench gate`'s rows for figures one run per side decides: memory,
    accuracy, flags, and whole benchmarks failed, missing or new."""
    rows = []
    for row in compare_runs(base, cand, config):
        metric = METRICS.get(row.metric)
        if row.metric == "-" or (metric is not None and metric.kind in DETERMINISTIC_KINDS):
            rows.append(row)
    return rows


def unpaired_rows(
    base: Mapping[str, Any],
    cand: Mapping[str, Any],
    base_failed: Mapping[str, str],
    cand_failed: Mapping[str, str],
    known: set[str],
    skipped: tuple[Mapping[str, str], Mapping[str, str]] = ({}, {}),
) -> list[Comparison]:
    """Benchmarks a lane could not compare: failed, missing, new (those of `known`
    left out). `base`/`cand`: what each side built; `skipped`: each side's skipped
    benchmarks, why (a library its Python cannot import), named in the note."""
    base_skipped, cand_skipped = skipped
    rows = []
    for n in sorted({*base, *base_failed, *cand, *cand_failed} - known):
        if n in cand_failed:
            rows.append(Comparison(n, "-", "failed", note=cand_failed[n]))
        elif n in base_failed and n in cand:
            rows.append(Comparison(n, "-", "new", note=f"failed in the baseline: {base_failed[n]}"))
        elif n not in cand:
            why = f"{SKIPPED_IN}the candidate: {cand_skipped[n]}" if n in cand_skipped else ""
            rows.append(Comparison(n, "-", "missing", note=why or "not in the candidate"))
        elif n not in base:
            why = f"{SKIPPED_IN}the baseline: {base_skipped[n]}" if n in base_skipped else ""
            rows.append(Comparison(n, "-", "new", note=why or "not in the baseline"))
    return rows


def merged(fixed: list[Comparison], lane: list[Comparison]) -> list[Comparison]:
    """The full runs' rows, then the lane's coverage rows of the benchmarks they did not
    already report as failed, missing or new (a full run's missing or new one takes the
    lane's note where that says why a side skipped it)."""
    why = {r.benchmark: r for r in lane if r.metric == "-" and r.note.startswith(SKIPPED_IN)}
    fixed = [
        replace(r, note=why[r.benchmark].note)
        if r.metric == "-" and r.benchmark in why and r.verdict == why[r.benchmark].verdict
        else r
        for r in fixed
    ]
    whole = {r.benchmark for r in fixed if r.metric == "-"}
    return [*fixed, *(r for r in lane if r.benchmark not in whole)]


class FullRuns:
    """The deterministic comparison within what is left of the budget."""

    def __init__(
        self,
        pytest: Pytest,
        store: Store,
        machine: Mapping[str, Any],
        left: Callable[[], float],
    ) -> None:
        self.pytest, self.store, self.machine, self.left = pytest, store, dict(machine), left
        self.selection = " ".join(pytest.args)
        self.warnings: list[str] = []
        self.notes: list[str] = []

    def expected_s(self, runs: int, share_if_unknown: float) -> float:
        """Seconds `runs` full runs took here last time (a tenth more), or
        `share_if_unknown` of what is left when this selection never ran here."""
        last = self.store.full_run_s(self.machine, self.selection)
        if last is None:
            share = share_if_unknown * self.left()
            say(f"full runs never timed here for this selection: the lane leaves them "
                f"{share / 60:.1f} min")  # fmt: skip
            return share
        return 1.1 * runs * last

    def compare(
        self,
        candidate: Side,
        baseline: Side,
        saved: Run | None,
        baseline_names: set[str],
        config: GateConfig,
    ) -> list[Comparison] | None:
        """The rows, or None when a side's run could not be had within the budget."""
        cand = self.run(candidate)
        if cand is None:
            return None
        base = None
        if saved is not None:
            diffs = machine_differences(saved, cand)
            if not diffs:
                base = saved.restricted(baseline_names or set(cand.benchmarks))
                self.notes.append(
                    f"deterministic figures: the baseline's saved run {saved.path} (commit "
                    f"{saved.commit}, same fingerprint) reused; only the candidate trained"
                )
                say(self.notes[-1])
            else:
                listing = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in diffs.items())
                say(f"the baseline's saved run {saved.path} has another fingerprint "
                    f"({listing}): the baseline trains too")  # fmt: skip
        if base is None:
            base = self.run(baseline)
            if base is None:
                return None
        return deterministic_rows(base, cand, config)

    def run(self, side: Side) -> Run | None:
        """One side's full run, stopped at the budget's end (then None, and said)."""
        left = self.left()
        say(f"full run of the {side.name} ({side.label}): training included, "
            f"{left / 60:.1f} min left...")  # fmt: skip
        if left <= 0:
            self._not_compared(side, "full run had no time left in the budget")
            return None
        try:
            run, seconds = self.pytest.run(side, timing_only=False, timeout=left)
        except subprocess.TimeoutExpired:
            self._not_compared(side, f"full run did not end within the {left / 60:.1f} min left")
            self.store.update(self.machine, full_runs={self.selection: left})
            return None
        say(f"  {seconds:.0f} s")
        self.store.update(self.machine, full_runs={self.selection: seconds})
        return run

    def _not_compared(self, side: Side, why: str) -> None:
        self.warnings.append(
            f"WARNING: accuracy, memory and flags NOT COMPARED: the {side.name}'s {why}. Give a "
            "larger --budget, or save a run of the baseline commit on this machine "
            "(`nox -s bench -- --benchmark-save=baseline` there) for the gate to reuse."
        )
        say(self.warnings[-1])
