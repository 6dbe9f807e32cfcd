"""A network of your own, measured like the registry's: the worked example of `--vb-model`.

    nox -s bench -- -k "model_size or precision" --vb-model tiny=examples.tiny_net:build

registers `build` as the model `tiny` for that run: it joins the model-size
sweep beside the registry's models, and `--vb-model-for precision=tiny`
(or `all=tiny`) makes it the model that a technique trains.

The factory contract: visionbench calls the factory by keyword with
`num_classes` (the dataset's classes), `in_channels` (1 grey, 3 RGB) and
`image_size` (the input side in pixels), passing only those the factory
names, and expects a module mapping (batch, in_channels, image_size,
image_size) images to (batch, num_classes) logits, without a softmax (the
loss applies it). This network ends in a global pool, so it needs no
`image_size` and its `build` leaves it out.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TinyNet(nn.Module):
    """Three 3x3 conv + batch-norm blocks (width, 2x, 4x channels), two 2x max pools,
    a global average pool and one linear layer: about 25 k parameters at width 16."""

    def __init__(self, num_classes: int, in_channels: int, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv_bn(in_channels, width),
            nn.MaxPool2d(2),
            _conv_bn(width, 2 * width),
            nn.MaxPool2d(2),
            _conv_bn(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(num_classes: int, in_channels: int) -> nn.Module:
    """The factory `--vb-model tiny=examples.tiny_net:build` names."""
    return TinyNet(num_classes, in_channels)
