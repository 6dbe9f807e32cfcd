"""The resolution sweep's knee, read from saved figures: how small can the input get?

Pure: it takes saved benchmarks of one resolution section (objects with
`variant`, `extra_info`, `stats` and `error`, as `visionbench.results.Bench`);
the report states it (`visionbench.report.sections.knee_statement`). The knee
is the smallest input size whose accuracy is within the noise of the largest
size's (the reference): a drop no larger than the 95% interval of the
difference, from the binomial noise of both accuracies on their test images or,
with several seeds, the seed-to-seed spread, whichever is larger. Its time and
peak memory against the reference are what the smaller input saves at no
measurable cost in accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Z95 = 1.96  # two-sided 95% normal quantile


def _usable(b: Any) -> bool:
    info = b.extra_info
    return (
        not b.error
        and isinstance(info.get("image_size"), int)
        and isinstance(info.get("accuracy"), (int, float))
    )


def difference_noise(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Half-width of the 95% interval of accuracy a minus accuracy b (fraction)."""
    binomial = 0.0
    if a.get("eval_images") and b.get("eval_images"):
        binomial = Z95 * math.sqrt(
            sum(x["accuracy"] * (1 - x["accuracy"]) / x["eval_images"] for x in (a, b))
        )
    seeds = 0.0
    if (a.get("seeds") or 1) > 1 and (b.get("seeds") or 1) > 1:
        seeds = Z95 * math.sqrt(
            sum((x.get("accuracy_std") or 0.0) ** 2 / x["seeds"] for x in (a, b))
        )
    return max(binomial, seeds)


def knee(benches: Sequence[Any]) -> tuple[Any, Any, float] | None:
    """(the knee's benchmark, the reference's, the noise) or None without a reference."""
    usable = sorted((b for b in benches if _usable(b)), key=lambda b: b.extra_info["image_size"])
    ref_name = next((b.reference for b in usable if b.reference), None)
    ref = next((b for b in usable if b.variant == ref_name), None)
    if ref is None:
        return None
    for b in usable:
        noise = difference_noise(b.extra_info, ref.extra_info)
        if ref.extra_info["accuracy"] - b.extra_info["accuracy"] <= noise:
            return b, ref, noise
    return ref, ref, 0.0
