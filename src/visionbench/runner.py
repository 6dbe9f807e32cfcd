"""Running a unit: describe it, time it, record its figures; and the trained-model cache.

Every bench goes through one small base, `Runner`: `describe` names the unit
(technique, variant, reference, device, profile and the settings behind it),
`time` times it with pytest-benchmark's pedantic rounds through `time_rounds`
(the one place a unit is timed: warm-up rounds, then rounds that each end with a
device synchronisation), and `record` validates every figure against the
schema (`metrics.record`). `Bench` adds what the model benches share: a
workload trained once per session (`TrainedModels`) and its training step,
inference batch or time to a target accuracy; the data-path benches
(`data_loading`) and adaptive selection (`selection.experiment`) use the same base.
"""

from __future__ import annotations

import math
import os
import statistics
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from visionbench import metrics, models
from visionbench.data import ImageSet, SplitData, split
from visionbench.data.imageset import train_eval_sample
from visionbench.interleave import Pairing
from visionbench.measure import (
    EnergyMeter,
    RunMemory,
    allocator_peak_memory,
    count_flops,
    count_params,
    model_bytes,
    peak_memory,
    synced,
    time_once,
)
from visionbench.profiles import Profile, Timing
from visionbench.techniques import convergence
from visionbench.train import (
    Batches,
    FitResult,
    TrainConfig,
    Trainer,
    evaluate,
    evaluation_batches,
    first_reached,
    fit,
    fitting,
    planned_steps,
)

VALIDATION_SPLIT_SEED = 0  # every seed and variant holds out the same validation images

#: Set (to anything but "" or "0") by `visionbench ab` in its timing processes.
TIMING_ONLY_ENV = "VISIONBENCH_TIMING_ONLY"


def timing_only() -> bool:
    """Whether this process only times: `train_step` and `inference` build the model
    and time their unit, recording the time and throughput alone. No training (the
    expensive part; it does not change a step's time), no peak memory, FLOPs or
    paired reference: the A/B gate compares those once per side, from a full run."""
    return os.environ.get(TIMING_ONLY_ENV, "") not in ("", "0")


Log = Callable[[str], None]


@dataclass(frozen=True)
class Variant:
    """One row of a technique's table."""

    technique: str  # the benchmark group, e.g. "model_size"
    name: str  # this variant, e.g. "resnet18"
    reference: str  # the variant the others are compared with


# -- timing and recording: the one runner ------------------------------------------------


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

    def __init__(self, profile: Profile, device: torch.device) -> None:
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
    ) -> dict[str, Any]:
        """Time `fn` (synchronised) in pedantic rounds; throughput and energy.
        `timing` replaces the profile's rounds (e.g. for units as long as an epoch).

        With `reference` (the technique's reference unit, ready to run), each
        round is paired with a round of the reference, in a random, balanced
        order (`interleave.Pairing`): `ratio_vs_ref` with its interval. Energy
        then comes from a block of the variant's rounds alone, after the timed
        rounds (NVML cannot split a round's energy from its partner's).

        `around` is a setting the variant's rounds run under and the
        reference's do not (a framework switch): entered in each round's
        untimed setup, after the reference's turn, and left in its untimed
        teardown, before it.
        """
        timing = timing or self.timing
        meter = EnergyMeter(self.device)
        held = ExitStack()

        def enter() -> None:
            held.enter_context(around())

        def leave(*_: Any) -> None:
            held.close()

        if reference is None:
            with meter.span(units=timing.rounds + timing.warmup_rounds) as energy:
                median = time_rounds(
                    benchmark, fn, self.device, timing, setup=enter, teardown=leave
                )
            return {
                "samples_per_s": units / median if median else None,
                "energy_j": energy.energy_j,
                "power_w": energy.power_w,
            }
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
        with meter.span(units=timing.rounds) as energy:
            if meter.handle is not None:
                for _ in range(timing.rounds):
                    with around():
                        synced(fn, self.device)()
        return {
            "samples_per_s": units / median if median else None,
            "energy_j": energy.energy_j,
            "power_w": energy.power_w,
            **(paired.figures() if paired is not None else {}),
        }

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
    ) -> dict[str, Any]:
        """`time` with the reference's unit when `build_reference` is given and
        both fit; `paired_rounds` = 0 when they did not (blocks)."""
        if build_reference is None:
            return self.time(benchmark, fn, units, timing, around=around)
        reference = self.reference_unit(build_reference)
        figures = self.time(benchmark, fn, units, timing, reference=reference, around=around)
        if reference is None:
            figures["paired_rounds"] = 0
        return figures

    def record(self, benchmark: Any, described: dict[str, Any], **figures: Any) -> None:
        metrics.record(benchmark, **described, **figures)


# -- workloads and the trained-model cache -----------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What is trained and timed: a model at an input size under a recipe."""

    model: str
    image_size: int
    train: TrainConfig
    stem_size: int | None = None  # the input side the model's stem is built for (a sweep's
    #   largest, so that every size of the sweep is one network); None: image_size

    def describe(self, data: SplitData) -> str:
        return f"{self.model} on {data.name} at {self.image_size}px"


@dataclass
class Trained:
    """A workload trained once per seed; `model` is the first seed's, in eval mode."""

    model: nn.Module
    eval_images: int  # test images behind each accuracy
    fits: list[FitResult] = field(default_factory=list)
    run_peak_mem_bytes: int | None = None  # largest over the seeds' training runs

    def figures(self, target_accuracy: float | None = None, curves: bool = False) -> dict[str, Any]:
        """Accuracy and training figures over seeds; with a target, also the
        epochs and seconds each seed took to first reach it on the test split;
        with `curves`, every seed's per-epoch history (`convergence.curves`)."""
        accs = [f.accuracy for f in self.fits]
        train_accs = [f.train_accuracy for f in self.fits if f.train_accuracy is not None]
        figures = {
            "accuracy": statistics.fmean(accs),
            "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "seeds": len(accs),
            "train_time_s": statistics.fmean(f.train_time_s for f in self.fits),
            "epochs_run": statistics.fmean(f.epochs_run for f in self.fits),
            "diverged": any(f.diverged for f in self.fits),
            "eval_images": self.eval_images,
            "run_peak_mem_bytes": self.run_peak_mem_bytes,
        }
        if len(train_accs) == len(accs):
            figures["train_accuracy"] = statistics.fmean(train_accs)
            figures["train_accuracy_std"] = (
                statistics.stdev(train_accs) if len(train_accs) > 1 else 0.0
            )
        if target_accuracy is not None:
            reached = [first_reached(f.history, target_accuracy) for f in self.fits]
            figures.update(convergence.target_figures(reached), target_accuracy=target_accuracy)
        if curves:
            figures["curves"] = convergence.curves([f.history for f in self.fits])
        return figures


def build_model(workload: Workload, data: SplitData, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return models.build(
        workload.model,
        num_classes=data.num_classes,
        in_channels=data.channels,
        image_size=workload.image_size,
        stem_size=workload.stem_size,
    )


def batches(
    data: SplitData,
    cfg: TrainConfig,
    device: torch.device,
    *,
    train: bool,
    batch_size: int | None = None,
) -> Batches:
    """Normalised batches of a split (train: shuffled with the config's seed)."""
    mean, std = data.stats()
    split = data.train if train else data.test
    return Batches(
        split,
        batch_size or cfg.batch_size,
        device,
        mean=mean,
        std=std,
        shuffle=train,
        seed=cfg.seed,
    )


class _FirstBatch:
    """An evaluation cut to its first batch (a replay's evaluations)."""

    def __init__(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield next(iter(self.batches))


class SeedRun:
    """One seed's training run of a workload: model, trainer and batches, ready to fit.

    The training split (less the validation part the recipe holds out), the test
    split, the validation part and `train_eval`: a fixed sample of the training
    images as large as the test split, in stored (seeded, shuffled) order, no
    augmentation, on which `train_accuracy` is measured. `replay` cuts the run to
    two steps, one BN-recalibration batch and the first batch of each evaluation:
    each of its steps and evaluation batches allocates as the full run's do.
    """

    def __init__(
        self,
        workload: Workload,
        data: SplitData,
        device: torch.device,
        index: int,
        *,
        replay: bool = False,
    ) -> None:
        cfg = workload.train.with_(seed=workload.train.seed + index)
        if replay:
            cfg = cfg.with_(
                epochs=1, max_steps=2, bn_recalibration_batches=min(1, cfg.bn_recalibration_batches)
            )
        self.cfg, self.device = cfg, device
        self.what = f"{workload.describe(data)} ({device}, seed {cfg.seed})"
        model = build_model(workload, data, cfg.seed)
        train_part, held_out = data.train, None
        if cfg.validation_fraction > 0:
            train_part, held_out = split(
                data.train, cfg.validation_fraction, seed=VALIDATION_SPLIT_SEED
            )
        mean, std = data.stats()

        def evaluation(images: ImageSet) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
            b = evaluation_batches(images, cfg, device, mean, std)
            return _FirstBatch(b) if replay else b

        self.train_images = len(train_part)
        self.train = Batches.for_training(train_part, cfg, device, mean, std)
        self.test = evaluation(data.test)
        self.validation = evaluation(held_out) if held_out is not None else None
        self.train_eval = evaluation(train_eval_sample(train_part, len(data.test)))
        self.trainer = Trainer(model, cfg, device, planned_steps(cfg, len(train_part)))
        self.held = [train_part, data.test, held_out]  # the images its batches read in place
        self.result: FitResult | None = None

    def epochs(self, on_epoch: Callable[[dict[str, float]], None] | None = None):
        """The run an epoch at a time (`train.fitting`); `result` follows it."""
        for result in fitting(
            self.trainer, self.train, self.test, validation=self.validation, on_epoch=on_epoch
        ):
            self.result = result
            yield result

    def finish(self) -> FitResult:
        """After the last epoch: the accuracy on the training sample."""
        assert self.result is not None
        self.result.train_accuracy = evaluate(self.trainer, self.train_eval)
        return self.result

    def fit(self, on_epoch: Callable[[dict[str, float]], None] | None = None) -> FitResult:
        self.result = fit(
            self.trainer,
            self.train,
            self.test,
            validation=self.validation,
            train_eval=self.train_eval,
            on_epoch=on_epoch,
        )
        return self.result


def replay_peak_memory(workload: Workload, data: SplitData, device: torch.device) -> int:
    """The CPU's run peak: live torch storages over a replay of seed 0's run
    (`SeedRun(replay=True)`), counting the images its batches read in place."""
    with RunMemory(device) as memory:
        run = SeedRun(workload, data, device, 0, replay=True)
        memory.hold(*(s.images for s in run.held if s is not None))
        memory.hold(*(s.labels for s in run.held if s is not None))
        run.fit()
    return memory.peak


class TrainedModels:
    """Session cache of trained workloads: benches that share a configuration
    (the same model, data, size, recipe, device and seeds) train it once.
    Keyed by value: the workload, the data's content (`SplitData.key`), the
    device and the seed count."""

    def __init__(self, log: Log = print) -> None:
        self.log = log
        self._runs: dict[tuple, Trained] = {}

    def get(
        self, workload: Workload, data: SplitData, device: torch.device, seeds: int = 1
    ) -> Trained:
        key = (workload, data.key, str(device), seeds)
        if key not in self._runs:
            self._runs[key] = self._train(workload, data.at(workload.image_size), device, seeds)
        return self._runs[key]

    def progress(self, run: SeedRun) -> Callable[[dict[str, float]], None]:
        self.log(f"training {run.what}: {run.cfg.epochs} epochs of {run.train_images} images")

        def log_epoch(row: dict[str, float]) -> None:
            self.log(
                f"  {run.what}: epoch {int(row['epoch'])}/{run.cfg.epochs}, "
                f"accuracy {row['accuracy']:.3f}, {row['train_time_s']:.1f} s"
            )

        return log_epoch

    def _train(
        self, workload: Workload, data: SplitData, device: torch.device, seeds: int
    ) -> Trained:
        trained: Trained | None = None
        peaks = []
        for i in range(seeds):
            # CUDA: the allocator's peak over the real run, above what was there before.
            with RunMemory(device) if device.type == "cuda" else nullcontext() as memory:
                run = SeedRun(workload, data, device, i)
                result = run.fit(self.progress(run))
            if memory is not None:
                peaks.append(memory.peak)
            if result.diverged:
                self.log(f"  {run.what}: the loss diverged (NaN/inf) after {result.steps} steps")
            if trained is None:
                trained = Trained(run.trainer.model.eval(), run.cfg.evaluated(len(data.test)))
            trained.fits.append(result)
        assert trained is not None
        if peaks:
            trained.run_peak_mem_bytes = max(peaks)
        elif workload.train.compile is None:
            # CPU: counting live storages slows every op, so the timed run is left
            # alone and a replay of its recipe is counted instead. Not for a compiled
            # recipe: under the counter its model would run eagerly, and the figure
            # would be the eager model's.
            trained.run_peak_mem_bytes = replay_peak_memory(workload, data, device)
        return trained


# -- the model benches ---------------------------------------------------------------------


def upsampling_reason(data: SplitData, largest: int) -> str | None:
    """Why a resolution sweep up to `largest` px cannot run on `data` (a skip reason):
    images smaller than the sweep's largest size would be upsampled, and the sweep
    would measure interpolation, not resolution. None when the data is large enough."""
    if data.size < largest:
        return (
            f"{data.name} images are {data.size} px, below the sweep's largest size "
            f"{largest} px: the sweep would measure upsampled images, not resolution "
            "(use data at least that large, e.g. gradations or your own images)"
        )
    return None


class Bench(Runner):
    """The context a model bench runs in: profile, device, dataset and the model cache."""

    def __init__(
        self,
        profile: Profile,
        device: torch.device,
        data: SplitData,
        trained: TrainedModels,
        seeds: int | None = None,
    ) -> None:
        super().__init__(profile, device)
        self.data = data
        self.trained = trained
        self.requested_seeds = seeds  # --vb-seeds, None when not given
        self.seeds = seeds or profile.seeds

    def seeds_or(self, default: int) -> int:
        """--vb-seeds when given, else a bench's own default (e.g. its budget's)."""
        return self.requested_seeds or default

    def workload(self, model: str, image_size: int | None = None, **changes: Any) -> Workload:
        """The profile's recipe with `changes` (a technique's switch) applied."""
        stem_size = changes.pop("stem_size", None)
        size = image_size or self.profile.model_size.image_size
        stem = models.stem_for(model, size, stem_size)  # None where it changes nothing
        return Workload(model, size, self.profile.train.with_(**changes), stem)

    def describe_workload(
        self, variant: Variant, workload: Workload, unit: str, batch: int
    ) -> dict[str, Any]:
        return self.describe(
            variant,
            unit,
            model=workload.model,
            dataset=self.data.name,
            classes=self.data.num_classes,
            image_size=workload.image_size,
            batch_size=batch,
            epochs=workload.train.epochs,
            **({"stem_size": workload.stem_size} if workload.stem_size else {}),
            **({"amp": workload.train.amp} if workload.train.amp else {}),
        )

    def _model_figures(self, name: str, model: nn.Module, sample: torch.Tensor) -> dict[str, Any]:
        """Size and cost of the network, and what tells it from another under `name`."""
        return {
            **models.identity(name, model),
            "params": count_params(model),
            "model_bytes": model_bytes(model),
            "flops": count_flops(model, sample[:8]),
        }

    def train_step(
        self,
        benchmark: Any,
        variant: Variant,
        workload: Workload,
        *,
        allocator_memory: bool = False,
        reference: Workload | None = None,
    ) -> Trained | None:
        """Time one training step of `workload`; record it with the accuracy that
        the profile's training budget reaches (trained once, cached).

        `allocator_memory` counts the CPU peak at the allocator
        (`measure.allocator_peak_memory`), which sees compiled kernels; use it for
        every variant of a group or for none. A compiled workload's first step is
        timed apart (`compile_time_s`, a compile from scratch) before anything
        else of the session reuses it. `reference`, the technique's reference
        workload, has its step timed round by round with this one (`time`).
        With `timing_only()` nothing is trained and only the step is timed (None).
        """
        cfg = workload.train
        step, trainer, x, y = self._step_unit(workload)
        # the first step allocates gradients and optimiser state, and compiles
        first_step_s = self._first_step(step, compiled=cfg.compile is not None)
        if timing_only():
            described = self.describe_workload(variant, workload, "train_step", x.shape[0])
            self.record(benchmark, described, **self.time(benchmark, step, x.shape[0]))
            return None
        trained = self.trained.get(workload, self.data, self.device, self.seeds)
        measure_peak = allocator_peak_memory if allocator_memory else peak_memory
        peak = measure_peak(step, self.device, resident=[trainer.model, trainer.optimizer, x, y])
        build_reference = None
        if reference is not None and reference != workload:
            build_reference = lambda: self._step_unit(reference)[0]  # noqa: E731
        figures = self.time_paired(benchmark, step, x.shape[0], build_reference)
        if cfg.compile is not None:
            stats = getattr(getattr(benchmark, "stats", None), "stats", None)
            steady = stats.median if stats is not None else 0.0
            figures["compile_time_s"] = max(0.0, first_step_s - steady)
        self.record(
            benchmark,
            self.describe_workload(variant, workload, "train_step", x.shape[0]),
            **figures,
            peak_mem_bytes=peak,
            **self._model_figures(workload.model, trainer.model, x),
            **trained.figures(self.step_target(), curves=True),
        )
        return trained

    def step_target(self) -> float | None:
        """The accuracy a training step's trainings are timed to (`time_to_target_s` and
        the rest, read from their per-epoch history): the profile's target where it says
        `step_to_target`, else None (the step ratio alone)."""
        return self.profile.target_accuracy if self.profile.step_to_target else None

    def _step_unit(self, workload: Workload) -> tuple[Callable[[], None], Trainer, Any, Any]:
        """One training step of a fresh model of `workload` on its first batch."""
        data = self.data.at(workload.image_size)
        cfg = workload.train
        trainer = Trainer(
            build_model(workload, data, cfg.seed), cfg, self.device, total_steps=10**9
        )
        x, y = next(batches(data, cfg, self.device, train=True).epoch(0))
        x, y = trainer.prepare(x), y.to(self.device)

        def step() -> None:
            trainer.step(x, y)

        return step, trainer, x, y

    def _first_step(self, step: Callable[[], Any], compiled: bool) -> float:
        """Seconds of the first call. When compiled: from scratch, with dynamo's
        in-process cache cleared and inductor's on-disk caches bypassed, so that
        the figure does not depend on what ran before (in this run or earlier)."""
        if not compiled:
            return time_once(step, self.device)[0]
        import torch._dynamo
        import torch._inductor.config

        torch._dynamo.reset()
        with (
            torch._inductor.config.patch(force_disable_caches=True),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message=".*force_disable_caches.*")
            return time_once(step, self.device)[0]

    def inference(
        self,
        benchmark: Any,
        variant: Variant,
        workload: Workload,
        *,
        reference: Workload | None = None,
    ) -> Trained | None:
        """Time one inference batch of the trained model (eval mode, no autograd);
        with `reference`, round by round with the reference's trained model.
        With `timing_only()`: of the untrained model (weights do not change the
        time), recording the time alone (None)."""
        if timing_only():
            infer, x = self._infer_unit(workload, self.untrained(workload))
            described = self.describe_workload(variant, workload, "infer_batch", x.shape[0])
            self.record(benchmark, described, **self.time(benchmark, infer, x.shape[0]))
            return None
        trained = self.trained.get(workload, self.data, self.device, self.seeds)
        infer, x = self._infer_unit(workload, trained.model)
        infer()
        peak = peak_memory(infer, self.device, resident=[trained.model, x])
        build_reference = None
        if reference is not None and reference != workload:
            ref_trained = self.trained.get(reference, self.data, self.device, self.seeds)
            build_reference = lambda: self._infer_unit(reference, ref_trained.model)[0]  # noqa: E731
        figures = self.time_paired(benchmark, infer, x.shape[0], build_reference)
        self.record(
            benchmark,
            self.describe_workload(variant, workload, "infer_batch", x.shape[0]),
            **figures,
            peak_mem_bytes=peak,
            **self._model_figures(workload.model, trained.model, x),
            **trained.figures(),
        )
        return trained

    def untrained(self, workload: Workload) -> nn.Module:
        """A fresh model of the workload, in eval mode on the device: what the timing-only
        processes time (weights do not change a pass's time)."""
        data = self.data.at(workload.image_size)
        return build_model(workload, data, workload.train.seed).to(self.device).eval()

    def model_and_figures(self, workload: Workload) -> tuple[nn.Module, dict[str, Any]]:
        """The workload's trained model and its accuracy figures; under `timing_only()`
        an untrained model and no figures, nothing trained."""
        if timing_only():
            return self.untrained(workload), {}
        trained = self.trained.get(workload, self.data, self.device, self.seeds)
        return trained.model, trained.figures()

    def _infer_unit(self, workload: Workload, model: nn.Module) -> tuple[Callable[[], None], Any]:
        """One inference batch of `model` (of `workload`, in eval mode) on the test split."""
        data = self.data.at(workload.image_size)
        cfg = workload.train
        predictor = Trainer(model, cfg, self.device)
        size = self.profile.infer_batch_size
        x, _ = next(iter(batches(data, cfg, self.device, train=False, batch_size=size)))
        x = predictor.prepare(x)

        def infer() -> None:
            predictor.predict(x)

        return infer, x

    def time_to_target(
        self, benchmark: Any, variant: Variant, workload: Workload, *, seeds: int, target: float
    ) -> Trained:
        """Time each seed's training until its test accuracy first reaches `target`:
        one round per seed, the seconds from its first step to the end of the
        epoch whose evaluation reached it (evaluations included; a seed that never
        reaches it counts its whole budget). Each run then goes on, untimed, to
        the end of its budget for the final figures (accuracy, early stopping).
        """
        data = self.data.at(workload.image_size)
        runs: list[SeedRun] = []
        running: list[Iterator[FitResult]] = []

        def setup() -> tuple[tuple, dict]:
            run = SeedRun(workload, data, self.device, len(runs))
            runs.append(run)
            running.append(run.epochs(self.trained.progress(run)))
            return (running[-1],), {}

        def to_target(epochs: Iterator[FitResult]) -> None:
            for result in epochs:
                if result.history and result.history[-1]["accuracy"] >= target:
                    return

        def finish(epochs: Iterator[FitResult]) -> None:
            for _ in epochs:
                pass

        rounds = Timing(rounds=seeds, warmup_rounds=0)
        time_rounds(benchmark, to_target, self.device, rounds, setup=setup, teardown=finish)
        while len(runs) < seeds:  # --benchmark-disable runs one round, untimed
            setup()
        for epochs in running:  # and no teardown
            finish(epochs)
        trained = Trained(
            runs[0].trainer.model.eval(),
            workload.train.evaluated(len(data.test)),
            [run.finish() for run in runs],
        )
        x, _ = next(iter(runs[0].test))
        self.record(
            benchmark,
            self.describe_workload(variant, workload, "to_target", workload.train.batch_size),
            **self._model_figures(workload.model, trained.model, runs[0].trainer.prepare(x)),
            **trained.figures(target, curves=True),
        )
        return trained


# -- samples measured in other processes -------------------------------------------------

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
            "@pytest.mark.benchmark(timer=visionbench.runner.replay_clock)"
        )
