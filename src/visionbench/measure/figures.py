"""A saved benchmark's noisy figure: its `extra_info` read as a `stats.equivalence.Figure`
(the value, the test images it was scored on, its seeds and their spread), and the
difference of two such figures judged by the one rule of every accuracy verdict.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from visionbench.stats.equivalence import Difference, Figure, Judgement, accuracy_difference, judge


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def figure_of(info: Mapping[str, Any], metric: str = "accuracy") -> Figure | None:
    """A saved benchmark's figure (`extra_info`): its value, `eval_images`, `seeds`
    and `{metric}_std` (or the spread of `{metric}_per_seed`); None if not recorded."""
    value = info.get(metric)
    if not _number(value):
        return None
    std = info.get(f"{metric}_std")
    per_seed = [v for v in info.get(f"{metric}_per_seed") or [] if _number(v)]
    if not _number(std) and len(per_seed) > 1:
        std = statistics.stdev(per_seed)
    images = info.get("eval_images")
    return Figure(
        float(value),
        int(images) if _number(images) and images > 0 else None,
        int(info.get("seeds") or 1),
        float(std) if _number(std) else None,
    )


def infos_difference(
    a: Mapping[str, Any], b: Mapping[str, Any], metric: str = "accuracy"
) -> Difference | None:
    """`accuracy_difference` of two saved benchmarks' `extra_info` (None if either lacks it)."""
    fa, fb = figure_of(a, metric), figure_of(b, metric)
    return accuracy_difference(fa, fb) if fa is not None and fb is not None else None


def judge_infos(
    a: Mapping[str, Any], b: Mapping[str, Any], tolerance: float, metric: str = "accuracy"
) -> Judgement | None:
    """`judge` of `a` minus `b`, two saved benchmarks' `extra_info` (None without the figure)."""
    diff = infos_difference(a, b, metric)
    return judge(diff, tolerance) if diff is not None else None
