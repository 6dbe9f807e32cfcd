"""The model registry: one short factory per model, its name is the key.

`build("resnet18", num_classes=10, in_channels=1, image_size=28)` means the same
model everywhere: in benches, in the CLI, in tests. torchvision's models are
used as they are; only the input stem is adapted to the data (grey input, and
less downsampling for small images, see `stem_stride`). `stem_size` fixes the
input side the stem is built for: a resolution sweep passes its largest size, so
every size of the sweep is one architecture.

The user's own models join the registry for a session (`--vb-model
NAME=MODULE:FACTORY`, see `visionbench.models.user` for the factory contract):
`register_user` adds one under its name, with the import path it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from visionbench.models import seed_cnns, tv
from visionbench.models.user import ModelError, UserModel, shapes_hash

Factory = Callable[..., nn.Module]  # (num_classes, in_channels, image_size, stem_size) -> module


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Factory  # (num_classes, in_channels, image_size, stem_size) -> module
    min_size: int  # smallest input side the network accepts
    description: str
    adapts_stem: bool = False  # its stem depends on the input size (`stem_stride`)
    source: str | None = None  # a user model's MODULE:FACTORY; None for the registry's own


REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str, factory: Factory, min_size: int, description: str, adapts_stem: bool = False
) -> None:
    if name in REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    REGISTRY[name] = ModelSpec(name, factory, min_size, description, adapts_stem)


def stem_for(name: str, image_size: int, stem_size: int | None) -> int | None:
    """`stem_size` where it builds another stem than `image_size` would, else None:
    the same network is then described (and cached) the same way."""
    if stem_size is None or not spec(name).adapts_stem:
        return None
    return stem_size if tv.stem_stride(stem_size) != tv.stem_stride(image_size) else None


def register_user(model: UserModel) -> None:
    """Add a user's model for the session; ModelError if the name is taken."""
    if model.name in REGISTRY:
        taken = REGISTRY[model.name]
        what = f"--vb-model {taken.source}" if taken.source else "a registered model"
        raise ModelError(f"the name {model.name!r} is taken by {what}; choose another NAME")
    REGISTRY[model.name] = ModelSpec(
        model.name, model, 1, f"your model, {model.source}", source=model.source
    )


def unregister(name: str) -> None:
    """Remove a user's model (at the end of a session); the registry's own stay."""
    if name in REGISTRY and REGISTRY[name].source is not None:
        del REGISTRY[name]


def identity(name: str, model: nn.Module) -> dict[str, Any]:
    """What tells this network from another under the same name, recorded with each
    figure: the hash of its parameter shapes and, for a user model, its import path."""
    found = {"model_shapes": shapes_hash(model)}
    source = REGISTRY[name].source if name in REGISTRY else None
    if source is not None:
        found["model_source"] = source
    return found


def names() -> list[str]:
    return list(REGISTRY)


def spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(REGISTRY)}") from None


def build(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    stem_size: int | None = None,
) -> nn.Module:
    """A freshly initialised model (seed torch first for a reproducible init).

    `stem_size`: the input side its stem is chosen for (default: `image_size`);
    models without an adaptable stem ignore it."""
    s = spec(name)
    if image_size < s.min_size:
        raise ValueError(
            f"model {name!r} needs images of at least {s.min_size}px, got {image_size}"
        )
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    return s.factory(num_classes, in_channels, image_size, stem_size)


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
    register(
        _name,
        tv.resnet_factory(_name),
        8,
        f"torchvision {_name}, stem adapted to the input",
        adapts_stem=True,
    )
register(
    "mobilenet_v3_small",
    tv.mobilenet_v3_small,
    8,
    "torchvision MobileNetV3-small, stem adapted to the input",
    adapts_stem=True,
)

register(
    "googlenet",
    tv.googlenet,
    8,
    "torchvision GoogLeNet (Inception v1), no auxiliary heads, stem adapted to the input",
    adapts_stem=True,
)

stem_stride = tv.stem_stride

__all__ = [
    "REGISTRY",
    "ModelError",
    "ModelSpec",
    "build",
    "identity",
    "names",
    "register",
    "register_user",
    "spec",
    "stem_for",
    "stem_stride",
    "unregister",
]
