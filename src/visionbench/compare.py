"""The gate's statistics and rules: pure functions of loaded runs (no I/O).

Every benchmark of the baseline is compared with the same benchmark (same
pytest node id) of the candidate, metric by metric, following the metric
schema (`metrics.METRICS`: which way is better, which kind of tolerance).

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
accuracy ± accuracy_std over `seeds`); flags regress when they turn true.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from visionbench.fingerprint import differences
from visionbench.metrics import METRICS, Metric
from visionbench.results import Bench, Run

VERDICTS = ("regression", "improvement", "unchanged", "inconclusive", "missing", "new", "failed")
FAILING = ("regression", "failed", "missing")  # "missing" only unless allowed
GATED_KINDS = ("time", "throughput", "memory", "accuracy", "energy", "flag")
NOISY_KINDS = ("time", "throughput", "energy")  # judged against between-run noise

#: The gate's defaults: the one place besides [tool.visionbench.gate] in pyproject.toml.
DEFAULTS: dict[str, Any] = {
    "alpha": 0.01,  # one-sided significance level of every test
    "quantile": 0.25,  # which quantile of the raw time samples is compared
    "lookback": 10,  # saved runs (the baseline and those before it) that measure noise
    "min_history": 3,  # fewer comparable runs with the benchmark: assume `noise` instead
    "pair_min": 5,  # benchmarks needed to measure a pair's own shift and spread (0: off)
    "memory_min_bytes": 1 << 20,  # a memory change must also exceed this many bytes
    "bootstrap": 2000,  # resamples for the within-run error of the quantile
    "tolerance": {  # largest harmless change: relative, except accuracy (fraction points)
        "time": 0.10,
        "throughput": 0.10,
        "energy": 0.10,
        "memory": 0.05,
        "accuracy": 0.01,
    },
    "noise": {  # assumed between-run relative sd when the history is too short
        "samples": 0.05,  # of the `quantile` of raw time samples
        "scalar": 0.10,  # of a single observation (train_time_s, samples_per_s, energy_j)
    },
}

# pytest-benchmark's own machine_info fields, compared when a run lacks the
# visionbench fingerprint (runs made outside this repository's conftest).
FALLBACK_FIELDS = ("system", "machine", "python_implementation", "python_version", "cpu.brand_raw")


class ConfigError(ValueError):
    """A [tool.visionbench.gate] setting that does not fit."""


# -- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    pattern: str  # fnmatch glob against the benchmark's full name
    tolerance: dict[str, float]  # kind -> tolerance
    memory_min_bytes: int | None = None


@dataclass(frozen=True)
class GateConfig:
    alpha: float = DEFAULTS["alpha"]
    quantile: float = DEFAULTS["quantile"]
    lookback: int = DEFAULTS["lookback"]
    min_history: int = DEFAULTS["min_history"]
    pair_min: int = DEFAULTS["pair_min"]
    memory_min_bytes: int = DEFAULTS["memory_min_bytes"]
    bootstrap: int = DEFAULTS["bootstrap"]
    tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULTS["tolerance"]))
    noise: dict[str, float] = field(default_factory=lambda: dict(DEFAULTS["noise"]))
    overrides: tuple[Override, ...] = ()

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> GateConfig:
        """Build from a [tool.visionbench.gate] table; unknown keys are rejected loudly."""
        table = dict(table)
        kwargs: dict[str, Any] = {}
        for key, default in DEFAULTS.items():
            if key in table and not isinstance(default, dict):
                kwargs[key] = _number(key, table.pop(key), whole=isinstance(default, int))
        kwargs["tolerance"] = _kinds("tolerance", table.pop("tolerance", {}), DEFAULTS["tolerance"])
        kwargs["noise"] = _kinds("noise", table.pop("noise", {}), DEFAULTS["noise"])
        overrides = []
        for i, item in enumerate(table.pop("override", [])):
            item = dict(item)
            pattern = item.pop("pattern", None)
            if not isinstance(pattern, str):
                raise ConfigError(f"override #{i + 1} needs a `pattern` string")
            min_bytes = item.pop("memory_min_bytes", None)
            if min_bytes is not None:
                min_bytes = int(_number(f"{pattern}: memory_min_bytes", min_bytes, whole=True))
            tolerance = _kinds(f"override {pattern!r}", item, {}, allowed=DEFAULTS["tolerance"])
            overrides.append(Override(pattern, tolerance, min_bytes))
        kwargs["overrides"] = tuple(overrides)
        if table:
            known = [k for k in DEFAULTS if k != "bootstrap"] + ["override"]
            raise ConfigError(
                f"unknown gate setting(s) {', '.join(sorted(table))}; known: {', '.join(known)}"
            )
        config = cls(**kwargs)
        if not 0 < config.alpha < 0.5:
            raise ConfigError(f"alpha must be between 0 and 0.5, got {config.alpha}")
        if not 0 <= config.quantile <= 1:
            raise ConfigError(f"quantile must be between 0 and 1, got {config.quantile}")
        if config.lookback < 1 or config.min_history < 2:
            raise ConfigError("lookback must be at least 1 and min_history at least 2")
        return config

    def tolerance_for(self, benchmark: str, kind: str) -> float:
        """The tolerance of a metric kind for one benchmark: the last matching override wins."""
        value = self.tolerance[kind]
        for o in self.overrides:
            if kind in o.tolerance and fnmatch.fnmatchcase(benchmark, o.pattern):
                value = o.tolerance[kind]
        return value

    def memory_min_for(self, benchmark: str) -> int:
        value = self.memory_min_bytes
        for o in self.overrides:
            if o.memory_min_bytes is not None and fnmatch.fnmatchcase(benchmark, o.pattern):
                value = o.memory_min_bytes
        return value


def _number(key: str, value: Any, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"gate setting {key!r} must be a number, got {value!r}")
    if whole and value != int(value):
        raise ConfigError(f"gate setting {key!r} must be a whole number, got {value!r}")
    if value < 0:
        raise ConfigError(f"gate setting {key!r} cannot be negative, got {value!r}")
    return int(value) if whole else float(value)


def _kinds(
    name: str,
    values: Mapping[str, Any],
    defaults: Mapping[str, float],
    allowed: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """A table of numbers keyed by the names in `allowed` (default: the defaults' keys)."""
    allowed = defaults if allowed is None else allowed
    out = dict(defaults)
    for key, value in dict(values).items():
        if key not in allowed:
            raise ConfigError(f"{name}: unknown key {key!r}; known: {', '.join(allowed)}")
        out[key] = _number(f"{name}.{key}", value)
    return out


# -- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One row of the gate: a metric of a benchmark, and what became of it."""

    benchmark: str
    metric: str  # a METRICS name, or "-" for a whole benchmark (missing, new, failed)
    verdict: str
    baseline: float | None = None
    candidate: float | None = None
    change: float | None = None  # relative (0.12 = +12%); accuracy: difference in fraction
    p_value: float | None = None
    detectable: float | None = None  # inconclusive: the smallest change that could be flagged
    tolerance: float | None = None
    note: str = ""  # the statistic used, the noise source, an error message


def is_failure(row: Comparison, allow_missing: bool = False) -> bool:
    return row.verdict in FAILING and not (allow_missing and row.verdict == "missing")


def counts(rows: Iterable[Comparison]) -> dict[str, int]:
    out = dict.fromkeys(VERDICTS, 0)
    for row in rows:
        out[row.verdict] += 1
    return out


# -- machines ------------------------------------------------------------------------


def _field(info: Mapping[str, Any], dotted: str) -> Any:
    value: Any = info
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def machine_differences(a: Run, b: Run) -> dict[str, tuple[Any, Any]]:
    """Fingerprint fields that differ between two runs: name -> (a's, b's)."""
    fa, fb = a.machine_info.get("visionbench"), b.machine_info.get("visionbench")
    if isinstance(fa, Mapping) and isinstance(fb, Mapping):
        return differences(dict(fa), dict(fb))
    if isinstance(fa, Mapping) != isinstance(fb, Mapping):
        return {
            "visionbench fingerprint": (
                "present" if fa else "absent",
                "present" if fb else "absent",
            )
        }
    pairs = {k: (_field(a.machine_info, k), _field(b.machine_info, k)) for k in FALLBACK_FIELDS}
    return {k: v for k, v in pairs.items() if v[0] != v[1]}


#: What a benchmark records of the network it measured (registry name, a user model's
#: import path, the hash of its parameter shapes). One benchmark, two networks: two
#: different benchmarks, never compared (the gate calls the candidate's "new").
NETWORK_KEYS = ("model", "model_source", "model_shapes")


def network_differences(a: Bench, b: Bench) -> dict[str, tuple[Any, Any]]:
    """Network fields that differ between two runs of a benchmark: name -> (a's, b's).
    A field counts where both runs record it (runs saved before it existed record
    no model_shapes); model_source also where only one does, since a model of the
    registry and one of `--vb-model` under the same name are different networks."""
    out = {}
    for key in NETWORK_KEYS:
        va, vb = a.extra_info.get(key), b.extra_info.get(key)
        recorded = (
            va is not None or vb is not None if key == "model_source" else None not in (va, vb)
        )
        if recorded and va != vb:
            out[key] = (va, vb)
    return out


def comparable_history(baseline: Run, runs: Sequence[Run], lookback: int) -> list[Run]:
    """The baseline and the runs saved before it on the same machine, newest `lookback`."""
    number = baseline.number
    same = [
        r
        for r in runs
        if r.path.parent.resolve() == baseline.path.parent.resolve()
        and r.number is not None
        and number is not None
        and r.number < number
        and not machine_differences(baseline, r)
    ]
    same.sort(key=lambda r: r.number)
    return [*same[-(lookback - 1) :], baseline] if lookback > 1 else [baseline]


# -- the statistics ------------------------------------------------------------------


def quantile_of(bench: Bench, q: float) -> float | None:
    """The q-quantile of the raw samples (or the matching stored statistic without them)."""
    samples = bench.samples
    if samples:
        return float(np.quantile(samples, q))
    stored = {0.0: "min", 0.25: "q1", 0.5: "median", 1.0: "max"}.get(q)
    value = bench.stats.get(stored) if stored else None
    return float(value) if isinstance(value, (int, float)) else None


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


def pair_shifts(baseline: Run, candidate: Run, config: GateConfig) -> dict[str, PairShift]:
    """Per noisy metric: how its values moved across this pair's benchmarks.

    Separate runs on a shared machine do not shift all benchmarks alike (the
    load changes while they run): the spread of the log-ratios around their
    median is between-run noise measured in this very pair. The median itself
    is either the machine's state or a change that slowed everything; only a
    history of runs can tell which. Needs `pair_min` benchmarks with the metric.
    """
    if config.pair_min <= 0:
        return {}
    cand = candidate.benchmarks
    ratios: dict[str, list[float]] = {}
    for name, b in baseline.benchmarks.items():
        c = cand.get(name)
        if c is None or b.error or c.error or network_differences(b, c):
            continue
        for metric in METRICS.values():
            if metric.kind in NOISY_KINDS:
                vb, vc = (
                    _value(b, metric.name, config.quantile),
                    _value(c, metric.name, config.quantile),
                )
                if _positive(vb) and _positive(vc):
                    ratios.setdefault(metric.name, []).append(math.log(vc / vb))
    shifts = {}
    for metric, values in ratios.items():
        if len(values) >= config.pair_min:
            r = np.asarray(values)
            shift = float(np.median(r))
            mad = float(np.median(np.abs(r - shift))) * 1.4826
            shifts[metric] = PairShift(shift, mad / math.sqrt(2), len(r))
    return shifts


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


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
    base: float, cand: float, metric: Metric, *, tolerance: float, alpha: float, noise: Noise
) -> tuple[str, float, float | None]:
    """One observation per run (a duration, a throughput, an energy) -> (verdict, p, detectable)."""
    if base <= 0 or cand <= 0:
        return ("unchanged", 1.0, None) if base == cand else ("inconclusive", 1.0, math.inf)
    ratio = math.log(cand / base)
    worse = ratio if metric.better == "lower" else -ratio
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
) -> tuple[str, float | None, float | None]:
    """Accuracy (mean over seeds) -> (verdict, p, detectable drop).

    Without seed noise (one seed, or no accuracy_std) only the tolerance applies.
    With it, a drop must also be significant by Welch's t-test on the means;
    a side without its own spread borrows the other's (same recipe, same noise).
    """
    drop = base - cand
    sb = base_std if base_std is not None else cand_std
    sc = cand_std if cand_std is not None else base_std
    nb, nc = max(1, base_seeds), max(1, cand_seeds)
    if (not sb and not sc) or nb + nc < 3:
        if drop > tolerance:
            return "regression", None, None
        if -drop > tolerance:
            return "improvement", None, None
        return "unchanged", None, None
    vb, vc = (sb or 0.0) ** 2 / nb, (sc or 0.0) ** 2 / nc
    se = math.sqrt(vb + vc)
    if nb >= 2 and nc >= 2:
        df = (vb + vc) ** 2 / (vb**2 / (nb - 1) + vc**2 / (nc - 1))
    else:
        df = max(1, nb + nc - 2)
    t = stats.t(df)
    p_drop, p_gain = float(t.sf(drop / se)), float(t.sf(-drop / se))
    crit = float(t.ppf(1 - alpha))
    p = p_drop if drop >= 0 else p_gain
    if drop > tolerance and p_drop < alpha:
        return "regression", p, None
    if -drop > tolerance and p_gain < alpha:
        return "improvement", p, None
    if abs(drop) + crit * se <= tolerance:
        return "unchanged", p, None
    return "inconclusive", p, max(tolerance, crit * se)


def compare_flag(base: Any, cand: Any) -> str:
    if bool(cand) and not bool(base):
        return "regression"
    if bool(base) and not bool(cand):
        return "improvement"
    return "unchanged"


# -- runs ----------------------------------------------------------------------------


def _value(bench: Bench, name: str, quantile: float) -> Any:
    return quantile_of(bench, quantile) if name == "time" else bench.extra_info.get(name)


def compare_benchmark(
    base: Bench,
    cand: Bench,
    config: GateConfig,
    history: Sequence[Bench] = (),
    pairs: Mapping[str, PairShift] | None = None,
) -> list[Comparison]:
    """All gated metrics of one benchmark.

    `history`: the same benchmark in the saved runs that measure noise (the
    baseline and earlier ones); `pairs`: how each noisy metric moved across
    all benchmarks of the pair (`pair_shifts`).
    """
    rows = []
    q = config.quantile
    for name, metric in METRICS.items():
        if metric.kind not in GATED_KINDS:
            continue
        if metric.kind == "throughput" and base.samples and cand.samples:
            continue  # derived from the median of the time samples, which are judged themselves
        b, c = _value(base, name, q), _value(cand, name, q)
        if b is None and c is None:
            continue
        row = Comparison(base.fullname, name, "unchanged", b, c)
        if c is None:
            rows.append(_replace(row, verdict="missing", note="not recorded by the candidate"))
            continue
        if b is None:
            rows.append(_replace(row, verdict="new", note="not recorded by the baseline"))
            continue
        # A figure recorded by too few benchmarks to measure its own pair shift
        # (time_to_target_s: one group) moved with the machine as the time did.
        pair = (pairs or {}).get(name) or (pairs or {}).get("time")
        rows.append(_compare_metric(row, metric, base, cand, config, history, pair))
    return rows


def _replace(row: Comparison, **changes: Any) -> Comparison:
    return Comparison(**{**row.__dict__, **changes})


def _compare_metric(
    row: Comparison,
    metric: Metric,
    base: Bench,
    cand: Bench,
    config: GateConfig,
    history: Sequence[Bench],
    pair: PairShift | None,
) -> Comparison:
    b, c = row.baseline, row.candidate
    kind = metric.kind
    if kind == "flag":
        return _replace(row, verdict=compare_flag(b, c))
    tol = config.tolerance_for(base.fullname, kind)
    if kind == "memory":
        min_bytes = config.memory_min_for(base.fullname)
        verdict = compare_memory(b, c, tolerance=tol, min_bytes=min_bytes)
        return _replace(row, verdict=verdict, change=_rel(b, c), tolerance=tol)
    if kind == "accuracy":
        verdict, p, detectable = compare_accuracy(
            b,
            c,
            tolerance=tol,
            alpha=config.alpha,
            base_std=base.extra_info.get("accuracy_std"),
            base_seeds=int(base.extra_info.get("seeds") or 1),
            cand_std=cand.extra_info.get("accuracy_std"),
            cand_seeds=int(cand.extra_info.get("seeds") or 1),
        )
        seeds = f"seeds {base.extra_info.get('seeds') or 1}/{cand.extra_info.get('seeds') or 1}"
        return _replace(
            row,
            verdict=verdict,
            change=c - b,
            p_value=p,
            detectable=detectable,
            tolerance=tol,
            note=seeds,
        )
    # time, throughput, energy: against the between-run noise
    samples_b, samples_c = base.samples, cand.samples
    from_samples = metric.name == "time" and bool(samples_b) and bool(samples_c)
    prior = config.noise["samples" if metric.name == "time" else "scalar"]
    values = [_value(h, metric.name, config.quantile) for h in history if not h.error]
    spread = max(log_spread(samples_b), log_spread(samples_c)) if from_samples else 0.0
    noise = between_run_noise(history_noise(values, config.min_history), prior, pair, spread)
    if from_samples:
        verdict, b, c, p, detectable = compare_samples(
            samples_b,
            samples_c,
            tolerance=tol,
            alpha=config.alpha,
            quantile=config.quantile,
            noise=noise,
            resamples=config.bootstrap,
        )
        note = f"q{round(config.quantile * 100)} of {len(samples_b)}/{len(samples_c)} rounds"
    else:
        verdict, p, detectable = compare_scalar(
            b, c, metric, tolerance=tol, alpha=config.alpha, noise=noise
        )
        note = "stored q1" if metric.name == "time" else "one value per run"
    return _replace(
        row,
        verdict=verdict,
        baseline=b,
        candidate=c,
        change=_rel(b, c),
        p_value=p,
        detectable=detectable,
        tolerance=tol,
        note=f"{note}; {noise.describe()}",
    )


def _rel(b: float, c: float) -> float | None:
    return c / b - 1 if b else None


def compare_runs(
    baseline: Run, candidate: Run, config: GateConfig, history: Sequence[Run] = ()
) -> list[Comparison]:
    """Every benchmark of both runs: the baseline's order first, then the new ones."""
    base, cand = baseline.benchmarks, candidate.benchmarks
    earlier = [r.benchmarks for r in history]
    pairs = pair_shifts(baseline, candidate, config)
    rows: list[Comparison] = []
    for name, b in base.items():
        c = cand.get(name)
        if c is None:
            rows.append(Comparison(name, "-", "missing", note="not in the candidate run"))
        elif c.error:
            rows.append(Comparison(name, "-", "failed", note=c.error))
        elif b.error:
            rows.append(Comparison(name, "-", "new", note=f"failed in the baseline: {b.error}"))
        elif diffs := network_differences(b, c):
            listing = "; ".join(f"{k}: {x!r} vs {y!r}" for k, (x, y) in diffs.items())
            note = f"another network than the baseline's ({listing}): not compared"
            rows.append(Comparison(name, "-", "new", note=note))
        else:
            past = [h[name] for h in earlier if name in h and not network_differences(h[name], b)]
            rows.extend(compare_benchmark(b, c, config, past, pairs))
    for name, c in cand.items():
        if name not in base:
            verdict = "failed" if c.error else "new"
            rows.append(Comparison(name, "-", verdict, note=c.error or "not in the baseline"))
    return rows
