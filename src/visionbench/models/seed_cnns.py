"""The networks of the seed experiments, as they described them."""

from __future__ import annotations

import torch
import torch.nn as nn


def _pooled(size: int, times: int) -> int:
    for _ in range(times):
        size //= 2
    return size


class SmallCNN(nn.Module):
    """Seed poster: 2 conv + 2 linear. Cheapest in time and memory, least accurate."""

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, stem_size: int | None = None
    ) -> None:  # no stem to adapt: stem_size is ignored
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = _pooled(image_size, 2)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class EmbankmentCNN(nn.Module):
    """Seed talk (railway-embankment gradations): 3 conv (6, 16, 32 channels, ReLU,
    max pool) + fully connected 128, 64, 32, then the class layer.

    No softmax at the end: CrossEntropyLoss applies log-softmax itself, and the
    talk records that an extra softmax layer stopped the network learning.
    """

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, stem_size: int | None = None
    ) -> None:  # no stem to adapt: stem_size is ignored
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in ((in_channels, 6), (6, 16), (16, 32)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = _pooled(image_size, 3)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * side * side, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, 32),
            nn.ReLU(inplace=True),
            nn.Linear(32, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    """ResNet-9 "DavidNet" (David Page, Myrtle.ai): prep 64, then 128 (+residual),
    256, 512 (+residual), each with a 2x max pool, global max pool, a linear layer
    scaled by 0.125. About 6.5 M parameters; 94% on CIFAR-10 in minutes on a GPU.
    """

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, stem_size: int | None = None
    ) -> None:  # no stem to adapt: stem_size is ignored
        super().__init__()
        self.net = nn.Sequential(
            _conv_bn(in_channels, 64),
            _conv_bn(64, 128),
            nn.MaxPool2d(2),
            _Residual(128),
            _conv_bn(128, 256),
            nn.MaxPool2d(2),
            _conv_bn(256, 512),
            nn.MaxPool2d(2),
            _Residual(512),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(512, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x)) * 0.125
