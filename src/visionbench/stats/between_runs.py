"""Run against run: pure functions of numbers that judge two separate runs (no runs, no I/O).

Time, the hard case. Inside one run, a few dozen samples separate a 10%
change easily; but two separate runs of unchanged code differ by more than
that on a shared machine (DESIGN.md: medians ±18%, minimums ±6% on 2 cores;
under other users' load, whole runs 2-4x slower). A test on the within-run
samples alone calls the machine's mood a regression. So the gate compares a
low quantile of the samples (`quantile`: it moves less between runs than the
median and is sturdier than the minimum) and judges the log-ratio
candidate/baseline against the *between-run* spread σ of that statistic:

    se² = 2·σ² + se_b² + se_c²      (se_b, se_c: within-run, by bootstrap)

σ comes from, in this order:
  1. the saved history: the sd of log(statistic) over the baseline and up to
     `lookback`-1 comparable runs saved before it, when at least `min_history`
     runs have the benchmark (Student's t, n-1 degrees of freedom);
  2. this pair itself, when it has `pair_min` benchmarks or more and there is
     no history, or its benchmarks scatter more than the history says runs
     do: the spread of their log-ratios around the median (load changes while
     a run goes on, so benchmarks move differently) and the median shift
     itself (two runs cannot tell the machine's mood from a change that
     slowed everything); Student's t with (benchmarks - 1) degrees of freedom;
  3. with neither, the assumed `noise` of the settings (also the floor under 2);
  4. and never less than the spread of the run's own rounds (a run whose rounds
     scatter widely was disturbed while it ran).
Then, with c the one-sided critical value at `alpha` and b = log(1 + tolerance):

    regression    log-ratio > b, and significant both between runs
                  (log-ratio > c·se) and within them (Mann-Whitney U, one-sided)
    improvement   the same, the other way round
    unchanged     a change beyond the tolerance is ruled out: |log-ratio| + c·se ≤ b
    inconclusive  neither: the noise is too large to decide at this tolerance;
                  `detectable` is the smallest slowdown the data could have flagged

A change is proven (regression or improvement) only against a noise measured
from the history (1.): without `min_history` saved runs of a benchmark, a
pair cannot tell a change from that benchmark's own swings between runs, and
the verdict stays inconclusive. Measured here: in quiet A/A pairs of the quick
suite, the benchmarks moved ±10% around their common shift while single ones
(a premodel's features, per-sample augmentation, a compiled run's training
time) came out 1.7-2.3x apart; the pair's spread alone flagged them.

Single-observation figures (train_time_s, energy_j, ...) follow the same rule
without the within-run terms; samples_per_s is skipped where the raw time
samples it derives from are judged. Memory is compared against a
relative and an absolute tolerance; accuracy against its tolerance in points
and, when several seeds were run, the seed-to-seed noise (Welch's t-test on
accuracy ± accuracy_std over `seeds`); where both runs kept their per-image
outcomes on the same test images, paired instead (`stats.outcomes`): seed i
against seed i, and the images on which the two runs disagree (McNemar's exact
test, or a paired bootstrap over images with seeds) must also show the change;
flags regress when they turn true.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from visionbench.stats.defaults import DEFAULTS
from visionbench.stats.equivalence import Figure, SeedTerm, seed_term
from visionbench.stats.outcomes import PairedImages


def log_spread(samples: Sequence[float] | None) -> float:
    """Robust sd of log(samples): the interquartile range of the logs / 1.349."""
    if not samples or len(samples) < 4 or min(samples) <= 0:
        return 0.0
    q1, q3 = np.quantile(np.log(samples), [0.25, 0.75])
    return float(q3 - q1) / 1.349


def bootstrap_se_log_quantile(samples: Sequence[float], q: float, resamples: int) -> float:
    """Within-run standard error of log(quantile), by a seeded bootstrap (deterministic)."""
    x = np.asarray(samples, dtype=float)
    if len(x) < 2 or np.any(x <= 0):
        return math.inf
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(x), size=(resamples, len(x)))
    return float(np.std(np.log(np.quantile(x[idx], q, axis=1)), ddof=1))


@dataclass(frozen=True)
class Noise:
    """Between-run relative sd of a statistic, and where it came from."""

    sd: float
    df: float | None = None  # degrees of freedom when measured from few runs; None: normal
    source: str = "assumed"
    known: bool = True  # False: no saved history measured this benchmark's noise

    def describe(self) -> str:
        text = f"noise {self.sd:.1%} {self.source}"
        return text if self.known else f"{text}; too few saved runs to prove a change"

    def critical(self, alpha: float) -> float:
        dist = stats.t(self.df) if self.df else stats.norm
        return float(dist.ppf(1 - alpha))

    def p_greater(self, z: float) -> float:
        dist = stats.t(self.df) if self.df else stats.norm
        return float(dist.sf(z))


def history_noise(values: Sequence[float | None], min_runs: int) -> Noise | None:
    """The sd of log(values) across saved runs, or None with fewer than `min_runs` of them."""
    logs = [math.log(v) for v in values if v is not None and v > 0]
    if len(logs) < max(2, min_runs):
        return None
    return Noise(float(np.std(logs, ddof=1)), len(logs) - 1, f"from {len(logs)} saved runs")


@dataclass(frozen=True)
class PairShift:
    """How the time of all benchmarks moved together between the two runs."""

    shift: float  # median log-ratio candidate/baseline of the benchmarks' quantiles
    spread: float  # robust sd of one run's benchmarks around that shift (MAD / sqrt 2)
    count: int  # benchmarks with samples in both runs

    def describe(self) -> str:
        return (
            f"its {self.count} benchmarks moved {math.expm1(self.shift):+.0%} together, "
            f"±{self.spread:.0%} each"
        )


def between_run_noise(
    measured: Noise | None,
    prior: float,
    pair: PairShift | None,
    rounds_spread: float = 0.0,
) -> Noise:
    """The between-run noise a benchmark's time (or other noisy figure) is judged against.

    The history's measure when there is one, else the assumed `prior`. But
    when there is no history, or when this pair's benchmarks scatter more
    than the history says runs do (the history does not describe this pair),
    the pair is judged by its own variability when that is larger: its spread
    and its common shift together, since from two runs alone the machine's
    mood cannot be told from a change that slowed everything. Last, a run is
    taken to be no steadier than its own rounds (`rounds_spread`): a run whose
    rounds scatter widely was disturbed while it ran. Each floor keeps the
    smaller of the degrees of freedom (pair estimates: benchmarks - 1).
    """
    known = measured is not None
    noise = measured or Noise(prior, known=False)
    if pair is not None and (measured is None or pair.spread > measured.sd):
        sd = math.hypot(pair.spread, pair.shift / math.sqrt(2))
        if sd > noise.sd:
            why = "no history" if measured is None else "more than the history's"
            source = f"from this pair ({pair.describe()}; {why})"
            noise = Noise(sd, _fewer(noise.df, pair.count - 1), source, known)
    if rounds_spread > noise.sd:
        noise = Noise(rounds_spread, noise.df, "from the rounds' own spread", known)
    return noise


def _fewer(a: float | None, b: float | None) -> float | None:
    """The smaller of two degrees of freedom, None meaning infinitely many."""
    return b if a is None else a if b is None else min(a, b)


def judge_ratio(
    worse: float,
    *,
    se: float,
    noise: Noise,
    tolerance: float,
    alpha: float,
    p_within: tuple[float, float] = (0.0, 0.0),
) -> tuple[str, float, float | None]:
    """Verdict from the log-ratio `worse` (> 0: the candidate is worse).

    `p_within` are the one-sided within-run p-values (worse, better); both the
    between-run and the within-run test must be significant. Returns
    (verdict, p-value in the observed direction, detectable change or None).
    """
    bound = math.log1p(tolerance)
    crit = noise.critical(alpha)
    if se == 0:
        p_worse, p_better = float(worse <= 0), float(worse >= 0)
    elif math.isinf(se):
        p_worse = p_better = 1.0
    else:
        p_worse, p_better = noise.p_greater(worse / se), noise.p_greater(-worse / se)
    p_worse, p_better = max(p_worse, p_within[0]), max(p_better, p_within[1])
    p = p_worse if worse >= 0 else p_better
    detectable = math.expm1(max(bound, crit * se)) if math.isfinite(se) else math.inf
    if (worse > bound and p_worse < alpha) or (worse < -bound and p_better < alpha):
        # Proven only against a measured noise: without a history of this benchmark a
        # pair cannot tell a change from the benchmark's own swings between runs
        # (A/A pairs here: single benchmarks 1.7-2.3x apart while the rest held still).
        if not noise.known:
            return "inconclusive", p, detectable
        return ("regression" if worse > 0 else "improvement"), p, None
    if abs(worse) + crit * se <= bound:
        return "unchanged", p, None
    return "inconclusive", p, detectable


def compare_samples(
    base: Sequence[float],
    cand: Sequence[float],
    *,
    tolerance: float,
    alpha: float,
    quantile: float,
    noise: Noise,
    resamples: int = DEFAULTS["bootstrap"],
) -> tuple[str, float, float, float, float | None]:
    """Raw time samples of two runs -> (verdict, base stat, cand stat, p, detectable)."""
    qb, qc = float(np.quantile(base, quantile)), float(np.quantile(cand, quantile))
    if qb <= 0 or qc <= 0:
        return "inconclusive", qb, qc, 1.0, math.inf
    se_b = bootstrap_se_log_quantile(base, quantile, resamples)
    se_c = bootstrap_se_log_quantile(cand, quantile, resamples)
    se = math.sqrt(2 * noise.sd**2 + se_b**2 + se_c**2)
    if len(base) >= 2 and len(cand) >= 2:
        p_slower = _p(stats.mannwhitneyu(cand, base, alternative="greater").pvalue)
        p_faster = _p(stats.mannwhitneyu(cand, base, alternative="less").pvalue)
    else:
        p_slower = p_faster = 1.0
    verdict, p, detectable = judge_ratio(
        math.log(qc / qb),
        se=se,
        noise=noise,
        tolerance=tolerance,
        alpha=alpha,
        p_within=(p_slower, p_faster),
    )
    return verdict, qb, qc, p, detectable


def _p(value: float) -> float:
    """A p-value, with NaN (all values tied) read as no evidence."""
    return 1.0 if math.isnan(value) else float(value)


def compare_scalar(
    base: float,
    cand: float,
    *,
    higher_is_better: bool = False,
    tolerance: float,
    alpha: float,
    noise: Noise,
) -> tuple[str, float, float | None]:
    """One observation per run (a duration, a throughput, an energy) -> (verdict, p, detectable)."""
    if base <= 0 or cand <= 0:
        return ("unchanged", 1.0, None) if base == cand else ("inconclusive", 1.0, math.inf)
    ratio = math.log(cand / base)
    worse = -ratio if higher_is_better else ratio
    return judge_ratio(
        worse, se=math.sqrt(2) * noise.sd, noise=noise, tolerance=tolerance, alpha=alpha
    )


def compare_memory(base: float, cand: float, *, tolerance: float, min_bytes: float) -> str:
    """More than `tolerance` relative and `min_bytes` absolute, either way."""
    grew = cand - base
    if grew > tolerance * base and grew > min_bytes:
        return "regression"
    if -grew > tolerance * base and -grew > min_bytes:
        return "improvement"
    return "unchanged"


def compare_accuracy(
    base: float,
    cand: float,
    *,
    tolerance: float,
    alpha: float,
    base_std: float | None = None,
    base_seeds: int = 1,
    cand_std: float | None = None,
    cand_seeds: int = 1,
    paired: PairedImages | None = None,
) -> tuple[str, float | None, float | None]:
    """Accuracy (mean over seeds) -> (verdict, p, detectable drop).

    Without seed noise (no side measured a spread over seeds, or none at all) only the
    tolerance applies. With it, a drop must also be significant by Welch's t-test on the
    means, the seed term of `stats.equivalence.seed_term` (a one-seed side borrows the
    other's spread). Without outcomes, the test images are not a term: both runs score
    the same ones. With `paired` (candidate's outcomes against the baseline's on the
    same images), seeds pair seed by seed where both ran the same ones, and the images'
    interval of the change at 1 - 2·alpha (one-sided alpha each way) must exclude 0
    for a change and lie within the tolerance for "unchanged".
    """
    drop = base - cand
    term = seed_term(
        Figure(base, seeds=max(1, base_seeds), std=base_std),
        Figure(cand, seeds=max(1, cand_seeds), std=cand_std),
    )
    if paired is not None and (pair := paired.seed_term()) is not None:
        term = SeedTerm(*pair)
    low, high = paired.interval(1 - 2 * alpha) if paired is not None else (-drop, -drop)
    shown_drop, shown_gain = high < 0, low > 0  # the images show the change (or no images)
    within = -tolerance <= low and high <= tolerance
    images_detectable = (high - low) / 2
    if term is None or term.se == 0:
        if drop > tolerance and shown_drop:
            return "regression", None, None
        if -drop > tolerance and shown_gain:
            return "improvement", None, None
        if abs(drop) <= tolerance and within:
            return "unchanged", None, None
        return "inconclusive", None, max(tolerance, images_detectable)
    se, t = term.se, stats.t(term.df)
    p_drop, p_gain = float(t.sf(drop / se)), float(t.sf(-drop / se))
    crit = float(t.ppf(1 - alpha))
    p = p_drop if drop >= 0 else p_gain
    if drop > tolerance and p_drop < alpha and shown_drop:
        return "regression", p, None
    if -drop > tolerance and p_gain < alpha and shown_gain:
        return "improvement", p, None
    if abs(drop) + crit * se <= tolerance and within:
        return "unchanged", p, None
    return "inconclusive", p, max(tolerance, crit * se, images_detectable)


def compare_flag(base: Any, cand: Any) -> str:
    if bool(cand) and not bool(base):
        return "regression"
    if bool(base) and not bool(cand):
        return "improvement"
    return "unchanged"
