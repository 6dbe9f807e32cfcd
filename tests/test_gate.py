"""The gate's statistics and rules (pure functions; no files, no timing)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gate_helpers import as_run, bench, run_data, steady
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from visionbench.gate import runs as gate_runs
from visionbench.gate.config import ConfigError, GateConfig
from visionbench.measure import machines
from visionbench.stats import between_runs, defaults
from visionbench.stats.between_runs import Noise

QUIET = Noise(0.05)  # the assumed between-run noise of the defaults
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)  # same examples in CI


def samples_strategy(min_size: int = 2, max_size: int = 60, spread: float = 1.0):
    """Positive timings of 1-100 ms, each at most `spread` above the fastest possible."""
    return st.tuples(
        st.floats(1e-3, 0.1),
        st.lists(st.floats(0.0, spread), min_size=min_size, max_size=max_size),
    ).map(lambda t: [t[0] * (1 + u) for u in t[1]])


def verdict(base, cand, noise=QUIET, tolerance=0.10):
    return between_runs.compare_samples(
        base, cand, tolerance=tolerance, alpha=0.01, quantile=0.25, noise=noise, resamples=400
    )[0]


# -- time -------------------------------------------------------------------------------


@SETTINGS
@given(samples_strategy())
def test_identical_samples_never_regress(samples):
    assert verdict(samples, list(samples)) in ("unchanged", "inconclusive")


@SETTINGS
@given(samples_strategy(min_size=20, spread=0.2), st.floats(2.0, 10.0))
def test_a_shift_well_beyond_the_tolerance_with_enough_rounds_regresses(samples, factor):
    # steady rounds (within 20%), a quiet machine (5% between runs): 2x is far beyond
    assert verdict(samples, [x * factor for x in samples]) == "regression"


@SETTINGS
@given(samples_strategy(min_size=3), st.floats(1.0, 3.0), st.floats(1.0, 2.0))
def test_a_larger_shift_never_turns_a_regression_into_a_pass(samples, factor, more):
    small = verdict(samples, [x * factor for x in samples])
    large = verdict(samples, [x * factor * more for x in samples])
    if small == "regression":
        assert large == "regression"
    if small == "inconclusive":
        assert large in ("inconclusive", "regression")


@SETTINGS
@given(samples_strategy(min_size=5), st.floats(0.9, 1.3), st.floats(0.15, 1.0))
def test_inconclusive_carries_the_detectable_change(samples, factor, sd):
    cand = [x * factor for x in samples]
    result, qb, qc, p, detectable = between_runs.compare_samples(
        samples, cand, tolerance=0.10, alpha=0.01, quantile=0.25, noise=Noise(sd), resamples=400
    )
    assert result in ("inconclusive", "regression", "improvement")
    if result == "inconclusive":
        assert detectable is not None and detectable > 0.10
        # not proven, so either within the tolerance at its estimate or not significant: a
        # gate calling a significant change beyond the tolerance "inconclusive" fails here
        assert abs(math.log(qc / qb)) <= math.log1p(0.10) or p >= 0.01


def test_noise_larger_than_the_tolerance_is_inconclusive_not_pass():
    base = steady(10, n=30)
    for factor in (1.0, 1.05, 1.25):
        cand = [x * factor for x in base]
        assert verdict(base, cand, noise=Noise(0.2)) == "inconclusive"
    assert verdict(base, [x * 3 for x in base], noise=Noise(0.2)) == "regression"


def test_within_run_significance_is_required_too():
    # Same quantile, but the candidate's samples are not slower as a whole.
    base = [0.010] * 10 + [0.020] * 10
    cand = [0.011] * 10 + [0.012] * 10
    assert verdict(base, cand, noise=Noise(0.0)) != "regression"


def test_improvement_reported():
    base = steady(10)
    assert verdict(base, [x / 2 for x in base]) == "improvement"


def test_too_few_samples_cannot_regress_on_the_tolerance_alone():
    assert verdict([0.01], [0.05]) == "inconclusive"


# -- memory, accuracy, flags --------------------------------------------------------------

MIB = 1 << 20


@pytest.mark.parametrize(
    ("base", "cand", "expected"),
    [
        (100 * MIB, 110 * MIB, "regression"),  # +10%, +10 MiB
        (100 * MIB, 104 * MIB, "unchanged"),  # within 5%
        (4 * MIB, 4.8 * MIB, "unchanged"),  # +20% but under 1 MiB
        (100 * MIB, 80 * MIB, "improvement"),
    ],
)
def test_memory(base, cand, expected):
    assert between_runs.compare_memory(base, cand, tolerance=0.05, min_bytes=MIB) == expected


def test_accuracy_without_seed_noise_uses_the_tolerance():
    assert between_runs.compare_accuracy(0.90, 0.85, tolerance=0.01, alpha=0.01)[0] == "regression"
    assert between_runs.compare_accuracy(0.90, 0.895, tolerance=0.01, alpha=0.01)[0] == "unchanged"
    assert between_runs.compare_accuracy(0.85, 0.90, tolerance=0.01, alpha=0.01)[0] == "improvement"


def test_accuracy_drop_within_seed_noise_is_inconclusive():
    result, p, detectable = between_runs.compare_accuracy(
        0.90, 0.85, tolerance=0.01, alpha=0.01,
        base_std=0.05, base_seeds=3, cand_std=0.05, cand_seeds=3,
    )  # fmt: skip
    assert result == "inconclusive"
    assert p > 0.01 and detectable > 0.05


def test_accuracy_drop_beyond_seed_noise_regresses():
    result, p, _ = between_runs.compare_accuracy(
        0.90, 0.85, tolerance=0.01, alpha=0.01,
        base_std=0.005, base_seeds=3, cand_std=0.005, cand_seeds=3,
    )  # fmt: skip
    assert result == "regression" and p < 0.01


def test_accuracy_side_without_spread_borrows_the_other():
    result, _, _ = between_runs.compare_accuracy(
        0.90, 0.88, tolerance=0.01, alpha=0.01, base_std=0.03, base_seeds=5
    )
    assert result == "inconclusive"


@pytest.mark.parametrize(
    ("base", "cand", "expected"),
    [(False, True, "regression"), (True, False, "improvement"), (False, False, "unchanged")],
)
def test_flags(base, cand, expected):
    assert between_runs.compare_flag(base, cand) == expected


# -- whole runs ----------------------------------------------------------------------------


def by_metric(rows, name, metric="time"):
    return next(r for r in rows if r.benchmark.endswith(f"[{name}]") and r.metric == metric)


def test_runs_missing_new_and_failed_benchmarks():
    base = as_run(run_data([bench("a", steady(10)), bench("b", steady(10)), bench("c", steady(5))]))
    cand = as_run(
        run_data([bench("a", steady(10, seed=1)), bench("c", [1.0], error="CUDA out of memory"),
                  bench("d", steady(3))]),
        number=2,
    )  # fmt: skip
    rows = gate_runs.compare_runs(base, cand, GateConfig())
    verdicts = {(r.benchmark.split("[")[-1][:-1], r.metric): r.verdict for r in rows}
    assert verdicts[("b", "-")] == "missing"
    assert verdicts[("c", "-")] == "failed"
    assert verdicts[("d", "-")] == "new"
    assert verdicts[("a", "time")] in ("unchanged", "inconclusive")
    failing = [r for r in rows if gate_runs.is_failure(r)]
    assert {r.verdict for r in failing} == {"missing", "failed"}
    assert not any(
        gate_runs.is_failure(r, allow_missing=True) for r in rows if r.verdict == "missing"
    )


def test_extra_info_metrics_are_gated_by_the_schema():
    base = as_run(run_data([bench("a", steady(10), accuracy=0.90, peak_mem_bytes=100 * MIB,
                                  diverged=False, params=1000)]))  # fmt: skip
    cand = as_run(run_data([bench("a", steady(10), accuracy=0.85, peak_mem_bytes=110 * MIB,
                                  diverged=True, params=2000)]), number=2)  # fmt: skip
    rows = gate_runs.compare_runs(base, cand, GateConfig())
    assert by_metric(rows, "a", "accuracy").verdict == "regression"
    assert by_metric(rows, "a", "peak_mem_bytes").verdict == "regression"
    assert by_metric(rows, "a", "diverged").verdict == "regression"
    assert not [r for r in rows if r.metric == "params"]  # info: shown in reports, not gated


def test_a_metric_the_candidate_stopped_recording_is_missing():
    base = as_run(run_data([bench("a", steady(10), accuracy=0.9)]))
    cand = as_run(run_data([bench("a", steady(10))]), number=2)
    assert by_metric(gate_runs.compare_runs(base, cand, GateConfig()), "a", "accuracy").verdict == (
        "missing"
    )


def six(factors, seed=0):
    return [bench(f"b{i}", [x * f for x in steady(10 + i, seed=seed + i)]) for i, f in
            enumerate(factors)]  # fmt: skip


def test_a_shift_common_to_the_whole_pair_is_inconclusive_without_history():
    base = as_run(run_data(six([1] * 6)))
    cand = as_run(run_data(six([1.25] * 6)), number=2)
    rows = gate_runs.compare_runs(base, cand, GateConfig())
    assert {r.verdict for r in rows} == {"inconclusive"}
    assert all("together" in r.note and "no history" in r.note for r in rows)


def test_a_figure_of_few_benchmarks_moves_with_the_machine_like_the_time():
    """time_to_target_s is recorded by one group only, too few benchmarks to measure
    its own pair shift: when every time moved +80% together, its +100% is the
    machine's mood as much as anything, so it is inconclusive, never a regression."""
    base_benches, cand_benches = six([1] * 6), six([1.8] * 6)
    for b, c in zip(base_benches[:2], cand_benches[:2], strict=True):
        b["extra_info"]["time_to_target_s"] = 2.5
        c["extra_info"]["time_to_target_s"] = 5.0
    rows = gate_runs.compare_runs(as_run(run_data(base_benches)),
                                as_run(run_data(cand_benches), number=2), GateConfig())  # fmt: skip
    ttt = [r for r in rows if r.metric == "time_to_target_s"]
    assert len(ttt) == 2
    assert {r.verdict for r in ttt} == {"inconclusive"}
    assert all("together" in r.note for r in ttt)


def history(spread, n=8):
    """n saved runs whose benchmarks vary run to run by about `spread` (relative)."""
    runs = []
    for k in range(n):
        factor = 1 + spread * ((k % 3) - 1)
        runs.append(as_run(run_data(six([factor] * 6, seed=10 * k)), number=k + 1))
    return runs


def test_one_benchmark_slower_than_the_rest_is_inconclusive_without_history():
    """A/A pairs on this machine had single benchmarks 1.7-2.3x apart while the rest
    held still: from a pair alone that is not evidence of a change."""
    base = as_run(run_data(six([1] * 6)))
    cand = as_run(run_data(six([1, 1, 1, 1, 1, 2.0])), number=2)
    rows = gate_runs.compare_runs(base, cand, GateConfig())
    slow = by_metric(rows, "b5")
    assert slow.verdict == "inconclusive" and "too few saved runs" in slow.note
    assert slow.detectable is not None
    assert all(r.verdict in ("unchanged", "inconclusive") for r in rows)


def test_one_benchmark_slower_than_a_quiet_history_regresses():
    past = history(0.01)
    cand = as_run(run_data(six([1, 1, 1, 1, 1, 2.0], seed=99)), number=len(past) + 1)
    rows = gate_runs.compare_runs(past[-1], cand, GateConfig(), past)
    assert by_metric(rows, "b5").verdict == "regression"
    assert all(r.verdict != "regression" for r in rows if r is not by_metric(rows, "b5"))


def test_a_quiet_history_lets_a_common_shift_be_detected():
    past = history(0.01)
    cand = as_run(run_data(six([1.25] * 6, seed=99)), number=len(past) + 1)
    rows = gate_runs.compare_runs(past[-1], cand, GateConfig(), past)
    assert {r.verdict for r in rows} == {"regression"}


def test_a_noisy_history_makes_the_same_shift_inconclusive():
    past = history(0.30)
    cand = as_run(run_data(six([1.25] * 6, seed=99)), number=len(past) + 1)
    rows = gate_runs.compare_runs(past[-1], cand, GateConfig(), past)
    assert {r.verdict for r in rows} == {"inconclusive"}
    assert all(r.detectable > 0.25 and "8 saved runs" in r.note for r in rows)


def test_history_is_the_baseline_and_comparable_runs_before_it():
    past = history(0.01, n=8)
    other = as_run(run_data(six([1] * 6), fingerprint={"profile": "paper"}), number=3)
    runs = [*past[:2], other, *past[3:]]
    chosen = machines.comparable_history(runs[5], runs, lookback=4)
    assert [r.number for r in chosen] == [2, 4, 5, 6]
    assert chosen[-1] is runs[5]
    assert other not in machines.comparable_history(runs[5], runs, lookback=10)


# -- settings ------------------------------------------------------------------------------


def test_overrides_by_pattern():
    config = GateConfig.from_mapping(
        {
            "tolerance": {"time": 0.1},
            "override": [
                {"pattern": "*resnet50*", "time": 0.5, "memory": 0.2},
                {"pattern": "*resnet50*fp16*", "time": 0.3},
            ],
        }
    )
    assert config.tolerance_for("benches/bench_model_size.py::step[resnet50]", "time") == 0.5
    assert config.tolerance_for("benches/bench_model_size.py::step[resnet50-fp16]", "time") == 0.3
    assert config.tolerance_for("benches/bench_model_size.py::step[resnet50]", "memory") == 0.2
    assert config.tolerance_for("benches/bench_model_size.py::step[resnet18]", "time") == 0.1
    default = defaults.DEFAULTS["tolerance"]["accuracy"]
    assert config.tolerance_for("x[resnet18]", "accuracy") == default


def test_an_override_changes_the_verdict():
    def run(ms, number):
        benches = [bench("resnet50", steady(ms, seed=number)),
                   bench("resnet18", steady(ms, seed=number + 50))]  # fmt: skip
        return as_run(run_data(benches), number)

    past = [run(10, k) for k in range(1, 5)]
    config = GateConfig.from_mapping({"override": [{"pattern": "*resnet50*", "time": 0.5}]})
    rows = gate_runs.compare_runs(past[-1], run(13, 5), config, past)
    assert by_metric(rows, "resnet18").verdict == "regression"
    assert by_metric(rows, "resnet50").verdict != "regression"


@pytest.mark.parametrize(
    "table",
    [
        {"alpah": 0.01},
        {"alpha": "0.01"},
        {"alpha": 0.9},
        {"tolerance": {"tme": 0.1}},
        {"tolerance": {"time": -0.1}},
        {"override": [{"time": 0.2}]},
        {"lookback": 2.5},
    ],
)
def test_bad_settings_are_rejected_loudly(table):
    with pytest.raises(ConfigError):
        GateConfig.from_mapping(table)


def test_the_repository_settings_load():
    from pathlib import Path

    from visionbench.gate.config import load_config

    config = load_config(Path(__file__).parents[1] / "pyproject.toml")
    assert 0 < config.alpha < 0.5
    assert set(config.tolerance) == set(defaults.DEFAULTS["tolerance"])


def test_a_disturbed_candidate_is_inconclusive_even_against_a_quiet_history():
    past = history(0.01)
    rng = np.random.default_rng(7)
    disturbed = [
        bench(
            f"b{i}", [x * (1 + 2 * u) for x, u in zip(steady(10 + i), rng.random(30), strict=True)]
        )
        for i in range(6)
    ]  # other load came and went while it ran: rounds 1-3x slower
    cand = as_run(run_data(disturbed), number=len(past) + 1)
    rows = gate_runs.compare_runs(past[-1], cand, GateConfig(), past)
    assert all(r.change > 0.3 for r in rows)
    assert {r.verdict for r in rows} == {"inconclusive"}
    assert all("rounds' own spread" in r.note or "history's" in r.note for r in rows)


def test_an_unconfirmed_large_change_is_not_called_unchanged():
    base = [0.010, 0.010, 0.011, 0.030, 0.030, 0.031]
    cand = [0.005, 0.005, 0.006, 0.030, 0.031, 0.031]  # q25 halves, the rest does not move
    assert verdict(base, cand, noise=Noise(0.0)) == "inconclusive"


def test_throughput_derived_from_judged_samples_is_not_judged_twice():
    def run(k):
        figures = {"samples_per_s": 6400.0, "train_time_s": 8.0 + 0.1 * k}
        return as_run(run_data([bench("a", steady(10, seed=k), **figures)]), k)

    past = [run(k) for k in range(1, 5)]
    cand = as_run(run_data([bench("a", steady(10), samples_per_s=3200.0, train_time_s=24.0)]), 5)
    rows = gate_runs.compare_runs(past[-1], cand, GateConfig(), past)
    assert not [r for r in rows if r.metric == "samples_per_s"]
    assert by_metric(rows, "a", "train_time_s").verdict == "regression"  # 3x, one value per run


def test_a_pair_that_scatters_more_than_its_history_is_judged_by_itself():
    # Measured on this machine: a quiet history, then a run 40% slower overall,
    # its benchmarks scattered ±20% around that, one of them 2.3x: not a regression.
    past = history(0.01)
    normal_scores = stats.norm.ppf((np.arange(14) + 0.5) / 14)
    factors = [*np.exp(np.log(1.4) + 0.2 * normal_scores), 2.31]
    cand = as_run(
        run_data([bench(f"b{i}", [x * f for x in steady(10 + i, seed=50 + i)])
                  for i, f in enumerate(factors)]),
        number=len(past) + 1,
    )  # fmt: skip
    base = as_run(run_data([bench(f"b{i}", steady(10 + i, seed=i)) for i in range(15)]), 8)
    rows = gate_runs.compare_runs(base, cand, GateConfig(), [*past[:-1], base])
    assert "regression" not in {r.verdict for r in rows}
    assert "more than the history's" in by_metric(rows, "b0").note  # b0-b5 have one
