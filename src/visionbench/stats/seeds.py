"""Paired over seeds: seed i gives every variant the same initialisation and data order,
so two variants compare seed by seed (a difference per seed).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from scipy import stats


def paired_interval(
    diffs: Sequence[float], confidence: float = 0.95
) -> tuple[float, float | None, float | None]:
    """Mean of paired differences and its t-interval (None, None with one pair)."""
    if not diffs:
        raise ValueError("paired_interval needs at least one difference")
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return mean, None, None
    half = stats.t.ppf((1 + confidence) / 2, len(diffs) - 1) * statistics.stdev(diffs)
    half /= math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def sign_test(diffs: Sequence[float]) -> float:
    """Two-sided exact sign test over the non-zero differences (1.0 when all are zero)."""
    below = sum(d < 0 for d in diffs)
    nonzero = below + sum(d > 0 for d in diffs)
    return float(stats.binomtest(below, nonzero).pvalue) if nonzero else 1.0
