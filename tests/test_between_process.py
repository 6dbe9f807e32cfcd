"""A paired ratio's interval holds between runs: a shift planted into each process's
rounds is estimated (pooled over a run's ratios) and widens the intervals so that they
cover the true ratio; with no shift they widen only by the estimate's noise; and the
runner really times a ratio in separate processes (their pids recorded)."""

from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np
import torch
from helpers import FakeBenchmark
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.measure import metrics
from visionbench.measure.interleave import Interleaved, across, widen_run
from visionbench.measure.runner import Runner, Timing
from visionbench.stats import between_process
from visionbench.training import elsewhere
from visionbench.training.train import TrainConfig

RATIOS, PAIRS = 26, 10  # a quick run's paired ratios; pairs per process


def synthetic_run(seed: int, shift_sd: float, processes: int = 2, noise_sd: float = 0.03):
    """A run's paired ratios, every one truly 1.0: each process shifts all of its pairs'
    log-ratios by one draw of sd `shift_sd`; each pair adds noise of sd `noise_sd`."""
    rng = np.random.default_rng(seed)
    benchmarks = []
    for _ in range(RATIOS):
        timed = []
        for pid in range(processes):
            d = rng.normal(rng.normal(0.0, shift_sd), noise_sd, PAIRS)
            reference = np.full(PAIRS, 0.01)
            timed.append((pid, Interleaved(tuple(reference * np.exp(d)), tuple(reference), ())))
        benchmarks.append({"extra_info": across(timed)})
    return benchmarks


def covered(benchmarks) -> float:
    """Share of the intervals that hold the true ratio, 1.0."""
    e = [b["extra_info"] for b in benchmarks]
    return sum(x["ratio_ci_low"] <= 1.0 <= x["ratio_ci_high"] for x in e) / len(e)


def log_widths(benchmarks) -> list[float]:
    return [
        math.log(b["extra_info"]["ratio_ci_high"] / b["extra_info"]["ratio_ci_low"])
        for b in benchmarks
    ]


def test_a_planted_shift_between_processes_widens_the_intervals_to_cover_it():
    run = synthetic_run(seed=1, shift_sd=0.05)
    assert covered(run) < 0.75  # within one process's pairs, a shift is a "difference"
    before = log_widths(run)
    pooled = widen_run(run)
    assert np.median(np.array(log_widths(run)) / np.array(before)) > 2
    assert 0.03 < pooled.sd < 0.08 and pooled.ratios == RATIOS
    assert covered(run) >= 0.9
    assert all(b["extra_info"]["ratio_between_sd"] == pooled.sd for b in run)
    for b in run:
        metrics.validate(b["extra_info"])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_with_no_shift_the_intervals_widen_only_by_the_estimates_noise(seed):
    run = synthetic_run(seed, shift_sd=0.0)
    before = log_widths(run)
    pooled = widen_run(run)
    after = log_widths(run)
    # the estimator's noise, measured over 400 such runs: the pool's sd at most 0.009
    # (a pair's noise is 0.03), the median interval at most 1.44x as wide (99%: 1.36x);
    # a planted shift of 0.05 widens them 2x and more
    assert pooled.sd < 0.4 * 0.03
    assert np.median(np.array(after) / np.array(before)) < 1.5


def test_two_runs_of_one_commit_agree_once_the_shift_is_in_the_interval():
    a, b = synthetic_run(seed=2, shift_sd=0.04), synthetic_run(seed=3, shift_sd=0.04)

    def overlap(x, y) -> float:
        pairs = zip(x, y, strict=True)
        both = [
            p["extra_info"]["ratio_ci_low"] <= q["extra_info"]["ratio_ci_high"]
            and q["extra_info"]["ratio_ci_low"] <= p["extra_info"]["ratio_ci_high"]
            for p, q in pairs
        ]
        return sum(both) / len(both)

    assert overlap(a, b) < 0.95
    widen_run(a), widen_run(b)
    assert overlap(a, b) >= 0.95


def test_a_ratio_timed_in_one_process_takes_the_whole_shift_of_one():
    run = synthetic_run(seed=4, shift_sd=0.05)
    lone = {"extra_info": {"ratio_vs_ref": 1.0, "ratio_ci_low": 0.99, "ratio_ci_high": 1.01,
                           "paired_rounds": 20}}  # fmt: skip
    pooled = widen_run([*run, lone])
    t = between_process.widen(0.0, math.log(0.99), math.log(1.01), pooled, 1, 0.95, 19)
    assert lone["extra_info"]["ratio_ci_low"] == math.exp(t[0]) < 0.99 * math.exp(-pooled.sd)


def test_nothing_changes_without_a_ratio_timed_in_two_processes():
    info = {"ratio_vs_ref": 0.8, "ratio_ci_low": 0.78, "ratio_ci_high": 0.82}
    run = [{"extra_info": dict(info)}]
    assert widen_run(run) == between_process.NONE
    assert run[0]["extra_info"] == info


def test_the_one_way_analysis_matches_its_textbook_formulas():
    groups = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    a = between_process.one_way(groups)
    assert a is not None and (a.df_between, a.df_within) == (1, 5)
    assert math.isclose(a.ms_within, (2 + 5) / 5)
    assert math.isclose(a.n0, (7 - (9 + 16) / 7) / 1)
    assert between_process.one_way([[1.0, 2.0]]) is None


def test_the_runner_times_a_ratio_in_separate_processes_and_records_their_pids():
    profile = SimpleNamespace(name="test", timing=Timing(rounds=6, warmup_rounds=1, processes=2))
    runner = Runner(profile, torch.device("cpu"))
    x = torch.randn(16, 8)

    def unit(width: int) -> elsewhere.Unit:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.Linear(width, 2))
        return elsewhere.Unit(model, TrainConfig(), x, torch.zeros(16, dtype=torch.long))

    units = elsewhere.Units("cpu", unit(64), unit(8))
    variant, reference = units()  # the bench's own process builds the same units
    figures = runner.time(FakeBenchmark(), variant, 16, reference=reference, elsewhere=units)
    pids = figures["ratio_pids"]
    assert pids[0] == os.getpid() and len(set(pids)) == 2
    assert [len(d) for d in figures["ratio_log_per_process"]] == [6, 3]
    assert figures["paired_rounds"] == 9
    metrics.validate(figures)


def test_a_pool_dominated_by_one_wild_ratio_keeps_every_interval_finite_and_bounded():
    wild = between_process.OneWay(ms_between=6.0, ms_within=0.01, n0=10.0, df_between=1,
                                  df_within=28)  # fmt: skip
    calm = [between_process.OneWay(0.001, 0.001, 10.0, 1, 28)] * 11
    pooled = between_process.pool([wild, *calm])
    low, high = between_process.widen(0.0, -0.05, 0.05, pooled, 2, 0.95, 29)
    t1 = 12.71  # Student's t at 1 degree of freedom, 97.5%
    assert -t1 * 1.01 * math.sqrt(0.05**2 / 1.96**2 + pooled.tau2 / 2) < low < -0.05
    assert 0.05 < high < t1 * 1.01 * math.sqrt(0.05**2 / 1.96**2 + pooled.tau2 / 2)
