"""One trial of `visionbench tune`: a recipe trained from one seed until its test accuracy
first reaches the target (the project's rule: `train.first_reached`, after an epoch,
training time without evaluation), through the one training loop (`train.fitting`) and
the recipe ladder's data (`techniques.recipe.RecipeData`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from visionbench.techniques.recipe import Recipe, RecipeData, build
from visionbench.training.train import Trainer, fitting, planned_steps


class _Cut:
    """The epochs, cut once the wall time since the first batch passes bound_s
    (evaluation included, so the cut comes no later than the bound): a pruned trial
    stops within a batch of its bound, not at the end of a slow epoch. Every epoch after
    the cut is empty, and `cut` says it happened."""

    def __init__(self, epochs: Callable[[int], Iterable[Any]], bound_s: float) -> None:
        self.epochs, self.bound_s = epochs, bound_s
        self.start: float | None = None
        self.cut = False

    def __call__(self, epoch: int) -> Iterator[Any]:
        if self.start is None:
            self.start = time.perf_counter()
        for batch in self.epochs(epoch):
            if time.perf_counter() - self.start > self.bound_s:
                self.cut = True
                return
            yield batch


@dataclass(frozen=True)
class Outcome:
    time_s: float | None  # training seconds to the target; None: not reached
    accuracy: float  # test accuracy after the last epoch trained
    epochs: int  # epochs trained
    train_time_s: float  # training seconds spent
    pruned: bool = False  # stopped past the bound before reaching the target
    diverged: bool = False
    outcomes: np.ndarray | None = None  # right or not on each test image where it stopped,
    #   in stored order (`accuracy` is their mean): what pairs two final accuracies


def to_target(
    recipe: Recipe,
    data: RecipeData,
    device: torch.device,
    seed: int,
    target: float,
    bound_s: float | None = None,
) -> Outcome:
    """Train `recipe` from `seed` until the target, the end of its epochs, a NaN loss, or
    (with `bound_s`) the batch that would start past bound_s seconds of wall time (`pruned`)."""
    # The ladder's own stops (its cap in seconds, its stop at the profile's target) are
    # cleared: a trial ends at this target, the recipe's epochs, or bound_s.
    cfg = recipe.train.with_(seed=seed, time_budget_s=None, stop_at_accuracy=None)
    trainer = Trainer(build(recipe, data, seed), cfg, device, planned_steps(cfg, len(data.train)))
    epochs, held = data.train_epochs(recipe, cfg, device)
    result = None
    try:
        feed = _Cut(epochs, math.inf if bound_s is None else bound_s)
        for result in fitting(trainer, feed, data.evaluation(device, cfg=cfg)):
            if result.diverged:
                break
            if result.accuracy >= target:
                return Outcome(
                    result.train_time_s, result.accuracy, result.epochs_run, result.train_time_s,
                    outcomes=_numpy(result.outcomes),
                )  # fmt: skip
            if feed.cut:
                return Outcome(
                    None, result.accuracy, result.epochs_run, result.train_time_s, pruned=True,
                    outcomes=_numpy(result.outcomes),
                )  # fmt: skip
    finally:
        getattr(held, "close", lambda: None)()
    assert result is not None
    return Outcome(
        None, result.accuracy, result.epochs_run, result.train_time_s, diverged=result.diverged,
        outcomes=_numpy(result.outcomes),
    )  # fmt: skip


def _numpy(hits: torch.Tensor | None) -> np.ndarray | None:
    return None if hits is None else hits.numpy().astype(bool)
