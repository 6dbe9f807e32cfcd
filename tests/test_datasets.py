"""The bundled datasets and the seeded, stratified train/test split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.data import ImageSet, load_digits, load_mnist5k, split


@pytest.mark.parametrize(
    ("loader", "shape", "per_class"),
    [(load_digits, (1797, 1, 8, 8), None), (load_mnist5k, (5000, 1, 28, 28), 500)],
    ids=["digits", "mnist5k"],
)
def test_bundled_sets_are_grey_uint8_with_ten_classes(loader, shape, per_class):
    data = loader()
    assert tuple(data.images.shape) == shape
    assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
    assert data.classes == tuple(str(d) for d in range(10))
    assert int(data.images.max()) == 255 and int(data.images.min()) == 0  # full 0..255 range
    counts = data.class_counts()
    assert min(counts) > 0.8 * len(data) / 10  # roughly balanced
    if per_class is not None:
        assert counts == [per_class] * 10


def test_bundled_sets_are_loaded_once():
    assert load_digits() is load_digits()


def indexed_set(labels: list[int], classes: int) -> ImageSet:
    """An ImageSet whose image i stores i in its pixels, so a split can be traced back."""
    index = torch.arange(len(labels))
    images = torch.stack([index % 256, index // 256], dim=1).to(torch.uint8)
    images = images[:, None, :, None].expand(-1, 1, 2, 2).contiguous()
    return ImageSet("indexed", images, torch.tensor(labels, dtype=torch.int64), ("c",) * classes)


def indices(data: ImageSet) -> list[int]:
    px = data.images[:, 0, :, 0].long()
    return (px[:, 0] + 256 * px[:, 1]).tolist()


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=300),
    test_fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_is_a_stratified_partition(labels, test_fraction, seed):
    data = indexed_set(labels, 5)
    train, test = split(data, test_fraction, seed)
    tr, te = indices(train), indices(test)
    assert not set(tr) & set(te)
    assert sorted(tr + te) == list(range(len(labels)))
    # Each image keeps its label.
    assert train.labels.tolist() == [labels[i] for i in tr]
    assert test.labels.tolist() == [labels[i] for i in te]
    # Stratified: per class, the test share is the nearest count to test_fraction,
    # keeping at least one image on each side when a class has two or more.
    counts = np.bincount(labels, minlength=5)
    test_counts = np.bincount(test.labels.numpy(), minlength=5)
    for n, k in zip(counts, test_counts, strict=True):
        if n >= 2:
            assert 1 <= k <= n - 1
            assert abs(k - n * test_fraction) <= 1
        else:
            assert k <= n


@settings(max_examples=20, deadline=None)
@given(labels=st.lists(st.integers(0, 2), min_size=10, max_size=100), seed=st.integers(0, 1000))
def test_split_is_deterministic_in_its_seed(labels, seed):
    data = indexed_set(labels, 3)
    first = [indices(half) for half in split(data, 0.3, seed)]
    again = [indices(half) for half in split(data, 0.3, seed)]
    assert first == again


def test_other_seeds_give_other_splits():
    data = load_digits()
    a = split(data, 0.2, 0)[1].images
    b = split(data, 0.2, 1)[1].images
    assert not torch.equal(a, b)


def test_split_of_mnist5k_is_balanced():
    train, test = split(load_mnist5k(), 0.2, 0)
    assert test.class_counts() == [100] * 10
    assert train.class_counts() == [400] * 10
    assert not torch.equal(train.labels[:20], train.labels[:20].sort().values)  # shuffled


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        split(load_digits(), fraction, 0)
