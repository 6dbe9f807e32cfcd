"""The procedural gradations texture set: determinism, resolution, learnability."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.data import ImageSet, make_gradations, split
from visionbench.data.gradations import CLASSES, make_scenes, render


@pytest.mark.parametrize("size", [8, 16, 64, 512])
def test_shape_dtype_and_range_at_any_size(size):
    data = make_gradations(5, size, seed=3)
    assert data.name == "gradations"
    assert tuple(data.images.shape) == (5, 3, size, size)
    assert data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 1, 2, 3, 4]
    # Real pictures, not blank or saturated: a spread of grey levels in every image.
    spread = data.images.float().flatten(1).std(dim=1)
    assert (spread > 5).all()


def test_five_readable_classes_from_sand_to_gravel():
    assert CLASSES[0] == "sand" and CLASSES[-1] == "gravel"
    assert len(CLASSES) == 5 and len(set(CLASSES)) == 5
    assert make_gradations(5, 8).classes == CLASSES


@pytest.mark.parametrize("count", [0, 1, 7, 50, 53])
def test_classes_are_balanced(count):
    counts = make_gradations(count, 8).class_counts()
    assert sum(counts) == count
    assert max(counts) - min(counts) <= 1


def test_deterministic_from_its_arguments():
    # Rendered twice from scratch (make_gradations itself is cached).
    a = render(make_scenes(10, seed=7), 32)
    b = render(make_scenes(10, seed=7), 32)
    assert torch.equal(a, b)
    assert make_gradations(10, 32, 7) is make_gradations(10, 32, 7)
    assert torch.equal(make_gradations(10, 32, 7).images, a)


def test_other_seeds_give_other_images():
    a = make_gradations(10, 32, seed=0).images.float()
    b = make_gradations(10, 32, seed=1).images.float()
    assert (a - b).abs().mean() > 20


def box_down(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average uint8 images down by an integer factor (what a sensor does)."""
    return F.avg_pool2d(images.float(), images.shape[-1] // size)


def test_same_scene_at_every_resolution():
    scenes = make_scenes(6, seed=5)
    big = render(scenes, 512)
    small = render(scenes, 64).float()
    same = (box_down(big, 64) - small).abs().mean()
    other = (box_down(big, 64) - small.roll(1, dims=0)).abs().mean()  # another scene
    assert same < 8  # of 255; differences come from sampling tiny stones at 128 vs 512 px
    assert other > 4 * same


def test_small_sizes_are_supersampled_not_aliased():
    # An 8 px image is the area average of the scene, not 64 point samples: it
    # matches the 128 px render averaged down far better than point sampling does.
    scenes = make_scenes(6, seed=2)
    fine = render(scenes, 128)
    tiny = render(scenes, 8).float()
    averaged = (box_down(fine, 8) - tiny).abs().mean()
    point_sampled = (fine[..., 8::16, 8::16].float() - tiny).abs().mean()
    assert averaged < 3
    assert point_sampled > 3 * averaged


def test_gravel_share_orders_the_classes_and_neighbours_overlap():
    scenes = make_scenes(500, seed=0)
    by_class = [scenes.gravel[scenes.labels == k] for k in range(5)]
    means = [g.mean() for g in by_class]
    assert means == sorted(means)
    for lower, upper in itertools.pairwise(by_class):
        assert lower.max() > upper.min()  # the bands overlap: the mixtures are confusable


def texture_features(images: torch.Tensor) -> np.ndarray:
    """Contrast-normalised mean differences at lags 1..8 px, and the grey-level spread."""
    grey = images.float().mean(dim=1) / 255
    std = grey.std(dim=(1, 2))
    feats = [std]
    for lag in (1, 2, 4, 8):
        dx = (grey[:, :, lag:] - grey[:, :, :-lag]).abs().mean(dim=(1, 2))
        dy = (grey[:, lag:] - grey[:, :-lag]).abs().mean(dim=(1, 2))
        feats.append((dx + dy) / 2 / std)
    return torch.stack(feats, dim=1).numpy()


def mean_colour(images: torch.Tensor) -> np.ndarray:
    return images.float().mean(dim=(2, 3)).numpy()


def test_learnable_from_texture_but_not_from_brightness():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scenes = make_scenes(600, seed=11)
    data = ImageSet("g", render(scenes, 32), torch.from_numpy(scenes.labels), CLASSES)
    train, test = split(data, 0.3, 0)

    def accuracy(features) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(features(train.images), train.labels.numpy())
        return model.score(features(test.images), test.labels.numpy())

    chance = 1 / len(CLASSES)
    # Measured: texture ~0.56-0.60, mean colour ~0.17-0.22 over seeds 0-3.
    assert accuracy(texture_features) > 2 * chance + 0.02
    assert accuracy(mean_colour) < chance + 0.13


@pytest.mark.parametrize(("count", "size"), [(-1, 8), (3, 0)])
def test_rejects_bad_arguments(count, size):
    with pytest.raises(ValueError, match="gradations"):
        make_gradations(count, size)


@settings(max_examples=15, deadline=None)
@given(count=st.integers(0, 12), seed=st.integers(0, 2**31), size=st.sampled_from([4, 9, 20]))
def test_any_count_seed_and_size_renders(count, seed, size):
    scenes = make_scenes(count, seed)
    images = render(scenes, size)
    assert tuple(images.shape) == (count, 3, size, size)
    # Every stone reaches into the image, and images are in order.
    reach = np.abs(scenes.centre - scenes.centre.clip(0, 1)).max(axis=1)
    assert (reach <= scenes.axes[:, 0]).all()
    assert (np.diff(scenes.image) >= 0).all()
