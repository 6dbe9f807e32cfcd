"""The confidence cascade: run the cheapest model, escalate the unsure images.

Stage m answers an image when its top softmax probability is at least the
stage's threshold; otherwise the image goes on to model m + 1. The last model
answers whatever reaches it. A threshold of 0 never escalates; infinity always
does. Thresholds are chosen on the validation images (never the test split):
the cheapest combination from the grid whose accuracy is within `tolerance` of
the best single model's (ties: the more accurate).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def final_stage(confidence: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """The model that answers each image: confidence is N x M (each model's top
    softmax probability on each image, cheapest first), thresholds M - 1."""
    confidence = np.asarray(confidence, dtype=float)
    n, m = confidence.shape
    if len(thresholds) != m - 1:
        raise ValueError(f"{m} models need {m - 1} thresholds, got {len(thresholds)}")
    stage = np.full(n, m - 1, dtype=np.int64)
    open_ = np.ones(n, dtype=bool)
    for j, t in enumerate(thresholds):
        stop = open_ & (confidence[:, j] >= t)
        stage[stop] = j
        open_ &= ~stop
    return stage


def reach(stage: np.ndarray, models: int) -> np.ndarray:
    """Share of images each model runs on: model j runs on every image answered
    at stage j or later."""
    stage = np.asarray(stage)
    return np.array([(stage >= j).mean() for j in range(models)])


@dataclass(frozen=True)
class Thresholds:
    values: tuple[float, ...]  # one per stage but the last
    accuracy: float  # on the images they were chosen on
    cost: float  # mean cost per image there (every model an image passes through)


def evaluate(
    confidence: np.ndarray,
    correct: np.ndarray,
    costs: Sequence[float],
    thresholds: Sequence[float],
) -> Thresholds:
    stage = final_stage(confidence, thresholds)
    hit = np.asarray(correct, dtype=bool)[np.arange(len(stage)), stage]
    cost = float(reach(stage, len(costs)) @ np.asarray(costs, dtype=float))
    return Thresholds(tuple(thresholds), float(hit.mean()), cost)


def choose_thresholds(
    confidence: np.ndarray,
    correct: np.ndarray,
    costs: Sequence[float],
    grid: Sequence[float],
    tolerance: float,
) -> Thresholds:
    """Search every combination of grid values (plus 0 and infinity) per stage."""
    correct = np.asarray(correct, dtype=bool)
    if correct.shape != np.shape(confidence) or correct.shape[1] != len(costs):
        raise ValueError(
            f"confidence {np.shape(confidence)}, correct {correct.shape} and "
            f"{len(costs)} costs do not match"
        )
    values = sorted({0.0, math.inf, *grid})
    options = [
        evaluate(confidence, correct, costs, combo)
        for combo in itertools.product(values, repeat=correct.shape[1] - 1)
    ]
    # Every single model is one of the combinations (infinity up to it, then 0),
    # so the best single model always qualifies.
    target = float(correct.mean(axis=0).max()) - tolerance
    good = [o for o in options if o.accuracy >= target - 1e-12]
    return min(good, key=lambda o: (o.cost, -o.accuracy))
