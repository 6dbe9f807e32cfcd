"""One trial of `visionbench tune`: a recipe trained from one seed until its test accuracy
first reaches the target (the project's rule: `train.first_reached`, after an epoch,
training time without evaluation), through the one training loop (`train.fitting`) and
the recipe ladder's data (`techniques.recipe.RecipeData`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from visionbench.techniques.recipe import Recipe, RecipeData, build
from visionbench.training.train import Trainer, fitting, planned_steps


def _cut(epochs: Callable[[int], Iterable[Any]], bound_s: float) -> Callable[[int], Iterator[Any]]:
    """The epochs, each ending early once the batches it has delivered since the first
    epoch began span more than bound_s of wall time (evaluation included, so the cut
    comes no later than the bound): a pruned trial stops within a batch of its bound,
    not at the end of a slow epoch."""
    start: list[float] = []

    def cut(epoch: int) -> Iterator[Any]:
        if not start:
            start.append(time.perf_counter())
        for batch in epochs(epoch):
            yield batch
            if time.perf_counter() - start[0] > bound_s:
                return

    return cut


@dataclass(frozen=True)
class Outcome:
    time_s: float | None  # training seconds to the target; None: not reached
    accuracy: float  # test accuracy after the last epoch trained
    epochs: int  # epochs trained
    train_time_s: float  # training seconds spent
    pruned: bool = False  # stopped past the bound before reaching the target
    diverged: bool = False


def to_target(
    recipe: Recipe,
    data: RecipeData,
    device: torch.device,
    seed: int,
    target: float,
    bound_s: float | None = None,
) -> Outcome:
    """Train `recipe` from `seed` until the target, the end of its epochs, a NaN loss, or
    (with `bound_s`) the first epoch that ends past bound_s seconds of training."""
    cfg = recipe.train.with_(seed=seed)
    trainer = Trainer(build(recipe, data, seed), cfg, device, planned_steps(cfg, len(data.train)))
    epochs, held = data.train_epochs(recipe, cfg, device)
    result = None
    try:
        feed = epochs if bound_s is None else _cut(epochs, bound_s)
        for result in fitting(trainer, feed, data.evaluation(device, cfg=cfg)):
            if result.diverged:
                break
            if result.accuracy >= target:
                return Outcome(
                    result.train_time_s, result.accuracy, result.epochs_run, result.train_time_s
                )
            if bound_s is not None and result.train_time_s > bound_s:
                return Outcome(
                    None, result.accuracy, result.epochs_run, result.train_time_s, pruned=True
                )
    finally:
        getattr(held, "close", lambda: None)()
    assert result is not None
    return Outcome(
        None, result.accuracy, result.epochs_run, result.train_time_s, diverged=result.diverged
    )
