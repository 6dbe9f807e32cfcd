"""The harness's own cost: every method times the same unit, interleaved, and what it
reports for a call that does nothing is its overhead; the appendix says so."""

import importlib.util
import time
from types import SimpleNamespace

import pytest
import torch
from gate_helpers import as_run, bench, run_data, steady
from helpers import ROOT

from visionbench import profiles
from visionbench.measure import TIMING_ONLY_ENV, metrics
from visionbench.measure.runner import Runner, Timing
from visionbench.report import harness as appendix
from visionbench.techniques import harness

CPU = torch.device("cpu")


def test_a_fresh_fixture_times_like_pytest_benchmark_and_keeps_its_stats():
    fixture = harness.fresh_fixture("x")
    fixture.pedantic(lambda: time.sleep(0.002), rounds=3, warmup_rounds=1)
    data = list(fixture.stats.stats.data)
    assert len(data) == 3 and all(d >= 0.002 for d in data)


def test_every_method_times_every_block_in_a_rotated_order(monkeypatch):
    calls: list[str] = []
    unit = lambda: calls.append("unit")  # noqa: E731
    runner = Runner(profiles.get("quick"), CPU)
    real_time = Runner.time

    def noting(self, benchmark, fn, *args, **kwargs):
        calls.append("runner")
        return real_time(self, benchmark, fn, *args, **kwargs)

    monkeypatch.setattr(Runner, "time", noting)
    found = harness.interleave(runner, unit, blocks=3, timing=Timing(rounds=4, warmup_rounds=1))
    for method in harness.METHODS:  # one median a block, one sample a round (or measurement)
        assert len(found.blocks[method]) == 3 and len(found.samples[method]) == 3 * 4
    assert found.number > 1  # a call that does almost nothing: many per Timer measurement
    assert calls.count("runner") == 3  # Runner.time itself, once a block
    assert found.ratio("runner")["paired_rounds"] == 3


def test_overhead_is_the_round_of_nothing_less_the_call_and_its_share_of_the_step():
    trivial = harness.Interleaved(
        samples={"runner": [2e-6, 3e-6, 2.5e-6], "pedantic": [1e-6] * 3, "torch_timer": [1e-7] * 3}
    )
    step = harness.Interleaved(
        samples={m: [2e-3, 2.1e-3] for m in harness.METHODS},
        blocks={m: [2e-3, 2.1e-3] for m in harness.METHODS},
    )
    assert harness.overhead_s(trivial, "runner") == pytest.approx(2.4e-6)
    assert harness.overhead_s(trivial, "torch_timer") == 0.0
    found = harness.figures(trivial, step, "runner", step)
    assert found["overhead_share"] == pytest.approx(2.4e-6 / 2.05e-3)
    assert found["ratio_vs_ref"] == pytest.approx(1.0)
    metrics.validate(found)


def _method(unit, method, median_s, **extra):
    return bench(
        f"{unit}-{method}", steady(median_s * 1e3), technique="harness", variant=method,
        reference="torch_timer", unit=unit, dataset="mnist5k", device="cpu", **extra,
    )  # fmt: skip


def test_the_appendix_gives_each_methods_overhead_in_us_and_as_a_share_of_the_step():
    step = dict(model="small_cnn", image_size=16, batch_size=64)
    benches = [
        _method("noop", "runner", 3e-6, overhead_s=2.9e-6, paired_rounds=8, timer_number=9000),
        _method("noop", "torch_timer", 1e-7, overhead_s=0.0, timer_number=9000),
        _method("train_step", "runner", 2e-3, overhead_s=2.9e-6, overhead_share=1.5e-3,
                ratio_vs_ref=1.01, ratio_ci_low=0.99, ratio_ci_high=1.03, paired_rounds=8,
                **step),
        _method("train_step", "torch_timer", 2e-3, overhead_s=0.0, overhead_share=0.0, **step),
    ]  # fmt: skip
    text = appendix.appendix(list(as_run(run_data(benches)).benchmarks.values()))
    assert text.startswith("## Appendix: the harness's own cost")
    assert "small_cnn at 16 px, batch 64 (mnist5k, cpu)" in text and "(8 blocks)" in text
    assert "spread over 9000 calls" in text
    row = next(line for line in text.splitlines() if line.startswith("| `Runner.time`"))
    assert "2.90 µs" in row and "0.15%" in row and "1.010× [0.990–1.030]" in row
    assert "`Runner.time` adds 2.90 µs per round, 0.15% of the small CNN's training step" in text
    assert appendix.appendix([]) == ""


def test_the_dry_run_cuts_the_harness_to_a_few_rounds():
    for name in profiles.PROFILES:
        dry = profiles.dry_run(profiles.get(name)).harness
        assert dry.blocks <= profiles.DRY_RUN.timing.rounds
        assert dry.trivial_rounds == profiles.DRY_RUN.timing.rounds


def test_the_bench_skips_under_the_ab_gates_timing_lanes(monkeypatch):
    """`visionbench ab` times units, not timers: its lanes skip this bench."""
    spec = importlib.util.spec_from_file_location(
        "bench_harness", ROOT / "benches/bench_harness.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv(TIMING_ONLY_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match="A/B gate"):
        module.measure(SimpleNamespace(), SimpleNamespace(), None, "runner", "noop")
