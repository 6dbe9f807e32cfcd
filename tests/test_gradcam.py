"""Grad-CAM (captum LayerGradCam): maps have the input's spatial shape, follow the
target class, come from a fixed image set, and fit the schema and the report grid."""

import pytest
import torch

from visionbench import models
from visionbench.data import load_digits
from visionbench.measure import metrics
from visionbench.report.plots import plot_grid
from visionbench.techniques import gradcam

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model_and_images():
    torch.manual_seed(0)
    digits = load_digits()
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    x = (digits.images[:64].float() - 80) / 100
    y = digits.labels[:64]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):  # a little training: class evidence in different places
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval(), digits.images[:6], x[:6], y[:6]


@pytest.mark.parametrize("name", ["small_cnn", "resnet9", "resnet18", "mobilenet_v3_small"])
def test_maps_have_the_inputs_spatial_shape(name):
    torch.manual_seed(0)
    model = models.build(name, num_classes=10, in_channels=1, image_size=16).eval()
    x = torch.randn(3, 1, 16, 16)
    maps = gradcam.gradcam(model, x, 2)
    assert maps.shape == (3, 16, 16)
    assert bool((maps >= 0).all())


def test_maps_change_with_the_target_class(model_and_images):
    model, _, x, _ = model_and_images
    a = gradcam.gradcam(model, x, 0)
    b = gradcam.gradcam(model, x, 7)
    assert not torch.allclose(a, b)


def test_the_model_is_left_as_it_was(model_and_images):
    model, _, x, _ = model_and_images
    before = model(x)
    gradcam.gradcam(model, x, 1)
    assert all(getattr(m, "inplace", True) for m in model.modules() if hasattr(m, "inplace"))
    assert torch.equal(before, model(x))


def test_the_image_set_is_fixed_by_its_seed():
    assert torch.equal(gradcam.fixed_indices(8, 1000, 0), gradcam.fixed_indices(8, 1000, 0))
    assert not torch.equal(gradcam.fixed_indices(8, 1000, 0), gradcam.fixed_indices(8, 1000, 1))
    with pytest.raises(ValueError, match="cannot pick 9 of 5"):
        gradcam.fixed_indices(9, 5)


def test_the_explained_layer_is_the_last_spatial_one_after_its_activation():
    torch.manual_seed(0)
    small = models.build("small_cnn", num_classes=10, in_channels=1, image_size=16)
    assert gradcam.feature_layer(small, torch.randn(1, 1, 16, 16)) is small.features
    resnet = models.build("resnet18", num_classes=10, in_channels=1, image_size=16)
    assert gradcam.feature_layer(resnet, torch.randn(1, 1, 16, 16)) is resnet.layer4
    with pytest.raises(ValueError, match="Linear has no spatial feature layer"):
        gradcam.feature_layer(torch.nn.Linear(3, 2), torch.randn(1, 3))


def test_figures_fit_the_schema_and_draw_a_grid(model_and_images, tmp_path):
    model, images, x, y = model_and_images
    cam = gradcam.figures(model, images, x, y)
    metrics.validate({"gradcam": cam})
    assert len(cam["maps"]) == 6 and len(cam["maps"][0]) == 8 and len(cam["maps"][0][0]) == 8
    assert max(max(row) for row in cam["maps"][0]) in (0, 255)  # scaled per image
    with pytest.raises(metrics.SchemaError, match="gradcam"):
        metrics.validate({"gradcam": {"images": cam["images"], "maps": cam["maps"][:2]}})

    class Saved:
        variant = "small_cnn"

        def __init__(self):
            self.extra_info = {"gradcam": cam, "accuracy": 0.9}

    png = plot_grid([Saved(), Saved()], tmp_path / "grid.png", "test")
    assert png.stat().st_size > 5000
