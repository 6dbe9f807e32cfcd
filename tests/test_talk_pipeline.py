"""The talk's pipeline: jitter drawn per epoch reaches the training batches only;
grey input; its SGD recipe."""

import pytest
import torch

from visionbench import profiles
from visionbench.data import SplitData, make_gradations, split
from visionbench.techniques.talk_pipeline import grey, talk_workload
from visionbench.training.train import Batches, TrainConfig, jittered

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def textures() -> SplitData:
    train, test = split(make_gradations(60, 16, 0), 0.2, seed=0)
    return SplitData("gradations", train, test)


def test_grey_is_one_luma_channel(textures):
    g = grey(textures)
    assert textures.channels == 3 and g.channels == 1
    rgb = textures.train.images[0, :, 0, 0].float()
    assert (
        abs(int(g.train.images[0, 0, 0, 0]) - float(rgb @ torch.tensor([0.299, 0.587, 0.114])))
        <= 0.5
    )
    assert grey(g) is g


def test_jitter_scales_contrast_about_the_mean_then_brightness():
    x = torch.tensor([[[[100, 200]]]], dtype=torch.uint8)
    out = jittered(x, torch.tensor([1.0]), torch.tensor([0.5]))
    assert out.flatten().tolist() == [125.0, 175.0]
    out = jittered(x, torch.tensor([1.25]), torch.tensor([1.0]))
    assert out.flatten().tolist() == [125.0, 250.0]
    assert jittered(x, torch.tensor([2.0]), torch.tensor([1.0])).max() == 255  # clamped


def test_jitter_is_drawn_per_epoch_reproducibly_and_only_for_training(textures):
    g = grey(textures)
    mean, std = g.stats()
    cfg = TrainConfig(batch_size=16, seed=1, jitter=0.25)
    a = Batches.for_training(g.train, cfg, CPU, mean, std)
    plain = Batches.for_training(g.train, cfg.with_(jitter=0.0), CPU, mean, std)

    def images(b, e):
        return torch.cat([x for x, _ in b.epoch(e)])

    assert not torch.allclose(images(a, 0), images(plain, 0))
    assert torch.equal(images(a, 0), images(Batches.for_training(g.train, cfg, CPU, mean, std), 0))
    assert not torch.equal(images(a, 0), images(a, 1))
    test = Batches(g.test, 16, CPU, mean=mean, std=std, shuffle=False)
    assert test.jitter == 0.0  # evaluation batches are never jittered


def test_the_talks_recipe_is_its_sgd_and_jitter():
    w = talk_workload(profiles.get("quick"), 64)
    assert (w.model, w.image_size) == ("embankment_cnn", 64)
    assert (w.train.optimizer, w.train.lr, w.train.momentum) == ("sgd", 1e-3, 0.9)
    assert w.train.jitter == 0.25 and w.train.schedule == "constant"
    with pytest.raises(ValueError, match=r"jitter=1\.5"):
        TrainConfig(jitter=1.5)
