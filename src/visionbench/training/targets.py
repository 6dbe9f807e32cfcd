"""What training records of its way to a target: each seed's first arrival at the
target accuracy (None when it never arrived within the budget) as the time-to-target
figures (`target_figures`), and every seed's per-epoch history compactly (`curves`),
so that the report can pair seeds and draw them (`visionbench.report.convergence`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

Reached = tuple[int, float] | None  # (epoch, training seconds) of the first arrival


def target_figures(reached: Sequence[Reached]) -> dict[str, Any]:
    """The time-to-target figures (metrics.py names) of one variant over its seeds.

    Means and spread are over the seeds that reached the target, `target_reached`
    is their share, and the per-seed lists hold None for the others.
    """
    if not reached:
        raise ValueError("target_figures needs at least one seed")
    hits = [r for r in reached if r is not None]
    epochs = [float(e) for e, _ in hits]
    return {
        "epochs_to_target": statistics.fmean(epochs) if hits else None,
        "epochs_to_target_std": (
            statistics.stdev(epochs) if len(hits) > 1 else (0.0 if hits else None)
        ),
        "time_to_target_s": statistics.fmean(t for _, t in hits) if hits else None,
        "target_reached": len(hits) / len(reached),
        "epochs_to_target_per_seed": [r[0] if r is not None else None for r in reached],
        "time_to_target_s_per_seed": [r[1] if r is not None else None for r in reached],
    }


CURVE_DIGITS = 4  # significant digits a curve keeps: far finer than any line drawn from it


def curves(histories: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The `curves` figure (metrics.py) of one training per seed, from each run's
    per-epoch history (`train.FitResult.history`): mean training loss, test accuracy and
    training seconds per epoch, one list per seed; the learning rates of seed 0's epochs
    (every seed runs the same schedule). A value that is not finite is kept as None."""

    def keep(value: Any) -> float | None:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(f"{value:.{CURVE_DIGITS}g}")

    def per_seed(key: str) -> list[list[float | None]]:
        return [[keep(row.get(key)) for row in history] for history in histories]

    first = histories[0] if histories else []
    return {
        "loss": per_seed("loss"),
        "accuracy": per_seed("accuracy"),
        "train_time_s": per_seed("train_time_s"),
        "lr": [[keep(v) for v in row.get("lr") or []] for row in first],
    }
