"""The data-loading technique: each data path prepared once, then timed an epoch at a time.

Variants (their names are the bench ids) and what each is expected to change:

  disk_png-wN      torchvision ImageFolder + DataLoader with N worker processes:
                   every epoch opens, decodes, converts and resizes every PNG
                   again. The reference (N = 0): the usual way, and the seed
                   talk's 9-minute epochs. N workers divide the decoding
                   among N cores, at the cost of process start-up and memory.
  disk_jpeg-wN     the same with JPEG files: smaller on disk and, for large
                   images, cheaper to decode than PNG; lossy (pixels differ by
                   a few levels).
  tensor_cache     the PNG folder decoded and resized once into a uint8 tensor
                   file, loaded at start; an epoch is batch gathers and copies
                   from host memory. Expected: the decoding cost leaves the
                   epoch entirely (the seed: 9 minutes to 10 s an epoch).
  per_sample_copy  the same cache in host memory, each sample copied to the device
                   on its own and stacked there (the seed talk's loader after
                   its fix): tensor_cache's bytes in many small transfers.
  device_resident  the cached uint8 dataset kept on the device: no DataLoader
                   and no per-batch copy; shuffling by permutation, batched
                   augmentation and normalisation happen there.
  precomputed_aug  every planned epoch's augmentations generated once and
                   stored (the seed article): epochs only read, at the price of
                   one copy of the data per planned epoch, on disk and in memory.
  inmemory_tv_aug  the cached tensors in memory, augmented one image at a time
                   by torchvision transforms in a DataLoader (workers 0): what
                   batched augmentation on the device replaces.

Two epoch benchmarks compare them: a plain epoch (the deterministic pipeline:
every path delivers the same pixels in the same order) and an augmented epoch
(pad + random crop, flip, cutout). A third trains the same model for the same
epochs from disk and from the cache, through the one `fit`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from visionbench import models
from visionbench.data import cache
from visionbench.data.augment import fill_colour, per_sample_transforms
from visionbench.data.formats import folder_bytes, folder_dataset, write_imagefolder
from visionbench.data.imageset import ImageSet, SplitData, channel_stats
from visionbench.data.loaders import (
    DeviceResidentFeed,
    Feed,
    HostTensorFeed,
    LoaderFeed,
    Normalise,
    PerSampleCopyFeed,
    TensorImages,
    precompute_epochs,
)
from visionbench.data.spec import DataSpec, load_split
from visionbench.measure import peak_memory, time_once
from visionbench.profiles import DataPathBudget, Profile, Timing
from visionbench.runner import Runner, Variant
from visionbench.train import Batches, Trainer, evaluate, fit, planned_steps

TECHNIQUE = "data_loading"
REFERENCE = "disk_png-w0"
FORMATS = ("png", "jpeg")
DISK = re.compile(r"disk_(png|jpeg)-w(\d+)$")
Log = Callable[[str], None]


def plain_variants(budget: DataPathBudget) -> list[str]:
    disk = [f"disk_{fmt}-w{w}" for fmt in FORMATS for w in budget.workers]
    return [*disk, "tensor_cache", "per_sample_copy", "device_resident"]


def augmented_variants(budget: DataPathBudget) -> list[str]:
    return [REFERENCE, "inmemory_tv_aug", "device_resident", "precomputed_aug"]


def training_variants(budget: DataPathBudget) -> list[str]:
    return [REFERENCE, "tensor_cache", "device_resident"]


def source_data(spec: DataSpec, profile: Profile) -> SplitData:
    """The spec's split at the bench's source resolution: gradations textures (and
    image folders) at texture_size, texture_count of them; other sets as they come."""
    budget = profile.data_path
    data_budget = replace(profile.data, gradations_count=budget.texture_count)
    train, test = load_split(spec, replace(profile, data=data_budget), size=budget.texture_size)
    return SplitData(spec.name, train, test)


@dataclass(frozen=True)
class Cost:
    """One-off figures of a data path (recorded with each of its benchmarks)."""

    prep_time_s: float  # making the artefact once (files written, cache built)
    load_time_s: float  # paid at the start of every run
    disk_bytes: int
    mem_bytes: int


class Prepared:
    """One dataset's data paths, made once per session under WORKDIR.

    The source splits are written as PNG and JPEG folders; the PNG folders are
    cached as uint8 tensors at the model's input size (every path but the disk
    ones reads that cache, so all deliver the PNG path's pixels); precomputed
    augmentation is made on first use.
    """

    def __init__(
        self, data: SplitData, workdir: Path, budget: DataPathBudget, log: Log = print
    ) -> None:
        self.data, self.workdir, self.budget, self.log = data, Path(workdir), budget, log
        self.size = min(data.size, budget.input_size)
        self.folders: dict[tuple[str, str], Path] = {}
        self.write_s: dict[str, float] = {}
        # Every format for the training split (the timed epochs); the test split
        # only as PNG, whose cache evaluates the training comparison.
        jobs = [(fmt, "train", data.train) for fmt in FORMATS] + [("png", "test", data.test)]
        for fmt, part, split in jobs:
            root = self.workdir / fmt / part
            seconds, _ = time_once(
                lambda s=split, r=root, f=fmt: write_imagefolder(
                    s, r, f, quality=budget.jpeg_quality
                ),
                "cpu",
            )
            self.folders[fmt, part] = root
            if part == "train":
                self.write_s[fmt] = seconds
                log(f"  {data.name}: wrote {len(split)} {fmt} files in {seconds:.1f} s")
        self.cache_build_s, self.cache = time_once(lambda: self._cache("train"), "cpu")
        self.cache_load_s, self.cache = time_once(lambda: self._cache("train"), "cpu")
        assert self.cache.status == "loaded", self.cache.status
        self.test_cache = self._cache("test")
        log(
            f"  {data.name}: tensor cache built in {self.cache_build_s:.1f} s, "
            f"loads in {self.cache_load_s:.3f} s"
        )
        self.mean, self.std = channel_stats(self.cache.images)
        self.fill = fill_colour(self.mean)
        self._precomputed: tuple[torch.Tensor, Cost] | None = None

    def _cache(self, part: str) -> cache.TensorCache:
        root = self.folders["png", part]
        return cache.folder_cache(root, self.workdir / "cache" / f"{part}.pt", self.size)

    @property
    def channels(self) -> int:
        return self.cache.images.shape[1]

    def cache_cost(self, load_extra_s: float = 0.0, mem_bytes: int | None = None) -> Cost:
        return Cost(
            self.cache_build_s,
            self.cache_load_s + load_extra_s,
            self.cache.path.stat().st_size,
            self.cache.nbytes() if mem_bytes is None else mem_bytes,
        )

    def precomputed(self) -> tuple[torch.Tensor, Cost]:
        """Every planned epoch's augmentations of the cached images (made once)."""
        if self._precomputed is None:
            b = self.budget
            path = self.workdir / "cache" / "precomputed_aug.pt"
            key = {
                "source": self.cache.key,
                "augment": [b.augment.pad, b.augment.flip, b.augment.cutout],
                "fill": list(self.fill),
                "epochs": b.aug_epochs,
                "seed": 0,
            }

            def build() -> cache.Tensors:
                images = precompute_epochs(self.cache.images, b.augment, self.fill, b.aug_epochs)
                return {"images": images}

            build_s, _ = time_once(lambda: cache.ensure(path, key, build), "cpu")
            load_s, (tensors, status) = time_once(lambda: cache.ensure(path, key, build), "cpu")
            assert status == "loaded", status
            images = tensors["images"]
            cost = Cost(self.cache_build_s + build_s, load_s, path.stat().st_size, images.nbytes)
            self._precomputed = images, cost
        return self._precomputed

    def feed(
        self, variant: str, device: torch.device, batch_size: int, *, augmented: bool
    ) -> tuple[Feed, Cost]:
        """The variant's epoch feed of the training split on DEVICE, and its costs."""
        normalise = Normalise(self.mean, self.std, device)
        images, labels = self.cache.images, self.cache.labels
        spec = self.budget.augment
        per_sample = per_sample_transforms(spec, self.size, self.fill) if augmented else None
        if disk := DISK.match(variant):
            fmt, workers = disk.group(1), int(disk.group(2))
            root = self.folders[fmt, "train"]
            scan_s, dataset = time_once(lambda: folder_dataset(root, self.size, per_sample), "cpu")
            feed = LoaderFeed(dataset, batch_size, device, normalise, workers=workers)
            return feed, Cost(self.write_s[fmt], scan_s, folder_bytes(root), 0)
        if variant == "tensor_cache" and not augmented:
            return HostTensorFeed(images, labels, batch_size, device, normalise), self.cache_cost()
        if variant == "per_sample_copy" and not augmented:
            feed = PerSampleCopyFeed(images, labels, batch_size, device, normalise)
            return feed, self.cache_cost()
        if variant == "device_resident":
            copy_s, feed = time_once(
                lambda: DeviceResidentFeed(
                    images,
                    labels,
                    batch_size,
                    device,
                    normalise,
                    augment=spec if augmented else None,
                    fill=self.fill,
                ),
                device,
            )
            return feed, self.cache_cost(copy_s, sum(t.nbytes for t in feed.held()))
        if variant == "precomputed_aug" and augmented:
            epochs, cost = self.precomputed()
            return HostTensorFeed(epochs, labels, batch_size, device, normalise), cost
        if variant == "inmemory_tv_aug" and augmented:
            dataset = TensorImages(images, labels, per_sample)
            return LoaderFeed(dataset, batch_size, device, normalise), self.cache_cost()
        kind = "augmented" if augmented else "plain"
        raise ValueError(f"no {kind} data path named {variant!r}")


def run_epoch(feed: Feed, epoch: int) -> int:
    """Deliver one epoch to the device; the number of samples delivered."""
    count = 0
    for _, y in feed(epoch):
        count += len(y)
    return count


def _describe(
    runner: Runner, prepared: Prepared, variant: str, unit: str, batch: int
) -> dict[str, Any]:
    return runner.describe(
        Variant(TECHNIQUE, variant, REFERENCE),
        unit,
        dataset=prepared.data.name,
        classes=prepared.data.num_classes,
        image_size=prepared.size,
        batch_size=batch,
    )


def _cost_figures(cost: Cost, feed: Feed) -> dict[str, Any]:
    """One-off costs, and the bytes the last epoch copied to the device (counted;
    absent on the CPU, where nothing is copied)."""
    return {
        "prep_time_s": cost.prep_time_s,
        "load_time_s": cost.load_time_s,
        "cache_disk_bytes": cost.disk_bytes,
        "cache_mem_bytes": cost.mem_bytes,
        "h2d_bytes": feed.h2d_bytes(),
    }


def measure_epoch(
    benchmark: Any, runner: Runner, prepared: Prepared, variant: str, *, augmented: bool
) -> None:
    """Time one epoch of the variant delivered to the device (synchronised), a new
    epoch each round; record throughput, costs and peak memory.

    Peak memory is measured on an untimed warm-up epoch. On the CPU a disk path
    with worker processes records none: its decoding allocates in the workers,
    which the count of this process's tensors cannot see, and a figure without
    them would make more workers look cheaper.
    """
    budget = runner.profile.data_path
    batch = runner.profile.train.batch_size
    feed, cost = prepared.feed(variant, runner.device, batch, augmented=augmented)
    disk = DISK.match(variant)
    workers = disk is not None and int(disk.group(2)) > 0
    unseen_workers = runner.device.type == "cpu" and workers
    opened = [feed]

    def build_reference() -> Callable[[], int]:
        """The reference path's epochs, a new one each call (paired rounds)."""
        reference, _ = prepared.feed(REFERENCE, runner.device, batch, augmented=augmented)
        opened.append(reference)
        ref_epochs = itertools.count(1)
        return lambda: run_epoch(reference, next(ref_epochs))

    try:
        # With worker processes, a first epoch outside the memory counter starts
        # them (forked inside it, they would keep its per-op overhead); the next
        # measures the peak. Both are untimed and count as warm-up.
        if workers:
            run_epoch(feed, 0)
        peak = None
        if not unseen_workers:
            peak = peak_memory(lambda: run_epoch(feed, 0), runner.device, resident=feed.held())
        epochs = itertools.count(1)

        def epoch() -> None:
            delivered = run_epoch(feed, next(epochs))
            if delivered != feed.n:
                raise RuntimeError(f"{variant} delivered {delivered} of {feed.n} samples")

        timing = Timing(budget.timing.rounds, max(0, budget.timing.warmup_rounds - 1))
        if variant == REFERENCE:
            figures = runner.time(benchmark, epoch, feed.n, timing)
        elif budget.paired:
            figures = runner.time_paired(benchmark, epoch, feed.n, build_reference, timing)
        else:  # blocks, by the profile's choice
            figures = {**runner.time(benchmark, epoch, feed.n, timing), "paired_rounds": 0}
    finally:
        for each in opened:
            each.close()
    unit = "augmented_epoch" if augmented else "epoch"
    runner.record(
        benchmark,
        _describe(runner, prepared, variant, unit, batch),
        **figures,
        **_cost_figures(cost, feed),
        peak_mem_bytes=peak,
    )


def measure_training(benchmark: Any, runner: Runner, prepared: Prepared, variant: str) -> float:
    """Train the budget's model for train_epochs from the variant's plain feed,
    through `fit`, one timed round per epoch; record time per epoch (the rounds),
    the total (train_time_s) and the test accuracy. Returns the accuracy."""
    budget = runner.profile.data_path
    cfg = runner.profile.train.with_(epochs=budget.train_epochs)
    feed, cost = prepared.feed(variant, runner.device, cfg.batch_size, augmented=False)
    torch.manual_seed(cfg.seed)
    model = models.build(
        budget.model,
        num_classes=prepared.data.num_classes,
        in_channels=prepared.channels,
        image_size=prepared.size,
    )
    # fit runs one epoch per call; the schedule spans all of them.
    trainer = Trainer(model, cfg.with_(epochs=1), runner.device, planned_steps(cfg, feed.n))
    results = []
    epochs = itertools.count()
    try:

        def one_epoch() -> None:
            e = next(epochs)
            results.append(fit(trainer, lambda _: feed(e), ()))

        figures = runner.time(
            benchmark, one_epoch, units=feed.n, timing=Timing(budget.train_epochs, 0)
        )
    finally:
        feed.close()
    test = prepared.test_cache
    test_set = ImageSet(prepared.data.name, test.images, test.labels, test.classes)
    accuracy = evaluate(
        trainer,
        Batches(test_set, 512, runner.device, mean=prepared.mean, std=prepared.std, shuffle=False),
    )
    runner.record(
        benchmark,
        _describe(runner, prepared, variant, "train_epoch", cfg.batch_size),
        model=budget.model,
        **models.identity(budget.model, model),
        **figures,
        **_cost_figures(cost, feed),
        accuracy=accuracy,
        eval_images=len(test_set),
        train_time_s=sum(r.train_time_s for r in results),
        epochs_run=len(results),
        diverged=any(r.diverged for r in results),
    )
    return accuracy
