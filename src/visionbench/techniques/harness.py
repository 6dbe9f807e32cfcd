"""The harness's own cost: what timing a unit through this project costs per round.

The same units are timed three ways in one process, interleaved block by block
(each block runs every method once, in an order rotated from block to block, so
that whatever slows the machine for a while touches every method alike):

  runner       the project's `Runner.time` (measure/runner.py): pytest-benchmark's
               pedantic rounds around the synchronised unit, with its setup and
               teardown hooks and its energy block after the rounds
  pedantic     pytest-benchmark's `benchmark.pedantic` on the bare unit, one call per round
  torch_timer  `torch.utils.benchmark.Timer` (the reference): each measurement runs the
               unit `number` times and reports the time per call, so its own overhead
               is spread over many calls of a short unit

Two units: a trivial one (a Python function that does nothing: whatever a method
reports for it is the method's own cost per round) and the small CNN's training step
at the profile's model-size input (what the harness's figures are mostly of). A
method's per-round overhead is its median round of the trivial unit minus the
trivial unit's own cost (the Timer's time per call, over `number` calls: tens of
nanoseconds); its share is that overhead over the small CNN's step (the Timer's median).
Each method's median per block pairs with the Timer's of the same block: the ratio
of the step as a method times it to the step as the Timer times it, with its
interval over the blocks (`stats.paired`).
"""

from __future__ import annotations

import inspect
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import torch
from torch.utils.benchmark import Timer

from visionbench.measure import metrics
from visionbench.measure.meters import synced
from visionbench.measure.runner import Runner, Timing, Variant, replay
from visionbench.measure.techniques import HARNESS
from visionbench.stats.paired import paired_ratio
from visionbench.training.train import Trainer
from visionbench.training.workloads import batches, build_model

TECHNIQUE = HARNESS.name
REFERENCE = HARNESS.reference or "torch_timer"
METHODS = ("runner", "pedantic", REFERENCE)  # the reference last: the report's order
MIN_MEASUREMENT_S = 1e-3  # a Timer measurement runs the unit at least this long (its `number`)
CONFIDENCE = 0.95  # of the ratio's interval over blocks


def threads() -> int:
    """torch's intra-op threads as the benches run (`--vb-threads`): the Timer's own
    default is one thread, which would time another unit than the other methods."""
    return torch.get_num_threads()


def noop() -> None:
    """The trivial unit: a call that does nothing."""


@dataclass
class Interleaved:
    """One unit timed by every method, block by block."""

    samples: dict[str, list[float]] = field(default_factory=dict)  # method -> seconds per
    #   call of each measurement, in the order taken (a round; the Timer's: one of `number`)
    blocks: dict[str, list[float]] = field(default_factory=dict)  # method -> each block's median
    number: int = 1  # calls per Timer measurement

    def median(self, method: str) -> float:
        """The method's median over all its measurements (the saved benchmark's median)."""
        return statistics.median(self.samples[method])

    def ratio(self, method: str) -> dict[str, Any]:
        """The method's time of the unit over the Timer's, paired block by block: the
        runner's `ratio_vs_ref` figures (an interval only where the blocks bound one)."""
        own, ref = self.blocks[method], self.blocks[REFERENCE]
        r = paired_ratio(own, ref, CONFIDENCE)
        figures: dict[str, Any] = {"ratio_vs_ref": r.ratio, "paired_rounds": len(own)}
        if r.ci_low > 0 and r.ci_high < math.inf:
            figures.update(ratio_ci_low=r.ci_low, ratio_ci_high=r.ci_high)
        return figures


def fresh_fixture(name: str, disable_gc: bool = False) -> Any:
    """A pytest-benchmark fixture as pytest-benchmark makes one, timing with its default
    clock (time.perf_counter), whose statistics stay with it: never saved with the run."""
    from pytest_benchmark.fixture import BenchmarkFixture

    wanted = {
        "node": SimpleNamespace(name=name, nodeid=f"harness::{name}"),
        "disable_gc": disable_gc,
        "timer": SimpleNamespace(target=time.perf_counter),
        "min_rounds": 1,
        "min_time": 0.0,
        "max_time": 1.0,
        "precision": None,
        "confidence": None,
        "warmup": False,
        "warmup_iterations": 0,
        "calibration_precision": 10,
        "add_stats": lambda stats: None,
        "logger": SimpleNamespace(debug=lambda *a, **k: None, warning=lambda *a, **k: None),
        "warner": lambda *a, **k: None,
        "disabled": False,
        "cprofile": False,
        "cprofile_loops": None,
        "cprofile_dump": False,
    }
    accepted = inspect.signature(BenchmarkFixture.__init__).parameters
    return BenchmarkFixture(**{k: v for k, v in wanted.items() if k in accepted})


def timer_number(fn: Callable[[], Any], device: torch.device) -> int:
    """Calls per Timer measurement: enough for MIN_MEASUREMENT_S (1 for a unit longer)."""
    timer = Timer(stmt="fn()", globals={"fn": synced(fn, device)}, num_threads=threads())
    once = min(timer.timeit(1).median for _ in range(3))  # the Timer's own cost included
    guess = max(1, math.ceil(MIN_MEASUREMENT_S / max(once, 1e-9)))
    if guess == 1:
        return 1
    per_call = timer.timeit(guess).median  # that cost spread over `guess` calls
    return max(1, math.ceil(MIN_MEASUREMENT_S / max(per_call, 1e-9)))


def interleave(
    runner: Runner,
    fn: Callable[[], Any],
    *,
    blocks: int,
    timing: Timing,
    disable_gc: bool = False,
) -> Interleaved:
    """`fn` timed by every method, `timing.rounds` measurements each per block (after its
    warm-up rounds), the methods' order rotated from block to block."""
    device = runner.device
    unit = synced(fn, device)
    number = timer_number(fn, device)
    timer = Timer(stmt="fn()", globals={"fn": unit}, num_threads=threads())
    out = Interleaved(number=number)

    def by_runner() -> list[float]:
        fixture = fresh_fixture("runner", disable_gc)
        runner.time(fixture, fn, units=1, timing=timing)
        return list(fixture.stats.stats.data)

    def by_pedantic() -> list[float]:
        fixture = fresh_fixture("pedantic", disable_gc)
        fixture.pedantic(unit, rounds=timing.rounds, warmup_rounds=timing.warmup_rounds)
        return list(fixture.stats.stats.data)

    def by_timer() -> list[float]:
        for _ in range(timing.warmup_rounds):
            timer.timeit(number)
        return [timer.timeit(number).median for _ in range(timing.rounds)]

    ways = {"runner": by_runner, "pedantic": by_pedantic, REFERENCE: by_timer}
    for block in range(blocks):
        turn = block % len(METHODS)
        for method in METHODS[turn:] + METHODS[:turn]:
            taken = ways[method]()
            out.samples.setdefault(method, []).extend(taken)
            out.blocks.setdefault(method, []).append(statistics.median(taken))
    return out


@dataclass
class HarnessRuns:
    """A session's interleaved timings, by unit, device and profile: every method's
    benchmark of a unit reads the one experiment."""

    found: dict[tuple[str, str, str], Interleaved] = field(default_factory=dict)

    def get(self, key: tuple[str, str, str], run: Callable[[], Interleaved]) -> Interleaved:
        if key not in self.found:
            self.found[key] = run()
        return self.found[key]


def overhead_s(trivial: Interleaved, method: str) -> float:
    """The method's cost per round: its median round of the trivial unit over the trivial
    unit's own cost (the Timer's time per call, spread over `number` calls)."""
    return max(0.0, trivial.median(method) - trivial.median(REFERENCE))


def figures(
    trivial: Interleaved, step: Interleaved | None, method: str, unit: Interleaved
) -> dict[str, Any]:
    """A method's recorded figures for `unit` (the trivial unit or the step): its ratio
    to the Timer over the blocks, its per-round overhead and, with the step, that
    overhead's share of the step (metrics.py names)."""
    out = {**unit.ratio(method), "overhead_s": overhead_s(trivial, method)}
    out["timer_number"] = unit.number
    if step is not None:
        out["overhead_share"] = overhead_s(trivial, method) / step.median(REFERENCE)
    return out


# -- the benchmark ----------------------------------------------------------------------

STEP_MODEL = "small_cnn"  # the step whose share the overhead is given as


def step_unit(bench: Any) -> tuple[Callable[[], None], Any, int]:
    """The small CNN's training step at the profile's model-size input on the bench's
    data, a fresh model on its first batch (a step's time does not depend on training):
    the unit, its workload and its batch size."""
    workload = bench.workload(STEP_MODEL)
    data = bench.data.at(workload.image_size)
    cfg = workload.train
    trainer = Trainer(build_model(workload, data, cfg.seed), cfg, bench.device, 10**9)
    x, y = next(batches(data, cfg, bench.device, train=True).epoch(0))
    x, y = trainer.prepare(x), y.to(bench.device)

    def step() -> None:
        trainer.step(x, y)

    step()  # gradients and optimiser state allocated before anything is timed
    return step, workload, int(x.shape[0])


def measure(bench: Any, benchmark: Any, runs: HarnessRuns, method: str, unit: str) -> None:
    """Time both units by every method (once per session, `runs`), then hand `method`'s
    measurements of `unit` to `benchmark` (its clock: `replay_clock`) and record its
    figures: its ratio to the Timer over the blocks, its overhead and share."""
    budget = bench.profile.harness
    where = (str(bench.device), bench.profile.name, bench.data.key)
    trivial_timing = Timing(rounds=budget.trivial_rounds, warmup_rounds=bench.timing.warmup_rounds)
    trivial = runs.get(
        (metrics.NOOP, *where),
        lambda: interleave(bench, noop, blocks=budget.blocks, timing=trivial_timing),
    )
    step_fn, workload, batch = step_unit(bench)
    step = runs.get(
        (metrics.TRAIN_STEP, *where),
        lambda: interleave(bench, step_fn, blocks=budget.blocks, timing=bench.timing),
    )
    timed = trivial if unit == metrics.NOOP else step
    replay(benchmark, timed.samples[method])
    variant = Variant(TECHNIQUE, method, REFERENCE)
    if unit == metrics.NOOP:
        info = bench.describe(variant, unit, dataset=bench.data.name)
    else:
        info = bench.describe_workload(variant, workload, unit, batch)
    found = figures(trivial, step, method, timed)
    if method == REFERENCE:  # the reference's own ratio is 1 by construction
        found = {k: v for k, v in found.items() if not k.startswith(("ratio", "paired"))}
    metrics.record(benchmark, **info, **found)
