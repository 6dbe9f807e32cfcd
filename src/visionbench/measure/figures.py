"""A saved benchmark's noisy figure: its `extra_info` read as a `stats.equivalence.Figure`
(the value, the test images it was scored on, its seeds and their spread), and the
difference of two such figures judged by the one rule of every accuracy verdict.

An accuracy keeps its per-image outcomes (`accuracy_outcomes`: right or not, per seed,
on the evaluated test images in their stored order, packed here by `pack_outcomes`) and
which images they are (`eval_set`: a digest of those images' labels, `eval_set_of`).
Two figures with outcomes on the same `eval_set` are compared paired over images
(`stats.outcomes`); any other pair (other images, outcomes not saved: older runs) by the
unpaired rule.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visionbench.stats.equivalence import Difference, Figure, Judgement, accuracy_difference, judge
from visionbench.stats.outcomes import PairedImages

OUTCOMES = "accuracy_outcomes"  # the metric that keeps `accuracy`'s per-image outcomes


def pack_outcomes(correct: Sequence[bool] | np.ndarray) -> str:
    """One seed's outcomes (right or not, per image in order) as hex, 8 images a byte
    (numpy's packbits: the first image the high bit): 1,000 images in 250 characters."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def eval_set_of(labels: Sequence[int] | np.ndarray) -> str:
    """Which test images were scored, in which order: a digest of their labels (the same
    split of the same data gives the same digest at any input size)."""
    data = np.ascontiguousarray(np.asarray(labels, dtype=np.int64))
    return f"labels:{len(data)}:{hashlib.blake2b(data.tobytes(), digest_size=8).hexdigest()}"


def outcomes_of(info: Mapping[str, Any]) -> np.ndarray | None:
    """Seeds x images booleans from `accuracy_outcomes` (None where absent or unreadable:
    not `eval_images` long, or not one per seed)."""
    packed, images = info.get(OUTCOMES), info.get("eval_images")
    if not isinstance(packed, list) or not packed or not _number(images) or images < 1:
        return None
    if len(packed) != int(info.get("seeds") or 1):
        return None
    rows = []
    for text in packed:
        try:
            raw = bytes.fromhex(text) if isinstance(text, str) else b""
        except ValueError:
            return None
        if len(raw) != math.ceil(images / 8):
            return None
        rows.append(np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[: int(images)])
    return np.array(rows, dtype=bool)


def paired_images(a: Mapping[str, Any], b: Mapping[str, Any]) -> PairedImages | None:
    """Both figures' outcomes where they were scored on the same images (`eval_set`);
    None where there is nothing to pair."""
    same = ("eval_set", "dataset")
    if not a.get("eval_set") or any(a.get(key) != b.get(key) for key in same):
        return None
    oa, ob = outcomes_of(a), outcomes_of(b)
    if oa is None or ob is None or oa.shape[1] != ob.shape[1]:
        return None
    return PairedImages(oa, ob)


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
    """`accuracy_difference` of two saved benchmarks' `extra_info` (None if either lacks
    it): paired over images where both kept their outcomes on the same ones (test
    accuracy only), else unpaired."""
    fa, fb = figure_of(a, metric), figure_of(b, metric)
    if fa is None or fb is None:
        return None
    paired = paired_images(a, b) if metric == "accuracy" else None
    return accuracy_difference(fa, fb, paired)


def judge_infos(
    a: Mapping[str, Any], b: Mapping[str, Any], tolerance: float, metric: str = "accuracy"
) -> Judgement | None:
    """`judge` of `a` minus `b`, two saved benchmarks' `extra_info` (None without the figure)."""
    diff = infos_difference(a, b, metric)
    return judge(diff, tolerance) if diff is not None else None
