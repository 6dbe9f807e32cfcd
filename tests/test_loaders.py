"""Epoch feeds: every data path delivers the reference path's samples (disk PNG
through ImageFolder + DataLoader) in the same seeded order; augmented paths
agree with each other and with the definition; training from disk or cache is
the same training."""

import pytest
import torch

from visionbench import models
from visionbench.data import ImageSet, SplitData, load_mnist5k, split
from visionbench.data.augment import AugmentSpec, augment_batch, draw
from visionbench.data.cache import folder_cache
from visionbench.data.formats import folder_dataset, write_imagefolder
from visionbench.data.loaders import (
    DeviceResidentFeed,
    HostTensorFeed,
    LoaderFeed,
    Normalise,
    TensorImages,
    epoch_plan,
    precompute_epochs,
)
from visionbench.measure.runner import Timing
from visionbench.profiles import DataPathBudget
from visionbench.techniques.data_loading.paths import Prepared, augmented_variants, plain_variants
from visionbench.training.train import TrainConfig, Trainer, fit, planned_steps

CPU = torch.device("cpu")
MEAN, STD = (0.13,), (0.31,)
SPEC = AugmentSpec(pad=4, flip=True, cutout=8)


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    return load_mnist5k().subset(torch.arange(0, 5000, 16)[:300])  # all ten classes


@pytest.fixture(scope="module")
def folders(digits, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loaders")
    png = write_imagefolder(digits, tmp / "png", "png")
    jpeg = write_imagefolder(digits, tmp / "jpeg", "jpeg", quality=90)
    return png, jpeg, folder_cache(png, tmp / "cache.pt", 28)


def epoch(feed, e):
    xs, ys = zip(*feed(e), strict=True)
    return torch.cat(xs), torch.cat(ys)


def feeds(folders, batch=64, seed=0):
    png, _, cache = folders
    norm = Normalise(MEAN, STD, CPU)
    args = (batch, CPU, norm)
    return {
        "disk_png": LoaderFeed(folder_dataset(png, 28), *args, seed=seed),
        "tensor_cache": HostTensorFeed(cache.images, cache.labels, *args, seed=seed),
        "device_resident": DeviceResidentFeed(cache.images, cache.labels, *args, seed=seed),
    }


def test_every_plain_path_delivers_the_reference_batches(folders, digits):
    all_feeds = feeds(folders)
    for e in (0, 1):
        ref_x, ref_y = epoch(all_feeds["disk_png"], e)
        order, _ = epoch_plan(300, 0, e)
        assert torch.equal(ref_y, digits.labels[order])
        assert torch.equal(ref_x, Normalise(MEAN, STD, CPU)(digits.images[order]))
        for name, feed in all_feeds.items():
            x, y = epoch(feed, e)
            assert x.dtype == torch.float32 and x.shape == (300, 1, 28, 28), name
            assert torch.equal(x, ref_x) and torch.equal(y, ref_y), name
    batches = [len(y) for _, y in all_feeds["tensor_cache"](0)]
    assert batches == [64, 64, 64, 64, 44]


def test_jpeg_delivers_the_same_labels_and_close_pixels(folders):
    png, jpeg, _ = folders
    norm = Normalise(MEAN, STD, CPU)
    ref_x, ref_y = epoch(LoaderFeed(folder_dataset(png, 28), 64, CPU, norm), 0)
    x, y = epoch(LoaderFeed(folder_dataset(jpeg, 28), 64, CPU, norm), 0)
    assert torch.equal(y, ref_y)
    levels = ((x - ref_x) * STD[0] * 255).abs().mean()  # back in grey levels
    assert levels < 8  # the JPEG tolerance of test_formats


def test_worker_processes_deliver_the_same_batches(folders):
    png, _, _ = folders
    norm = Normalise(MEAN, STD, CPU)
    ref = epoch(LoaderFeed(folder_dataset(png, 28), 64, CPU, norm), 1)
    feed = LoaderFeed(folder_dataset(png, 28), 64, CPU, norm, workers=2)
    try:
        for _ in range(2):  # persistent workers serve a second epoch too
            x, y = epoch(feed, 1)
            assert torch.equal(x, ref[0]) and torch.equal(y, ref[1])
    finally:
        feed.close()


def test_epochs_are_permutations_seeded_and_reproducible(folders):
    a, b, other = feeds(folders, seed=3), feeds(folders, seed=3), feeds(folders, seed=4)
    for name in a:
        y0, y1 = epoch(a[name], 0)[1], epoch(a[name], 1)[1]
        assert sorted(y0.tolist()) == sorted(folders[2].labels.tolist())
        assert not torch.equal(y0, y1)
        assert torch.equal(y0, epoch(b[name], 0)[1])
        assert not torch.equal(y0, epoch(other[name], 0)[1])


def test_device_resident_augmentation_is_the_definition_and_equals_precomputed(folders):
    _, _, cache = folders
    norm = Normalise(MEAN, STD, CPU)
    fill = (33,)
    resident = DeviceResidentFeed(
        cache.images, cache.labels, 64, CPU, norm, seed=2, augment=SPEC, fill=fill
    )
    stored = precompute_epochs(cache.images, SPEC, fill, epochs=2, seed=2)
    precomputed = HostTensorFeed(stored, cache.labels, 64, CPU, norm, seed=2)
    for e in (0, 1):
        x, y = epoch(resident, e)
        order, gen = epoch_plan(300, 2, e)
        params = draw(300, 28, 28, SPEC, gen)
        expected = augment_batch(cache.images, params, SPEC, fill)[order]
        assert torch.equal(x, norm(expected)) and torch.equal(y, cache.labels[order])
        px, py = epoch(precomputed, e)
        assert torch.equal(px, x) and torch.equal(py, y)
    assert torch.equal(epoch(precomputed, 2)[0], epoch(precomputed, 0)[0])  # re-reads
    assert not torch.equal(epoch(resident, 0)[0], epoch(resident, 1)[0])
    assert torch.equal(epoch(resident, 1)[0], epoch(resident, 1)[0])  # reproducible


def test_per_sample_torchvision_path_delivers_augmented_batches(folders):
    from visionbench.data.augment import per_sample_transforms

    _, _, cache = folders
    norm = Normalise(MEAN, STD, CPU)
    transform = per_sample_transforms(SPEC, 28, (0,))
    feed = LoaderFeed(TensorImages(cache.images, cache.labels, transform), 64, CPU, norm)
    x, y = epoch(feed, 0)
    order, _ = epoch_plan(300, 0, 0)
    assert x.shape == (300, 1, 28, 28) and torch.equal(y, cache.labels[order])
    plain = norm(cache.images[order])
    assert not torch.equal(x, plain)
    assert x.min() >= norm(torch.zeros(1, 1, 1, 1, dtype=torch.uint8)).item()
    assert x.max() <= plain.max()


def test_training_from_disk_or_from_the_cache_is_the_same_training(folders):
    cfg = TrainConfig(batch_size=32, epochs=1, lr=3e-3, schedule="onecycle")
    accuracies, weights = [], []
    for name, feed in feeds(folders, batch=32).items():
        torch.manual_seed(0)
        model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=28)
        trainer = Trainer(model, cfg, CPU, planned_steps(cfg, 300))
        test = list(feeds(folders, batch=100)["tensor_cache"](99))
        result = fit(trainer, feed, test)
        accuracies.append(result.accuracy)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        assert result.steps == 10, name
    assert accuracies[0] == accuracies[1] == accuracies[2]
    assert torch.equal(weights[0], weights[1]) and torch.equal(weights[0], weights[2])


def test_every_bench_variant_delivers_a_whole_epoch(digits, tmp_path):
    train, test = split(digits, 0.2, seed=0)
    budget = DataPathBudget(
        input_size=16,
        texture_size=64,
        texture_count=10,
        timing=Timing(1, 0),
        train_epochs=1,
        aug_epochs=2,
    )
    prepared = Prepared(SplitData("digits", train, test), tmp_path, budget, log=lambda _: None)
    n = len(train)
    assert prepared.size == 16 and prepared.cache.images.shape == (n, 1, 16, 16)
    plain = {}
    for augmented, names in ((False, plain_variants(budget)), (True, augmented_variants(budget))):
        for name in names:
            feed, cost = prepared.feed(name, CPU, 50, augmented=augmented)
            try:
                x, y = epoch(feed, 0)
            finally:
                feed.close()
            assert x.shape == (n, 1, 16, 16) and len(y) == n, name
            assert cost.prep_time_s > 0 and cost.disk_bytes > 0, name
            if not augmented:
                plain[name] = (x, y)
    ref_x, ref_y = plain["disk_png-w0"]
    for name, (x, y) in plain.items():
        assert torch.equal(y, ref_y), name
        if "jpeg" not in name:
            assert torch.equal(x, ref_x), name
    with pytest.raises(ValueError, match="no plain data path named 'precomputed_aug'"):
        prepared.feed("precomputed_aug", CPU, 50, augmented=False)


def test_h2d_bytes_are_the_copies_made_in_the_last_epoch(folders, monkeypatch):
    """Counted where the bytes cross: on the meta device (a stand-in for a GPU: every
    host tensor moved there is a copy) each feed counts what its epoch moved."""
    crop = lambda images, index, params, spec, fill: images[index][..., 4:-4, 4:-4]  # noqa: E731
    monkeypatch.setattr("visionbench.data.loaders.augment_padded", crop)  # no meta kernels
    png, _, cache = folders
    meta = torch.device("meta")
    norm = Normalise(MEAN, STD, meta)
    n, image = len(cache.labels), cache.images[0].nbytes
    host = HostTensorFeed(cache.images, cache.labels, 64, meta, norm)
    loader = LoaderFeed(folder_dataset(png, 28), 64, meta, norm)
    plain = DeviceResidentFeed(cache.images, cache.labels, 64, meta, norm)
    augmented = DeviceResidentFeed(cache.images, cache.labels, 64, meta, norm, augment=SPEC)
    for feed in (host, loader, plain, augmented):
        assert feed.h2d_bytes() is None  # nothing counted before an epoch ends
        sum(len(y) for _, y in feed(0))
    assert host.h2d_bytes() == loader.h2d_bytes() == n * (image + 8)  # images, int64 labels
    assert plain.h2d_bytes() == n * 8  # the epoch's order only: the images stay there
    # the order, and each image's crop offsets, cutout corner (int64) and flip (bool)
    assert augmented.h2d_bytes() == n * (8 + 4 * 8 + 1)
    loader.close()


def test_h2d_bytes_are_absent_on_the_cpu(folders):
    _, _, cache = folders
    feed = HostTensorFeed(cache.images, cache.labels, 64, CPU, Normalise(MEAN, STD, CPU))
    list(feed(0))
    assert feed.h2d_bytes() is None


@pytest.mark.parametrize("paired", [True, False])
def test_a_data_path_epoch_is_paired_with_the_reference_when_the_budget_says_so(
    digits, tmp_path, paired
):
    """Each timed epoch of the variant has a reference (disk PNG) epoch beside it,
    both delivering whole epochs; a budget that asks for blocks records 0 pairs."""
    from dataclasses import replace

    from helpers import FakeBenchmark

    from visionbench import profiles
    from visionbench.measure.runner import Runner
    from visionbench.techniques.data_loading import timed

    train, test = split(digits, 0.2, seed=0)
    budget = DataPathBudget(
        input_size=16, texture_size=64, texture_count=10, timing=Timing(6, 1),
        train_epochs=1, aug_epochs=2, paired=paired,
    )  # fmt: skip
    prepared = Prepared(SplitData("digits", train, test), tmp_path, budget, log=lambda _: None)
    quick = profiles.get("quick")
    runner = Runner(replace(quick, data_path=budget), CPU)
    epochs: list[int] = []
    monkeypatch = pytest.MonkeyPatch()
    real = timed.run_epoch
    monkeypatch.setattr(timed, "run_epoch", lambda f, e: epochs.append(e) or real(f, e))
    bench = FakeBenchmark()
    try:
        timed.measure_epoch(bench, runner, prepared, "tensor_cache", augmented=False)
    finally:
        monkeypatch.undo()
    info = bench.extra_info
    if paired:
        assert info["paired_rounds"] == 6 and info["ratio_vs_ref"] > 0
        # one untimed peak epoch, then per round the variant's and the reference's
        # (the reference's own warm-up, its unit built, included)
        assert len(epochs) == 1 + 2 * 6 + 1
    else:
        assert info["paired_rounds"] == 0 and "ratio_vs_ref" not in info
        assert len(epochs) == 1 + 6
