"""Accuracy differences paired over images: two models scored on the same test images.

Two accuracies measured on the same test images do not carry independent noise: both
models are right on most of the same images, and their difference is decided by the
images on which they disagree (the discordant pairs). The unpaired rule of
`stats.equivalence` (each accuracy a binomial proportion of its own test set) is then
an upper bound, far too wide for two models that agree on most images: on 1,000 images
at 97% it is ±1.3 pt at 90% whatever the models do, while two models that disagree on
10 images differ by at most 1 pt. Given each image's outcome (right or not) per seed
for both sides, in the same image order, `PairedImages` gives the images' interval of
the difference instead:

- one seed a side: **McNemar's exact test**, inverted. Of the m discordant images, the
  count b right only under the variant is Binomial(m, π) under the null π = 1/2; the
  Clopper-Pearson interval of π (`scipy.stats.binomtest(b, m).proportion_ci`) maps to
  the difference (b - c)/n = (2π - 1)·m/n. Exact, so it holds with a handful of
  discordant images, where a normal approximation does not (Dietterich 1998: the test
  for two classifiers on one test set).
- several seeds (on either side): a **paired bootstrap over images**. Each image keeps
  its outcomes under every seed of both sides (its mean over seeds, variant minus
  reference), and the images are resampled with replacement: the percentile interval
  of the mean. Resampling images whole keeps what seeds share (an image that is hard
  for one seed is hard for the others), which pooling (seed, image) pairs into one
  McNemar test would ignore. The images' values take few distinct levels (2s + 1 for
  s seeds a side), so the bootstrap draws counts of each level (a multinomial), the
  same distribution as drawing images, at no cost in memory; its RNG is seeded, so a
  report reads the same every time it is rendered.

The seeds' term is paired too where both sides ran the same seeds (seed i: the same
initialisation and data order in every variant): the spread of the per-seed
differences (`seed_term`, a paired t with s - 1 degrees of freedom), not the two
spreads as if independent (Welch, `equivalence.seed_term`, kept where the seed counts
differ). Two variants that move together from seed to seed differ by less than either
moves. The difference's interval is the wider of the two terms on each side, as
before. With no discordant image in any seed both terms are 0: the same model,
trained with the same seed, reads "same" (an A/A).

Where the images differ (another dataset, another split, other counts) or the outcomes
were not saved (runs saved before they were), there is nothing to pair: the caller
keeps the unpaired rule. Pure: numpy and scipy, no torch, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import stats

BOOTSTRAP_RESAMPLES = 4000  # percentile interval: its 5% tails hold 200 draws each
BOOTSTRAP_SEED = 0  # a report renders the same interval every time


def mcnemar_interval(
    only_a: int, only_b: int, images: int, confidence: float
) -> tuple[float, float]:
    """The exact interval of (only_a - only_b) / images: McNemar's test inverted on the
    discordant pairs (Clopper-Pearson on only_a of them). [0, 0] with none."""
    if images < 1 or only_a < 0 or only_b < 0 or only_a + only_b > images:
        raise ValueError(f"discordant pairs {only_a} + {only_b} do not fit in {images} images")
    m = only_a + only_b
    if m == 0:
        return 0.0, 0.0
    ci = stats.binomtest(only_a, m).proportion_ci(confidence_level=confidence, method="exact")
    return (2 * ci.low - 1) * m / images, (2 * ci.high - 1) * m / images


@dataclass(frozen=True, eq=False)
class PairedImages:
    """Two sides' outcomes on the same test images, in the same order: `a` and `b` are
    seeds x images arrays of booleans (right or not), a the variant, b the reference."""

    a: np.ndarray
    b: np.ndarray
    resamples: int = field(default=BOOTSTRAP_RESAMPLES)

    def __post_init__(self) -> None:
        a, b = np.asarray(self.a, dtype=bool), np.asarray(self.b, dtype=bool)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or a.shape[1] == 0:
            raise ValueError(
                f"outcomes must be seeds x images on the same images, got {a.shape} and {b.shape}"
            )
        if a.shape[0] == 0 or b.shape[0] == 0:
            raise ValueError("outcomes need at least one seed a side")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    @property
    def images(self) -> int:
        return int(self.a.shape[1])

    @property
    def seeds(self) -> tuple[int, int]:
        return int(self.a.shape[0]), int(self.b.shape[0])

    @cached_property
    def per_image(self) -> np.ndarray:
        """Each image's mean outcome over the variant's seeds less the reference's."""
        return self.a.mean(axis=0) - self.b.mean(axis=0)

    @property
    def change(self) -> float:
        """The variant's accuracy (mean over seeds) less the reference's."""
        return float(self.per_image.mean())

    @property
    def discordant(self) -> int:
        """Images on which the two sides' mean outcomes differ."""
        return int(np.count_nonzero(self.per_image))

    def seed_term(self) -> tuple[float, float, float] | None:
        """(se, df, sd) of the mean per-seed difference, seed i against seed i (a paired
        t over seeds); None unless both sides ran the same two or more seeds."""
        sa, sb = self.seeds
        if sa != sb or sa < 2:
            return None
        d = self.a.mean(axis=1) - self.b.mean(axis=1)
        sd = float(np.std(d, ddof=1))
        return sd / np.sqrt(sa), float(sa - 1), sd

    @property
    def method(self) -> str:
        return "McNemar's exact test" if self.seeds == (1, 1) else "a paired bootstrap over images"

    @cached_property
    def _bootstrap(self) -> np.ndarray:
        levels, counts = np.unique(self.per_image, return_counts=True)
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        draws = rng.multinomial(self.images, counts / self.images, size=self.resamples)
        return np.sort(draws @ levels / self.images)

    def interval(self, confidence: float) -> tuple[float, float]:
        """The images' two-sided interval of the difference at `confidence` (the module's
        rule: McNemar's with one seed a side, the paired bootstrap otherwise)."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
        if self.discordant == 0:
            return 0.0, 0.0
        if self.seeds == (1, 1):
            only_a = int(np.count_nonzero(self.a[0] & ~self.b[0]))
            only_b = int(np.count_nonzero(self.b[0] & ~self.a[0]))
            return mcnemar_interval(only_a, only_b, self.images, confidence)
        tail = (1 - confidence) / 2
        low, high = np.quantile(self._bootstrap, [tail, 1 - tail])
        return float(low), float(high)
