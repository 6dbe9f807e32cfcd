"""Epoch feeds: every data path as `epoch -> iterable of (x, y)` on the device.

A feed yields normalised float32 batches (N x C x H x W) and int64 labels on
its device, so `train.fit` trains from any of them and the bench times an
epoch of each the same way. All feeds visit the samples in the same order,
`epoch_plan`'s seeded permutation, so for the deterministic part of the
pipeline they deliver the same batches; augmentation draws from the same
epoch generator, after the order.

- `LoaderFeed`: a torch DataLoader over a map-style dataset (image files
  decoded per epoch, or in-memory tensors with per-sample torchvision
  transforms); worker processes, pinned memory on CUDA.
- `HostTensorFeed`: uint8 tensors in host memory (a tensor cache, or
  precomputed augmentations, one tensor per planned epoch); each batch is
  gathered, pinned on CUDA and copied with non_blocking.
- `DeviceResidentFeed`: the whole uint8 dataset on the device, no DataLoader
  and no per-batch host-to-device copy; an epoch is one permutation gather and
  optionally one batched augmentation of every image, then slices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from visionbench.data.augment import (
    AugmentParams,
    AugmentSpec,
    augment_padded,
    draw,
    pad,
    precompute,
)

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_plan(n: int, seed: int, epoch: int) -> tuple[torch.Tensor, torch.Generator]:
    """An epoch's sample order and the generator its augmentation then draws from
    (a CPU generator: the same seed gives the same epoch on every device)."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen), gen


class Normalise:
    """uint8 images on the device to float32 (x / 255 - mean) / std, per channel,
    as x * scale + shift in place on the converted batch (no temporaries)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device):
        shape = (1, -1, 1, 1)
        mean_t = torch.tensor(mean, device=device).view(shape) * 255
        std_t = torch.tensor(std, device=device).view(shape) * 255
        self.scale, self.shift = 1 / std_t, -mean_t / std_t

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mul_(self.scale).add_(self.shift)


class Feed:
    """An epoch source: `feed(epoch)` yields (x, y) on `device`.

    Every copy from host to device memory goes through `to_device`, which counts
    its bytes: `h2d_bytes` is what the last whole epoch copied, as counted."""

    def __init__(self, n: int, batch_size: int, device: torch.device, normalise: Normalise):
        self.n = n
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.normalise = normalise
        self._copied = 0  # bytes copied to the device since the epoch began
        self._last_epoch: int | None = None

    def __call__(self, epoch: int) -> Iterator[Batch]:
        self._copied = 0
        yield from self.batches(epoch)
        self._last_epoch = self._copied

    def batches(self, epoch: int) -> Iterator[Batch]:
        raise NotImplementedError

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        """`t` on the feed's device (non_blocking), its bytes counted when copied there."""
        if t.device != self.device:
            self._copied += t.nbytes
        return t.to(self.device, non_blocking=True)

    def h2d_bytes(self) -> int | None:
        """Bytes the last whole epoch copied from host to device memory; None on the
        CPU, where nothing is copied, or before an epoch has run to its end."""
        return None if self.device.type == "cpu" else self._last_epoch

    def held(self) -> list[torch.Tensor]:
        """The tensors the feed keeps between epochs (its memory footprint)."""
        return []

    def close(self) -> None:
        """Release worker processes, if any."""

    def _copy(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        """Host batch to the device: pinned memory and non_blocking on CUDA."""
        if self.device.type == "cuda":
            x, y = x.pin_memory(), y.pin_memory()
        return self.normalise(self.to_device(x)), self.to_device(y)


# -- DataLoader paths -------------------------------------------------------------


class EpochSampler(Sampler[int]):
    """epoch_plan's order for the epoch last set (the same order as every feed)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order, _ = epoch_plan(self.n, self.seed, self.epoch)
        return iter(order.tolist())


class TensorImages(Dataset):
    """In-memory uint8 images as a map-style dataset, with a per-sample transform."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, transform: Callable | None = None
    ) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i]
        return (self.transform(x) if self.transform else x), int(self.labels[i])


class LoaderFeed(Feed):
    """Batches from a DataLoader (items are C x H x W uint8 and an int label).

    Workers are persistent, so a timed epoch measures decoding and transfer,
    not process start-up; on CUDA the loader pins its batches so the copies can
    overlap. Per-sample transforms draw from torch's global generator, in each
    worker seeded by the DataLoader (torchvision's way), not from epoch_plan.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        device: torch.device,
        normalise: Normalise,
        *,
        workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(len(dataset), batch_size, device, normalise)
        self.sampler = EpochSampler(self.n, seed)
        self.workers = workers
        self.loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=self.sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(seed),
        )

    def batches(self, epoch: int) -> Iterator[Batch]:
        self.sampler.epoch = epoch
        for x, y in self.loader:
            yield self.normalise(self.to_device(x)), self.to_device(y)

    def close(self) -> None:
        # DataLoader keeps its persistent iterator privately; shutting it down
        # ends the worker processes now rather than at interpreter exit.
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self.loader._iterator = None


# -- tensor paths -------------------------------------------------------------------


class HostTensorFeed(Feed):
    """Batches gathered from uint8 tensors in host memory, copied to the device.

    `images` is N x C x H x W (a tensor cache: the same images every epoch) or
    E x N x C x H x W (precomputed augmentation: epoch e reads images[e % E],
    in epoch e % E's order, exactly what DeviceResidentFeed with the same spec
    and seed delivers in that epoch).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        device: torch.device,
        normalise: Normalise,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__(len(labels), batch_size, device, normalise)
        # Not pinned here: a gathered batch is a new tensor, pinned on its own in _copy.
        self.images, self.labels, self.seed = images, labels, seed
        self.per_epoch = images.dim() == 5

    def batches(self, epoch: int) -> Iterator[Batch]:
        if self.per_epoch:
            epoch %= self.images.shape[0]
        order, _ = epoch_plan(self.n, self.seed, epoch)
        images = self.images[epoch] if self.per_epoch else self.images
        for start in range(0, self.n, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self._copy(images[idx], self.labels[idx])

    def held(self) -> list[torch.Tensor]:
        return [self.images, self.labels]


class DeviceResidentFeed(Feed):
    """The whole uint8 dataset on the device; shuffling, augmentation and
    normalisation happen there, on the whole epoch at once.

    What it removes: the DataLoader, its per-sample Python calls and every
    per-batch host-to-device copy (only the order and the augmentation
    parameters cross, a few bytes per image). What it costs: the dataset's
    uint8 bytes of device memory (padded once for augmentation, so an epoch's
    gather and crops are one op), and one augmented copy during an epoch.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        device: torch.device,
        normalise: Normalise,
        *,
        seed: int = 0,
        augment: AugmentSpec | None = None,
        fill: tuple[int, ...] = (0,),
    ) -> None:
        super().__init__(len(labels), batch_size, device, normalise)
        self.size = images.shape[2:]
        self.images = images.to(self.device)
        if augment is not None:
            self.images = pad(self.images, augment.pad, fill)
        self.labels = labels.to(self.device)
        self.seed, self.augment, self.fill = seed, augment, fill

    def batches(self, epoch: int) -> Iterator[Batch]:
        order, gen = epoch_plan(self.n, self.seed, epoch)
        on_device = self.to_device(order)
        if self.augment is None:
            x = self.images[on_device]
        else:
            drawn = draw(self.n, *self.size, self.augment, gen).select(order)
            params = AugmentParams(
                *(self.to_device(t) for t in (drawn.dy, drawn.dx, drawn.flip, drawn.cy, drawn.cx))
            )
            x = augment_padded(self.images, on_device, params, self.augment, self.fill)
        y = self.labels[on_device]
        for start in range(0, self.n, self.batch_size):
            end = start + self.batch_size
            yield self.normalise(x[start:end]), y[start:end]

    def held(self) -> list[torch.Tensor]:
        return [self.images, self.labels]


class PerSampleCopyFeed(HostTensorFeed):
    """The cached uint8 tensors in host memory, each sample copied to the device on its
    own and the batch stacked there: the seed talk's loader after its fix (data
    preprocessed once, but still sent sample by sample). Expected: the same bytes
    as tensor_cache's one copy per batch, in batch-size times as many transfers,
    each paying the copy's fixed cost (a launch and a synchronisation on CUDA; on
    the CPU, where nothing moves, the per-sample indexing and stacking remain)."""

    def __call__(self, epoch: int) -> Iterator[Batch]:
        if self.per_epoch:
            raise ValueError("PerSampleCopyFeed reads one image set, not precomputed epochs")
        order, _ = epoch_plan(self.n, self.seed, epoch)
        for start in range(0, self.n, self.batch_size):
            idx = order[start : start + self.batch_size].tolist()
            x = torch.stack([self.images[i].to(self.device) for i in idx])
            y = torch.stack([self.labels[i].to(self.device) for i in idx])
            yield self.normalise(x), y


def precompute_epochs(
    images: torch.Tensor, spec: AugmentSpec, fill: tuple[int, ...], epochs: int, seed: int = 0
) -> torch.Tensor:
    """Every planned epoch's augmentations, E x N x C x H x W uint8, in image order:
    epoch e is drawn from epoch_plan(n, seed, e)'s generator, as DeviceResidentFeed
    draws it, so reading them back in that epoch's order gives the same batches."""
    gens = [epoch_plan(len(images), seed, e)[1] for e in range(epochs)]
    return precompute(images, spec, fill, gens)
