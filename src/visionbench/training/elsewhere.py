"""A model bench's paired units as picklable recipes, built again in a worker process.

`measure.workers` times a variant and its reference in processes of their own for
the between-process part of a ratio's interval; these recipes carry what such a
process needs to build the same units as the bench's: a fresh model (weights do not
change a step's or a pass's time, as the timing-only processes rely on too), the
workload's training settings and the batch, all on the CPU; the worker moves them to
the device. A compiled workload has none (a worker would compile from scratch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from visionbench.measure.meters import synced
from visionbench.training.train import TrainConfig, Trainer


@dataclass(frozen=True, eq=False)
class Unit:
    """One unit: a training step (`y` given) or an inference batch (`y` None)."""

    model: nn.Module  # on the CPU
    train: TrainConfig
    x: torch.Tensor  # on the CPU
    y: torch.Tensor | None = None

    def build(self, device: torch.device) -> Callable[[], Any]:
        if self.y is None:
            predictor = Trainer(self.model.eval(), self.train, device)
            x = predictor.prepare(self.x)
            unit = synced(lambda: predictor.predict(x), device)
        else:
            trainer = Trainer(self.model, self.train, device, total_steps=10**9)
            x, y = trainer.prepare(self.x), self.y.to(device)
            unit = synced(lambda: trainer.step(x, y), device)
        unit()  # gradients and optimiser state allocated, as the bench's are
        return unit


@dataclass(frozen=True, eq=False)
class Units:
    """The variant's and its reference's units on `device` (a `measure.workers.Units`)."""

    device: str
    variant: Unit
    reference: Unit

    def __call__(self) -> tuple[Callable[[], Any], Callable[[], Any]]:
        device = torch.device(self.device)
        return self.variant.build(device), self.reference.build(device)
