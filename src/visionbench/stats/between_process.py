"""The between-process part of a paired ratio's variance: one-way random effects.

A variant and its reference timed round by round in one process give log-ratios
d_i whose spread is the *within*-process noise; the process itself (its memory
layout, its moment on a shared machine) shifts all of its d_i alike, by a few
percent, and that shift is invisible from inside one process. Measured on a
2-core AMD EPYC: two quick runs of one commit, minutes apart, overlapped on 23 of
26 paired intervals (channels_last 0.75x [0.73-0.79], then 0.81x [0.79-0.84]).

So each ratio is timed in k processes (`measure.workers`), and the log-ratios,
grouped by process, give a one-way analysis of variance (Searle, Casella &
McCulloch, "Variance Components", 1992, ch. 3):

    MS_B = sum n_j (m_j - m)^2 / (k - 1)         between processes
    MS_W = sum sum (d_ij - m_j)^2 / (N - k)      within them
    tau^2 = (MS_B - MS_W) / n0,  n0 = (N - sum n_j^2 / N) / (k - 1)

tau is the sd of a process's shift of log(ratio). One ratio's k = 2 or 3
processes give it 1 or 2 degrees of freedom: too few to bound anything. The
shift is a property of the machine and the harness more than of one unit, so
tau^2 is pooled over the run's ratios (`pool`: their estimates averaged,
weighted by their degrees of freedom, clamped at 0 only after averaging so that
the pool stays unbiased), with Satterthwaite's degrees of freedom. A run of 26
ratios at k = 2 then has about 26 degrees of freedom for tau^2.

The interval (`widen`) then adds the pooled shift, over the k processes the
ratio was averaged over, to the within-process interval's half-widths in
quadrature: half = sqrt(h_within^2 + (t_df * tau / sqrt(k))^2). With no
between-process shift the pool's tau^2 is near 0 and the interval grows only
by the estimate's noise (synthetic runs of 26 ratios, pairs' noise sd 0.03: over
400 runs the median interval widened at most 1.44x; a planted shift of sd 0.05
widened them 2x and more, and took their coverage of the truth from under 75% to
over 90%).

Measured on the machine (2-core AMD EPYC, shared, load 10-20): two runs of 12
small-CNN and 3-conv-CNN ratios at k = 2 pooled tau = 0.14 (one ratio, bf16's step,
0.61 in tau^2 alone: the load moved between its two processes) and 0 (tau^2
estimates -0.11 to 0.06): at such load the within-process intervals are already
0.4x to 2x wide and the two runs overlapped on 12/12 single-process intervals, so
this measurement does not tell whether k = 2 suffices on a quiet machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class OneWay:
    """One ratio's one-way analysis of its log-ratios grouped by process."""

    ms_between: float
    ms_within: float
    n0: float  # the effective group size
    df_between: int  # k - 1
    df_within: int  # N - k

    @property
    def tau2(self) -> float:
        """Unbiased (may be negative) estimate of the between-process variance."""
        return (self.ms_between - self.ms_within) / self.n0


@dataclass(frozen=True)
class Pooled:
    """The between-process variance of log(ratio), pooled over a run's ratios."""

    tau2: float  # >= 0
    tau2_var: float  # the variance of that estimate (from the expected mean squares)
    ratios: int  # ratios with two processes or more behind it

    @property
    def sd(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def df(self) -> float:
        """Satterthwaite's degrees of freedom of tau2 (inf when it is 0)."""
        return 2 * self.tau2**2 / self.tau2_var if self.tau2 > 0 and self.tau2_var > 0 else math.inf


NONE = Pooled(0.0, 0.0, 0)  # no ratio timed in two processes: nothing known


def one_way(groups: Sequence[Sequence[float]]) -> OneWay | None:
    """The analysis of `groups` (each process's log-ratios); None under two groups
    of at least one value each, or without a within-group degree of freedom."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    k = len(groups)
    n = np.array([len(g) for g in groups], dtype=float)
    total = float(n.sum())
    if k < 2 or total - k < 1:
        return None
    means = np.array([g.mean() for g in groups])
    grand = float((n * means).sum() / total)
    ss_b = float((n * (means - grand) ** 2).sum())
    ss_w = float(sum(((g - g.mean()) ** 2).sum() for g in groups))
    n0 = (total - float((n**2).sum()) / total) / (k - 1)
    return OneWay(ss_b / (k - 1), ss_w / (total - k), n0, k - 1, int(total - k))


def pool(analyses: Sequence[OneWay]) -> Pooled:
    """tau^2 averaged over the ratios' analyses, weighted by their between-process
    degrees of freedom; Satterthwaite's degrees of freedom for the average."""
    if not analyses:
        return NONE
    weights = np.array([a.df_between for a in analyses], dtype=float)
    weights /= weights.sum()
    estimate = float(sum(w * a.tau2 for w, a in zip(weights, analyses, strict=True)))
    if estimate <= 0:
        return Pooled(0.0, 0.0, len(analyses))
    # var(MS) = 2 E[MS]^2 / df for each mean square, E[MS_B] = n0 tau^2 + sigma_w^2 read
    # from the pooled tau^2 and the ratio's own MS_W (one ratio's MS_B squared, 1 df,
    # would overstate the variance threefold); the ratios' terms independent
    variance = sum(
        (w / a.n0) ** 2
        * (
            2 * (a.n0 * estimate + a.ms_within) ** 2 / a.df_between
            + 2 * a.ms_within**2 / a.df_within
        )
        for w, a in zip(weights, analyses, strict=True)
    )
    return Pooled(estimate, float(variance), len(analyses))


def widen(
    centre: float,
    low: float,
    high: float,
    pooled: Pooled,
    processes: int,
    confidence: float,
    within_df: float,
) -> tuple[float, float]:
    """The interval [low, high] of log(ratio) around `centre` (within the processes'
    pairs, `within_df` degrees of freedom) with the pooled between-process shift of
    the mean of `processes` processes added: on each side, the half-width read as a
    standard error (h / z), its variance plus tau^2 / processes, at Student's t with
    Satterthwaite's degrees of freedom for that sum. A small tau^2 with few degrees of
    freedom thus adds little, not t(1) times itself."""
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    if pooled.tau2 <= 0 or not (math.isfinite(low) and math.isfinite(high)):
        return low, high
    z = float(stats.norm.ppf((1 + confidence) / 2))
    between = pooled.tau2 / processes
    between_var = pooled.tau2_var / processes**2

    def half(h: float) -> float:
        within = (h / z) ** 2
        total = within + between
        # at least 1: below it Student's t runs off to astronomic widths (seen: a pool of
        # 12 ratios under load 10-20, one of them 0.6 in tau^2 alone, gave 0.29)
        df = max(1.0, total**2 / (within**2 / max(within_df, 1.0) + between_var / 2))
        return float(stats.t.ppf((1 + confidence) / 2, df)) * math.sqrt(total)

    return centre - half(centre - low), centre + half(high - centre)
