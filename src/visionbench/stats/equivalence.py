"""Equivalence, not absence of evidence: the one rule that words a noisy difference.

A difference of two noisy figures (accuracy first: variant minus reference, or
candidate minus baseline) is judged on its 90% interval, the two one-sided tests
(TOST) at alpha 0.05, against a tolerance (the gate's, per benchmark):

    same          the whole interval lies within ±tolerance
    better/worse  the interval excludes 0 and the estimate lies beyond the tolerance
                  (the A/B gate's rule: significant, and larger than harmless)
    not resolved  anything else: "±X pt of noise; about N more test images (or
                  seeds) would resolve Y pt"

A difference smaller than its noise is *not resolved*, never "same": with ±11 pt
of noise the data cannot tell "same" from "10 points worse".

The noise model of an accuracy difference (`accuracy_difference`), two sources:
- the test images: each accuracy is a binomial proportion on its `eval_images`,
  se² = a(1-a)/n_a + b(1-b)/n_b. Every seed is scored on the same test images, so
  this does not shrink with seeds; and two models scored on the same images err
  on many of the same ones, so for their difference it is an upper bound;
- the seeds: the seed-to-seed spread of each mean, se² = sd_a²/s_a + sd_b²/s_b
  (a one-seed side, whose spread is unmeasured, borrows the other side's), with
  Welch's degrees of freedom (Student's t).
The interval is the wider of the two on each side (z for the images, t for the
seeds), as the report and the knee have always combined them. Where both figures
kept their per-image outcomes on the same test images, both terms are paired
instead (`stats.outcomes`: McNemar's exact test, or a paired bootstrap over images
with several seeds; seed i against seed i), decided by the images on which the two
disagree; the terms above are the fallback where the images differ or the outcomes
were not saved. "N more" asks how many would bring that source's half-width down
to Y, the distance between the estimate and the nearer decision (Y = the
difference itself beyond the tolerance, to exclude 0; the tolerance less the
difference within it, to fit inside ±tolerance), if the estimate and the spread
stayed as measured: test images from the images' term (n' = n·(z·se/Y)²), seeds
from the seed term (the same number of seeds on both sides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from visionbench.stats.outcomes import PairedImages

#: TOST at alpha 0.05: the two one-sided tests' 90% two-sided interval.
CONFIDENCE = 0.90
SAME, BETTER, WORSE, UNRESOLVED = "same", "better", "worse", "not resolved"
MAX_SEEDS = 10_000  # beyond this, more seeds are not an answer


@dataclass(frozen=True)
class Figure:
    """A fraction (an accuracy) measured on `images` test images, the mean of `seeds`
    seeds with seed-to-seed sd `std` (None, or one seed: the spread is unmeasured)."""

    value: float
    images: int | None = None
    seeds: int = 1
    std: float | None = None

    @property
    def spread(self) -> float | None:
        """The measured seed-to-seed sd (None with one seed: nothing to measure it from)."""
        return self.std if self.seeds > 1 and self.std is not None else None

    def half_width(self, confidence: float = 0.95) -> float:
        """Half-width of the figure's own interval, by the same model: the larger of its
        test images' binomial term and its seeds' (Student's t) term."""
        images = 0.0
        if self.images:
            images = _z(confidence) * math.sqrt(self.value * (1 - self.value) / self.images)
        seeds = 0.0
        if self.spread:
            seeds = _t(confidence, self.seeds - 1) * self.spread / math.sqrt(self.seeds)
        return max(images, seeds)


@dataclass(frozen=True)
class Difference:
    """a − b with its noise (fractions): the standard error from the test images
    (binomial) and from the seeds (with its degrees of freedom), and what each
    would become with more test images or more seeds."""

    change: float
    se_images: float = 0.0
    se_seeds: float = 0.0
    df_seeds: float | None = None  # None: no seed term (one seed on both sides)
    images: int | None = None  # test images each figure was scored on (the larger count)
    seeds_spread: float | None = None  # sqrt(sd_a² + sd_b²): se_seeds with one seed a side
    seeds: int = 1  # seeds behind the figures (the fewer)
    paired: PairedImages | None = None  # both figures' outcomes on the same images: the
    #   images' term is theirs (paired), not the binomial se_images

    @classmethod
    def of_noise(
        cls, change: float, noise: float, images: int | None = None, confidence: float = CONFIDENCE
    ) -> Difference:
        """A difference whose half-width at `confidence` is `noise`, all of it the test
        images' (binomial, on `images` of them when known)."""
        return cls(change, se_images=noise / _z(confidence), images=images)

    def half_width(self, confidence: float = CONFIDENCE) -> float:
        """Half-width of the two-sided interval at `confidence`: the larger of the
        images' (normal; paired where the outcomes pair) and the seeds' (Student's t)
        terms."""
        low, high = self.interval(confidence)
        return (high - low) / 2

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The change's two-sided interval: on each side the wider of the images' term
        (paired, or binomial) and the seeds'."""
        seeds = _t(confidence, self.df_seeds) * self.se_seeds if self.se_seeds else 0.0
        if self.paired is not None:
            low, high = self.paired.interval(confidence)
            shift = self.change - self.paired.change  # the figures' own rounding, if any
            low, high = low + shift, high + shift
        else:
            h = _z(confidence) * self.se_images
            low, high = self.change - h, self.change + h
        return min(low, self.change - seeds), max(high, self.change + seeds)

    def more_images(self, resolve: float, confidence: float = CONFIDENCE) -> int | None:
        """Test images to add (both figures) for the images' term to reach ±`resolve`;
        0 when it already has, None when the count of test images is unknown."""
        h = _z(confidence) * self.se_images
        if h <= resolve:
            return 0
        if self.images is None or resolve <= 0:
            return None
        return math.ceil(self.images * (h / resolve) ** 2 - self.images)

    def more_seeds(self, resolve: float, confidence: float = CONFIDENCE) -> int | None:
        """Seeds to add (each variant) for the seeds' term to reach ±`resolve`, if the
        spread stays as measured; 0 when it already has, None when it cannot tell
        (spread unmeasured) or when no reasonable number would do."""
        if not self.se_seeds or _t(confidence, self.df_seeds) * self.se_seeds <= resolve:
            return 0
        if self.seeds_spread is None or resolve <= 0:
            return None
        for seeds in range(max(2, self.seeds), MAX_SEEDS):
            se = self.seeds_spread / math.sqrt(seeds)
            if _t(confidence, 2 * seeds - 2) * se <= resolve:
                return seeds - self.seeds
        return None


def _z(confidence: float) -> float:
    return float(stats.norm.ppf((1 + confidence) / 2))


def _t(confidence: float, df: float | None) -> float:
    return _z(confidence) if df is None else float(stats.t.ppf((1 + confidence) / 2, df))


@dataclass(frozen=True)
class SeedTerm:
    """The seeds' share of the noise of a − b, two means over seeds."""

    se: float  # standard error of the difference: sqrt(sd_a²/s_a + sd_b²/s_b)
    df: float  # Welch's degrees of freedom (s_a + s_b - 2, at least 1, with a one-seed side)
    spread: float  # sqrt(sd_a² + sd_b²): the standard error with one seed a side


def seed_term(a: Figure, b: Figure) -> SeedTerm | None:
    """The seed-to-seed noise of a − b, the one rule every accuracy verdict uses: each
    mean's spread over its seeds, a one-seed side (its spread unmeasured) borrowing the
    other side's (same recipe, same noise), with Welch's degrees of freedom. None when
    neither side measured a spread."""
    sa = a.spread if a.spread is not None else b.spread
    sb = b.spread if b.spread is not None else a.spread
    if sa is None or sb is None:
        return None
    va, vb = sa**2 / a.seeds, sb**2 / b.seeds
    if a.seeds >= 2 and b.seeds >= 2 and va + vb > 0:
        df = (va + vb) ** 2 / (va**2 / (a.seeds - 1) + vb**2 / (b.seeds - 1))
    else:
        df = max(1, a.seeds + b.seeds - 2)
    return SeedTerm(math.sqrt(va + vb), df, math.hypot(sa, sb))


def accuracy_difference(a: Figure, b: Figure, paired: PairedImages | None = None) -> Difference:
    """a − b with the noise of the module's model: over the test images paired by their
    outcomes where given (`stats.outcomes`), else binomial; the seeds' spread
    (`seed_term`)."""
    var_images = 0.0
    if paired is not None:
        low, high = paired.interval(CONFIDENCE)
        var_images = ((high - low) / 2 / _z(CONFIDENCE)) ** 2  # what more images would need
    elif a.images and b.images:
        var_images = sum(x.value * (1 - x.value) / x.images for x in (a, b))  # type: ignore[operator]
    seeds = seed_term(a, b)
    if paired is not None and (term := paired.seed_term()) is not None:
        seeds = SeedTerm(*term)  # seed i against seed i: the spread of their differences
    images = paired.images if paired is not None else max(a.images or 0, b.images or 0) or None
    return Difference(
        a.value - b.value,
        se_images=math.sqrt(var_images),
        se_seeds=seeds.se if seeds else 0.0,
        df_seeds=seeds.df if seeds else None,
        images=images,
        seeds_spread=seeds.spread if seeds else None,
        seeds=min(a.seeds, b.seeds),
        paired=paired,
    )


# -- the verdict and its words ----------------------------------------------------------


def _pt(value: float, scale: float, unit: str, sign: bool = True) -> str:
    text = f"{value * scale:+.1f}" if sign else f"{value * scale:.1f}"
    return f"{text.replace('-', '−')} {unit}"


def _count(n: int) -> str:
    """About n, to two significant digits: 37, 1,200, 45,000."""
    if n < 100:
        return str(n)
    digits = len(str(n)) - 2
    return f"{round(n, -digits):,}"


@dataclass(frozen=True)
class Judgement:
    """A noisy difference judged against a tolerance, and its words."""

    verdict: str  # same, better, worse, not resolved
    change: float
    low: float
    high: float
    tolerance: float
    confidence: float
    resolve: float | None = None  # not resolved: the half-width that would decide it
    more_images: int | None = None  # ... reached with this many more test images
    more_seeds: int | None = None  # ... and (or) this many more seeds
    images_known: bool = True

    @property
    def noise(self) -> float:
        """Half-width of the interval: the ±X of "±X pt of noise"."""
        return (self.high - self.low) / 2

    def text(self, scale: float = 100.0, unit: str = "pt") -> str:
        """The verdict in words (the estimate itself is the caller's to show), e.g.
        `same: 90% interval −0.8 to +0.2 pt, within ±1.0 pt` or
        `not resolved: ±11.2 pt of noise; about 40 more test images would resolve 10.0 pt`."""
        level = f"{self.confidence:.0%}"
        span = f"{_pt(self.low, scale, '', True).strip()} to {_pt(self.high, scale, unit)}"
        tol = _pt(self.tolerance, scale, unit, sign=False)
        if self.verdict == SAME:
            return f"same: {level} interval {span}, within ±{tol}"
        if self.verdict in (BETTER, WORSE):
            return f"{self.verdict}: {level} interval {span}, beyond ±{tol} at its estimate"
        noise = f"not resolved: ±{_pt(self.noise, scale, unit, sign=False)} of noise"
        if self.resolve is None or self.resolve <= 0:
            return f"{noise}; the estimate lies at the ±{tol} tolerance"
        resolve = _pt(self.resolve, scale, unit, sign=False)
        more = []
        if self.more_images:
            plural = "s" if self.more_images > 1 else ""
            more.append(f"about {_count(self.more_images)} more test image{plural}")
        elif self.more_images is None and not self.images_known:
            more.append("more test images (their number was not recorded)")
        if self.more_seeds:
            plural = "s" if self.more_seeds > 1 else ""
            more.append(f"about {_count(self.more_seeds)} more seed{plural}")
        elif self.more_seeds is None:
            more.append("more seeds (their spread is too large to say how many)")
        if not more:
            return f"{noise}; would resolve {resolve}"
        return f"{noise}; {' and '.join(more)} would resolve {resolve}"

    def short(self, scale: float = 100.0, unit: str = "pt") -> str:
        """A few words for a verdict column: `same`, `−3.0 pt`, `not resolved (±11.2 pt)`."""
        if self.verdict == SAME:
            return SAME
        if self.verdict in (BETTER, WORSE):
            return _pt(self.change, scale, unit)
        return f"{UNRESOLVED} (±{_pt(self.noise, scale, unit, sign=False)})"


def judge(
    difference: Difference,
    tolerance: float,
    *,
    confidence: float = CONFIDENCE,
    higher_is_better: bool = True,
) -> Judgement:
    """Same, better, worse or not resolved (the module's rule), with what would resolve it."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be at least 0, got {tolerance}")
    change = difference.change
    low, high = difference.interval(confidence)
    if -tolerance <= low and high <= tolerance:
        verdict = SAME
    elif (low > 0 or high < 0) and abs(change) > tolerance:
        verdict = BETTER if (change > 0) == higher_is_better else WORSE
    else:
        verdict = UNRESOLVED
    out = Judgement(verdict, change, low, high, tolerance, confidence)
    if verdict != UNRESOLVED:
        return out
    resolve = abs(change) if abs(change) > tolerance else tolerance - abs(change)
    target = resolve * (1 - 1e-6)  # just inside: a half-width equal to it leaves 0 on the edge
    return Judgement(
        verdict, change, low, high, tolerance, confidence,
        resolve=resolve,
        more_images=difference.more_images(target, confidence),
        more_seeds=difference.more_seeds(target, confidence),
        images_known=difference.images is not None,
    )  # fmt: skip
