"""Augmentation as a switch of the training loop: it reaches the training batches
(the data bench's fast path, drawn per epoch), is reproducible by seed, and the
precomputed variant delivers the very same images."""

import pytest
import torch

from visionbench import models
from visionbench.data import SplitData, load_digits, split
from visionbench.data.augment import AugmentSpec, augment_one, draw, fill_colour
from visionbench.data.loaders import DeviceResidentFeed, Normalise
from visionbench.training.train import Batches, TrainConfig, Trainer, evaluate, fit, planned_steps

CPU = torch.device("cpu")
SPEC = AugmentSpec(pad=2, flip=True, cutout=3)


@pytest.fixture(scope="module")
def digits() -> SplitData:
    train, test = split(load_digits(), 0.2, seed=0)
    return SplitData("digits", train, test)


def epoch_images(batches: Batches, epoch: int) -> torch.Tensor:
    return torch.cat([x for x, _ in batches.epoch(epoch)])


def test_augmented_batches_are_the_definition_applied_with_the_epochs_draw(digits):
    mean, std = digits.stats()
    cfg = TrainConfig(batch_size=50, seed=4, augment=SPEC)
    plain = Batches(digits.train, 50, CPU, mean=mean, std=std, seed=4)
    augmented = Batches.for_training(digits.train, cfg, CPU, mean, std)
    # the same order and labels, other pixels
    assert torch.equal(
        torch.cat([y for _, y in plain.epoch(2)]), torch.cat([y for _, y in augmented.epoch(2)])
    )
    got = epoch_images(augmented, 2)
    assert not torch.equal(got, epoch_images(plain, 2))
    # image k of the epoch is augment_one of image order[k] with that image's parameters
    order, gen = augmented._plan(2)
    params = draw(len(order), 8, 8, SPEC, gen)
    fill = fill_colour(mean)
    for k in (0, 7, len(order) - 1):
        i = int(order[k])
        want = augment_one(
            digits.train.images[i],
            int(params.dy[i]),
            int(params.dx[i]),
            bool(params.flip[i]),
            int(params.cy[i]),
            int(params.cx[i]),
            SPEC,
            fill,
        )
        assert torch.allclose(got[k], augmented.normalise(want[None])[0])


def test_training_augmentation_is_the_data_benchs_device_resident_path(digits):
    mean, std = digits.stats()
    cfg = TrainConfig(batch_size=64, seed=1, augment=SPEC)
    ours = Batches.for_training(digits.train, cfg, CPU, mean, std)
    feed = DeviceResidentFeed(
        digits.train.images,
        digits.train.labels,
        64,
        CPU,
        Normalise(mean, std, CPU),
        seed=1,
        augment=SPEC,
        fill=fill_colour(mean),
    )
    for epoch in (0, 3):
        theirs = torch.cat([x for x, _ in feed(epoch)])
        assert torch.allclose(epoch_images(ours, epoch), theirs, atol=1e-5)


def test_seeded_augmentation_is_reproducible_and_new_each_epoch(digits):
    mean, std = digits.stats()
    cfg = TrainConfig(batch_size=64, seed=5, augment=SPEC)
    a = Batches.for_training(digits.train, cfg, CPU, mean, std)
    b = Batches.for_training(digits.train, cfg, CPU, mean, std)
    assert torch.equal(epoch_images(a, 1), epoch_images(b, 1))
    assert not torch.equal(epoch_images(a, 1), epoch_images(a, 2))
    other = Batches.for_training(digits.train, cfg.with_(seed=6), CPU, mean, std)
    assert not torch.equal(epoch_images(a, 1), epoch_images(other, 1))


def test_precomputed_augmentation_delivers_the_same_batches(digits):
    mean, std = digits.stats()
    cfg = TrainConfig(batch_size=64, epochs=3, seed=2, augment=SPEC)
    drawn = Batches.for_training(digits.train, cfg, CPU, mean, std)
    pre = Batches.for_training(digits.train, cfg.with_(precompute_augment=True), CPU, mean, std)
    assert pre.precomputed is not None and pre.precomputed.shape[0] == 3
    assert pre.held_bytes() > drawn.held_bytes()  # three copies of the data instead of one
    for epoch in range(3):
        assert torch.equal(epoch_images(pre, epoch), epoch_images(drawn, epoch))


def test_precompute_without_a_spec_is_refused():
    with pytest.raises(ValueError, match="precompute_augment"):
        TrainConfig(precompute_augment=True)


def test_a_cutout_larger_than_the_images_names_the_sizes(digits):
    with pytest.raises(ValueError, match="cutout of 9 px"):
        Batches(digits.train, 10, CPU, augment=AugmentSpec(cutout=9))


def test_fit_reports_train_accuracy_on_the_unaugmented_split(digits):
    mean, std = digits.stats()
    cfg = TrainConfig(batch_size=32, epochs=1, max_steps=5, augment=SPEC)
    torch.manual_seed(0)
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    trainer = Trainer(model, cfg, CPU, planned_steps(cfg, len(digits.train)))
    test = Batches(digits.test, 256, CPU, mean=mean, std=std, shuffle=False)
    train_eval = Batches(digits.train, 256, CPU, mean=mean, std=std, shuffle=False)
    result = fit(
        trainer, Batches.for_training(digits.train, cfg, CPU, mean, std), test,
        train_eval=train_eval,
    )  # fmt: skip
    assert result.train_accuracy == evaluate(trainer, train_eval)  # the final model's
    without = fit(trainer, Batches.for_training(digits.train, cfg, CPU, mean, std), test)
    assert without.train_accuracy is None
