"""ImageSet: a labelled set of uint8 images in memory, and its seeded split.

Every dataset (bundled, generated or the user's own) becomes an ImageSet:
`images` is a uint8 tensor N x C x H x W (C is 1 for grey, 3 for RGB),
`labels` an int64 tensor N. Keeping uint8 until the last moment is what the
fast trainers do: a quarter of the memory of float32, converted on use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True, eq=False)
class ImageSet:
    name: str
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"{self.name}: images must be a uint8 N x C x H x W tensor, "
                f"got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.images.shape[1] not in (1, 3):
            raise ValueError(
                f"{self.name}: images need 1 or 3 channels, got {self.images.shape[1]}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"{self.name}: {self.images.shape[0]} images but labels of shape "
                f"{tuple(self.labels.shape)}"
            )
        if len(self.labels) and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(
            self.classes
        ):
            raise ValueError(f"{self.name}: labels outside 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> int:
        """Side of the (square) images in pixels; the larger side if not square."""
        return max(self.images.shape[2], self.images.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: torch.Tensor | np.ndarray, name: str | None = None) -> ImageSet:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageSet(name or self.name, self.images[index], self.labels[index], self.classes)

    def resized(self, size: int) -> ImageSet:
        """The same images at size x size (antialiased bilinear), still uint8."""
        if self.images.shape[2:] == (size, size):
            return self
        return ImageSet(self.name, resize_uint8(self.images, size), self.labels, self.classes)

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 512) -> torch.Tensor:
    """Resize uint8 N x C x H x W images to size x size, in chunks to bound memory."""
    if size < 1:
        raise ValueError(f"image size must be positive, got {size}")
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].float()
        block = F.interpolate(
            block, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out[start : start + chunk] = block.round_().clamp_(0, 255).to(torch.uint8)
    return out


def split(data: ImageSet, test_fraction: float = 0.2, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Stratified, seeded train/test split; both halves in a seeded random order.

    The same data and seed always give the same split, so every variant of every
    bench trains and tests on the same images.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    labels = data.labels.numpy()
    train_idx, test_idx = [], []
    for cls in range(data.num_classes):
        members = np.flatnonzero(labels == cls)
        rng.shuffle(members)
        n_test = round(len(members) * test_fraction)
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test_idx.append(members[:n_test])
        train_idx.append(members[n_test:])
    train = np.concatenate(train_idx)
    test = np.concatenate(test_idx)
    rng.shuffle(train)
    rng.shuffle(test)
    return data.subset(train, f"{data.name}"), data.subset(test, f"{data.name}")


def train_eval_sample(train: ImageSet, size: int) -> ImageSet:
    """The training images `train_accuracy` is measured on: the first `size` of the
    (seeded, shuffled) training split, `size` being the test split's, so that both
    accuracies carry the same binomial noise and cost the same to evaluate."""
    return train.subset(torch.arange(min(len(train), size)))


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, on the 0..1 scale."""
    x = images.float().div_(255).transpose(0, 1).reshape(images.shape[1], -1)
    std = x.std(dim=1).clamp_min(1e-3)
    return tuple(x.mean(dim=1).tolist()), tuple(std.tolist())


class SplitData:
    """A dataset's train and test splits, with resized copies made once per size."""

    def __init__(self, name: str, train: ImageSet, test: ImageSet, key: str | None = None) -> None:
        if train.classes != test.classes or train.channels != test.channels:
            raise ValueError(f"{name}: train and test splits differ in classes or channels")
        self.name = name
        self.train = train
        self.test = test
        self._key = key
        self._sizes: dict[int, SplitData] = {}
        self._stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def key(self) -> str:
        """Identifies the splits by value: a digest of both splits' images, labels and
        classes (computed once; a resized copy is its source's key and the size).
        Caches key on it, so equal data shares an entry and different data never does."""
        if self._key is None:
            digest = hashlib.blake2b(digest_size=16)
            for part in (self.train, self.test):
                digest.update(repr((tuple(part.images.shape), part.classes)).encode())
                digest.update(part.images.contiguous().numpy())
                digest.update(part.labels.contiguous().numpy())
            self._key = f"{self.name}:{digest.hexdigest()}"
        return self._key

    def __repr__(self) -> str:
        return (
            f"SplitData({self.name!r}, train={len(self.train)}, test={len(self.test)}, "
            f"{self.channels}x{self.train.size}px, {self.num_classes} classes)"
        )

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def channels(self) -> int:
        return self.train.channels

    @property
    def size(self) -> int:
        return self.train.size

    def at(self, size: int) -> SplitData:
        """Both splits resized to size x size (cached: benches share the copy)."""
        if size == self.size and self.train.images.shape[2] == self.train.images.shape[3]:
            return self
        if size not in self._sizes:
            self._sizes[size] = SplitData(
                self.name, self.train.resized(size), self.test.resized(size), f"{self.key}@{size}"
            )
        return self._sizes[size]

    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training split (normalisation)."""
        if self._stats is None:
            self._stats = channel_stats(self.train.images)
        return self._stats
