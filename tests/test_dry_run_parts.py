"""What the profiles' dry runs keep and shrink, and how a failed bench or a figure off the
schema reaches the dry-run check: the fast tests beside tests/test_dry_runs.py, which
waits for the dry runs themselves (a module of its own, so that pytest-xdist's
`--dist loadscope` sends it, whole, to one worker at the end)."""

from __future__ import annotations

import json
from pathlib import Path

import dry_runs
import pytest
import torch
from helpers import FakeBenchmark, run_pytest, saved_problems

from visionbench import profiles
from visionbench.data import SplitData, load_digits, split
from visionbench.data.spec import load_split
from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant
from visionbench.training.model_bench import ModelBench
from visionbench.training.workloads import TrainedModels


def test_each_dry_run_selection_names_registered_techniques_with_a_bench_each():
    """`standard`'s dry run runs every bench; a narrower one (paper's) names techniques of
    the registry, each with its bench module, and keeps what its profile changes: every
    model at the profile's size and the resolution sweep."""
    assert dry_runs.BENCHES["standard"] is None
    for name, chosen in dry_runs.BENCHES.items():
        for path in dry_runs.paths(name):
            assert (dry_runs.ROOT / path).exists(), path
        if chosen is not None:
            assert set(chosen) <= set(techniques.BY_NAME)
            assert {"model_size", "resolution"} <= set(chosen)


# -- a figure missing from the schema fails the run, and so CI ---------------------------


def test_saved_problems_name_failed_benchmarks_and_figures_off_the_schema():
    data = {
        "benchmarks": [
            {"name": "ok", "extra_info": {"technique": "t", "image_size": 16}},
            {"name": "off", "extra_info": {"technique": "t", "stem_sise": 128}},
        ],
        "visionbench_failed": [
            {"name": "boom", "extra_info": {"error": "SchemaError: unknown metric 'x'"}}
        ],
    }
    failed, off = saved_problems(data)
    assert failed == "boom: failed: SchemaError: unknown metric 'x'"
    assert off.startswith("off: unknown metric 'stem_sise'; known names: ")
    assert saved_problems({"benchmarks": data["benchmarks"][:1]}) == []


def test_a_descriptor_missing_from_the_schema_fails_the_bench_that_records_it(monkeypatch):
    """What the resolution sweep of `standard` and `paper` did before `stem_size` joined the
    schema: every size whose stem differs from its own raised, and was recorded failed."""
    train, test = split(load_digits(), 0.2, seed=0)
    vb = ModelBench(profiles.get("standard"), torch.device("cpu"), SplitData("digits", train, test),
               TrainedModels(log=lambda _: None))  # fmt: skip
    workload = vb.workload("resnet18", 16, stem_size=128)
    assert workload.stem_size == 128
    described = vb.describe_workload(
        Variant("resolution", "16px", "128px"), workload, metrics.TRAIN_STEP, 4
    )
    vb.record(FakeBenchmark(), described)  # in the schema
    monkeypatch.delitem(metrics.CONFIG_KEYS, "stem_size")
    with pytest.raises(metrics.SchemaError, match="unknown metric 'stem_size'"):
        vb.record(FakeBenchmark(), described)


FAILS_IN_TRAINING = '''
import torch.nn as nn


class FailsInTraining(nn.Module):
    """Classifies the sample batch that --vb-model checks (eval mode), fails training."""

    def __init__(self, num_classes):
        super().__init__()
        self.fc = nn.Linear(1, num_classes)

    def forward(self, x):
        if self.training:
            raise RuntimeError("this network cannot train")
        return self.fc(x.mean((1, 2, 3))[:, None])


def build(num_classes):
    return FailsInTraining(num_classes)
'''


@pytest.mark.deps
def test_a_bench_that_raises_is_saved_as_failed_and_fails_the_check(tmp_path):
    """The path a figure off the schema takes: the bench raises, pytest fails it, and the
    saved run lists it under `visionbench_failed`, which the dry-run tests assert empty."""
    (tmp_path / "fails.py").write_text(FAILS_IN_TRAINING)
    out = tmp_path / "run.json"
    proc = run_pytest(
        "benches/bench_model_size.py", "-q", "--vb-profile", "quick", "--vb-dry-run",
        "--vb-device", "cpu", "--vb-model", f"fails={tmp_path / 'fails.py'}:build",
        "-k", "train_step and (fails or small_cnn)", f"--benchmark-json={out}",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    data = json.loads(Path(out).read_text())
    (problem,) = saved_problems(data)
    assert problem.startswith("bench_train_step[cpu-mnist5k-fails]: failed: RuntimeError: ")
    assert "this network cannot train" in problem
    assert [b["name"] for b in data["benchmarks"]] == ["bench_train_step[cpu-mnist5k-small_cnn]"]


# -- what a dry run keeps and what it shrinks (fast, no bench run) ----------------------


@pytest.mark.parametrize("name", list(profiles.PROFILES))
def test_a_dry_run_keeps_what_the_profile_runs_and_shrinks_how_much(name):
    real = profiles.get(name)
    dry = profiles.dry_run(real)
    caps = profiles.DRY_RUN
    assert dry.dry_run and dry.name == f"{name} (dry run)" and profiles.dry_run(dry) == dry
    for kept in ("model_size", "resolution", "selection", "step_techniques", "talk"):
        if kept != "talk":
            assert getattr(dry, kept) == getattr(real, kept), kept
    assert dry.talk.sizes == real.talk.sizes and dry.talk.model == real.talk.model
    for field in ("input_size", "texture_size", "workers", "model", "paired", "augment"):
        assert getattr(dry.data_path, field) == getattr(real.data_path, field), field
    for field in ("model", "bucket_caps_mb", "accumulation"):
        assert getattr(dry.data_parallel, field) == getattr(real.data_parallel, field), field
    assert dry.data_parallel.max_world_size == min(real.data_parallel.max_world_size or 2, 2)
    for field in ("model", "image_size", "final_model", "augment", "time_budget_s"):
        assert getattr(dry.recipe, field) == getattr(real.recipe, field), field
    cut = dict(batch_size=1, epochs=1, max_steps=None, bn_recalibration_batches=0, eval_images=None)
    assert dry.train.with_(**cut) == real.train.with_(**cut)
    #   the same recipe: optimiser, LR, schedule, augmentation
    assert dry.train.eval_images == caps.eval_images and real.train.eval_images is None
    assert dry.train.batch_size <= caps.batch_size and dry.train.max_steps == caps.max_steps
    assert dry.infer_batch_size <= caps.batch_size and dry.seeds == 1
    assert dry.timing == dry.data_path.timing == dry.recipe.timing == caps.timing
    assert dry.data.max_images == caps.images and dry.data.gradations_count <= caps.images
    assert dry.data_path.texture_count <= caps.images
    assert dry.schedules.epochs <= caps.epochs and dry.recipe.epochs <= caps.epochs
    assert dry.data_parallel.max_steps == caps.max_steps
    assert dry.recipe.max_steps == caps.max_steps and real.recipe.max_steps is None
    from visionbench.techniques import recipe

    assert recipe.baseline(dry).train.max_steps == caps.max_steps  # every rung inherits it
    assert recipe.baseline(real).train.max_steps is None  # whole epochs
    assert recipe.baseline(dry).train.eval_images == caps.eval_images


def test_a_dry_runs_datasets_are_cut_stratified_with_a_quarter_to_test():
    from visionbench.data.spec import _capped, parse_data_spec

    dry = profiles.dry_run(profiles.get("standard"))
    train, test = load_split(parse_data_spec("digits"), dry)
    assert (len(train), len(test)) == (40, 20)
    assert train.class_counts() == [4] * 10 and test.class_counts() == [2] * 10
    # a split of its own (an image folder with train/ and test/, CIFAR-10) keeps its
    # parts and cuts each to its share
    big_train, big_test = split(load_digits(), 0.2, seed=0)
    train, test = _capped((big_train, big_test), dry.data)
    # (stratified: each class rounds its share, so within half an image a class of 45 and 15)
    assert abs(len(train) - 45) <= 5 and abs(len(test) - 15) <= 5
    assert _capped((big_train, big_test), profiles.get("standard").data) == (big_train, big_test)
