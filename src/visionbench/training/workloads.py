"""Workloads and the trained-model cache.

A `Workload` is what a model bench trains and times: a model at an input size
under a recipe. `SeedRun` is one seed's training run of it, ready to fit;
`TrainedModels` is the session's cache of trained workloads, keyed by value, so
that benches sharing a configuration train it once; `Trained` holds what the
trainings gave (the first seed's model and every seed's `FitResult`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from visionbench import models
from visionbench.data import ImageSet, SplitData, split
from visionbench.data.imageset import train_eval_sample
from visionbench.measure.figures import eval_set_of, pack_outcomes
from visionbench.measure.meters import RunMemory
from visionbench.training import targets
from visionbench.training.train import (
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

Log = Callable[[str], None]


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
    eval_set: str | None = None  # which test images (`figures.eval_set_of`): with every
    #   seed's outcomes, the figures keep them (`accuracy_outcomes`) to be paired

    def figures(self, target_accuracy: float | None = None, curves: bool = False) -> dict[str, Any]:
        """Accuracy and training figures over seeds; with a target, also the
        epochs and seconds each seed took to first reach it on the test split;
        with `curves`, every seed's per-epoch history (`targets.curves`)."""
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
        hits = [f.outcomes for f in self.fits]
        if self.eval_set is not None and all(h is not None and len(h) for h in hits):
            figures["eval_set"] = self.eval_set
            figures["accuracy_outcomes"] = [pack_outcomes(h.numpy()) for h in hits]  # type: ignore[union-attr]
        if len(train_accs) == len(accs):
            figures["train_accuracy"] = statistics.fmean(train_accs)
            figures["train_accuracy_std"] = (
                statistics.stdev(train_accs) if len(train_accs) > 1 else 0.0
            )
        if target_accuracy is not None:
            reached = [first_reached(f.history, target_accuracy) for f in self.fits]
            figures.update(targets.target_figures(reached), target_accuracy=target_accuracy)
        if curves:
            figures["curves"] = targets.curves([f.history for f in self.fits])
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


def scored_on(test: ImageSet, cfg: TrainConfig) -> tuple[int, str]:
    """(eval_images, eval_set): how many of the test split's images an evaluation scores
    (its first ones, `TrainConfig.evaluated`) and which (`figures.eval_set_of`)."""
    n = cfg.evaluated(len(test))
    return n, eval_set_of(test.labels[:n].numpy())


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
    """The session's one cache of trainings: benches that share a configuration (the
    same model, data, size, recipe, device and seeds) train it once. Keyed by value:
    what is trained (a `Workload` here, a recipe for the recipe benches, which keep
    theirs here too), the data's content (`SplitData.key`), the device and the seed
    count."""

    def __init__(self, log: Log = print) -> None:
        self.log = log
        self._runs: dict[tuple, Trained] = {}

    def cached(self, key: tuple, train: Callable[[], Trained]) -> Trained:
        """The training `key` names, run by `train()` the first time it is asked for."""
        if key not in self._runs:
            self._runs[key] = train()
        return self._runs[key]

    def get(
        self, workload: Workload, data: SplitData, device: torch.device, seeds: int = 1
    ) -> Trained:
        return self.cached(
            (workload, data.key, str(device), seeds),
            lambda: self._train(workload, data.at(workload.image_size), device, seeds),
        )

    def progress(
        self, what: str, epochs: int, images: int | None = None
    ) -> Callable[[dict[str, float]], None]:
        """Says a training starts, and returns what logs each of its epochs."""
        self.log(f"training {what}: {epochs} epochs" + (f" of {images} images" if images else ""))

        def log_epoch(row: dict[str, float]) -> None:
            self.log(
                f"  {what}: epoch {int(row['epoch'])}/{epochs}, "
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
                result = run.fit(self.progress(run.what, run.cfg.epochs, run.train_images))
            if memory is not None:
                peaks.append(memory.peak)
            if result.diverged:
                self.log(f"  {run.what}: the loss diverged (NaN/inf) after {result.steps} steps")
            if trained is None:
                n, images = scored_on(data.test, run.cfg)
                trained = Trained(run.trainer.model.eval(), n, eval_set=images)
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
