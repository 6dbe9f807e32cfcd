"""The recipe ladder: each rung switches exactly one thing; the augmentation
bench's variants are the ladder's own trainings; rungs train as they say."""

import itertools

import pytest
import torch

from visionbench import profiles
from visionbench.data import SplitData, load_digits, split
from visionbench.data.formats import write_imagefolder
from visionbench.measure import fingerprint
from visionbench.techniques.augmentation import augmentation_variants
from visionbench.techniques.recipe import (
    RUNGS,
    Recipe,
    RecipeData,
    RecipeRuns,
    accuracy_in_budget,
    differences,
    ladder,
)
from visionbench.training.train import FitResult, TrainConfig
from visionbench.training.workloads import TrainedModels

CPU = torch.device("cpu")


@pytest.fixture(params=[True, False], ids=["bf16_kernels", "no_bf16_kernels"])
def bf16_kernels(request, monkeypatch) -> bool:
    """This CPU with and without oneDNN's bf16 kernels (AVX512-BF16 or AMX), faked:
    the ladder must hold on either, whichever CPU runs the test."""
    monkeypatch.setattr(fingerprint, "cpu_bf16_kernels", lambda: request.param)
    return request.param


@pytest.mark.parametrize("name", list(profiles.PROFILES))
def test_each_rung_differs_from_the_one_before_in_exactly_one_switch(name, bf16_kernels):
    profile = profiles.get(name)
    rungs, skipped = ladder(profile, CPU)
    names = [r.name for r in rungs]
    assert names == sorted(names, key=RUNGS.index)  # in the ladder's order
    assert list(skipped) == sorted(skipped, key=RUNGS.index)
    assert set(RUNGS) == set(names) | set(skipped) and not set(names) & set(skipped)
    if bf16_kernels:
        assert "+autocast" in names
        assert next(r for r in rungs if r.name == "+autocast").recipe.train.amp == "bf16"
    else:
        assert "cpu has no bf16 kernels" in skipped["+autocast"]
    for before, after in itertools.pairwise(rungs):
        assert len(differences(before.recipe, after.recipe)) == 1, (before.name, after.name)
    first, last = rungs[0].recipe, rungs[-1].recipe
    assert first.source == "disk" and first.train.schedule == "constant"
    assert first.train.amp is None and first.train.augment is None
    assert last.source == "resident" and last.train.schedule == "onecycle"
    assert last.train.augment == profile.recipe.augment


def test_the_quick_ladder_says_why_it_stops_before_resnet9():
    _, skipped = ladder(profiles.get("quick"), CPU)
    assert "budget does not allow" in skipped["+final_model"]
    rungs, _ = ladder(profiles.get("paper"), CPU)
    assert rungs[-1].recipe.model == "resnet9"


def test_differences_names_recipe_and_training_fields():
    a = Recipe("small_cnn", 16, "disk", TrainConfig())
    assert differences(a, a) == []
    assert differences(a, a.with_(source="resident", lr=0.1)) == ["source", "lr"]
    with pytest.raises(ValueError, match=r"Recipe\.source='tape'"):
        a.with_(source="tape")


def test_augmentation_variants_are_the_ladders_rungs():
    profile = profiles.get("quick")
    rungs = {r.name: r.recipe for r in ladder(profile, CPU)[0]}
    variants = augmentation_variants(profile, CPU)
    assert variants["none"] == rungs["+resident"]  # one training serves both benches
    assert variants["batched"] == rungs["+augment"]
    assert differences(variants["batched"], variants["precomputed"]) == ["precompute_augment"]


def test_accuracy_in_budget_is_the_last_epoch_within_it():
    history = [
        {"epoch": 1, "train_time_s": 1.0, "accuracy": 0.5},
        {"epoch": 2, "train_time_s": 2.0, "accuracy": 0.7},
        {"epoch": 3, "train_time_s": 3.0, "accuracy": 0.9},
    ]
    fit = FitResult(0.9, 3.0, 3, 30, history=history)
    assert accuracy_in_budget(fit, 2.5) == 0.7
    assert accuracy_in_budget(fit, 3.0) == 0.9
    assert accuracy_in_budget(fit, 0.5) == 0.0


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory) -> RecipeData:
    train, test = split(load_digits(), 0.2, seed=0)
    root = tmp_path_factory.mktemp("recipe")
    write_imagefolder(train, root / "train", "png")
    write_imagefolder(test, root / "test", "png")
    return RecipeData.from_folders("digits", root / "train", root / "test", root / "cache", 8)


def test_disk_and_resident_rungs_train_on_the_same_batches(digit_folders):
    cfg = TrainConfig(batch_size=100, seed=3)
    disk = Recipe("small_cnn", 8, "disk", cfg)
    feed, held = digit_folders.train_epochs(disk, cfg, CPU)
    resident, _ = digit_folders.train_epochs(disk.with_(source="resident"), cfg, CPU)
    try:
        for (xd, yd), (xr, yr) in zip(feed(1), resident(1), strict=True):
            assert torch.equal(yd, yr)
            assert torch.allclose(xd, xr, atol=1e-5)
    finally:
        held.close()


def test_a_recipe_trains_once_per_session_and_records_train_accuracy(digit_folders):
    logs: list[str] = []
    cache = TrainedModels(log=logs.append)
    recipe = Recipe("small_cnn", 8, "resident", TrainConfig(batch_size=64, epochs=1, lr=3e-3))
    trained = RecipeRuns(cache).get(recipe, digit_folders, CPU, seeds=2)
    # another bench's RecipeRuns over the session's one cache finds the same training
    assert RecipeRuns(cache).get(recipe, digit_folders, CPU, seeds=2) is trained
    assert sum(line.startswith("training recipe small_cnn") for line in logs) == 2  # 2 seeds
    assert [f.train_accuracy is not None for f in trained.fits] == [True, True]


def test_augmentation_reaches_training_batches_and_never_evaluation(digit_folders):
    from visionbench.data.augment import AugmentSpec
    from visionbench.training.workloads import batches

    cfg = TrainConfig(batch_size=64, augment=AugmentSpec(pad=1, flip=False, cutout=2))
    recipe = Recipe("small_cnn", 8, "resident", cfg)
    _, training = digit_folders.train_epochs(recipe, cfg, CPU)
    assert training.augment == cfg.augment
    assert digit_folders.evaluation(CPU).augment is None
    assert digit_folders.evaluation(CPU, train=True).augment is None  # train_accuracy
    split = SplitData("digits", digit_folders.train, digit_folders.test)
    assert batches(split, cfg, CPU, train=False).augment is None  # the runner's test split
