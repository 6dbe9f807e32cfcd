"""The adaptive-selection experiment on one dataset and device, set up once.

1. The candidate CNNs are the session's trainings of the profile's recipe on the
   whole training split: the very models the model-size bench trains and
   reports (trained once, shared, the same accuracy in both tables).
2. The test split, which no candidate has seen, is split in two (stratified,
   seeded), as Taylor et al. split their held-out images: the validation part,
   where each candidate's answers and confidence and the image features are
   taken and the premodel (chosen by cross-validation) and the cascade's
   thresholds are fitted; a premodel trained on images the CNNs had memorised
   would learn that the cheapest model is always right.
3. The evaluation part, never looked at for a choice: every policy's accuracy
   over all of it, and the oracle's choices (the cheapest model that is right
   on each image).

The costs that the choices weigh are each model's measured latency per image
on the timed batch (min of a few runs): what a model costs on this hardware,
which FLOPs do not tell (MobileNet's depthwise convolutions are cheap in FLOPs
and slow on a CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from visionbench.data import ImageSet, SplitData, split
from visionbench.measure import metrics
from visionbench.measure.figures import eval_set_of, pack_outcomes
from visionbench.measure.meters import count_flops, time_once
from visionbench.measure.runner import Variant
from visionbench.profiles import Profile
from visionbench.selection import (
    CASCADE,
    FEATURES_ONLY,
    KNN_CHAIN,
    ORACLE,
    PREMODEL,
    PREMODEL_ONLY,
    ROUTED,
    TECHNIQUE,
)
from visionbench.selection import features as feats
from visionbench.selection.cascade import Thresholds, choose_thresholds
from visionbench.selection.knn_chain import KnnChain
from visionbench.selection.premodel import Premodel, cheapest_correct
from visionbench.selection.routing import (
    Candidate,
    Cascade,
    Oracle,
    PremodelRouter,
    Routed,
    Single,
)
from visionbench.training.model_bench import ModelBench
from visionbench.training.train import Trainer
from visionbench.training.workloads import batches


def left_out(profile: Profile, data_name: str, chosen_data: bool) -> str | None:
    """Why the profile leaves selection on this dataset out (a skip reason), or None:
    run where the profile runs it, or wherever --vb-data chose the data (`chosen_data`)."""
    datasets = profile.selection.datasets
    if chosen_data or datasets is None or data_name in datasets:
        return None
    return (
        f"adaptive selection on {data_name} is left out of the {profile.name} profile "
        f"({', '.join(datasets)} only); --vb-data {data_name} or --vb-profile standard "
        "measures it"
    )


def variants(models: tuple[str, ...]) -> tuple[str, ...]:
    """Every single model (cheapest first), then the routed policies."""
    return (*models, *ROUTED)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@dataclass
class Selection:
    """Everything the variants of one dataset and device need, built once."""

    names: tuple[str, ...]  # candidate models, cheapest first
    classes: tuple[str, ...]  # the data's classes
    candidates: list[Candidate]
    costs: list[float]  # measured seconds per image on the timed batch
    flops: list[int]  # forward FLOPs per image
    premodel: Premodel
    thresholds: Thresholds
    images: torch.Tensor  # the evaluation part of the test split, uint8 on the device
    labels: torch.Tensor
    oracle_choice: np.ndarray  # per test image
    batch_size: int  # images in the timed batch (the first of the evaluation part)
    policies: dict[str, Callable[[slice], Routed]] = field(default_factory=dict)
    knn_chain: KnnChain | None = None  # Taylor et al.'s premodel, beside the multiclass one

    def __post_init__(self) -> None:
        for j, name in enumerate(self.names):
            single = Single(self.candidates, j)
            self.policies[name] = lambda s, f=single: f(self.images[s])
        router = PremodelRouter(self.candidates, self.premodel, self.classes, self.images.shape[1])
        self.policies[PREMODEL] = lambda s: router(self.images[s])
        if self.knn_chain is not None:
            chain = PremodelRouter(
                self.candidates, self.knn_chain, self.classes, self.images.shape[1]
            )
            self.policies[KNN_CHAIN] = lambda s: chain(self.images[s])
        cascade = Cascade(self.candidates, self.thresholds.values)
        self.policies[CASCADE] = lambda s: cascade(self.images[s])
        oracle = Oracle(self.candidates)
        self.policies[ORACLE] = lambda s: oracle(self.images[s], self.oracle_choice[s])

    def evaluate(self, variant: str) -> tuple[float, dict[str, float]]:
        """Accuracy over the whole evaluation part, and the share of images each model ran on."""
        hits, shares = self.outcomes(variant)
        return float(hits.mean()), shares

    def outcomes(self, variant: str) -> tuple[np.ndarray, dict[str, float]]:
        """Right or not on each image of the evaluation part (in order), and the share of
        images each model ran on."""
        run = self.policies[variant]
        hits, ran_on = [], np.zeros(len(self.names))
        for s in _chunks(len(self.labels), self.batch_size):
            routed = run(s)
            hits.append((routed.predictions == self.labels[s]).cpu().numpy())
            ran_on += routed.ran_on
        n = len(self.labels)
        return np.concatenate(hits), dict(zip(self.names, (ran_on / n).tolist(), strict=True))


# -- setting up ----------------------------------------------------------------------


def held_out(data: SplitData, fraction: float, seed: int) -> tuple[SplitData, ImageSet]:
    """(the data with `fraction` of its test split taken out for the choices, the
    images taken): the first is what every policy is evaluated on."""
    evaluation, validation = split(data.test, fraction, seed)
    return SplitData(data.name, data.train, evaluation), validation


def _candidate(name: str, trainer: Trainer, normalise: Callable) -> Candidate:
    return Candidate(name, lambda x: trainer.predict(normalise(x)))


@torch.no_grad()
def _answers(
    candidates: list[Candidate], images: torch.Tensor, labels: torch.Tensor, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """(correct, confidence): N x M, each model's hit and top softmax probability."""
    correct = np.zeros((len(labels), len(candidates)), dtype=bool)
    confidence = np.zeros((len(labels), len(candidates)))
    for j, c in enumerate(candidates):
        for s in _chunks(len(labels), chunk):
            conf, pred = c.logits(images[s]).softmax(1).max(1)
            correct[s, j] = (pred == labels[s]).cpu().numpy()
            confidence[s, j] = conf.cpu().numpy()
    return correct, confidence


def setup(vb: ModelBench, setups: dict[tuple, Selection]) -> Selection:
    """The experiment for vb's dataset and device, built once per session: `setups` is
    the session's (a session fixture of the bench), keyed by value."""
    budget = vb.profile.selection
    key = (vb.data.key, vb.profile, str(vb.device), vb.seeds)
    if key in setups:
        return setups[key]
    log = vb.trained.log
    start, training = time.perf_counter(), 0.0
    size = vb.profile.model_size.image_size
    data, validation = held_out(
        vb.data.at(size), budget.validation_fraction, vb.profile.data.split_seed
    )
    cfg = vb.profile.train
    test = batches(data, cfg, vb.device, train=False)  # the evaluation part
    candidates, flops = [], []
    for name in budget.models:
        t0 = time.perf_counter()
        trained = vb.trained.get(vb.workload(name), vb.data, vb.device, vb.seeds)
        training += time.perf_counter() - t0
        trainer = Trainer(trained.model, cfg, vb.device)
        candidates.append(_candidate(name, trainer, test.normalise))
        flops.append(count_flops(trained.model, test.normalise(test.images[:8])))

    batch = test.images[: vb.profile.infer_batch_size]
    costs = []
    for c in candidates:
        c.logits(batch)  # warm-up
        costs.append(min(time_once(lambda c=c: c.logits(batch), vb.device)[0] for _ in range(3)))
    costs = [t / len(batch) for t in costs]
    if costs != sorted(costs):
        measured = ", ".join(
            f"{n} {t * 1e6:.0f} µs" for n, t in zip(budget.models, costs, strict=True)
        )
        log(
            f"warning: the candidates are not cheapest first on {vb.device} ({measured} per "
            "image); 'cheapest' still follows the profile's order"
        )

    val_images, val_labels = validation.images.to(vb.device), validation.labels.to(vb.device)
    correct, confidence = _answers(candidates, val_images, val_labels, len(batch))
    channels = data.channels
    features = torch.cat(
        [feats.extract(val_images[s]) for s in _chunks(len(val_labels), len(batch))]
    )
    # both premodels learn from the same validation features, labels and costs
    settings = dict(
        folds=budget.cv_folds, tolerance=budget.tolerance, seed=vb.profile.data.split_seed
    )
    names, feature_array = feats.feature_names(channels), features.cpu().numpy()
    premodel = Premodel(budget.models, names, data.train.classes, **settings).fit(
        feature_array, correct, costs
    )
    knn_chain = KnnChain(budget.models, names, data.train.classes, **settings).fit(
        feature_array, correct, costs
    )
    thresholds = choose_thresholds(confidence, correct, costs, budget.thresholds, budget.tolerance)

    test_correct, _ = _answers(candidates, test.images, test.labels, len(batch))
    selection = Selection(
        names=budget.models,
        classes=data.train.classes,
        candidates=candidates,
        costs=costs,
        flops=flops,
        premodel=premodel,
        thresholds=thresholds,
        images=test.images,
        labels=test.labels,
        oracle_choice=cheapest_correct(test_correct),
        batch_size=len(batch),
        knn_chain=knn_chain,
    )
    _log(log, vb.data.name, validation, correct, selection)
    log(f"  set up in {time.perf_counter() - start - training:.1f} s beyond training")
    setups[key] = selection
    return selection


def _log(log: Callable[[str], None], name: str, validation, correct, sel: Selection) -> None:
    singles = ", ".join(
        f"{m} {a:.1%} ({t * 1e6:.0f} µs/image)"
        for m, a, t in zip(sel.names, correct.mean(0), sel.costs, strict=True)
    )
    log(f"adaptive selection on {name}: {len(validation)} validation images; {singles}")
    scores = ", ".join(f"{s.name} {s.accuracy:.1%}" for s in sel.premodel.scores)
    chosen = sel.premodel.chosen
    log(f"  premodel cross-validation (routed accuracy): {scores}; chosen {chosen.name}")
    values = ", ".join(f"{t:g}" for t in sel.thresholds.values)
    log(
        f"  cascade thresholds {values}: validation accuracy {sel.thresholds.accuracy:.1%}, "
        f"{sel.thresholds.cost * 1e6:.0f} µs/image"
    )


# -- timing and recording ------------------------------------------------------------


def _record(
    vb: ModelBench,
    benchmark: Any,
    sel: Selection,
    variant: Variant,
    model: str,
    fn: Callable[[], Any],
    **figures: Any,
) -> None:
    """Describe, time and record one policy or overhead on the timed batch."""
    reference = vb.workload(sel.names[-1])
    described = vb.describe_workload(variant, reference, metrics.INFER_BATCH, sel.batch_size)
    described["model"] = model
    timed = vb.time(benchmark, fn, sel.batch_size)
    per_s = timed["samples_per_s"]
    latency = 1 / per_s if per_s else None  # the median's seconds per image
    vb.record(benchmark, described, **timed, latency_per_image_s=latency, **figures)


def time_policy(
    vb: ModelBench, benchmark: Any, name: str, setups: dict[tuple, Selection]
) -> Selection:
    """Time one policy on the fixed batch (features and premodel included where it
    uses them) and record its latency, accuracy on the whole evaluation part and shares."""
    sel = setup(vb, setups)
    variant = Variant(TECHNIQUE, name, reference=sel.names[-1])
    hits, shares = sel.outcomes(name)
    if name == PREMODEL:
        model = f"premodel:{sel.premodel.chosen.name}"
    elif name == KNN_CHAIN and sel.knn_chain is not None and sel.knn_chain.chosen is not None:
        model = f"premodel:{sel.knn_chain.chosen.name}"
    elif name == CASCADE:
        model = "cascade:" + ",".join(f"{t:g}" for t in sel.thresholds.values)
    elif name == ORACLE:
        model = "oracle:free-perfect-premodel"
    else:
        model = name
    run = sel.policies[name]
    batch = slice(0, sel.batch_size)
    _record(
        vb,
        benchmark,
        sel,
        variant,
        model,
        lambda: run(batch).predictions,
        accuracy=float(hits.mean()),
        eval_images=len(sel.labels),
        eval_set=eval_set_of(sel.labels.cpu().numpy()),
        accuracy_outcomes=[pack_outcomes(hits)],
        route_share=shares,
        flops=round(sum(shares[m] * f for m, f in zip(sel.names, sel.flops, strict=True))),
    )
    return sel


def time_overhead(
    vb: ModelBench, benchmark: Any, part: str, setups: dict[tuple, Selection]
) -> Selection:
    """Time what routing adds before any CNN runs: the features alone, or the
    features and the premodel's picks, on the same fixed batch."""
    sel = setup(vb, setups)
    images = sel.images[: sel.batch_size]
    if part == FEATURES_ONLY:

        def fn() -> Any:
            return feats.extract(images)

    elif part == PREMODEL_ONLY:

        def fn() -> Any:
            return sel.premodel.predict(feats.extract(images).cpu().numpy())

    else:
        raise ValueError(
            f"unknown overhead part {part!r}; choose {FEATURES_ONLY!r} or {PREMODEL_ONLY!r}"
        )
    variant = Variant(TECHNIQUE, part, reference=sel.names[-1])
    model = f"premodel:{sel.premodel.chosen.name}" if part == PREMODEL_ONLY else "features"
    _record(vb, benchmark, sel, variant, model, fn)
    return sel
