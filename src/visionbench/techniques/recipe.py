"""The stacked recipe: the seed poster's baseline to the "1000 seconds" article's
recipe, one switch per rung, trained to a target accuracy over seeds.

A `Recipe` is everything one training run depends on: the model, its input
size, where the images come from each epoch (`source`) and the `TrainConfig`.
`ladder` lists the rungs; each differs from the one before in exactly one of
those (`differences` says which), so the speed-up of a rung over the previous
one is what that switch buys on top of all the earlier ones:

  baseline        Adam at a constant LR, fp32, PNG files decoded (and resized)
                  every epoch by a DataLoader (the poster; the talk's first loader)
  +resident       the decoded uint8 tensors kept on the device (the talk's fix,
                  the article's): no decoding, no per-batch copy
  +augment        pad + random crop, flip and cutout, batched on the device per epoch
  +onecycle       one-cycle LR over the epochs budget (the article)
  +autocast       the fastest autocast precision the device supports (bf16, or
                  fp16 with loss scaling on GPUs without bf16)
  +channels_last  NHWC memory format
  +final_model    the article's ResNet-9, where the profile's budget allows it

Each seed of each rung trains as the article judges a recipe: until it reaches the
profile's target accuracy, or a cap (`RecipeBudget.epochs` and `max_time_s`, whichever
comes first; one-cycle spans the epochs' cap), and never less than the profile's
`time_budget_s`, so that the accuracy within that budget is read on every rung alike.
Recorded are the time to the target (each seed's; a seed that got there not within the
cap counted as such), the accuracy within `time_budget_s` (read from the epoch
history: the last epoch that ended within it), and the time of one training epoch.
The augmentation bench's variants are the +resident and +augment rungs and +augment
precomputed (`techniques.augmentation`), so both benches share one training per recipe
(`RecipeRuns`, a session cache).

All rungs read the same pixels: the PNG folder decoded at the input size once
(the tensor cache) is what the resident rungs hold and what the disk rung
decodes again every epoch; the test split is decoded the same way.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, fields
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from visionbench.data import cache
from visionbench.data.formats import folder_bytes, folder_dataset
from visionbench.data.imageset import ImageSet, SplitData, channel_stats, train_eval_sample
from visionbench.data.loaders import LoaderFeed, Normalise
from visionbench.measure import fingerprint, metrics, techniques
from visionbench.measure.meters import time_once
from visionbench.measure.runner import Variant, timing_only
from visionbench.profiles import Profile, RecipeBudget
from visionbench.training.train import (
    Batches,
    FitResult,
    TrainConfig,
    Trainer,
    amp_unsupported,
    evaluation_batches,
    fit,
    planned_steps,
)
from visionbench.training.workloads import Trained, TrainedModels, build_model, scored_on

WARMUP_STEPS = 3  # untimed steps before the timed epochs
LADDER = techniques.RECIPE.name
SOURCES = ("disk", "resident")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """One training run's settings: frozen and hashable, it keys the session cache."""

    model: str  # registry name
    image_size: int  # input side in pixels
    source: str  # "disk": PNGs decoded every epoch; "resident": uint8 tensors on the device
    train: TrainConfig

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"Recipe.source={self.source!r}; choose one of {SOURCES}")
        if self.source == "disk" and self.train.augment is not None:
            raise ValueError("Recipe: augmentation is batched on the device; use source='resident'")

    @property
    def stem_size(self) -> None:
        """As a Workload's: a rung is no sweep, its stem is built for image_size."""
        return None

    def with_(self, **changes: Any) -> Recipe:
        """A copy with recipe fields (model, image_size, source) or TrainConfig fields changed."""
        own = {k: v for k, v in changes.items() if k in ("model", "image_size", "source")}
        train = {k: v for k, v in changes.items() if k not in own}
        return Recipe(
            own.get("model", self.model),
            own.get("image_size", self.image_size),
            own.get("source", self.source),
            self.train.with_(**train) if train else self.train,
        )


def differences(a: Recipe, b: Recipe) -> list[str]:
    """The settings in which two recipes differ (recipe fields, then TrainConfig fields)."""
    out = [f for f in ("model", "image_size", "source") if getattr(a, f) != getattr(b, f)]
    out += [
        f.name for f in fields(TrainConfig) if getattr(a.train, f.name) != getattr(b.train, f.name)
    ]
    return out


@dataclass(frozen=True)
class Rung:
    name: str  # "baseline", "+resident", ...
    recipe: Recipe


def fastest_amp(device: torch.device) -> str | None:
    """The autocast precision expected to be fastest on the device, or None when it has
    no lower precision to offer: bf16 on GPUs that run it natively (no loss scaling;
    compute capability 8.0 and newer, asked of this device) else fp16; on the CPU bf16
    where oneDNN has bf16 kernels (AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return "bf16" if amp_unsupported(device, "bf16") is None else "fp16"
    return "bf16" if fingerprint.cpu_bf16_kernels() else None


def baseline(profile: Profile) -> Recipe:
    """The poster's baseline at the ladder's budget: Adam at the profile's LR held
    constant, fp32, contiguous, no augmentation, images decoded from disk; whole epochs
    unless the budget caps its steps."""
    budget = profile.recipe
    cfg = profile.train.with_(
        epochs=budget.epochs,
        schedule="constant",
        amp=None,
        channels_last=False,
        compile=None,
        augment=None,
        precompute_augment=False,
        max_steps=budget.max_steps,
        time_budget_s=budget.max_time_s,  # the cap in seconds
        stop_at_accuracy=profile.target_accuracy,
        stop_after_s=budget.time_budget_s,
        early_stopping_patience=None,
        validation_fraction=0.0,
    )
    return Recipe(budget.model, budget.image_size, "disk", cfg)


RUNGS = ("baseline", "+resident", "+augment", "+onecycle", "+autocast", "+channels_last",
         "+final_model")  # fmt: skip


def ladder(profile: Profile, device: torch.device) -> tuple[list[Rung], dict[str, str]]:
    """The rungs this device and profile run, in order, and why any of RUNGS is left out
    (each rung then switches one thing against the last rung kept)."""
    budget = profile.recipe
    amp = fastest_amp(device)
    final = budget.final_model
    steps: dict[str, tuple[dict[str, Any], str]] = {
        "+resident": ({"source": "resident"}, ""),
        "+augment": ({"augment": budget.augment}, ""),
        "+onecycle": ({"schedule": "onecycle"}, ""),
        "+autocast": (
            {"amp": amp},
            "" if amp else f"{device.type} has no bf16 kernels here: fp32 is its fastest",
        ),
        "+channels_last": ({"channels_last": True}, ""),
        "+final_model": (
            {"model": final},
            ""
            if final and final != budget.model
            else f"the {profile.name} profile's budget does not allow the article's ResNet-9 "
            f"over {budget.seeds} seeds (visionbench.profiles says why)",
        ),
    }
    rungs = [Rung("baseline", baseline(profile))]
    skipped: dict[str, str] = {}
    for name, (change, reason) in steps.items():
        if reason:
            skipped[name] = reason
        else:
            rungs.append(Rung(name, rungs[-1].recipe.with_(**change)))
    return rungs, skipped


def switch_text(rung: Rung, previous: Rung | None) -> str:
    """What a rung adds, in words (the recorded `switch`)."""
    if previous is None:
        r = rung.recipe
        return f"{r.model}, Adam at a constant LR, fp32, images decoded from disk every epoch"
    changed = differences(previous.recipe, rung.recipe)
    words = []
    for name in changed:
        value = getattr(rung.recipe, name, None)
        if value is None:
            value = getattr(rung.recipe.train, name)
        words.append(f"{name}={value}")
    return ", ".join(words)


# -- data -----------------------------------------------------------------------------


@dataclass
class RecipeData:
    """A dataset as every rung reads it: the PNG folders (decoded every epoch by the disk
    rung) and their decoding at the input size, once (the resident rungs, the test split)."""

    name: str
    train: ImageSet
    test: ImageSet
    train_root: Path  # the PNG folder of the training split
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_folders(
        cls, name: str, train_root: Path, test_root: Path, cache_dir: Path, size: int
    ) -> RecipeData:
        def decoded(root: Path, part: str) -> ImageSet:
            c = cache.folder_cache(root, cache_dir / f"recipe-{part}-{size}px.pt", size)
            return ImageSet(name, c.images, c.labels, c.classes)

        train = decoded(train_root, "train")
        mean, std = channel_stats(train.images)
        return cls(name, train, decoded(test_root, "test"), Path(train_root), mean, std)

    @functools.cached_property
    def key(self) -> str:
        """The decoded splits by value (`SplitData.key`): the training cache's key."""
        return SplitData(self.name, self.train, self.test).key

    def train_epochs(self, recipe: Recipe, cfg: TrainConfig, device: torch.device):
        """The recipe's training epochs: epoch -> batches (and its feed, to close)."""
        if recipe.source == "disk":
            dataset = folder_dataset(self.train_root, recipe.image_size)
            normalise = Normalise(self.mean, self.std, device)
            feed = LoaderFeed(dataset, cfg.batch_size, device, normalise, seed=cfg.seed)
            return feed, feed
        batches = Batches.for_training(self.train, cfg, device, self.mean, self.std)
        return batches.epoch, batches

    def evaluation(
        self, device: torch.device, train: bool = False, cfg: TrainConfig | None = None
    ) -> Batches:
        """The test split (or the training images `train_accuracy` is measured on, as
        every bench measures it: `train_eval_sample`), never augmented; as much of it as
        `cfg` evaluates (`evaluation_batches`; no cfg: all of it)."""
        split = train_eval_sample(self.train, len(self.test)) if train else self.test
        return evaluation_batches(split, cfg or TrainConfig(), device, self.mean, self.std)


# -- training, cached ------------------------------------------------------------------


def accuracy_in_budget(fit_result: FitResult, budget_s: float) -> float:
    """Test accuracy after the last epoch that ended within budget_s of training (0 if
    the first epoch overran it: nothing was trained within the budget)."""
    within = [r["accuracy"] for r in fit_result.history if r["train_time_s"] <= budget_s]
    return within[-1] if within else 0.0


class RecipeRuns:
    """Recipes trained over seeds, kept in the session's one training cache
    (`TrainedModels`): benches that share a recipe share its training."""

    def __init__(self, trainings: TrainedModels) -> None:
        self.trainings = trainings

    def get(self, recipe: Recipe, data: RecipeData, device: torch.device, seeds: int) -> Trained:
        return self.trainings.cached(
            (recipe, data.key, str(device), seeds),
            lambda: self._train(recipe, data, device, seeds),
        )

    def model_and_figures(
        self, recipe: Recipe, data: RecipeData, device: torch.device, seeds: int
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The recipe's trained model and its accuracy figures; under `timing_only()` an
        untrained model (eval mode, on the device) and no figures, nothing trained."""
        if timing_only():
            return build(recipe, data, recipe.train.seed).to(device).eval(), {}
        trained = self.get(recipe, data, device, seeds)
        return trained.model, trained.figures()

    def _train(self, recipe: Recipe, data: RecipeData, device: torch.device, seeds: int) -> Trained:
        trained: Trained | None = None
        for i in range(seeds):
            cfg = recipe.train.with_(seed=recipe.train.seed + i)
            model = build(recipe, data, cfg.seed)
            trainer = Trainer(model, cfg, device, planned_steps(cfg, len(data.train)))
            what = f"{recipe.model} from {recipe.source} on {data.name} ({device}, seed {cfg.seed})"
            progress = self.trainings.progress(f"recipe {what}", cfg.epochs)
            epochs, held = data.train_epochs(recipe, cfg, device)

            try:
                result = fit(
                    trainer,
                    epochs,
                    data.evaluation(device, cfg=cfg),
                    on_epoch=progress,
                    train_eval=data.evaluation(device, train=True, cfg=cfg),
                )
            finally:
                getattr(held, "close", lambda: None)()
            if trained is None:
                n, images = scored_on(data.test, cfg)
                trained = Trained(trainer.model.eval(), n, eval_set=images)
            trained.fits.append(result)
        assert trained is not None
        return trained


@dataclass
class _SplitShape:
    """What workloads.build_model reads of a dataset: classes and channels."""

    data: RecipeData

    @property
    def num_classes(self) -> int:
        return self.data.train.num_classes

    @property
    def channels(self) -> int:
        return self.data.train.channels


def build(recipe: Recipe, data: RecipeData, seed: int) -> torch.nn.Module:
    """The recipe's model for the data's classes and channels, initialised from `seed`."""
    return build_model(recipe, _SplitShape(data), seed)


def figures(trained: Trained, target: float, budget_s: float) -> dict[str, Any]:
    """The recorded figures of a recipe over its seeds (metrics.py names)."""
    out = trained.figures(target, curves=True)
    in_budget = [accuracy_in_budget(f, budget_s) for f in trained.fits]
    out["accuracy_in_budget"] = statistics.fmean(in_budget)
    out["accuracy_in_budget_per_seed"] = in_budget
    train_acc = [f.train_accuracy for f in trained.fits if f.train_accuracy is not None]
    out["train_accuracy"] = statistics.fmean(train_acc) if train_acc else None
    return out


# -- the benchmark ----------------------------------------------------------------------


def measure(
    bench: Any,
    benchmark: Any,
    variant: Variant,
    recipe: Recipe,
    data: RecipeData,
    runs: RecipeRuns,
    *,
    rung: int | None = None,
    switch: str | None = None,
    left_out: str | None = None,
) -> Trained:
    """Train the recipe over the budget's seeds (cached), then time training epochs of a
    fresh seed-0 run (after WARMUP_STEPS untimed steps; rounds of the budget's timing)
    and record both."""
    budget: RecipeBudget = bench.profile.recipe
    seeds = bench.seeds_or(budget.seeds)
    target = bench.profile.target_accuracy
    trained = runs.get(recipe, data, bench.device, seeds)
    cfg = recipe.train
    trainer = Trainer(
        build(recipe, data, cfg.seed),
        cfg,
        bench.device,
        planned_steps(cfg, len(data.train)),
    )
    prep_s, (epochs, held) = time_once(
        lambda: data.train_epochs(recipe, cfg, bench.device), bench.device
    )
    # Warm-up: a few steps, not an epoch (kernels chosen, gradients and optimiser
    # state allocated); the budget's warm-up rounds, if any, are whole epochs.
    for _, (x, y) in zip(range(WARMUP_STEPS), epochs(10**6), strict=False):
        trainer.step(x, y)
    counter = iter(range(10**9))
    steps = cfg.max_steps  # a budget that caps the training's steps caps a timed epoch's
    units = len(data.train) if steps is None else min(len(data.train), steps * cfg.batch_size)

    def one_epoch() -> None:
        for x, y in islice(epochs(next(counter)), steps):
            trainer.step(x, y)

    try:
        # Blocks, not pairs: a budget of a few epoch rounds gives no paired interval;
        # the ladder's verdict is time to target over its seeds.
        timed = bench.time(benchmark, one_epoch, units=units, timing=budget.timing)
        timed["paired_rounds"] = 0
    finally:
        getattr(held, "close", lambda: None)()
    held_figures = (
        {"cache_disk_bytes": folder_bytes(data.train_root)}
        if recipe.source == "disk"
        else {"cache_mem_bytes": held.held_bytes()}
    )
    info = bench.describe_workload(variant, recipe, metrics.TRAIN_EPOCH, cfg.batch_size)
    info.update(dataset=data.name, classes=data.train.num_classes)
    if rung is not None:
        info.update(rung=rung, switch=switch or "")
    if left_out:
        info["left_out"] = left_out
    if cfg.precompute_augment:
        info["prep_time_s"] = prep_s  # drawing every epoch's augmentation beforehand
    metrics.record(
        benchmark,
        **info,
        **timed,
        **held_figures,
        time_budget_s=float(budget.time_budget_s),
        max_time_s=float(budget.max_time_s),
        **figures(trained, target, budget.time_budget_s),
    )
    return trained
