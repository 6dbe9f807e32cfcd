"""Curves the seeds drew: the per-epoch mean training loss (summed on the device),
test accuracy and learning rate kept with each training's figures; the step
techniques' time to target read from those trainings; the augmentation grid."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from helpers import FakeBenchmark

from visionbench import models, profiles
from visionbench.data import SplitData, load_digits, split
from visionbench.data.augment import AugmentSpec, examples
from visionbench.measure import metrics
from visionbench.measure.runner import Timing, Variant
from visionbench.training import targets
from visionbench.training.model_bench import ModelBench
from visionbench.training.train import Batches, TrainConfig, Trainer, fit, lr_samples, planned_steps
from visionbench.training.workloads import TrainedModels

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits() -> SplitData:
    train, test = split(load_digits(), 0.2, seed=0)
    return SplitData("digits", train, test)


def _trainer(cfg: TrainConfig, digits: SplitData) -> Trainer:
    torch.manual_seed(cfg.seed)
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    return Trainer(model, cfg, CPU, planned_steps(cfg, len(digits.train)))


def _batches(digits: SplitData, cfg: TrainConfig, train: bool = True) -> Batches:
    mean, std = digits.stats()
    part = digits.train if train else digits.test
    return Batches(part, cfg.batch_size, CPU, mean=mean, std=std, shuffle=train, seed=cfg.seed)


def test_each_epoch_keeps_its_mean_training_loss_and_its_learning_rates(digits):
    """The loss is the mean over the epoch's steps (not its last step's); the rates are
    those of the steps starting each quarter of the epoch."""
    cfg = TrainConfig(epochs=2, batch_size=64, lr=3e-3, schedule="onecycle")
    trainer = _trainer(cfg, digits)
    losses, rates = [], []
    step = trainer.step

    def recording(x, y):
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        loss = step(x, y)
        losses.append(float(loss))
        return loss

    trainer.step = recording
    result = fit(trainer, _batches(digits, cfg), _batches(digits, cfg, False))
    per_epoch = len(losses) // 2  # 23 steps of 64 images
    for e, row in enumerate(result.history):
        mine = losses[e * per_epoch : (e + 1) * per_epoch]
        assert row["loss"] == pytest.approx(sum(mine) / len(mine), rel=1e-5)
        assert row["loss"] != pytest.approx(mine[-1], rel=1e-3)
        epoch_rates = rates[e * per_epoch : (e + 1) * per_epoch]
        assert row["lr"] == [epoch_rates[i] for i in (0, 5, 11, 17)]  # 23 steps in quarters
    # one-cycle: warms up over the first 30% of the steps, then anneals
    assert result.history[0]["lr"][0] < result.history[0]["lr"][-1]
    assert result.history[1]["lr"][-1] < result.history[1]["lr"][0]


@pytest.mark.parametrize(
    ("steps", "picked"), [(0, []), (1, [0]), (3, [0, 1, 2]), (4, [0, 1, 2, 3]), (9, [0, 2, 4, 6])]
)
def test_lr_samples_start_each_quarter(steps, picked):
    assert lr_samples([float(i) for i in range(steps)]) == [float(i) for i in picked]


def test_curves_keep_every_seed_compactly_and_pass_the_schema():
    histories = [
        [{"loss": 1.23456789, "accuracy": 0.5, "train_time_s": 0.1, "lr": [1e-3, 2e-3]},
         {"loss": 0.5, "accuracy": 0.8, "train_time_s": 0.2, "lr": [3e-3, 1e-4]}],
        [{"loss": math.inf, "accuracy": 0.4, "train_time_s": 0.1, "lr": [1e-3, 2e-3]}],
    ]  # fmt: skip
    curves = targets.curves(histories)
    assert curves["loss"] == [[1.235, 0.5], [None]]  # 4 significant digits; inf kept as none
    assert curves["accuracy"] == [[0.5, 0.8], [0.4]]
    assert curves["lr"] == [[1e-3, 2e-3], [3e-3, 1e-4]]  # seed 0's
    metrics.validate({"curves": curves})


@pytest.mark.parametrize(
    "bad",
    [
        {"loss": [[1.0]], "accuracy": [[0.5]], "train_time_s": [[1.0]]},  # no lr
        {"loss": [[1.0]], "accuracy": [[0.5, 0.6]], "train_time_s": [[1.0]], "lr": []},
        {"loss": [["x"]], "accuracy": [[0.5]], "train_time_s": [[1.0]], "lr": []},
        {"loss": [[math.nan]], "accuracy": [[0.5]], "train_time_s": [[1.0]], "lr": []},
    ],
)
def test_malformed_curves_are_refused_by_name(bad):
    with pytest.raises(metrics.SchemaError, match="'curves'"):
        metrics.validate({"curves": bad})


def _profile(step_to_target: bool) -> profiles.Profile:
    quick = profiles.get("quick")
    return dataclasses.replace(
        quick,
        train=quick.train.with_(epochs=2, bn_recalibration_batches=0),
        timing=Timing(rounds=3, warmup_rounds=1),
        model_size=dataclasses.replace(quick.model_size, image_size=8),
        seeds=2,
        target_accuracy=0.5,
        step_to_target=step_to_target,
    )


@pytest.mark.parametrize("to_target", [True, False])
def test_a_training_step_records_its_curves_and_time_to_target_where_the_profile_says(
    digits, to_target
):
    """Where the profile says so, a step technique's variant records its time to target
    from the trainings behind its accuracy (both seeds, paired by index); else none."""
    vb = ModelBench(_profile(to_target), CPU, digits, TrainedModels(log=lambda _: None))
    benchmark = FakeBenchmark()
    variant = Variant("precision", "fp32", reference="fp32")
    vb.train_step(benchmark, variant, vb.workload("small_cnn"))
    info = benchmark.extra_info
    metrics.validate(info)
    assert [len(seed) for seed in info["curves"]["loss"]] == [2, 2]  # 2 seeds x 2 epochs
    assert len(info["curves"]["lr"]) == 2 and all(len(r) == 4 for r in info["curves"]["lr"])
    last = [seed[-1] for seed in info["curves"]["accuracy"]]
    assert info["accuracy"] == pytest.approx(sum(last) / 2, abs=1e-3)  # what it averages
    if to_target:
        assert info["target_accuracy"] == 0.5 and info["target_reached"] == 1.0
        assert len(info["time_to_target_s_per_seed"]) == 2
        first = info["epochs_to_target_per_seed"]
        seconds = [info["curves"]["train_time_s"][s][e - 1] for s, e in enumerate(first)]
        assert info["time_to_target_s_per_seed"] == pytest.approx(seconds, rel=1e-3)
    else:
        assert "time_to_target_s" not in info and "target_accuracy" not in info


def test_only_the_larger_profiles_train_step_techniques_to_target():
    assert {name: p.step_to_target for name, p in profiles.PROFILES.items()} == {
        "quick": False, "standard": True, "paper": True,
    }  # fmt: skip


# -- the augmentation grid -------------------------------------------------------------


def test_the_examples_show_each_augmentation_alone_and_all_together():
    images = torch.randint(1, 255, (40, 1, 16, 16), dtype=torch.uint8)
    spec = AugmentSpec(pad=2, flip=True, cutout=4)
    grid = examples(images, spec, fill=(0,), count=5, seed=3)
    metrics.validate({"augmented_examples": grid})
    assert grid["columns"] == ["original", "pad+crop", "flip", "cutout", "all"]
    assert len(grid["images"]) == 5
    for row in grid["images"]:
        original, padded, flipped, cut, _ = (torch.tensor(x) for x in row)
        assert torch.equal(flipped, original.flip(-1))
        assert int((cut == 0).sum()) == 16 and int((original == 0).sum()) == 0  # one 4x4 square
        assert padded.shape == original.shape
    assert examples(images, spec, fill=(0,), count=5, seed=3) == grid  # the same every run
    no_flip = examples(images, AugmentSpec(pad=2, flip=False, cutout=0), fill=(0,), count=2)
    assert no_flip["columns"] == ["original", "pad+crop", "all"]


def test_a_malformed_grid_is_refused_by_name():
    with pytest.raises(metrics.SchemaError, match="'augmented_examples'"):
        metrics.validate({"augmented_examples": {"columns": ["a"], "images": [[[[[300]]]]]}})


def test_the_summary_states_time_to_target_paired_over_seeds_with_the_step_ratio_beside():
    from gate_helpers import as_run, bench, run_data, steady

    from visionbench.report import summary

    def figures(times, reached=1.0):
        return {"time_to_target_s_per_seed": times, "target_reached": reached,
                "time_to_target_s": sum(t for t in times if t) / max(1, sum(map(bool, times))),
                "target_accuracy": 0.97, "accuracy": 0.975, "eval_images": 1000, "seeds": 3,
                "accuracy_std": 0.002}  # fmt: skip

    paired = {"ratio_vs_ref": 0.8, "ratio_ci_low": 0.78, "ratio_ci_high": 0.82,
              "paired_rounds": 50}  # fmt: skip
    run = as_run(run_data([
        bench("fp32", steady(10), technique="precision", variant="fp32", reference="fp32",
              **figures([10.0, 11.0, 12.0])),
        bench("bf16", steady(8), technique="precision", variant="bf16", reference="fp32",
              **paired, **figures([13.0, 14.3, 15.6])),
    ]))  # fmt: skip
    (row,) = summary.technique_rows(run)
    assert row.time.what == "time to 97.0%, paired over 3 seeds"
    assert row.time.ratio == pytest.approx(1.3, rel=1e-3) and row.time.low > 1.1
    text = row.time.text()
    assert "beside it 0.8× [0.78–0.82×] (step ratio: time per step, paired" in text
    assert row.verdict().startswith("1.3× slower")  # faster steps, slower to the target

    run = as_run(run_data([
        bench("fp32", steady(10), technique="precision", variant="fp32", reference="fp32",
              **figures([10.0, 11.0, 12.0])),
        bench("bf16", steady(8), technique="precision", variant="bf16", reference="fp32",
              **paired, **figures([13.0, None, 15.6], reached=2 / 3)),
    ]))  # fmt: skip
    (row,) = summary.technique_rows(run)
    assert row.time.what.startswith("step ratio: time per step, paired")
    assert row.time.what.endswith("time to target not comparable: 2/3 vs 3/3 seeds reached it")
