"""Sequential looks: pairs are added until each benchmark is decided.

A benchmark is judged (`visionbench.stats.paired.judge`) at pre-set pair counts
(`Looks`). The significance level is spent across the looks with a Lan–DeMets
spending function of O'Brien–Fleming type (little early, most at the end); each
look may use the alpha spent since the one before (a union bound: P(any false
regression) <= sum of the looks' levels = alpha, whatever the dependence between
looks). A last look that comes early, because the time budget ran out, spends
what is left. The first look comes at the fewest pairs at which the exact test
can reject at all (`paired.least_pairs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

from visionbench.stats.paired import Judgement, judge, least_pairs


def obrien_fleming_spent(t: float, alpha: float) -> float:
    """Alpha spent by information fraction t (Lan–DeMets, O'Brien–Fleming type), one-sided."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    return float(2 * stats.norm.sf(stats.norm.isf(alpha / 2) / math.sqrt(t)))


@dataclass(frozen=True)
class Looks:
    """Pre-set looks: after `at[k]` pairs, with `alpha` spent across them."""

    at: tuple[int, ...]  # pair counts, increasing; the last one is the most pairs
    alpha: float  # one-sided level over all looks

    def __post_init__(self) -> None:
        if not self.at or any(b <= a for a, b in zip(self.at, self.at[1:], strict=False)):
            raise ValueError(f"looks must be increasing pair counts, got {self.at}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")

    @classmethod
    def growing(
        cls, max_pairs: int, alpha: float, first: int | None = None, growth: float = 1.5
    ) -> Looks:
        """Looks at `first` pairs (default: the fewest at which the exact test can reject
        at `alpha`, `least_pairs`), then ×`growth` (even counts: as many AB as BA), up to
        `max_pairs`."""
        if max_pairs < 2:
            raise ValueError(f"max_pairs must be at least 2, got {max_pairs}")
        first = least_pairs(alpha) if first is None else first
        at, n = [], min(first, max_pairs)
        while n < max_pairs:
            at.append(n)
            n = max(n + 2, 2 * round(n * growth / 2))
        return cls((*at, max_pairs), alpha)

    def spent(self, k: int) -> float:
        """Alpha spent by the end of look k (0-based); -1: none yet."""
        return 0.0 if k < 0 else obrien_fleming_spent(self.at[k] / self.at[-1], self.alpha)

    def level(self, k: int, final: bool = False) -> float:
        """One-sided level of look k: what was spent since look k-1, or on a final
        look (the last pre-set one, or one the budget brought forward) all that is left."""
        if final or k >= len(self.at) - 1:
            return self.alpha - self.spent(k - 1)
        return self.spent(k) - self.spent(k - 1)


# -- the sequential comparison ---------------------------------------------------------------


@dataclass
class Sequential:
    """What `run_looks` decided."""

    judgements: dict[str, Judgement]
    failed: dict[str, str]  # benchmark -> why (the candidate's, or the baseline's)
    samples: int  # paired samples measured (blocks, or pairs of processes)
    logs: dict[str, list[float]]  # each sample's log(a / b), by benchmark


Measure = Callable[[int, list[str]], tuple[Mapping[str, float], Mapping[str, str]]]


def run_looks(
    names: Sequence[str],
    measure: Measure,
    looks: Looks,
    tolerance: Mapping[str, float],
    room_for_another: Callable[[], bool] = lambda: True,
    first: tuple[Mapping[str, float], Mapping[str, str]] | None = None,
) -> Sequential:
    """Paired samples until every benchmark is decided, the looks end or the time does.

    `measure(i, active)` measures sample i over the active benchmarks and returns
    (log-ratio by benchmark, error by benchmark); `first` is sample 0 when it was
    already measured. At each pre-set look the active benchmarks are judged at
    that look's level; the decided leave. The last look (the last pre-set one, or
    earlier when `room_for_another()` says no) decides the rest.
    """
    logs: dict[str, list[float]] = {n: [] for n in names}
    active, done, failed = list(names), {}, {}
    k = count = 0
    while active:
        final = not room_for_another() and count > 0
        if not final:
            ratios, errors = first if count == 0 and first else measure(count, active)
            count += 1
            for n in active:
                if n in errors or n not in ratios:
                    failed[n] = errors.get(n, "no figure in this sample")
                else:
                    logs[n].append(float(ratios[n]))
            active = [n for n in active if n not in failed]
            if count < looks.at[k] or not active:
                continue
        final = final or k == len(looks.at) - 1
        rejected = sum(j.verdict in ("regression", "improvement") for j in done.values())
        verdicts = judge(
            {n: logs[n] for n in active},
            level=looks.level(k, final),
            tolerance={n: tolerance[n] for n in active},
            family=max(len(names) - rejected, len(active)),
        )
        for n, j in verdicts.items():
            if j.decided or final:
                done[n] = j
        active = [n for n in active if n not in done]
        k += 1
        if final:
            break
    return Sequential(done, failed, count, logs)
