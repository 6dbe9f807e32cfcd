"""The accuracy a recommendation ends at, against the baseline's: the project's one rule
(`stats.equivalence`), paired over the test images (`stats.outcomes`).

Every confirmation seed is trained until its test accuracy first reaches the target (or
its epochs end) and keeps its per-image outcomes there; the recommendation and the
baseline are scored on the same test images in the same order and ran the same seeds,
so seed i of one is paired with seed i of the other, image by image. A faster recipe
that reaches the target at 96.1% where the baseline ends at 97.5% has bought its speed
with accuracy: "lower by 1.4 pt". A seed on which either side was cut at the budget's
end is left out (it stopped early, not where its training ends). Torch-free: outcomes
are numpy booleans.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

from visionbench.stats.defaults import DEFAULTS
from visionbench.stats.equivalence import (
    BETTER,
    SAME,
    WORSE,
    Figure,
    Judgement,
    accuracy_difference,
    judge,
)
from visionbench.stats.outcomes import PairedImages

TOLERANCE = DEFAULTS["tolerance"]["accuracy"]  # the gate's: a difference within it is no change


def _figure(rows: np.ndarray) -> Figure:
    per_seed = rows.mean(axis=1).tolist()
    return Figure(
        statistics.fmean(per_seed),
        int(rows.shape[1]),
        len(per_seed),
        statistics.stdev(per_seed) if len(per_seed) > 1 else None,
    )


def final_accuracy(
    mine: Sequence[np.ndarray | None],
    base: Sequence[np.ndarray | None],
    tolerance: float = TOLERANCE,
) -> Judgement | None:
    """`mine` minus `base` in final test accuracy, judged (same, better, worse, not
    resolved): per seed, each side's outcomes (right or not on each test image), None
    where that seed was cut. Only the seeds both finished are paired; None without one."""
    pairs = [(a, b) for a, b in zip(mine, base, strict=False) if a is not None and b is not None]
    if not pairs or any(len(a) != len(b) or len(a) == 0 for a, b in pairs):
        return None
    a = np.array([p[0] for p in pairs], dtype=bool)
    b = np.array([p[1] for p in pairs], dtype=bool)
    diff = accuracy_difference(_figure(a), _figure(b), PairedImages(a, b))
    return judge(diff, tolerance)


def words(judgement: Judgement | None) -> str:
    """The verdict for the trials' table: `same accuracy`, `lower by 1.4 pt`, `higher by
    0.8 pt`, `not resolved (±1.2 pt)`; `–` where nothing was paired."""
    if judgement is None:
        return "–"
    if judgement.verdict == SAME:
        return "same accuracy"
    if judgement.verdict in (BETTER, WORSE):
        way = "higher" if judgement.verdict == BETTER else "lower"
        return f"{way} by {abs(judgement.change) * 100:.1f} pt"
    return f"not resolved (±{judgement.noise * 100:.1f} pt)"
