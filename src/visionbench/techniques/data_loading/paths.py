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

Here each path is defined and prepared; `visionbench.techniques.data_loading.timed` times them:
a plain epoch (the deterministic pipeline: every path delivers the same pixels
in the same order), an augmented epoch (pad + random crop, flip, cutout), and
the same model trained for the same epochs from disk and from the cache.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from visionbench.data import cache
from visionbench.data.augment import fill_colour, per_sample_transforms
from visionbench.data.formats import folder_bytes, folder_dataset, write_imagefolder
from visionbench.data.imageset import SplitData, channel_stats
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
from visionbench.measure import techniques
from visionbench.measure.meters import time_once
from visionbench.profiles import DataPathBudget, Profile

REFERENCE = techniques.DATA_LOADING.reference  # the disk path of PNG files, no workers
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
