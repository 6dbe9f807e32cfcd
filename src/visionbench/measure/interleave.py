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
(`visionbench.stats.paired`).

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

from visionbench.stats.paired import balanced_orders, paired_ratio

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


class Pairing:
    """The reference's side of an interleaved timing: give `setup` and `teardown`
    to `benchmark.pedantic` (untimed, around each round of the variant), then
    `result` pairs the variant's samples with the reference's rounds.

    Warm-up rounds warm the reference too (reference first; not paired).
    `reference` must already end with a device synchronisation.
    """

    def __init__(
        self,
        reference: Callable[[], Any],
        *,
        rounds: int,
        warmup_rounds: int,
        seed: int = 0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.reference = reference
        self.clock = clock
        self.rounds, self.warmup_rounds = rounds, warmup_rounds
        self.timed_orders = tuple(balanced_orders(rounds, random.Random(seed)))
        self.orders = (REFERENCE_FIRST,) * warmup_rounds + self.timed_orders
        self.ref_times: list[float] = []
        self.started = 0  # rounds whose setup has run

    def _time_reference(self) -> None:
        start = self.clock()
        self.reference()
        self.ref_times.append(self.clock() - start)

    def setup(self) -> None:
        if self.started < len(self.orders) and self.orders[self.started] == REFERENCE_FIRST:
            self._time_reference()
        self.started += 1

    def teardown(self, *_: Any) -> None:
        k = self.started - 1
        if k < len(self.orders) and self.orders[k] == VARIANT_FIRST:
            self._time_reference()

    def result(self, benchmark: Any) -> Interleaved | None:
        """The pairs, from the benchmark's samples of the variant; None when
        pytest-benchmark did not time the rounds one by one (--benchmark-disable,
        --benchmark-cprofile's extra calls)."""
        stats = getattr(getattr(benchmark, "stats", None), "stats", None)
        samples = list(getattr(stats, "data", None) or ())
        if (
            self.started != len(self.orders)
            or len(samples) != self.rounds
            or len(self.ref_times) != len(self.orders)
        ):
            return None
        paired = tuple(self.ref_times[self.warmup_rounds :])
        return Interleaved(tuple(samples), paired, self.timed_orders)
