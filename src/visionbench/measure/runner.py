"""Running a unit: describe it, time it, record its figures.

Every bench goes through one small base, `Runner`: `describe` names the unit
(technique, variant, reference, device, profile and the settings behind it),
`time` times it with pytest-benchmark's pedantic rounds through `time_rounds`
(the one place a unit is timed: warm-up rounds, then rounds that each end with a
device synchronisation), and `record` validates every figure against the
schema (`metrics.record`). Rounds measured in other processes (the ranks of a
data-parallel launch, a unit that needs a process of its own: `in_fresh_process`)
reach pytest-benchmark through `replay`.

The model benches' context (`model_bench.ModelBench`) and the trained-model
cache (`workloads.TrainedModels`) build on this base; so do the data-path
benches (`techniques.data_loading.timed`) and adaptive selection (`selection.experiment`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from visionbench.measure import TIMING_ONLY_ENV, metrics, workers
from visionbench.measure.energy import EnergyMeter
from visionbench.measure.interleave import Pairing, across
from visionbench.measure.meters import synced


def timing_only() -> bool:
    """Whether this process only times: `train_step` and `inference` build the model
    and time their unit, recording the time and throughput alone. No training (the
    expensive part; it does not change a step's time), no peak memory, FLOPs or
    paired reference: the A/B gate compares those once per side, from a full run."""
    return os.environ.get(TIMING_ONLY_ENV, "") not in ("", "0")


@dataclass(frozen=True)
class Timing:
    """How a unit is timed: a profile's budget (`visionbench.profiles`) holds one."""

    rounds: int = 10  # timed rounds per benchmark (raw samples the gate tests)
    warmup_rounds: int = 3  # untimed rounds first (allocator, caches, autotuning)
    processes: int = 1  # processes a paired ratio is timed in: this one and processes - 1
    #   workers (`measure.workers`), for the between-process part of its interval

    def __post_init__(self) -> None:
        if self.processes < 1:
            raise ValueError(f"Timing.processes must be at least 1, got {self.processes}")


class Profiled(Protocol):
    """What the runner reads of a profile (`visionbench.profiles.Profile`)."""

    @property
    def name(self) -> str: ...

    @property
    def timing(self) -> Timing: ...


@dataclass(frozen=True)
class Variant:
    """One row of a technique's table."""

    technique: str  # the benchmark group, e.g. "model_size"
    name: str  # this variant, e.g. "resnet18"
    reference: str  # the variant the others are compared with


def time_rounds(
    benchmark: Any,
    fn: Callable[..., Any],
    device: torch.device,
    timing: Timing,
    *,
    setup: Callable[[], Any] | None = None,
    teardown: Callable[..., Any] | None = None,
) -> float | None:
    """Time `fn` with pytest-benchmark's pedantic rounds, each ending with a device
    synchronisation; `setup` and `teardown` run untimed around each round. The
    median seconds per round (None when the benchmark kept no statistics)."""
    kwargs: dict[str, Any] = {}
    if setup is not None:
        kwargs["setup"] = setup
    if teardown is not None:
        kwargs["teardown"] = teardown
    benchmark.pedantic(
        synced(fn, device),
        rounds=timing.rounds,
        warmup_rounds=timing.warmup_rounds,
        iterations=1,
        **kwargs,
    )
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    return stats.median if stats is not None else None


class Runner:
    """Describe, time and record a unit on one device under one profile."""

    def __init__(self, profile: Profiled, device: torch.device) -> None:
        self.profile = profile
        self.device = torch.device(device)

    @property
    def timing(self) -> Timing:
        return self.profile.timing

    def describe(self, variant: Variant, unit: str, **config: Any) -> dict[str, Any]:
        """What a record is of: the variant, its unit, where it ran and its settings."""
        return {
            "technique": variant.technique,
            "variant": variant.name,
            "reference": variant.reference,
            "unit": unit,
            "device": str(self.device),
            "profile": self.profile.name,
            **config,
        }

    def time(
        self,
        benchmark: Any,
        fn: Callable[[], Any],
        units: int,
        timing: Timing | None = None,
        *,
        reference: Callable[[], Any] | None = None,
        around: Callable[[], AbstractContextManager[Any]] = nullcontext,
        elsewhere: workers.Units | None = None,
    ) -> dict[str, Any]:
        """Time `fn` (synchronised) in pedantic rounds; throughput and energy.
        `timing` replaces the profile's rounds (e.g. for units as long as an epoch).

        With `reference` (the technique's reference unit, ready to run), each
        round is paired with a round of the reference, in a random, balanced
        order (`interleave.Pairing`): `ratio_vs_ref` with its interval. Energy
        comes from a block of the variant's units alone after the timed rounds
        (NVML cannot split a round's energy from its partner's), at least
        `energy.ENERGY_MIN_SPAN_S` long (the counter's resolution).

        `around` is a setting the variant's rounds run under and the
        reference's do not (a framework switch): entered in each round's
        untimed setup, after the reference's turn, and left in its untimed
        teardown, before it.

        `elsewhere`, a picklable recipe of both units, has the pairs timed again in
        `timing.processes` - 1 processes of their own (`workers.paired_elsewhere`):
        the ratio is then over all their pairs, each process's log-ratios kept.
        """
        timing = timing or self.timing
        meter = EnergyMeter(self.device)
        held = ExitStack()

        def enter() -> None:
            held.enter_context(around())

        def leave(*_: Any) -> None:
            held.close()

        def energy() -> dict[str, Any]:
            def unit() -> None:
                with around():
                    fn()

            reading = meter.over(unit)
            return {"energy_j": reading.energy_j, "power_w": reading.power_w}

        if reference is None:
            median = time_rounds(benchmark, fn, self.device, timing, setup=enter, teardown=leave)
            return {"samples_per_s": units / median if median else None, **energy()}
        pairing = Pairing(
            synced(reference, self.device),
            rounds=timing.rounds,
            warmup_rounds=timing.warmup_rounds,
        )

        def setup() -> None:
            pairing.setup()
            enter()

        def teardown(*args: Any) -> None:
            leave()
            pairing.teardown(*args)

        median = time_rounds(benchmark, fn, self.device, timing, setup=setup, teardown=teardown)
        paired = pairing.result(benchmark)
        figures = paired.figures() if paired is not None else {}
        if paired is not None and elsewhere is not None and timing.processes > 1:
            others = workers.paired_elsewhere(
                elsewhere,
                rounds=workers.worker_rounds(timing.rounds, timing.processes),
                warmup_rounds=timing.warmup_rounds,
                processes=timing.processes - 1,
            )
            figures = across([(os.getpid(), paired), *((w.pid, w.pairs) for w in others)])
        return {"samples_per_s": units / median if median else None, **energy(), **figures}

    def reference_unit(self, build: Callable[[], Callable[[], Any]]) -> Callable[[], Any] | None:
        """The reference's unit, built (and run once) beside the variant's; None
        when both do not fit on the device at once: the ratio then comes from
        separate blocks, recorded as paired_rounds = 0."""
        try:
            unit = build()
            synced(unit, self.device)()  # gradients and optimiser state allocated
            return unit
        except torch.cuda.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            return None

    def time_paired(
        self,
        benchmark: Any,
        fn: Callable[[], Any],
        units: int,
        build_reference: Callable[[], Callable[[], Any]] | None,
        timing: Timing | None = None,
        around: Callable[[], AbstractContextManager[Any]] = nullcontext,
        elsewhere: workers.Units | None = None,
    ) -> dict[str, Any]:
        """`time` with the reference's unit when `build_reference` is given and
        both fit; `paired_rounds` = 0 when they did not (blocks)."""
        if build_reference is None:
            return self.time(benchmark, fn, units, timing, around=around)
        reference = self.reference_unit(build_reference)
        figures = self.time(
            benchmark, fn, units, timing, reference=reference, around=around, elsewhere=elsewhere
        )
        if reference is None:
            figures["paired_rounds"] = 0
        return figures

    def record(self, benchmark: Any, described: dict[str, Any], **figures: Any) -> None:
        metrics.record(benchmark, **described, **figures)


# -- samples measured in other processes -------------------------------------------------

#: Seconds a unit's process of its own may take (`in_fresh_process`) before it is killed.
FRESH_PROCESS_TIMEOUT_S = 900.0


def in_fresh_process(fn: Callable[..., Any], *args: Any, timeout_s: float | None = None) -> Any:
    """`fn(*args)` in a fresh Python process, its result returned here and what it raised
    raised here. Spawned, not forked: it starts with none of this process's state (its
    CUDA context, cuDNN's and Inductor's caches, torch's settings) and pays the import of
    torch. Killed after `timeout_s` (FRESH_PROCESS_TIMEOUT_S), with TimeoutError."""
    import multiprocessing

    timeout_s = FRESH_PROCESS_TIMEOUT_S if timeout_s is None else timeout_s
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # its exit kills the worker
        try:
            return pool.apply_async(fn, args).get(timeout_s)
        except multiprocessing.TimeoutError:
            raise TimeoutError(
                f"{getattr(fn, '__qualname__', fn)} ran past {timeout_s:.0f} s in its own "
                "process and was killed"
            ) from None


_REPLAYED = [0.0]  # the replay clock's reading, in seconds


def replay_clock() -> float:
    """A pytest-benchmark timer for rounds measured elsewhere (the ranks of a
    data-parallel launch time their steps in their own processes).

    Mark the bench `@pytest.mark.benchmark(timer=replay_clock)` (pytest-benchmark's
    per-test timer option) and call `replay`: each pedantic round then reads this
    clock before and after a target that advances it by one measured duration,
    so the samples pytest-benchmark stores, compares and saves are exactly the
    measured ones (and the saved options name this timer)."""
    return _REPLAYED[0]


def replay(benchmark: Any, samples: list[float]) -> None:
    """Hand `samples` (seconds per round, in the order measured) to pytest-benchmark
    as its rounds; fails loudly if the bench's timer is not `replay_clock`."""
    if not samples:
        raise ValueError("no samples to replay")
    pending = iter(samples)

    def measured_round() -> None:
        _REPLAYED[0] += next(pending)

    benchmark.pedantic(measured_round, rounds=len(samples), warmup_rounds=0, iterations=1)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    low = getattr(stats, "min", None)
    if low is not None and not math.isclose(low, min(samples), rel_tol=1e-6):
        raise RuntimeError(
            "replayed samples were timed by another clock: mark the bench with "
            "@pytest.mark.benchmark(timer=visionbench.measure.runner.replay_clock)"
        )
