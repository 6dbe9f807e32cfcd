"""Running a variant: train it once (cached), time its unit, record its figures.

The benches stay thin: they name the technique, the variant and what it
changes (a `Workload`), and call `Bench.train_step` or `Bench.inference`. All
timing goes through pytest-benchmark's `benchmark.pedantic` with warm-up rounds
and a device synchronisation at the end of every round; every other figure goes
through `metrics.record`, which validates it against the schema.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from visionbench import convergence, metrics, models
from visionbench.data import SplitData, split
from visionbench.measure import (
    EnergyMeter,
    allocator_peak_memory,
    count_flops,
    count_params,
    peak_memory,
    synced,
    time_once,
)
from visionbench.profiles import Profile, Timing
from visionbench.train import (
    Batches,
    FitResult,
    TrainConfig,
    Trainer,
    first_reached,
    fit,
    planned_steps,
)

VALIDATION_SPLIT_SEED = 0  # every seed and variant holds out the same validation images

Log = Callable[[str], None]


@dataclass(frozen=True)
class Variant:
    """One row of a technique's table."""

    technique: str  # the benchmark group, e.g. "model_size"
    name: str  # this variant, e.g. "resnet18"
    reference: str  # the variant the others are compared with


@dataclass(frozen=True)
class Workload:
    """What is trained and timed: a model at an input size under a recipe."""

    model: str
    image_size: int
    train: TrainConfig

    def describe(self, data: SplitData) -> str:
        return f"{self.model} on {data.name} at {self.image_size}px"


@dataclass
class Trained:
    """A workload trained once per seed; `model` is the first seed's, in eval mode."""

    model: nn.Module
    eval_images: int  # test images behind each accuracy
    fits: list[FitResult] = field(default_factory=list)

    def figures(self, target_accuracy: float | None = None) -> dict[str, Any]:
        """Accuracy and training figures over seeds; with a target, also the
        epochs and seconds each seed took to first reach it on the test split."""
        accs = [f.accuracy for f in self.fits]
        figures = {
            "accuracy": statistics.fmean(accs),
            "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "seeds": len(accs),
            "train_time_s": statistics.fmean(f.train_time_s for f in self.fits),
            "epochs_run": statistics.fmean(f.epochs_run for f in self.fits),
            "diverged": any(f.diverged for f in self.fits),
            "eval_images": self.eval_images,
        }
        if target_accuracy is not None:
            reached = [first_reached(f.history, target_accuracy) for f in self.fits]
            figures.update(convergence.target_figures(reached), target_accuracy=target_accuracy)
        return figures


def build_model(workload: Workload, data: SplitData, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return models.build(
        workload.model,
        num_classes=data.num_classes,
        in_channels=data.channels,
        image_size=workload.image_size,
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


class TrainedModels:
    """Session cache of trained workloads: benches that share a configuration
    (the same model, data, size, recipe, device and seeds) train it once."""

    def __init__(self, log: Log = print) -> None:
        self.log = log
        self._runs: dict[tuple, Trained] = {}

    def get(
        self, workload: Workload, data: SplitData, device: torch.device, seeds: int = 1
    ) -> Trained:
        key = (workload, data.name, id(data), str(device), seeds)
        if key not in self._runs:
            self._runs[key] = self._train(workload, data.at(workload.image_size), device, seeds)
        return self._runs[key]

    def _train(
        self, workload: Workload, data: SplitData, device: torch.device, seeds: int
    ) -> Trained:
        trained: Trained | None = None
        for i in range(seeds):
            cfg = workload.train.with_(seed=workload.train.seed + i)
            model = build_model(workload, data, cfg.seed)
            train_part, validation = data.train, None
            if cfg.validation_fraction > 0:
                train_part, held_out = split(
                    data.train, cfg.validation_fraction, seed=VALIDATION_SPLIT_SEED
                )
                mean, std = data.stats()
                validation = Batches(held_out, 512, device, mean=mean, std=std, shuffle=False)
            trainer = Trainer(model, cfg, device, planned_steps(cfg, len(train_part)))
            what = f"{workload.describe(data)} ({device}, seed {cfg.seed})"
            self.log(f"training {what}: {cfg.epochs} epochs of {len(train_part)} images")

            def progress(row: dict[str, float], what: str = what, total: int = cfg.epochs) -> None:
                self.log(
                    f"  {what}: epoch {int(row['epoch'])}/{total}, "
                    f"accuracy {row['accuracy']:.3f}, {row['train_time_s']:.1f} s"
                )

            mean, std = data.stats()
            result = fit(
                trainer,
                Batches.for_training(train_part, cfg, device, mean, std),
                batches(data, cfg, device, train=False, batch_size=512),
                validation=validation,
                on_epoch=progress,
            )
            if result.diverged:
                self.log(f"  {what}: the loss diverged (NaN/inf) after {result.steps} steps")
            if trained is None:
                trained = Trained(trainer.model.eval(), len(data.test))
            trained.fits.append(result)
        assert trained is not None
        return trained


class Bench:
    """The context a bench runs in: profile, device, dataset and the model cache."""

    def __init__(
        self,
        profile: Profile,
        device: torch.device,
        data: SplitData,
        trained: TrainedModels,
        seeds: int | None = None,
    ) -> None:
        self.profile = profile
        self.device = device
        self.data = data
        self.trained = trained
        self.requested_seeds = seeds  # --vb-seeds, None when not given
        self.seeds = seeds or profile.seeds

    def seeds_or(self, default: int) -> int:
        """--vb-seeds when given, else a bench's own default (e.g. its budget's)."""
        return self.requested_seeds or default

    @property
    def timing(self) -> Timing:
        return self.profile.timing

    def workload(self, model: str, image_size: int | None = None, **changes: Any) -> Workload:
        """The profile's recipe with `changes` (a technique's switch) applied."""
        size = image_size or self.profile.model_size.image_size
        return Workload(model, size, self.profile.train.with_(**changes))

    def describe(
        self, variant: Variant, workload: Workload, unit: str, batch: int
    ) -> dict[str, Any]:
        return {
            "technique": variant.technique,
            "variant": variant.name,
            "reference": variant.reference,
            "unit": unit,
            "model": workload.model,
            "dataset": self.data.name,
            "classes": self.data.num_classes,
            "device": str(self.device),
            "image_size": workload.image_size,
            "batch_size": batch,
            "profile": self.profile.name,
            "epochs": workload.train.epochs,
        }

    def time(
        self, benchmark: Any, fn: Callable[[], Any], units: int, timing: Timing | None = None
    ) -> dict[str, Any]:
        """Time `fn` (synchronised) with pedantic rounds; throughput and energy.
        `timing` replaces the profile's rounds (e.g. for units as long as an epoch)."""
        timing = timing or self.timing
        meter = EnergyMeter(self.device)
        with meter.span(units=timing.rounds + timing.warmup_rounds) as energy:
            benchmark.pedantic(
                synced(fn, self.device),
                rounds=timing.rounds,
                warmup_rounds=timing.warmup_rounds,
                iterations=1,
            )
        stats = getattr(getattr(benchmark, "stats", None), "stats", None)
        per_s = units / stats.median if stats is not None and stats.median > 0 else None
        return {"samples_per_s": per_s, "energy_j": energy.energy_j, "power_w": energy.power_w}

    def train_step(
        self,
        benchmark: Any,
        variant: Variant,
        workload: Workload,
        *,
        seeds: int | None = None,
        target_accuracy: float | None = None,
        allocator_memory: bool = False,
    ) -> Trained:
        """Time one training step of `workload`; record it with the accuracy that
        the profile's training budget reaches (trained once, cached).

        `seeds` replaces the session's seed count; `target_accuracy` adds the
        epochs and seconds each seed took to reach it. `allocator_memory` counts
        the CPU peak at the allocator (`measure.allocator_peak_memory`), which
        sees compiled kernels; use it for every variant of a group or for none.
        A compiled workload's first step is timed apart (`compile_time_s`, a
        compile from scratch) before anything else of the session reuses it.
        """
        data = self.data.at(workload.image_size)
        cfg = workload.train
        trainer = Trainer(
            build_model(workload, data, cfg.seed), cfg, self.device, total_steps=10**9
        )
        x, y = next(batches(data, cfg, self.device, train=True).epoch(0))
        x, y = trainer.prepare(x), y.to(self.device)

        def step() -> None:
            trainer.step(x, y)

        # the first step allocates gradients and optimiser state, and compiles
        first_step_s = self._first_step(step, compiled=cfg.compile is not None)
        trained = self.trained.get(workload, self.data, self.device, seeds or self.seeds)
        measure_peak = allocator_peak_memory if allocator_memory else peak_memory
        peak = measure_peak(step, self.device, resident=[trainer.model, trainer.optimizer, x, y])
        figures = self.time(benchmark, step, units=x.shape[0])
        if cfg.compile is not None:
            stats = getattr(getattr(benchmark, "stats", None), "stats", None)
            steady = stats.median if stats is not None else 0.0
            figures["compile_time_s"] = max(0.0, first_step_s - steady)
        metrics.record(
            benchmark,
            **self.describe(variant, workload, "train_step", x.shape[0]),
            **figures,
            peak_mem_bytes=peak,
            params=count_params(trainer.model),
            flops=count_flops(trainer.model, x[:8]),
            **trained.figures(target_accuracy),
        )
        return trained

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

    def inference(self, benchmark: Any, variant: Variant, workload: Workload) -> Trained:
        """Time one inference batch of the trained model (eval mode, no autograd)."""
        trained = self.trained.get(workload, self.data, self.device, self.seeds)
        data = self.data.at(workload.image_size)
        cfg = workload.train
        predictor = Trainer(trained.model, cfg, self.device)
        x, _ = next(
            iter(
                batches(
                    data, cfg, self.device, train=False, batch_size=self.profile.infer_batch_size
                )
            )
        )
        x = predictor.prepare(x)

        def infer() -> None:
            predictor.predict(x)

        infer()
        peak = peak_memory(infer, self.device, resident=[trained.model, x])
        figures = self.time(benchmark, infer, units=x.shape[0])
        metrics.record(
            benchmark,
            **self.describe(variant, workload, "infer_batch", x.shape[0]),
            **figures,
            peak_mem_bytes=peak,
            params=count_params(trained.model),
            flops=count_flops(trained.model, x[:8]),
            **trained.figures(),
        )
        return trained
