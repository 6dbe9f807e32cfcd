"""torchvision's own models with only the input stem adapted.

torchvision's ResNets and MobileNetV3 downsample the input 4x in their stem
(ResNet: 7x7 stride-2 conv + max pool; MobileNetV3: a stride-2 conv then a
stride-2 block), which leaves nothing of a 28x28 digit. As is usual for
CIFAR-sized data, the stem downsamples less for small images; the rest of the
network is torchvision's, unchanged.

The stem is chosen from `stem_size`, the input side it is built for, which is
the input size unless a caller fixes it: a resolution sweep builds every size
with the stem of its largest, so that the sweep compares one network at many
input sizes (its cost then follows the pixels), not a different network per size.

torchvision is imported when one of its models is built, not before: an environment
where it does not import (a torch release without its matching torchvision, as
`visionbench ab --baseline-python` may put on one side) still builds the seed CNNs,
and a torchvision model there raises `core.optional.Unavailable` (the bench is skipped).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from visionbench.core.optional import torchvision


def stem_stride(image_size: int) -> int:
    """Total stem downsampling: 1 up to 32 px, 2 up to 64 px, torchvision's 4 above."""
    if image_size <= 32:
        return 1
    if image_size <= 64:
        return 2
    return 4


def resnet_factory(name: str) -> Callable[..., nn.Module]:
    def build(
        num_classes: int, in_channels: int, image_size: int, stem_size: int | None = None
    ) -> nn.Module:
        model = getattr(torchvision("torchvision.models"), name)(
            weights=None, num_classes=num_classes
        )
        s = stem_stride(stem_size or image_size)
        if s < 4:  # 3x3 stride-1 conv; keep the max pool only for a 2x stem
            model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            if s == 1:
                model.maxpool = nn.Identity()
        elif in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        return model

    build.__name__ = name
    return build


def mobilenet_v3_small(
    num_classes: int, in_channels: int, image_size: int, stem_size: int | None = None
) -> nn.Module:
    model = torchvision("torchvision.models").mobilenet_v3_small(
        weights=None, num_classes=num_classes
    )
    s = stem_stride(stem_size or image_size)
    first = model.features[0][0]
    if s < 4 or in_channels != 3:
        # stem conv stride 2 -> 1 (2x less downsampling); for s == 1 also the
        # first block's depthwise conv
        model.features[0][0] = nn.Conv2d(
            in_channels, first.out_channels, 3, stride=1 if s < 4 else 2, padding=1, bias=False
        )
        if s == 1:
            model.features[1].block[0][0].stride = (1, 1)
    return model


def googlenet(
    num_classes: int, in_channels: int, image_size: int, stem_size: int | None = None
) -> nn.Module:
    """torchvision's GoogLeNet (Inception v1), without its auxiliary classifiers (a
    training aid whose extra outputs the one training loop does not take)."""
    model = torchvision("torchvision.models").googlenet(
        weights=None, num_classes=num_classes, aux_logits=False, init_weights=True
    )
    s = stem_stride(stem_size or image_size)
    if s < 4:  # the 7x7 stride-2 conv becomes 3x3 stride 1; its max pool stays only for 2x
        model.conv1.conv = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        if s == 1:
            model.maxpool1 = nn.Identity()
    elif in_channels != 3:
        model.conv1.conv = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    return model
