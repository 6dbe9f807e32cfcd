"""A variant timed round by round with its reference, in one process: the ratio
of the two with a confidence interval that the machine's drift does not move.

Two benchmarks timed one after the other, minutes apart, differ by the
machine's mood as much as by the technique (on a shared 2-core machine the
same small-CNN step had medians 7.0 to 10.6 ms within one run). Timing the
reference between the variant's rounds, in a random but balanced order
(variant first in half the rounds, reference first in the other half), makes
every round a pair that both sides of drift hit alike: randomized multiple
interleaved trials (Abedi & Brecht, ICPE 2017), asv's interleaved rounds,
Google Benchmark's random interleaving. The pairs' log-ratios give the ratio
and its interval through the same paired statistics as the A/B gate
(`visionbench.gate.paired`).

The variant's rounds stay pytest-benchmark's own samples (saved and gated as
before): the reference is timed right before the variant's round in
`benchmark.pedantic`'s untimed `setup`, or right after it in its untimed
`teardown` (pytest-benchmark 5.2), as the pair's order says.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from visionbench.gate.paired import balanced_orders, paired_ratio

CONFIDENCE = 0.95  # of the recorded ratio_ci_low .. ratio_ci_high
VARIANT_FIRST, REFERENCE_FIRST = "AB", "BA"  # A: the variant, B: its reference


@dataclass(frozen=True)
class Interleaved:
    """The timed rounds of a variant and of its reference, pair by pair."""

    variant: tuple[float, ...]  # pytest-benchmark's samples, seconds
    reference: tuple[float, ...]  # the reference's, timed in the same rounds
    orders: tuple[str, ...]  # each pair's order: VARIANT_FIRST or REFERENCE_FIRST

    def figures(self, confidence: float = CONFIDENCE) -> dict[str, Any]:
        """ratio_vs_ref (variant / reference) with its interval, over the pairs.
        An interval too few pairs cannot bound is left out, not made up."""
        r = paired_ratio(self.variant, self.reference, confidence)
        figures: dict[str, Any] = {"ratio_vs_ref": r.ratio, "paired_rounds": len(self.variant)}
        if r.ci_low > 0 and r.ci_high < float("inf"):
            figures.update(ratio_ci_low=r.ci_low, ratio_ci_high=r.ci_high)
        return figures


def time_interleaved(
    benchmark: Any,
    unit: Callable[[], Any],
    reference: Callable[[], Any],
    *,
    rounds: int,
    warmup_rounds: int,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> Interleaved | None:
    """`benchmark.pedantic(unit)` with `reference` timed once per round, paired.

    Both callables must already end with a device synchronisation. Warm-up
    rounds warm the reference too (reference first; not paired). None when
    pytest-benchmark did not time the rounds (`--benchmark-disable`).
    """
    timed = balanced_orders(rounds, random.Random(seed))
    orders = [REFERENCE_FIRST] * warmup_rounds + timed
    ref_times: list[float] = []
    started = 0  # rounds whose setup has run

    def time_reference() -> None:
        start = clock()
        reference()
        ref_times.append(clock() - start)

    def setup() -> None:
        nonlocal started
        if started < len(orders) and orders[started] == REFERENCE_FIRST:
            time_reference()
        started += 1

    def teardown() -> None:
        if started <= len(orders) and orders[started - 1] == VARIANT_FIRST:
            time_reference()

    benchmark.pedantic(
        unit,
        setup=setup,
        teardown=teardown,
        rounds=rounds,
        warmup_rounds=warmup_rounds,
        iterations=1,
    )
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    samples = list(getattr(stats, "data", None) or ())
    if started != len(orders) or len(samples) != rounds or len(ref_times) != len(orders):
        return None  # not timed round by round (--benchmark-disable, --benchmark-cprofile)
    return Interleaved(tuple(samples), tuple(ref_times[warmup_rounds:]), tuple(timed))
