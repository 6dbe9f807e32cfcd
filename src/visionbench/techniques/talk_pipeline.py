"""The seed talk's pipeline (`bench_talk_pipeline.py`, "doing deep learning: hype and
reality"): its 3-conv, 3-FC network fed grey images, trained with its SGD at a constant
LR and brightness/contrast jitter per epoch, at the talk's input sizes.
"""

from __future__ import annotations

import torch

from visionbench.data.imageset import ImageSet, SplitData
from visionbench.measure import techniques
from visionbench.profiles import Profile
from visionbench.training.train import TrainConfig
from visionbench.training.workloads import Workload

TALK = techniques.TALK.name


def grey(data: SplitData) -> SplitData:
    """Both splits as one grey channel (ITU-R 601 luma, PIL's "L"), as the talk fed its
    network; grey sets are returned as they are."""
    if data.channels == 1:
        return data

    def luma(split: ImageSet) -> ImageSet:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        y = (split.images.float() * weights).sum(dim=1, keepdim=True).round().clamp(0, 255)
        return ImageSet(split.name, y.to(torch.uint8), split.labels, split.classes)

    return SplitData(data.name, luma(data.train), luma(data.test))


def talk_workload(profile: Profile, size: int) -> Workload:
    """The talk's network and optimiser at one of its input sizes: SGD with momentum at a
    constant LR, brightness/contrast jitter per epoch, the profile's batch size."""
    budget = profile.talk
    cfg = TrainConfig(
        optimizer="sgd",
        lr=budget.lr,
        momentum=budget.momentum,
        batch_size=profile.train.batch_size,
        epochs=budget.epochs,
        schedule="constant",
        jitter=budget.jitter,
    )
    return Workload(budget.model, size, cfg)
