"""Every registered model builds and gives the right output shape at each
supported resolution, grey and RGB; torchvision's models keep their body."""

import itertools

import pytest
import torch
import torchvision

from visionbench import models

SIZES = (8, 28, 64, 96)  # each stem tier (stride 1, 2, 4) and the smallest input
HEAVY = {"resnet34", "resnet50"}


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("size", SIZES, ids=[f"{s}px" for s in SIZES])
def test_forward_shape(name, size):
    if size < models.spec(name).min_size:
        pytest.skip(f"{name} needs at least {models.spec(name).min_size}px")
    # the heavy models take one channel count per size: the same code, a faster suite
    for channels in ((1 if size <= 32 else 3),) if name in HEAVY else (1, 3):
        torch.manual_seed(0)
        model = models.build(name, num_classes=7, in_channels=channels, image_size=size).eval()
        with torch.no_grad():
            out = model(torch.randn(2, channels, size, size))
        assert out.shape == (2, 7)
        assert torch.isfinite(out).all()


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown model 'resnet19'.*resnet18"):
        models.build("resnet19", num_classes=10, in_channels=1, image_size=28)


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match="at least 8px"):
        models.build("resnet18", num_classes=10, in_channels=1, image_size=4)


def test_registry_names_are_unique_and_documented():
    assert len(models.names()) == len(set(models.names())) >= 7
    for name in models.names():
        assert models.spec(name).description


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v3_small"])
def test_large_rgb_input_is_torchvisions_model_unchanged(name):
    ours = models.build(name, num_classes=1000, in_channels=3, image_size=224)
    theirs = getattr(torchvision.models, name)(weights=None)
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert str(ours) == str(theirs)


def test_small_input_changes_only_the_stem():
    ours = models.build("resnet18", num_classes=10, in_channels=1, image_size=28)
    theirs = torchvision.models.resnet18(weights=None, num_classes=10)
    assert ours.conv1.in_channels == 1 and ours.conv1.stride == (1, 1)
    assert isinstance(ours.maxpool, torch.nn.Identity)
    for part in ("layer1", "layer2", "layer3", "layer4", "fc"):
        assert str(getattr(ours, part)) == str(getattr(theirs, part))


def test_stem_stride_steps():
    assert [models.stem_stride(s) for s in (8, 32, 33, 64, 65, 224)] == [1, 1, 2, 2, 4, 4]


def test_resnet9_is_davidnet_sized():
    model = models.build("resnet9", num_classes=10, in_channels=3, image_size=32)
    assert 6.4e6 < sum(p.numel() for p in model.parameters()) < 6.7e6


def test_embankment_cnn_has_no_softmax_before_the_loss():
    model = models.build("embankment_cnn", num_classes=5, in_channels=1, image_size=32)
    assert not any(isinstance(m, (torch.nn.Softmax, torch.nn.LogSoftmax)) for m in model.modules())


@pytest.mark.parametrize("profile", ["standard", "paper"])
def test_a_resolution_sweep_is_one_network_whose_cost_follows_the_pixels(profile):
    """Built from the registry as the bench builds it (the stem of the sweep's
    largest size), every size has the same parameters and more pixels cost more."""
    from visionbench import profiles
    from visionbench.measure import meters

    budget = profiles.get(profile).resolution
    largest = max(budget.sizes)
    params, flops = set(), []
    for size in budget.sizes:
        model = models.build(
            budget.model, num_classes=5, in_channels=3, image_size=size, stem_size=largest
        )
        params.add(meters.count_params(model))
        flops.append(meters.count_flops(model, torch.randn(1, 3, size, size)))
    assert len(params) == 1, params
    assert all(a < b for a, b in itertools.pairwise(flops)), flops


def test_the_stem_follows_stem_size_not_the_input():
    fixed = models.build("resnet18", num_classes=5, in_channels=3, image_size=32, stem_size=224)
    own = models.build("resnet18", num_classes=5, in_channels=3, image_size=32)
    assert fixed.conv1.stride == (2, 2) and not isinstance(fixed.maxpool, torch.nn.Identity)
    assert own.conv1.stride == (1, 1) and isinstance(own.maxpool, torch.nn.Identity)


def test_a_stem_size_that_builds_the_same_stem_is_dropped():
    assert models.stem_for("resnet18", 16, 128) == 128  # 4x stem instead of 1x
    assert models.stem_for("resnet18", 96, 128) is None  # the stem 96 px gets anyway
    assert models.stem_for("small_cnn", 16, 28) is None  # no stem to adapt
    assert models.stem_for("resnet18", 16, None) is None
