"""Grad-CAM heatmaps: where a trained model looks (the article's explainability
section, the poster's future work), with captum's `LayerGradCam`.

For a fixed, seeded set of test images, the class score of each image's
predicted class is differentiated with respect to the activations of the
model's last spatial feature layer (`feature_layer`); the channel-averaged gradients weight those
activations, negative evidence is cut (ReLU), and the map is upsampled to the
input's size (captum's `LayerAttribution.interpolate`, bilinear). Maps are
recorded per benchmark (0..255, scaled per image) with the images, so that the
report draws the grid from the saved run alone (`visionbench.report.plots.plot_grid`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn
from captum.attr import LayerAttribution, LayerGradCam


def feature_layer(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The layer Grad-CAM explains: the last one (in forward order) that still outputs a
    spatial feature map (N x C x H x W, H or W > 1) and runs once per forward, e.g. a
    ResNet's last stage or a CNN's feature block; after the activation, not the raw
    convolution, whose negative pre-activations would cancel the evidence."""
    calls: list[nn.Module] = []
    shapes: dict[nn.Module, tuple[int, ...]] = {}

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        calls.append(module)
        if isinstance(output, torch.Tensor):
            shapes[module] = tuple(output.shape)

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
    for module in reversed(calls):
        shape = shapes.get(module, ())
        spatial = len(shape) == 4 and max(shape[2:]) > 1
        if (
            spatial
            and calls.count(module) == 1
            and not isinstance(module, nn.modules.pooling._AdaptiveAvgPoolNd)
        ):
            return module
    raise ValueError(f"{type(model).__name__} has no spatial feature layer for Grad-CAM")


def _without_inplace(model: nn.Module) -> nn.Module:
    """A copy whose activations do not overwrite their inputs: Grad-CAM hooks read the
    convolution's output, which an in-place ReLU right after it would overwrite."""
    model = copy.deepcopy(model).eval()
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return model


def fixed_indices(count: int, total: int, seed: int = 0) -> torch.Tensor:
    """The same `count` test images on every run: a seeded draw without replacement."""
    if not 0 < count <= total:
        raise ValueError(f"cannot pick {count} of {total} test images for Grad-CAM")
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=gen)[:count].sort().values


def gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int) -> torch.Tensor:
    """Grad-CAM maps (N x H x W, >= 0, the input's spatial size) of the class `target`
    (per image or one for all) for normalised inputs x (N x C x H x W)."""
    model = _without_inplace(model)
    x = x.detach().float().contiguous()
    layer = feature_layer(model, x)
    with torch.enable_grad():
        maps = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
        maps = LayerAttribution.interpolate(maps, tuple(x.shape[2:]), interpolate_mode="bilinear")
    return maps.detach().sum(dim=1).clamp_min(0)


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x.float().contiguous()).argmax(dim=1)


def to_levels(maps: torch.Tensor) -> list[list[list[int]]]:
    """Each map scaled to 0..255 by its own maximum (all zero stays zero), as nested lists."""
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    levels = (maps / peak * 255).round().clamp(0, 255).to(torch.uint8)
    return levels.tolist()


def figures(
    model: nn.Module, images: torch.Tensor, x: torch.Tensor, labels: torch.Tensor
) -> dict[str, Any]:
    """The `gradcam` figure: uint8 images (first channel, or their grey mean), maps of the
    predicted class, labels and predictions."""
    predicted = predict(model, x)
    maps = gradcam(model, x, predicted)
    grey = (
        images.float().mean(dim=1).round().to(torch.uint8) if images.shape[1] > 1 else images[:, 0]
    )
    return {
        "images": grey.tolist(),
        "maps": to_levels(maps),
        "labels": [int(v) for v in labels],
        "predicted": [int(v) for v in predicted],
    }
