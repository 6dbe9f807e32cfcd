"""Adaptive model selection: features, premodel labels and errors, routing, cascade,
oracle, and the verdict read from saved figures. Fake models (fixed linear maps)
stand in for CNNs: what is tested is the bookkeeping, not the learning."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from helpers import FakeBenchmark
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench import profiles
from visionbench.data import SplitData, load_digits, split
from visionbench.measure import metrics
from visionbench.measure.runner import Timing
from visionbench.selection import CASCADE, ORACLE, PREMODEL, PREMODEL_ONLY, experiment, features
from visionbench.selection.cascade import choose_thresholds, evaluate, final_stage, reach
from visionbench.selection.experiment import Selection
from visionbench.selection.knn_chain import KnnChain
from visionbench.selection.premodel import (
    Premodel,
    PremodelError,
    cheapest_correct,
    routed,
)
from visionbench.selection.routing import (
    Candidate,
    Cascade,
    Oracle,
    PremodelRouter,
    Single,
    run_chosen,
)
from visionbench.selection.verdict import statement, statements
from visionbench.training.model_bench import ModelBench
from visionbench.training.workloads import TrainedModels

# -- features ------------------------------------------------------------------------


def random_images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=gen, dtype=torch.uint8)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    channels=st.sampled_from([1, 3]),
    size=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_features_in_range_deterministic_and_named(n, channels, size, seed):
    images = random_images(n, channels, size, seed)
    f = features.extract(images)
    assert f.shape == (n, len(features.feature_names(channels)))
    assert f.dtype == torch.float32
    assert bool(((f >= 0) & (f <= 1)).all())
    assert torch.equal(f, features.extract(images.clone()))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("value", [0, 255])
def test_features_of_flat_images_stay_in_range(channels, value):
    images = torch.full((2, channels, 8, 8), value, dtype=torch.uint8)
    f = dict(
        zip(features.feature_names(channels), features.extract(images)[0].tolist(), strict=True)
    )
    assert f["brightness"] == pytest.approx(value / 255)
    assert f["contrast"] == 0 and f["edge_strength"] == 0 and f["edge_density"] == 0
    assert f["entropy"] == 0
    if channels == 3:
        assert f["saturation"] == 0


def test_features_see_edges_contrast_and_colour():
    checker = (torch.arange(8).view(1, 8) + torch.arange(8).view(8, 1)) % 2 * 255
    checker = checker.to(torch.uint8).view(1, 1, 8, 8)
    flat = torch.full((1, 1, 8, 8), 128, dtype=torch.uint8)
    names = features.feature_names(1)
    c, f = features.extract(torch.cat([checker, flat]))
    for name in ("contrast", "edge_strength", "edge_density", "detail", "entropy"):
        i = names.index(name)
        assert c[i] > f[i], name
    red = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    red[:, 0] = 255
    grey = torch.full((1, 3, 4, 4), 200, dtype=torch.uint8)
    r, g = features.extract(torch.cat([red, grey]))
    names = features.feature_names(3)
    assert r[names.index("saturation")] == pytest.approx(1.0)
    assert g[names.index("saturation")] == 0
    assert r[names.index("hue_cos")] == pytest.approx(1.0)  # red is hue angle 0


def test_grey_data_has_no_colour_features():
    assert not set(features.COLOUR_FEATURES) & set(features.feature_names(1))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        features.feature_names(2)
    with pytest.raises(ValueError, match="uint8"):
        features.extract(torch.zeros(1, 1, 4, 4))


# -- premodel labels -----------------------------------------------------------------


def test_labels_are_the_cheapest_correct_model_or_the_most_capable():
    correct = np.array(
        [
            [False, True, True],  # the middle model is the cheapest right one
            [True, True, True],
            [False, False, False],  # nobody: the most capable
            [False, False, True],
            [True, False, False],
        ]
    )
    assert cheapest_correct(correct).tolist() == [1, 0, 2, 2, 0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=40))
def test_oracle_accuracy_is_at_least_every_single_models(rows):
    correct = np.array(rows)
    accuracy, _ = routed(correct, cheapest_correct(correct), [1.0, 2.0, 3.0])
    assert accuracy == pytest.approx(correct.any(axis=1).mean())
    assert accuracy >= correct.mean(axis=0).max()


# -- premodel training and its errors ------------------------------------------------

NAMES = ("cheap", "mid", "big")
FEATS = ("a", "b")
CLASSES = ("x", "y")


def separable(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feature a decides which model is the cheapest right one: a < 0.5 the cheap
    model, a >= 0.5 only the big one."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 2))
    hard = x[:, 0] >= 0.5
    correct = np.stack([~hard, ~hard, np.ones(n, bool)], axis=1)
    return x, correct


def test_premodel_learns_a_separable_routing_and_reports_its_choice():
    x, correct = separable()
    pm = Premodel(NAMES, FEATS, CLASSES, folds=4).fit(x, correct, [1.0, 2.0, 10.0])
    assert pm.chosen is not None and pm.chosen.name in {s.name for s in pm.scores}
    assert pm.chosen.accuracy > 0.95
    assert pm.predict(np.array([[0.1, 0.5], [0.9, 0.5]])).tolist() == [0, 2]


def test_premodel_on_fewer_validation_images_than_neighbours_uses_them_all():
    """A small test split (a dry run's, or a user's few images): 8 validation images, of
    which cross-validation trains on 6, fewer than knn15's 15 neighbours."""
    x, correct = separable()
    x, correct = x[::8][:8], correct[::8][:8]
    assert len(x) == 8 and len(set(cheapest_correct(correct).tolist())) > 1
    pm = Premodel(NAMES, FEATS, CLASSES, folds=4, classifiers=("knn15",))
    pm.fit(x, correct, [1.0, 2.0, 10.0])
    assert pm.chosen.name == "knn15"
    votes = np.bincount(cheapest_correct(correct), minlength=3)
    assert set(pm.predict(x).tolist()) == {int(votes.argmax())}  # every image's 8 neighbours


def test_premodel_with_one_label_predicts_it():
    x, _ = separable()
    correct = np.ones((len(x), 3), bool)
    pm = Premodel(NAMES, FEATS, CLASSES, folds=3).fit(x, correct, [1.0, 2.0, 3.0])
    assert set(pm.predict(x).tolist()) == {0}


def test_untrained_premodel_says_so():
    pm = Premodel(NAMES, FEATS, CLASSES)
    with pytest.raises(PremodelError, match="not trained"):
        pm.predict(np.zeros((1, 2)))
    with pytest.raises(PremodelError, match="not trained"):
        pm.check(NAMES, FEATS, CLASSES)


@pytest.mark.parametrize(
    ("models", "feats", "classes", "what"),
    [
        (("cheap", "big"), FEATS, CLASSES, "models"),
        (NAMES, ("a", "c"), CLASSES, "features"),
        (NAMES, FEATS, ("x", "z"), "classes"),
    ],
)
def test_mismatched_premodel_names_what_differs(models, feats, classes, what):
    x, correct = separable()
    pm = Premodel(NAMES, FEATS, CLASSES, folds=3).fit(x, correct, [1.0, 2.0, 3.0])
    with pytest.raises(PremodelError, match=f"trained for {what}"):
        pm.check(models, feats, classes)


@pytest.mark.parametrize("kind", [Premodel, KnnChain])
def test_premodel_rejects_wrong_shapes(kind):
    x, correct = separable()
    pm = kind(NAMES, FEATS, CLASSES, folds=3)
    with pytest.raises(PremodelError, match="2 features"):
        pm.fit(x[:, :1], correct, [1.0, 2.0, 3.0])
    with pytest.raises(PremodelError, match="3 models"):
        pm.fit(x, correct[:, :2], [1.0, 2.0, 3.0])
    with pytest.raises(PremodelError, match="2 costs for 3 models"):
        pm.fit(x, correct, [1.0, 2.0])
    pm.fit(x, correct, [1.0, 2.0, 3.0])
    with pytest.raises(PremodelError, match="2 features"):
        pm.predict(np.zeros((4, 3)))


# -- fake models and spies -----------------------------------------------------------


@dataclass
class Spy:
    """A fixed linear map as a model, recording every batch it is given."""

    weight: torch.Tensor  # (C*H*W) x K
    calls: list[torch.Tensor] = field(default_factory=list)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls.append(images.clone())
        return images.flatten(1).float() / 255 @ self.weight


def spies(k: int = 3, pixels: int = 16, models: int = 3, seed: int = 0) -> list[Spy]:
    gen = torch.Generator().manual_seed(seed)
    return [Spy(torch.randn(pixels, k, generator=gen) * 4) for _ in range(models)]


def candidates_of(models: list[Spy]) -> list[Candidate]:
    return [Candidate(name, m) for name, m in zip(NAMES, models, strict=True)]


def test_run_chosen_calls_only_picked_models_once_with_their_images():
    models = spies()
    images = random_images(10, 1, 4, seed=1)
    choice = torch.tensor([2, 0, 2, 2, 0, 0, 2, 0, 0, 2])  # the middle model never picked
    out = run_chosen(candidates_of(models), choice, images)
    assert out.ran_on == [5, 0, 5]
    assert len(models[1].calls) == 0
    for j in (0, 2):
        assert len(models[j].calls) == 1
        assert torch.equal(models[j].calls[0], images[choice == j])
        expected = models[j].weight.T @ (images[choice == j].flatten(1).float() / 255).T
        assert torch.equal(out.predictions[choice == j], expected.T.argmax(1))


def test_premodel_router_calls_the_picked_model_only():
    """Dark images route to the cheap model, bright ones to the big one."""
    names = features.feature_names(1)
    dark = torch.full((6, 1, 4, 4), 20, dtype=torch.uint8)
    bright = torch.full((6, 1, 4, 4), 230, dtype=torch.uint8)
    train = torch.cat([dark, bright])
    correct = np.zeros((12, 3), bool)
    correct[:6, 0] = True
    correct[6:, 2] = True
    pm = Premodel(NAMES, names, CLASSES, folds=3, classifiers=["knn1"])
    pm.fit(features.extract(train).numpy(), correct, [1.0, 2.0, 3.0])
    models = spies()
    router = PremodelRouter(candidates_of(models), pm, CLASSES, channels=1)
    images = torch.cat([bright[:2], dark[:3]])
    out = router(images)
    assert out.ran_on == [3, 0, 2]
    assert [len(m.calls) for m in models] == [1, 0, 1]
    assert torch.equal(models[0].calls[0], images[2:])
    assert torch.equal(models[2].calls[0], images[:2])


def test_router_refuses_an_untrained_or_mismatched_premodel():
    names = features.feature_names(1)
    with pytest.raises(PremodelError, match="not trained"):
        PremodelRouter(candidates_of(spies()), Premodel(NAMES, names, CLASSES), CLASSES, 1)
    pm = Premodel(NAMES, names, CLASSES, folds=2, classifiers=["knn1"])
    pm.fit(np.random.default_rng(0).uniform(size=(8, len(names))), np.ones((8, 3), bool), [1, 2, 3])
    with pytest.raises(PremodelError, match="trained for features"):
        PremodelRouter(candidates_of(spies()), pm, CLASSES, channels=3)  # RGB features
    with pytest.raises(PremodelError, match="trained for classes"):
        PremodelRouter(candidates_of(spies()), pm, ("x", "y", "z"), channels=1)


def test_oracle_routes_by_the_given_choice_and_checks_its_length():
    models = spies()
    images = random_images(4, 1, 4, seed=2)
    out = Oracle(candidates_of(models))(images, np.array([1, 1, 0, 1]))
    assert out.ran_on == [1, 3, 0] and len(models[2].calls) == 0
    with pytest.raises(PremodelError, match="3 choices for 4 images"):
        Oracle(candidates_of(models))(images, np.array([0, 1, 2]))


# -- cascade -------------------------------------------------------------------------


def test_final_stage_thresholds_zero_never_and_infinity_always_escalate():
    conf = np.array([[0.9, 0.5, 0.1], [0.4, 0.95, 0.3], [0.2, 0.3, 0.6]])
    assert final_stage(conf, [0.0, 0.0]).tolist() == [0, 0, 0]
    assert final_stage(conf, [math.inf, math.inf]).tolist() == [2, 2, 2]
    assert final_stage(conf, [0.8, 0.9]).tolist() == [0, 1, 2]
    assert reach(final_stage(conf, [0.8, 0.9]), 3).tolist() == pytest.approx([1, 2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="2 thresholds"):
        final_stage(conf, [0.5])


def test_cascade_cost_counts_every_model_an_image_passes_through():
    conf = np.array([[0.9, 0.5], [0.4, 0.95]])
    correct = np.array([[True, False], [False, True]])
    t = evaluate(conf, correct, [1.0, 10.0], [0.8])
    assert t.accuracy == 1.0
    assert t.cost == pytest.approx(1.0 + 0.5 * 10.0)


def test_thresholds_are_the_cheapest_within_tolerance_of_the_best_model():
    # The cheap model is right exactly when it is confident (>= 0.7); the big
    # model is always right. Escalating below 0.7 is as accurate as the big
    # model and cheaper; higher thresholds cost more for nothing.
    conf_cheap = np.array([0.95, 0.9, 0.8, 0.75, 0.6, 0.5, 0.4, 0.3])
    correct = np.stack([conf_cheap >= 0.7, np.ones(8, bool)], axis=1)
    conf = np.stack([conf_cheap, np.ones(8)], axis=1)
    t = choose_thresholds(conf, correct, [1.0, 10.0], [0.5, 0.7, 0.9], tolerance=0.0)
    assert t.values == (0.7,) and t.accuracy == 1.0
    # With a tolerance of 1/8 one escalation may be skipped: 0.6 is the next
    # threshold down, but only thresholds on the grid are tried.
    loose = choose_thresholds(conf, correct, [1.0, 10.0], [0.5, 0.6, 0.7], tolerance=0.125)
    assert loose.values == (0.6,) and loose.accuracy == pytest.approx(7 / 8)


def test_thresholds_become_the_best_single_model_when_nothing_cheaper_is_as_good():
    # The cheap model is confidently wrong on half the images: no threshold on
    # the grid separates them, so every image must go to the big model.
    conf = np.full((4, 2), 0.99)
    correct = np.array([[True, True], [False, True], [True, True], [False, True]])
    t = choose_thresholds(conf, correct, [1.0, 10.0], [0.5, 0.9], tolerance=0.0)
    assert t.values == (math.inf,) and t.accuracy == 1.0
    # ... and the cheapest model alone when it is the best
    t = choose_thresholds(conf, correct[:, ::-1], [1.0, 10.0], [0.5], tolerance=0.0)
    assert t.values == (0.0,) and t.cost == 1.0


def test_runtime_cascade_escalates_only_unsure_images_and_matches_final_stage():
    models = spies(models=3, seed=3)
    images = random_images(40, 1, 4, seed=4)
    thresholds = (0.9, 0.8)
    out = Cascade(candidates_of(models), thresholds)(images)
    x = images.flatten(1).float() / 255
    conf = np.stack([(x @ m.weight).softmax(1).max(1).values.numpy() for m in models], axis=1)
    stage = final_stage(conf, thresholds)
    assert out.ran_on == [int(x) for x in (reach(stage, 3) * 40).round()]
    assert len(models[0].calls) == 1 and models[0].calls[0].shape[0] == 40
    for j in (1, 2):
        sent = torch.from_numpy(stage >= j)
        assert len(models[j].calls) == (1 if sent.any() else 0)
        if sent.any():
            assert torch.equal(models[j].calls[0], images[sent])


def test_cascade_needs_one_threshold_per_escalation():
    with pytest.raises(ValueError, match="3 models need 2 thresholds"):
        Cascade(candidates_of(spies()), [0.5])


# -- the assembled policies ----------------------------------------------------------


def test_selection_policies_accuracy_shares_and_oracle_bound():
    gen = torch.Generator().manual_seed(5)
    images = random_images(60, 1, 4, seed=6)
    truth = torch.randn(16, 3, generator=gen)
    labels = (images.flatten(1).float() / 255 @ truth).argmax(1)
    models = [Spy(truth + torch.randn(16, 3, generator=gen) * s) for s in (3.0, 1.5, 0.2)]
    cands = candidates_of(models)
    correct = np.stack([(m(images).argmax(1) == labels).numpy() for m in models], axis=1)
    names = features.feature_names(1)
    pm = Premodel(NAMES, names, CLASSES, folds=3)
    pm.fit(features.extract(images).numpy(), correct, [1.0, 2.0, 3.0])
    thresholds = choose_thresholds(
        np.ones((60, 3)) * 0.5, correct, [1.0, 2.0, 3.0], [0.6], tolerance=0.0
    )
    sel = Selection(
        names=NAMES,
        classes=CLASSES,
        candidates=cands,
        costs=[1.0, 2.0, 3.0],
        flops=[1, 2, 3],
        premodel=pm,
        thresholds=thresholds,
        images=images,
        labels=labels,
        oracle_choice=cheapest_correct(correct),
        batch_size=16,
    )
    singles = {}
    for j, name in enumerate(NAMES):
        acc, shares = sel.evaluate(name)
        assert acc == pytest.approx(correct[:, j].mean())
        assert shares == {n: float(n == name) for n in NAMES}
        singles[name] = acc
    oracle_acc, oracle_shares = sel.evaluate(ORACLE)
    assert oracle_acc == pytest.approx(correct.any(axis=1).mean())
    assert oracle_acc >= max(singles.values())
    assert sum(oracle_shares.values()) == pytest.approx(1.0)
    pm_acc, pm_shares = sel.evaluate(PREMODEL)
    # one model per image: right at most where some model is right (the oracle)
    assert pm_acc <= oracle_acc and sum(pm_shares.values()) == pytest.approx(1.0)
    _, cascade_shares = sel.evaluate(CASCADE)
    assert cascade_shares[NAMES[0]] == 1.0  # the cheapest model sees every image


def test_single_policy_runs_one_model():
    models = spies()
    out = Single(candidates_of(models), 1)(random_images(5, 1, 4, seed=7))
    assert out.ran_on == [0, 5, 0] and [len(m.calls) for m in models] == [0, 1, 0]


# -- the verdict from saved figures --------------------------------------------------


@dataclass
class Saved:
    variant: str
    extra_info: dict[str, Any]
    stats: dict[str, Any]
    error: str | None = None


def saved(
    variant: str, accuracy: float, latency: float, spread: float = 0.02, images: int = 1000
) -> Saved:
    batch = latency * 256
    return Saved(
        variant,
        {
            "technique": "adaptive_selection",
            "dataset": "mnist5k",
            "device": "cpu",
            "variant": variant,
            "accuracy": accuracy,
            "latency_per_image_s": latency,
            "eval_images": images,
            "model": variant,
        },
        {"median": batch, "q1": batch * (1 - spread), "q3": batch * (1 + spread)},
    )


def test_verdict_calls_a_faster_equally_accurate_policy_a_win_and_a_lossy_one_a_trade():
    n = 20_000  # enough test images to show a 0.1 pt drop within the 1 pt tolerance
    text = statement(
        [
            saved("small_cnn", 0.95, 1e-4, images=n),
            saved("resnet18", 0.98, 2e-3, images=n),
            saved(PREMODEL, 0.90, 5e-4, images=n),
            saved(CASCADE, 0.979, 6e-4, images=n),
            saved(ORACLE, 0.99, 2e-4, images=n),
        ]
    )
    assert "best single model resnet18: 98.0%" in text
    lines = {line.split(" ")[1]: line for line in text.splitlines()[1:]}
    assert "a trade, not a win" in lines[PREMODEL]
    assert "beats the best single model" in lines[CASCADE] and "-0.1 pt: same" in lines[CASCADE]
    # cascade: (2.0 - 0.6) / (2.0 - 0.2) of the time headroom
    assert "takes 78% of the time saving" in lines[CASCADE]
    assert "-0.1 pt of its +1.0 pt accuracy" in lines[CASCADE]
    assert "bound" in lines[ORACLE]


def test_a_faster_policy_whose_accuracy_the_test_images_cannot_resolve_does_not_win():
    """−0.1 pt on 1,000 test images has ±1.0 pt of noise: the data cannot tell "the
    same" from "1 pt worse", so the policy is faster and its accuracy not resolved."""
    text = statement([saved("resnet18", 0.98, 2e-3), saved(CASCADE, 0.979, 6e-4)])
    line = next(x for x in text.splitlines() if x.startswith(f"- {CASCADE}"))
    assert "beats" not in line
    assert "is faster, but whether it keeps the accuracy is not resolved: ±1.0 pt" in line
    assert "more test images would resolve 0.9 pt" in line


def test_verdict_does_not_call_overlapping_timings_faster():
    text = statement(
        [saved("resnet18", 0.98, 1e-3, spread=0.2), saved(PREMODEL, 0.98, 0.95e-3, spread=0.2)]
    )
    assert "no clear difference in time" in text
    assert "oracle: not in this run" in text


def test_verdicts_group_by_dataset_and_skip_other_techniques():
    a = [saved("resnet18", 0.98, 1e-3), saved(PREMODEL, 0.97, 5e-4)]
    b = saved("resnet18", 0.7, 1e-3)
    b.extra_info["dataset"] = "gradations"
    other = saved("resnet18", 0.5, 1e-3)
    other.extra_info["technique"] = "model_size"
    overhead = saved("features", 0.0, 1e-5)
    out = statements([*a, b, other, overhead])
    assert statements([overhead]) == []
    assert len(out) == 2 and "mnist5k" in out[0] and "gradations" in out[1]
    failed = Saved("resnet18", {"technique": "adaptive_selection"}, {}, error="boom")
    assert "nothing to compare" in statement([failed])


def test_verdict_withholds_a_time_verdict_when_the_timings_contradict_the_shares():
    big = saved("resnet18", 0.98, 2e-3, images=20_000)
    cheap = saved("small_cnn", 0.95, 1e-4, images=20_000)
    cascade = saved(CASCADE, 0.98, 5e-4, images=20_000)  # yet every image ran through big
    cascade.extra_info["route_share"] = {"small_cnn": 1.0, "resnet18": 1.0}
    text = statement([cheap, big, cascade])
    assert "no verdict on time" in text and "at least 2.1 ms/image" in text
    cascade.extra_info["route_share"] = {"small_cnn": 1.0, "resnet18": 0.2}
    assert "beats the best single model" in statement([cheap, big, cascade])


# -- the bench's path, end to end, on a tiny budget -----------------------------------


def test_every_variant_records_valid_figures_on_real_trained_models():
    """Two cheap models on scikit-learn's digits at 8 px, one epoch: the wiring from
    training to recorded figures (accuracy here means little; nothing is asserted on it)."""
    quick = profiles.get("quick")
    profile = dataclasses.replace(
        quick,
        train=quick.train.with_(epochs=1, bn_recalibration_batches=0),
        timing=Timing(rounds=2, warmup_rounds=1),
        model_size=dataclasses.replace(quick.model_size, image_size=8),
        selection=dataclasses.replace(
            quick.selection, models=("embankment_cnn", "small_cnn"), cv_folds=3
        ),
        infer_batch_size=64,
    )
    logs: list[str] = []
    vb = ModelBench(
        profile,
        torch.device("cpu"),
        SplitData("digits", *split(load_digits(), 0.2, 0)),
        TrainedModels(log=logs.append),
    )
    setups: dict = {}
    for name in experiment.variants(profile.selection.models):
        bench = FakeBenchmark()
        sel = experiment.time_policy(vb, bench, name, setups)
        info = bench.extra_info
        metrics.validate(info)
        assert info["variant"] == name and info["reference"] == "small_cnn"
        assert info["latency_per_image_s"] > 0 and info["eval_images"] == len(sel.labels)
        assert set(info["route_share"]) == {"embankment_cnn", "small_cnn"}
    assert sum(line.startswith("training ") for line in logs) == 2  # each candidate trained once
    # the candidates are the recipe's trainings on the whole training split: the model-size
    # bench's own (no training more), evaluated on the test split less its validation part
    for name in profile.selection.models:
        vb.trained.get(vb.workload(name), vb.data, vb.device, vb.seeds)
    assert sum(line.startswith("training ") for line in logs) == 2
    assert any(f"of {len(vb.data.train)} images" in line for line in logs)
    evaluation, validation = experiment.held_out(
        vb.data, profile.selection.validation_fraction, profile.data.split_seed
    )
    assert len(sel.labels) == len(evaluation.test) and len(validation) > 0
    assert len(evaluation.test) + len(validation) == len(vb.data.test)
    assert sel.evaluate(ORACLE)[0] >= max(sel.evaluate(m)[0] for m in sel.names)
    bench = FakeBenchmark()
    assert len(setups) == 1  # set up once for every policy
    experiment.time_overhead(vb, bench, PREMODEL_ONLY, setups)
    metrics.validate(bench.extra_info)
    assert bench.extra_info["latency_per_image_s"] > 0


def test_quick_leaves_selection_on_gradations_out_and_says_how_to_get_it():
    quick, standard = profiles.get("quick"), profiles.get("standard")
    reason = experiment.left_out(quick, "gradations", chosen_data=False)
    assert "left out of the quick profile (mnist5k only)" in reason
    assert "--vb-data gradations or --vb-profile standard" in reason
    assert experiment.left_out(quick, "mnist5k", chosen_data=False) is None
    assert experiment.left_out(quick, "gradations", chosen_data=True) is None  # --vb-data wins
    assert experiment.left_out(standard, "gradations", chosen_data=False) is None
