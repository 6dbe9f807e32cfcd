"""Run against run: every benchmark of a baseline compared with the candidate's.

Every benchmark of the baseline is compared with the same benchmark (same
pytest node id) of the candidate, metric by metric, following the metric
schema (`metrics.METRICS`: which way is better, which kind of tolerance), with
the statistics of `stats.between_runs` and the noise measured from the saved history
and from how this pair's benchmarks moved together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visionbench.gate.config import GateConfig
from visionbench.measure.figures import judge_infos, paired_images
from visionbench.measure.metrics import METRICS, Metric
from visionbench.measure.results import Bench, Run
from visionbench.stats.between_runs import (
    PairShift,
    between_run_noise,
    compare_accuracy,
    compare_flag,
    compare_memory,
    compare_samples,
    compare_scalar,
    history_noise,
    log_spread,
)

VERDICTS = ("regression", "improvement", "unchanged", "inconclusive", "missing", "new", "failed")
FAILING = ("regression", "failed", "missing")  # "missing" only unless allowed
GATED_KINDS = ("time", "throughput", "memory", "accuracy", "energy", "flag")
NOISY_KINDS = ("time", "throughput", "energy")  # judged against between-run noise


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


def quantile_of(bench: Bench, q: float) -> float | None:
    """The q-quantile of the raw samples (or the matching stored statistic without them)."""
    samples = bench.samples
    if samples:
        return float(np.quantile(samples, q))
    stored = {0.0: "min", 0.25: "q1", 0.5: "median", 1.0: "max"}.get(q)
    value = bench.stats.get(stored) if stored else None
    return float(value) if isinstance(value, (int, float)) else None


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


def gate_words(
    base: Mapping[str, Any], cand: Mapping[str, Any], metric: str, tolerance: float
) -> str:
    """The accuracy row in the words of `stats.equivalence` (candidate minus baseline),
    for its detail: the gate's verdict, and so its pass or fail, stands. ("" without the
    figure.) Both runs score the same test images: where both kept their outcomes the
    words are paired over them (`stats.outcomes`), else the binomial term overstates
    the noise of their difference."""
    judged = judge_infos(cand, base, tolerance, metric)
    return judged.text() if judged is not None else ""


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
            base_std=base.extra_info.get(f"{metric.name}_std"),
            base_seeds=int(base.extra_info.get("seeds") or 1),
            cand_std=cand.extra_info.get(f"{metric.name}_std"),
            cand_seeds=int(cand.extra_info.get("seeds") or 1),
            paired=paired_images(cand.extra_info, base.extra_info)
            if metric.name == "accuracy"
            else None,
        )
        seeds = f"seeds {base.extra_info.get('seeds') or 1}/{cand.extra_info.get('seeds') or 1}"
        words = gate_words(base.extra_info, cand.extra_info, metric.name, tol)
        return _replace(
            row,
            verdict=verdict,
            change=c - b,
            p_value=p,
            detectable=detectable,
            tolerance=tol,
            note=f"{seeds}; {words}" if words else seeds,
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
            b,
            c,
            higher_is_better=metric.better == "higher",
            tolerance=tol,
            alpha=config.alpha,
            noise=noise,
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
