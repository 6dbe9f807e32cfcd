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

A profile whose `Timing.processes` is k > 1 has the same pairs timed in k - 1
more processes (`measure.workers`); `across` records each process's log-ratios
(`ratio_log_per_process`) and their pids, and when the run is saved `widen_run`
adds the between-process variance, pooled over the run's ratios
(`stats.between_process`), to every ratio's interval: the interval then claims
what another run of the same commit would find, not only what more rounds of
this process would.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from visionbench.stats import between_process
from visionbench.stats.paired import (
    balanced_orders,
    hl_interval,
    hodges_lehmann,
    log_ratios,
    paired_ratio,
)

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


def across(processes: Sequence[tuple[int, Interleaved]], confidence: float = CONFIDENCE) -> dict:
    """ratio_vs_ref with its interval over the pairs of several processes (pid, pairs),
    the bench's own first; each process's log-ratios and pid kept for `widen_run`."""
    logs = [log_ratios(p.variant, p.reference) for _, p in processes]
    d = [x for process in logs for x in process]
    lo, hi = hl_interval(d, confidence)
    figures: dict[str, Any] = {
        "ratio_vs_ref": math.exp(hodges_lehmann(d)),
        "paired_rounds": len(d),
        "ratio_log_per_process": [[round(float(x), 6) for x in process] for process in logs],
        "ratio_pids": [pid for pid, _ in processes],
    }
    if math.isfinite(lo) and math.isfinite(hi):
        figures.update(ratio_ci_low=math.exp(lo), ratio_ci_high=math.exp(hi))
    return figures


def widen_run(benchmarks: Sequence[dict], confidence: float = CONFIDENCE) -> between_process.Pooled:
    """Every paired ratio's interval in a run's benchmarks (pytest-benchmark's JSON
    entries, changed in place) widened by the between-process variance pooled over the
    ratios timed in two processes or more; a ratio timed in one process gets the whole
    shift of one process. Nothing changes when no ratio had two processes."""
    infos = [b.get("extra_info") or {} for b in benchmarks]
    analyses = [
        between_process.one_way(e["ratio_log_per_process"])
        for e in infos
        if len(e.get("ratio_log_per_process") or ()) >= 2
    ]
    pooled = between_process.pool([a for a in analyses if a is not None])
    if pooled.ratios == 0:
        return pooled
    for e in infos:
        if not all(
            isinstance(e.get(k), float) for k in ("ratio_vs_ref", "ratio_ci_low", "ratio_ci_high")
        ):
            continue
        processes = len(e.get("ratio_log_per_process") or ()) or 1
        lo, hi = between_process.widen(
            math.log(e["ratio_vs_ref"]),
            math.log(e["ratio_ci_low"]),
            math.log(e["ratio_ci_high"]),
            pooled,
            processes,
            confidence,
            within_df=(e.get("paired_rounds") or 2) - 1,
        )
        e.update(ratio_ci_low=math.exp(lo), ratio_ci_high=math.exp(hi), ratio_between_sd=pooled.sd)
        if math.isfinite(pooled.df):
            e["ratio_between_df"] = pooled.df
    return pooled
