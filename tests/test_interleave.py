"""A variant timed round by round with its reference: the ratio's interval
holds 1 for a variant identical to its reference whatever the machine's drift,
and excludes it for a real extra cost; the order is random and balanced; the
variant's own samples stay pytest-benchmark's."""

from __future__ import annotations

import json
import math
import random
import textwrap

import pytest
from helpers import FakeBenchmark, run_pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.measure.interleave import REFERENCE_FIRST, VARIANT_FIRST, Pairing


def time_interleaved(benchmark, unit, reference, *, rounds, warmup_rounds, seed=0, clock=None):
    """What the runner does: the variant's pedantic rounds with the reference's
    rounds paired through its untimed setup and teardown."""
    pairing = Pairing(reference, rounds=rounds, warmup_rounds=warmup_rounds, seed=seed,
                      **({"clock": clock} if clock else {}))  # fmt: skip
    benchmark.pedantic(unit, setup=pairing.setup, teardown=pairing.teardown, rounds=rounds,
                       warmup_rounds=warmup_rounds)  # fmt: skip
    return pairing.result(benchmark)


class DriftingMachine:
    """A fake clock on a machine whose speed drifts: a trend (up to `trend`x
    slower by the end) and mood swings of ±`swing` every few rounds, plus
    independent per-call noise of relative sd `noise`."""

    def __init__(self, seed: int, trend: float, swing: float, noise: float) -> None:
        self.rng = random.Random(seed)
        self.t = 0.0
        self.trend, self.swing, self.noise = trend, swing, noise
        self.phase = self.rng.uniform(0, 2 * math.pi)

    def clock(self) -> float:
        return self.t

    def unit(self, cost: float):
        def work() -> None:
            mood = (1 + self.trend * min(self.t / 2.0, 1.0)) * (
                1 + self.swing * math.sin(self.t / 0.05 + self.phase)
            )
            jitter = max(0.5, 1 + self.noise * self.rng.gauss(0, 1))
            self.t += cost * mood * jitter

        return work


def interleaved(machine: DriftingMachine, variant_cost: float, rounds: int = 16, seed: int = 0):
    bench = FakeBenchmark(clock=machine.clock)
    result = time_interleaved(
        bench,
        machine.unit(variant_cost),
        machine.unit(0.010),
        rounds=rounds,
        warmup_rounds=2,
        seed=seed,
        clock=machine.clock,
    )
    return bench, result


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    trend=st.floats(0.0, 3.0),
    swing=st.floats(0.0, 0.5),
)
def test_a_variant_identical_to_its_reference_holds_one_whatever_the_drift(seed, trend, swing):
    machine = DriftingMachine(seed, trend, swing, noise=0.0)
    _, result = interleaved(machine, 0.010, seed=seed)
    figures = result.figures()
    assert figures["ratio_ci_low"] <= 1.0 <= figures["ratio_ci_high"]
    assert figures["paired_rounds"] == 16


def test_drift_that_pairing_cancels_would_fool_separate_blocks():
    """The point of pairing: the same drift makes two blocks of identical work
    look different by far more than any tolerance."""
    machine = DriftingMachine(seed=1, trend=3.0, swing=0.0, noise=0.0)
    first = FakeBenchmark(clock=machine.clock)
    first.pedantic(machine.unit(0.010), rounds=100, warmup_rounds=0)
    second = FakeBenchmark(clock=machine.clock)
    second.pedantic(machine.unit(0.010), rounds=100, warmup_rounds=0)
    assert second.stats.stats.median / first.stats.stats.median > 1.5
    _, result = interleaved(DriftingMachine(seed=1, trend=3.0, swing=0.0, noise=0.0), 0.010)
    assert abs(result.figures()["ratio_vs_ref"] - 1.0) < 0.02


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), trend=st.floats(0.0, 3.0), swing=st.floats(0.0, 0.5))
def test_a_real_extra_cost_is_an_interval_above_one(seed, trend, swing):
    machine = DriftingMachine(seed, trend, swing, noise=0.05)
    _, result = interleaved(machine, 0.012, seed=seed)  # 20% more work a round
    figures = result.figures()
    assert figures["ratio_ci_low"] > 1.0
    assert abs(figures["ratio_vs_ref"] / 1.2 - 1) < 0.1


@given(rounds=st.integers(2, 40), seed=st.integers(0, 10**6))
def test_the_order_is_balanced_and_random(rounds, seed):
    _, result = interleaved(DriftingMachine(0, 0, 0, 0), 0.01, rounds=rounds, seed=seed)
    orders = result.orders
    assert len(orders) == rounds
    assert abs(orders.count(VARIANT_FIRST) - orders.count(REFERENCE_FIRST)) <= rounds % 2


def test_orders_differ_between_seeds():
    seen = {interleaved(DriftingMachine(0, 0, 0, 0), 0.01, seed=s)[1].orders for s in range(8)}
    assert len(seen) > 1


def test_the_reference_is_timed_beside_each_round_in_its_order():
    events: list[str] = []
    clock = DriftingMachine(0, 0, 0, 0)
    bench = FakeBenchmark(clock=clock.clock)
    result = time_interleaved(
        bench,
        lambda: events.append("V"),
        lambda: events.append("R"),
        rounds=6,
        warmup_rounds=1,
        seed=3,
        clock=clock.clock,
    )
    expected = ["R", "V"]  # the warm-up round warms both
    for order in result.orders:
        expected += ["V", "R"] if order == VARIANT_FIRST else ["R", "V"]
    assert events == expected


def test_too_few_rounds_give_no_interval_rather_than_a_made_up_one():
    _, result = interleaved(DriftingMachine(0, 0, 0, 0.05), 0.012, rounds=4)
    figures = result.figures()
    assert figures["paired_rounds"] == 4 and "ratio_ci_low" not in figures


PAIRED_BENCH = textwrap.dedent(
    """
    import time

    from visionbench.measure.interleave import Pairing


    def spin(seconds):
        # on the process's CPU clock: a loaded machine stretches a 6 ms spin and a
        # 2 ms one alike, where a wall-clock spin preempted once would gain the same
        # absolute delay in both and pull their ratio towards 1
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass


    def test_paired(benchmark):
        pairing = Pairing(lambda: spin(0.002), rounds=12, warmup_rounds=1)
        benchmark.pedantic(lambda: spin(0.006), setup=pairing.setup,
                           teardown=pairing.teardown, rounds=12, warmup_rounds=1)
        benchmark.extra_info.update(pairing.result(benchmark).figures())
    """
)


@pytest.mark.deps
def test_the_variants_samples_are_pytest_benchmarks_own(tmp_path):
    (tmp_path / "test_paired.py").write_text(PAIRED_BENCH)
    out = tmp_path / "run.json"
    proc = run_pytest(str(tmp_path / "test_paired.py"), "-q", "--benchmark-save-data",
                      f"--benchmark-json={out}", "-p", "no:randomly")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (bench,) = json.loads(out.read_text())["benchmarks"]
    samples = bench["stats"]["data"]
    assert len(samples) == 12 and min(samples) >= 0.006  # the variant's rounds only
    assert bench["extra_info"]["paired_rounds"] == 12
    # 6 ms of CPU against 2 ms: about 3 (a ratio of the variant with itself gives 1, one
    # the wrong way round 0.33); wide bounds, as this runs beside the suite, niced
    assert 1.8 < bench["extra_info"]["ratio_vs_ref"] < 5
