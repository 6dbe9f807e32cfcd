"""The resolution sweep's knee, read from saved figures: how small can the input get?

Pure: it takes saved benchmarks of one resolution section (objects with
`variant`, `extra_info`, `stats` and `error`, as `visionbench.measure.results.Bench`);
the report states it (`statement`). The knee
is the smallest input size whose accuracy is within the noise of the largest
size's (the reference): a drop no larger than the 95% interval of the
difference, from the binomial noise of both accuracies on their test images or,
with several seeds, the seed-to-seed spread, whichever is larger (the noise model
of `visionbench.stats.equivalence`, shared by every accuracy verdict). Its time and
peak memory against the reference are what the smaller input saves at no
measurable cost in accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from visionbench.measure.figures import infos_difference

KNEE_CONFIDENCE = 0.95  # the knee's interval: a drop within it is "within the noise"


def _usable(b: Any) -> bool:
    info = b.extra_info
    return (
        not b.error
        and isinstance(info.get("image_size"), int)
        and isinstance(info.get("accuracy"), (int, float))
    )


def difference_noise(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Half-width of the 95% interval of accuracy a minus accuracy b (fraction), by the
    one noise model of every accuracy verdict (`stats.equivalence`)."""
    diff = infos_difference(a, b)
    return diff.half_width(KNEE_CONFIDENCE) if diff is not None else 0.0


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


def _ratio(b: Any, ref: Any, value: Any) -> str | None:
    mine, theirs = value(b), value(ref)
    if not isinstance(mine, (int, float)) or not isinstance(theirs, (int, float)) or not theirs:
        return None
    return f"{mine / theirs:.2f}×"


def statement(benches: Sequence[Any]) -> str:
    """The knee statement of a resolution section ("" for any other section)."""
    if not any(b.extra_info.get("technique") == "resolution" for b in benches):
        return ""
    found = knee(benches)
    if found is None:
        return ""
    b, ref, noise = found
    ref_acc = ref.extra_info["accuracy"]
    if b is ref:
        return (
            f"**Knee**: no smaller size is within the noise of {ref.variant}'s accuracy "
            f"({ref_acc:.1%}): every step down the sweep costs accuracy."
        )
    time = _ratio(b, ref, lambda x: x.stats.get("median"))
    memory = _ratio(b, ref, lambda x: x.extra_info.get("peak_mem_bytes"))
    savings = ", ".join(
        text
        for text in (time and f"{time} its time", memory and f"{memory} its peak memory")
        if text
    )
    return (
        f"**Knee**: {b.variant} is the smallest size whose accuracy "
        f"({b.extra_info['accuracy']:.1%}) is within the noise (±{noise * 100:.1f} pt, 95%) of "
        f"the reference {ref.variant} ({ref_acc:.1%})" + (f": {savings}." if savings else ".")
    )
