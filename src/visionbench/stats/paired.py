"""Paired statistics: the ratio of two things timed in pairs, and its verdict.

Two sides, A and B, are timed in pairs (A/B processes run back to back, or
a variant and its reference inside one process). Pair i gives one log-ratio
d_i = log(a_i / b_i); whatever slowed the machine during the pair slowed both
members and cancels. The pairs, not the timed rounds, are the samples.

- The ratio a/b is exp of the Hodges–Lehmann estimate of the centre of the
  d_i (the median of their Walsh averages), with its distribution-free
  interval (Walsh averages between the exact signed-rank critical values).
- The test is Wilcoxon's signed-rank test on the d_i (scipy.stats.wilcoxon):
  one-sided for a slowdown or a speed-up. The interval and the test agree:
  the interval at 1 - 2·level lies above 0 exactly when the one-sided exact
  test rejects at `level`.
- Many benchmarks at once: Holm's step-down adjustment (`holm`).
- Pairs added until each benchmark is decided, judged at pre-set looks:
  `visionbench.stats.sequential`.
- Order within pairs: `balanced_orders`, random with as many AB as BA.

Pairs needed to see a change δ at one-sided level α with power `POWER`, for a
pair's log-ratio spread σ_d (`pairs_needed`):
n ≈ (π/3)·((z_{1-α} + z_{POWER})·σ_d / ln(1+δ))² (π/3: the signed-rank
test's efficiency against the t-test on normal data).
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

from visionbench.stats.defaults import POWER

VERDICTS = ("regression", "improvement", "unchanged", "inconclusive")
WILCOXON_EFFICIENCY = 3 / math.pi  # against the t-test, normal data


class PairedRatio(NamedTuple):
    """a/b from paired log-ratios: estimate, interval, two-sided p-value."""

    ratio: float  # exp(Hodges–Lehmann estimate of the centre of log(a_i / b_i))
    ci_low: float  # 0.0 when too few pairs bound it
    ci_high: float  # inf when too few pairs bound it
    p_value: float  # two-sided Wilcoxon signed-rank: the log-ratios centre on 0


def log_ratios(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """log(a_i / b_i) of paired positive figures."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired figures need equal lengths, got {a.shape} and {b.shape}")
    if np.any(a <= 0) or np.any(b <= 0) or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("paired figures must be positive and finite")
    return np.log(a) - np.log(b)


def walsh_averages(d: Sequence[float]) -> np.ndarray:
    """(d_i + d_j) / 2 for all i <= j, sorted."""
    d = np.asarray(d, dtype=float)
    i, j = np.triu_indices(len(d))
    return np.sort((d[i] + d[j]) / 2)


def hodges_lehmann(d: Sequence[float]) -> float:
    """The median of the Walsh averages: the signed-rank test's estimate of the centre."""
    if len(d) == 0:
        return 0.0
    return float(np.median(walsh_averages(d)))


@functools.lru_cache(maxsize=64)
def signed_rank_cdf(n: int) -> np.ndarray:
    """P(T+ <= t), t = 0 .. n(n+1)/2, of the signed-rank statistic under the null (exact)."""
    top = n * (n + 1) // 2
    p = np.zeros(top + 1)
    p[0] = 1.0
    for k in range(1, n + 1):  # rank k is in T+ with probability 1/2
        shifted = np.zeros_like(p)
        shifted[k:] = p[:-k]
        p = (p + shifted) / 2
    return np.cumsum(p)


def hl_interval(d: Sequence[float], confidence: float) -> tuple[float, float]:
    """Distribution-free interval of the centre of `d` (log scale) at `confidence`:
    the Walsh averages at the exact signed-rank critical values. (-inf, inf) when
    n is too small to bound it at that confidence."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    n = len(d)
    if n == 0:
        return -math.inf, math.inf
    tail = (1 - confidence) / 2
    count = int(np.searchsorted(signed_rank_cdf(n), tail * (1 + 1e-12), side="right"))
    if count == 0:
        return -math.inf, math.inf
    w = walsh_averages(d)
    return float(w[count - 1]), float(w[len(w) - count])


def wilcoxon_p(d: Sequence[float], alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p-value that `d` centres on 0 (`greater`: above it).
    No evidence (1.0) when there is no nonzero difference."""
    d = np.asarray(d, dtype=float)
    if not np.any(d != 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample notes; the exact method is used there
        p = float(stats.wilcoxon(d, alternative=alternative).pvalue)
    return 1.0 if math.isnan(p) else p


def paired_ratio(
    a_times: Sequence[float], b_times: Sequence[float], confidence: float = 0.95
) -> PairedRatio:
    """The ratio a/b from paired figures (a_i and b_i measured together), with its
    interval at `confidence` and the two-sided signed-rank p-value."""
    d = log_ratios(a_times, b_times)
    lo, hi = hl_interval(d, confidence)
    return PairedRatio(
        math.exp(hodges_lehmann(d)), math.exp(lo), math.exp(hi), wilcoxon_p(d, "two-sided")
    )


def holm(p_values: Sequence[float], family: int | None = None) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order. `family` counts the
    hypotheses of the family when some are not in `p_values` (counted as never
    rejected: the adjustment is then conservative)."""
    m = len(p_values) if family is None else family
    if m < len(p_values):
        raise ValueError(f"family {m} is smaller than the {len(p_values)} p-values")
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def balanced_orders(pairs: int, rng: random.Random) -> list[str]:
    """AB or BA for each pair: random, in blocks of two holding one of each, so
    every even prefix is balanced (an odd count leaves the last one random)."""
    orders: list[str] = []
    while len(orders) < pairs:
        block = ["AB", "BA"]
        rng.shuffle(block)
        orders.extend(block)
    return orders[:pairs]


# -- judging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """One benchmark's paired comparison at a look."""

    verdict: str  # regression, improvement, unchanged or inconclusive
    ratio: float  # a/b
    ci_low: float
    ci_high: float
    confidence: float  # of the interval: simultaneous over the family, at this look's level
    p_value: float  # Holm-adjusted, one-sided in the direction of the estimate
    p_raw: float  # the same, unadjusted
    pairs: int
    sigma_d: float | None  # sd of one pair's log-ratio (None under 2 pairs)
    tolerance: float
    detectable: float | None  # inconclusive: the smallest change these pairs could prove

    @property
    def decided(self) -> bool:
        return self.verdict != "inconclusive"


def spread(d: Sequence[float]) -> float | None:
    """sd of the log-ratios (ddof 1): σ_d."""
    return float(np.std(d, ddof=1)) if len(d) >= 2 else None


def detectable_change(sigma_d: float | None, pairs: int, level: float, tolerance: float) -> float:
    """The smallest relative change that `pairs` pairs of spread σ_d prove at `level`
    about half the time (never below the tolerance)."""
    if sigma_d is None or pairs < 2:
        return math.inf
    z = float(stats.norm.isf(level))
    return math.expm1(
        max(math.log1p(tolerance), z * sigma_d / math.sqrt(pairs * WILCOXON_EFFICIENCY))
    )


def least_pairs(alpha: float, tests: int = 1) -> int:
    """The fewest pairs at which the exact one-sided signed-rank test can reject at all at
    `alpha` shared by `tests` benchmarks (Bonferroni): its least p-value is 2^-n (all n
    pairs one way), so n must make 2^-n < alpha/tests. 7 at alpha 0.01."""
    return math.floor(math.log2(tests / alpha)) + 1


def pairs_needed(
    sigma_d: float, change: float, alpha: float, power: float = POWER, tests: int = 1
) -> int:
    """Pairs to prove a relative `change` at one-sided `alpha` (shared by `tests`
    benchmarks, Bonferroni) with `power`, for a pair's log-ratio spread σ_d."""
    z = stats.norm.isf(alpha / tests) + stats.norm.ppf(power)
    n = math.ceil((z * sigma_d / math.log1p(change)) ** 2 / WILCOXON_EFFICIENCY)
    return max(n, least_pairs(alpha, tests))


def provable_change(
    sigma: float | None, samples: int, alpha: float, power: float = POWER, tests: int = 1
) -> float:
    """The smallest relative change that `samples` paired samples of log-ratio spread
    `sigma` prove at one-sided `alpha` (shared by `tests` benchmarks) with `power`: the
    inverse of `pairs_needed`. inf when the exact test cannot reject with so few."""
    if sigma is None or samples < 2 or samples < least_pairs(alpha, tests):
        return math.inf
    z = stats.norm.isf(alpha / tests) + stats.norm.ppf(power)
    return math.expm1(z * sigma / math.sqrt(samples * WILCOXON_EFFICIENCY))


def judge(
    logs: Mapping[str, Sequence[float]],
    *,
    level: float,
    tolerance: Mapping[str, float] | float,
    family: int | None = None,
) -> dict[str, Judgement]:
    """Verdicts at one look for benchmarks' log-ratios log(a/b) (a: the candidate).

    `level`: this look's one-sided significance level; `family`: benchmarks in
    the Holm family (default: those given). For each direction separately:

        regression    Holm-adjusted slower p < level, and the estimate beyond the tolerance
        improvement   the same, faster
        unchanged     the interval (simultaneous: 1 - 2·level/family) within ±tolerance
        inconclusive  neither (yet)
    """
    names = list(logs)
    m = family if family is not None else len(names)
    d = {n: np.asarray(logs[n], dtype=float) for n in names}
    raw_slower = [wilcoxon_p(d[n], "greater") for n in names]
    raw_faster = [wilcoxon_p(d[n], "less") for n in names]
    slower = dict(zip(names, holm(raw_slower, m), strict=True))
    faster = dict(zip(names, holm(raw_faster, m), strict=True))
    raw = {n: (ps, pf) for n, ps, pf in zip(names, raw_slower, raw_faster, strict=True)}
    confidence = 1 - 2 * level / max(m, 1)
    out = {}
    for name in names:
        tol = tolerance if isinstance(tolerance, (int, float)) else tolerance[name]
        bound = math.log1p(tol)
        x = d[name]
        est = hodges_lehmann(x)
        lo, hi = hl_interval(x, confidence)
        if slower[name] < level and est > bound:
            verdict = "regression"
        elif faster[name] < level and est < -bound:
            verdict = "improvement"
        elif -bound <= lo and hi <= bound:
            verdict = "unchanged"
        else:
            verdict = "inconclusive"
        up = est >= 0
        sd = spread(x)
        out[name] = Judgement(
            verdict=verdict,
            ratio=math.exp(est),
            ci_low=math.exp(lo),
            ci_high=math.exp(hi),
            confidence=confidence,
            p_value=slower[name] if up else faster[name],
            p_raw=raw[name][0 if up else 1],
            pairs=len(x),
            sigma_d=sd,
            tolerance=tol,
            detectable=(
                detectable_change(sd, len(x), level / max(m, 1), tol)
                if verdict == "inconclusive"
                else None
            ),
        )
    return out
