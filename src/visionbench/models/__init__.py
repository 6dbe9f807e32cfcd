"""The model registry: one short factory per model, its name is the key.

`build("resnet18", num_classes=10, in_channels=1, image_size=28)` means the same
model everywhere: in benches, in the CLI, in tests. torchvision's models are
used as they are; only the input stem is adapted to the data (grey input, and
less downsampling for small images, see `stem_stride`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from visionbench.models import seed_cnns, tv

Factory = Callable[[int, int, int], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Factory  # (num_classes, in_channels, image_size) -> module
    min_size: int  # smallest input side the network accepts
    description: str


REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, factory: Factory, min_size: int, description: str) -> None:
    if name in REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    REGISTRY[name] = ModelSpec(name, factory, min_size, description)


def names() -> list[str]:
    return list(REGISTRY)


def spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(REGISTRY)}") from None


def build(name: str, *, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """A freshly initialised model (seed torch first for a reproducible init)."""
    s = spec(name)
    if image_size < s.min_size:
        raise ValueError(
            f"model {name!r} needs images of at least {s.min_size}px, got {image_size}"
        )
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    return s.factory(num_classes, in_channels, image_size)


register(
    "small_cnn",
    seed_cnns.SmallCNN,
    4,
    "the seed poster's small CNN: 2 conv + 2 linear layers; the cheapest baseline",
)
register(
    "embankment_cnn",
    seed_cnns.EmbankmentCNN,
    8,
    "the seed talk's texture classifier: 3 conv (6, 16, 32) + FC 128, 64, 32",
)
register(
    "resnet9",
    seed_cnns.ResNet9,
    8,
    "ResNet-9 'DavidNet' (Myrtle.ai, 6.5 M parameters), the 1000-second CIFAR trainer",
)
for _name in ("resnet18", "resnet34", "resnet50"):
    register(_name, tv.resnet_factory(_name), 8, f"torchvision {_name}, stem adapted to the input")
register(
    "mobilenet_v3_small",
    tv.mobilenet_v3_small,
    8,
    "torchvision MobileNetV3-small, stem adapted to the input",
)

register(
    "googlenet",
    tv.googlenet,
    8,
    "torchvision GoogLeNet (Inception v1), no auxiliary heads, stem adapted to the input",
)

stem_stride = tv.stem_stride

__all__ = ["REGISTRY", "ModelSpec", "build", "names", "register", "spec", "stem_stride"]
