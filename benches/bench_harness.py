"""The harness's own cost: what timing a unit through this project costs per round.

A call that does nothing and the small CNN's training step are each timed by the
project's `Runner.time`, by pytest-benchmark's pedantic mode and by
`torch.utils.benchmark.Timer` (the reference), in this one process, block by block
with the methods' order rotated (visionbench.techniques.harness). Each method's
benchmark holds its own measurements (replayed) and records its overhead per round
(what it reports for the call that does nothing) and that overhead's share of the
small CNN's step. Expected: a few microseconds a round for the pytest-benchmark
methods, a small fraction of a percent of a millisecond step; the step's time the same
by every method within noise.
"""

import pytest

from visionbench.measure import metrics
from visionbench.measure.runner import replay_clock, timing_only
from visionbench.techniques import harness


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "method" in metafunc.fixturenames:
        metafunc.parametrize("method", harness.METHODS)


@pytest.fixture(scope="module")
def harness_runs() -> harness.HarnessRuns:
    """The interleaved timings of this session: every method's benchmark reads them."""
    return harness.HarnessRuns()


def measure(benchmark, vb, harness_runs, method, unit) -> None:
    if timing_only():
        pytest.skip("the harness times itself; the A/B gate's timing lanes time units")
    harness.measure(vb, benchmark, harness_runs, method, unit)


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{harness.TECHNIQUE}:{metrics.NOOP}", timer=replay_clock)
def bench_noop(benchmark, vb, harness_runs, method):
    measure(benchmark, vb, harness_runs, method, metrics.NOOP)


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{harness.TECHNIQUE}:{metrics.TRAIN_STEP}", timer=replay_clock)
def bench_train_step(benchmark, vb, harness_runs, method):
    measure(benchmark, vb, harness_runs, method, metrics.TRAIN_STEP)
