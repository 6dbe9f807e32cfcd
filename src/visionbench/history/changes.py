"""Change points: where a figure's history on one machine stepped to a new level.

A pull request's gate compares two sides measured together; the slow creep of
main, a step that no single comparison saw, shows in the history of its runs.
The history of one figure (a benchmark's median time, its peak memory, its
accuracy or its time ratio to the reference) on one machine fingerprint, in
commit order, is segmented by ruptures' PELT (optimal partitioning, Killick et
al. 2012) on the log of the values (a step is a ratio; accuracy, a fraction,
stays as it is: a step is points), with the penalty BIC gives a shift in the
mean of Gaussian noise, 2·σ²·ln n, σ read from the series itself (the MAD of
successive differences, which a step hardly moves).

A step PELT proposes is kept only when it is what the gate would call a
change: beyond the gate's tolerance for that kind of figure (10% for time, 5%
and 1 MiB for memory, 1 point of accuracy: `[tool.visionbench.gate]`), and
significant: Student's t-test of the two stretches it separates (up to the
neighbouring steps) at the gate's alpha, Bonferroni-corrected for the
positions the split could have taken in that stretch (PELT puts it where the
difference looks largest, so its raw p-value would flatter it) and for the
steps tested together. The weakest failing step is dropped and its
neighbours tested again over the merged stretch, until every step left
passes. A step needs `MIN_RUNS` (3) runs on each side: timings have heavy
tails (a busy minute slows one run by half), and with 2, flat series of
t-distributed noise (3 degrees of freedom, scale 5%) got a step about once in
ten; with 3, about once in fifty at 60 runs and less in shorter ones, while
a +20% step with 2% noise between runs is found at its commit from 3 runs on
each side (with 5% noise, 5 on each side find it more than 8 times in 10). The newest
runs are never a change point alone: the next runs confirm it or not.

Why not E-Divisive (MongoDB's `signal-processing-algorithms`) or Apache Otava,
the libraries made for benchmark histories: both pin numpy below the versions
torch and this project run with (the first `numpy<2`, `setuptools<71` and
Python 3.11 only, the second `numpy==2.2.*` and `scipy<1.17`, with BigQuery,
Postgres and Slack clients), so installing either would downgrade the
environment's numpy. ruptures (numpy and scipy only) finds the split, and the
test above plays the part of E-Divisive's permutation test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ruptures
from scipy import stats

from visionbench.ab.bisection import command_line
from visionbench.gate.config import GateConfig
from visionbench.history.series import Series, commit_order
from visionbench.measure.format import fmt_value
from visionbench.measure.metrics import METRICS
from visionbench.measure.results import Run

MIN_RUNS = 3  # runs on each side of a step: the newest run alone is not a change


@dataclass(frozen=True)
class Step:
    """A change point: values from `index` on differ from those before it."""

    index: int  # the first value of the new level
    before: float  # the level before (geometric mean for ratios, mean for fractions)
    after: float
    p_value: float  # Bonferroni-corrected over the positions the split could take
    relative: bool  # True: `size` is after / before - 1; False: after - before (points)

    @property
    def size(self) -> float:
        return self.after / self.before - 1 if self.relative else self.after - self.before

    def text(self) -> str:
        """`+20.3%` (a ratio) or `+1.5 pt` (accuracy)."""
        if self.relative:
            return f"{self.size:+.1%}"
        return f"{self.size * 100:+.1f} pt"


def _noise(y: np.ndarray) -> float:
    """The sd of one value, from the median absolute successive difference: a step
    moves one difference of many, so it hardly enters (Gaussian consistency 1.4826)."""
    diffs = np.abs(np.diff(y))
    return float(1.4826 * np.median(diffs) / math.sqrt(2)) if diffs.size else 0.0


def _test(left: np.ndarray, right: np.ndarray, positions: int) -> float:
    """Two-sided Student's t-test of two segments (the same machine: the same noise
    either side), Bonferroni over `positions` (splits times steps); constant values
    on both sides are a step for certain when they differ."""
    if np.ptp(left) == 0 and np.ptp(right) == 0:
        return 0.0 if left[0] != right[0] else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(left, right, equal_var=True).pvalue)
    return min(1.0, p * positions) if math.isfinite(p) else 1.0


def find_steps(
    values: Sequence[float], relative: bool, tolerance: float, alpha: float
) -> list[Step]:
    """The change points of one series (in commit order): each step beyond `tolerance`
    (relative, or in fraction points when not `relative`) and significant at `alpha`."""
    y = np.asarray(values, dtype=float)
    if relative:
        if np.any(y <= 0):
            raise ValueError("a relative series needs positive values")
        y = np.log(y)
    n = y.size
    if n < 2 * MIN_RUNS:
        return []
    sigma = max(_noise(y), 1e-9 * max(1.0, float(np.max(np.abs(y)))))
    cuts = (
        ruptures.Pelt(model="l2", min_size=MIN_RUNS, jump=1)
        .fit(y)
        .predict(pen=2 * sigma**2 * math.log(n))[:-1]
    )  # PELT ends the list with n itself

    def judge(cuts: list[int]) -> list[tuple[Step, bool]]:
        edges = [0, *cuts, n]
        judged = []
        for lo, k, hi in zip(edges, edges[1:], edges[2:], strict=False):
            left, right = y[lo:k], y[k:hi]
            before, after = float(left.mean()), float(right.mean())
            if relative:
                before, after = math.exp(before), math.exp(after)
            p = _test(left, right, positions=(hi - lo - 2 * MIN_RUNS + 1) * len(cuts))
            step = Step(k, before, after, p, relative)
            judged.append((step, p < alpha and abs(step.size) > tolerance))
        return judged

    while True:
        judged = judge(cuts)
        failing = [(s.p_value, -abs(s.size), i) for i, (s, ok) in enumerate(judged) if not ok]
        if not failing:
            return [step for step, _ in judged]
        cuts.pop(max(failing)[2])


# -- the history's change points ---------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A step in one series: between the run `before` and the run `after`."""

    series: Series
    step: Step

    @property
    def before(self) -> Run:
        return self.series.points[self.step.index - 1].run

    @property
    def after(self) -> Run:
        return self.series.points[self.step.index].run

    def commits(self) -> str:
        """The commit range the step falls in: `abc12345..def67890`."""
        return f"{self.before.commit or '?'}..{self.after.commit or '?'}"

    def bisect_command(self) -> str:
        """The command that finds the commit of a step in time (`visionbench.ab.bisection`,
        the A/B lane); "" for another figure, or when a run does not know its commit."""
        if _kind(self.series.metric) != "time" or not (self.before.commit and self.after.commit):
            return ""
        return command_line(self.before.commit, self.after.commit, self.series.fullname)

    def levels(self) -> str:
        metric = self.series.metric
        if metric == "ratio_vs_ref":
            return f"{self.step.before:.2f}× → {self.step.after:.2f}×"
        return f"{fmt_value(metric, self.step.before)} → {fmt_value(metric, self.step.after)}"


def _kind(metric: str) -> str:
    """The gate's tolerance kind of a figure (a time ratio is a time)."""
    return "time" if metric == "ratio_vs_ref" else METRICS[metric].kind


def series_steps(series: Series, config: GateConfig) -> list[Step]:
    """The change points of one series, by the gate's tolerances for its benchmark."""
    kind = _kind(series.metric)
    relative = kind != "accuracy"
    values = [p.value for p in series.points]
    if relative and any(v <= 0 for v in values):
        return []  # a zero time or size: nothing to take the log of, no ratio to report
    tolerance = config.tolerance_for(series.fullname, kind)
    steps = find_steps(values, relative, tolerance, config.alpha)
    if kind == "memory":
        floor = config.memory_min_for(series.fullname)
        steps = [s for s in steps if abs(s.after - s.before) > floor]
    return steps


def scan(series: Sequence[Series], config: GateConfig | None = None) -> list[Change]:
    """Every change point of every series, newest first."""
    config = config or GateConfig()
    changes = [Change(s, step) for s in series for step in series_steps(s, config)]
    changes.sort(key=lambda c: commit_order(c.after), reverse=True)
    return changes
