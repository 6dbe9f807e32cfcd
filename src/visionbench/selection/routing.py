"""What runs at inference: one model, the premodel's pick, the cascade, the oracle.

Each policy maps a batch of uint8 images (N x C x H x W, on the models' device)
to class predictions and says which models ran on which images. A model is
called at most once per batch, and only on the images sent to it: routing
saves exactly the work of the models it does not pick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from visionbench.selection import features as feats
from visionbench.selection.premodel import Premodel, PremodelError


@dataclass(frozen=True)
class Candidate:
    """A trained model as the router sees it: uint8 images in, logits out."""

    name: str
    logits: Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Routed:
    """A batch's predictions and, per model (cheapest first), how many images it ran on."""

    predictions: torch.Tensor  # int64 N, on the images' device
    ran_on: list[int]


def run_chosen(
    candidates: Sequence[Candidate], choice: torch.Tensor, images: torch.Tensor
) -> Routed:
    """Image i goes to candidates[choice[i]]; each picked model runs once, on its images."""
    predictions = torch.empty(len(images), dtype=torch.long, device=images.device)
    ran_on = [0] * len(candidates)
    choice = choice.to(images.device)
    for j, candidate in enumerate(candidates):
        index = (choice == j).nonzero().squeeze(1)
        if index.numel() == 0:
            continue
        predictions[index] = candidate.logits(images[index]).argmax(1)
        ran_on[j] = index.numel()
    return Routed(predictions, ran_on)


class Single:
    """Every image to one model (the baseline each single-model variant times)."""

    def __init__(self, candidates: Sequence[Candidate], index: int) -> None:
        self.candidates = list(candidates)
        self.index = index

    def __call__(self, images: torch.Tensor) -> Routed:
        ran_on = [0] * len(self.candidates)
        ran_on[self.index] = len(images)
        return Routed(self.candidates[self.index].logits(images).argmax(1), ran_on)


class PremodelRouter:
    """Features, then the premodel's pick, then only the picked model per image."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        premodel: Premodel,
        classes: Sequence[str],
        channels: int,
    ) -> None:
        self.candidates = list(candidates)
        self.premodel = premodel
        premodel.check([c.name for c in self.candidates], feats.feature_names(channels), classes)

    def __call__(self, images: torch.Tensor) -> Routed:
        x = feats.extract(images).cpu().numpy()
        choice = torch.from_numpy(self.premodel.predict(x))
        return run_chosen(self.candidates, choice, images)


class Cascade:
    """The cheapest model on every image; each unsure image goes on to the next."""

    def __init__(self, candidates: Sequence[Candidate], thresholds: Sequence[float]) -> None:
        if len(thresholds) != len(candidates) - 1:
            raise ValueError(
                f"{len(candidates)} models need {len(candidates) - 1} thresholds, "
                f"got {list(thresholds)}"
            )
        self.candidates = list(candidates)
        self.thresholds = tuple(thresholds)

    def __call__(self, images: torch.Tensor) -> Routed:
        predictions = torch.empty(len(images), dtype=torch.long, device=images.device)
        ran_on = [0] * len(self.candidates)
        index = torch.arange(len(images), device=images.device)
        for j, candidate in enumerate(self.candidates):
            probs = candidate.logits(images[index]).softmax(1)
            confidence, predicted = probs.max(1)
            predictions[index] = predicted
            ran_on[j] = index.numel()
            if j == len(self.thresholds):
                break
            index = index[confidence < self.thresholds[j]]
            if index.numel() == 0:
                break
        return Routed(predictions, ran_on)


class Oracle:
    """The bound: each image to the cheapest model that gets it right, as if a
    perfect premodel were free. `choice` must be known for these very images."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        self.candidates = list(candidates)

    def __call__(self, images: torch.Tensor, choice: np.ndarray | torch.Tensor) -> Routed:
        choice = torch.as_tensor(choice)
        if len(choice) != len(images):
            raise PremodelError(f"the oracle has {len(choice)} choices for {len(images)} images")
        return run_chosen(self.candidates, choice, images)
