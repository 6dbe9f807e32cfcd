"""Every profile's path on the CPU: `standard` and `paper` (the default wherever there is
a GPU) run as dry runs (`--vb-dry-run`: every variant, model, input size and dataset, on a
few images for a few steps) over every bench, as `nox -s bench` runs them. Every
benchmark is saved and valid against the schema, none failed, only the CUDA-only variants
and the cases the profile cannot run here are skipped (with their reasons), every stem
of the resolution sweep is built and recorded, and the report and its summary render.

`quick` runs for real in the other bench tests; here, each of the two other profiles is
one pytest process, started when collection ends and run beside the rest of the suite
(tests/dry_runs.py); these tests run last. `standard`'s runs every bench; `paper`'s only
the benches whose code paths `paper` changes (dry_runs.BENCHES says which and why).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dry_runs
import pytest
import torch
from dry_runs import PROFILES
from helpers import FakeBenchmark, run_pytest, saved_problems

from visionbench import cli, models, profiles, report
from visionbench.data import SplitData, load_digits, split
from visionbench.data.spec import load_split
from visionbench.measure import metrics, results, techniques
from visionbench.measure.runner import Variant
from visionbench.report import summary, tradeoffs
from visionbench.report.run import DRY_RUN_NOTE
from visionbench.training.model_bench import ModelBench
from visionbench.training.workloads import TrainedModels

#: Why a bench may be skipped on a CPU-only machine: what it measures needs CUDA, or more
#: cores than the machine has, or data the profile's sweep cannot use. Anything else
#: skipped is a path of the profile that did not run.
SKIPS_ALLOWED = (
    r"CUDA",
    r"world size \d+ needs \d+ CPU cores",
    r"below the sweep's largest size",  # resolution on mnist5k's 28 px
    r"rung \+autocast left out: cpu has no bf16 kernels",  # a CPU without them
)


@dataclass
class DryRun:
    name: str
    proc: subprocess.CompletedProcess
    data: dict
    run: results.Run
    report: str


@pytest.fixture(
    scope="module", params=[pytest.param(p, marks=pytest.mark.dry_run) for p in PROFILES]
)
def dry_run(request) -> DryRun:
    """The profile's dry run, started when collection ended (conftest.py), waited for."""
    name = request.param
    started = request.config.stash[dry_runs.STARTED][name]
    done = started.wait()
    assert done.returncode == 0, f"{name} dry run (exit {done.returncode}):\n" + done.stdout[-8000:]
    storage = started.tmp / "storage"
    run = results.load_run("latest", storage)
    out = started.tmp / "report"
    assert cli.main(["report", "latest", "--storage", str(storage), "--out", str(out)]) == 0
    text = (out / run.label / "report.md").read_text(encoding="utf-8")
    return DryRun(name, done, run.data, run, text)


def test_every_benchmark_is_saved_valid_and_none_failed(dry_run):
    assert saved_problems(dry_run.data) == []
    passed = re.search(r"(\d+) passed", dry_run.proc.stdout)
    assert passed and int(passed.group(1)) == len(dry_run.data["benchmarks"])


def test_only_what_needs_cuda_or_more_cores_is_skipped(dry_run):
    reasons = re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", dry_run.proc.stdout, re.M)
    assert reasons or dry_runs.BENCHES[dry_run.name] is not None  # the CUDA variants say why
    for reason in reasons:
        assert any(re.search(allowed, reason) for allowed in SKIPS_ALLOWED), reason


def test_it_is_saved_and_reported_as_a_dry_run_of_its_profile(dry_run):
    fp = dry_run.run.machine_info["visionbench"]
    assert fp["dry_run"] is True and fp["profile"] == f"{dry_run.name} (dry run)"
    for b in dry_run.run.benchmarks.values():
        assert b.extra_info["profile"] == fp["profile"], b.fullname
    assert "(dry run)" in dry_run.report.splitlines()[0]
    assert DRY_RUN_NOTE in dry_run.report


def test_every_model_and_size_of_the_profile_ran(dry_run):
    profile = profiles.get(dry_run.name)
    by_technique: dict[str, set] = {}
    for b in dry_run.run.benchmarks.values():
        by_technique.setdefault(b.technique, set()).add(b.variant)
    assert by_technique["model_size"] == set(profile.model_size.models)
    assert by_technique["resolution"] == {f"{s}px" for s in profile.resolution.sizes}
    assert set(profile.selection.models) <= by_technique["adaptive_selection"]
    assert {"eager", *profile.step_techniques.compile_modes} == by_technique["compile"]
    for b in dry_run.run.benchmarks.values():
        info = b.extra_info
        if info["technique"] == "model_size":
            assert info["image_size"] == profile.model_size.image_size


def test_the_registry_names_exactly_the_techniques_the_benches_save(dry_run):
    """One place for the techniques: a bench saving a group the registry lacks (or a
    registered technique no bench runs) fails here."""
    saved = {b.technique for b in dry_run.run.benchmarks.values()}
    assert saved == set(dry_runs.BENCHES[dry_run.name] or techniques.BY_NAME)
    for b in dry_run.run.benchmarks.values():
        fixed = techniques.get(b.technique).reference
        if fixed is not None:
            assert b.extra_info["reference"] == fixed, b.fullname


def test_each_size_of_the_resolution_sweep_records_the_stem_it_was_built_with(dry_run):
    """One network at every size: the largest size's stem, recorded where it is not the
    stem the size would have had on its own."""
    budget = profiles.get(dry_run.name).resolution
    largest = max(budget.sizes)
    sweep = [b for b in dry_run.run.benchmarks.values() if b.technique == "resolution"]
    assert {b.extra_info["image_size"] for b in sweep} == set(budget.sizes)
    for b in sweep:
        size = b.extra_info["image_size"]
        assert b.extra_info.get("stem_size") == models.stem_for(budget.model, size, largest)
    assert any("stem_size" in b.extra_info for b in sweep)  # the case the quick profile lacks


def test_the_report_and_its_summary_render(dry_run):
    assert "## Summary: what pays off on this machine" in dry_run.report
    saved = {b.technique for b in dry_run.run.benchmarks.values()}
    for technique in saved:
        assert f"## {technique}" in dry_run.report
    rows = {r.technique for r in summary.technique_rows(dry_run.run)}
    rows |= {t.technique for t in tradeoffs.trade_offs(dry_run.run)}  # the sweeps' fronts
    assert rows >= saved - {"gradcam"}  # Grad-CAM explains; it has no verdict
    assert report.summary_text(dry_run.run).startswith(
        DRY_RUN_NOTE.replace("**", "").replace("`", "")
    )


STEP_TECHNIQUES = techniques.of_kind("step")  # precision, grad zeroing, memory format, compile


def test_the_step_techniques_record_time_to_target_and_the_summary_states_it(dry_run):
    """Where the profile says `step_to_target` (standard, paper), every variant of every
    step technique records its time to the target (null where, as in a few steps, no
    seed reached it) and its curves, and the summary's time cell says which time it
    states."""
    profile = profiles.get(dry_run.name)
    assert profile.step_to_target
    ran = set(STEP_TECHNIQUES) & set(dry_runs.BENCHES[dry_run.name] or STEP_TECHNIQUES)
    steps = [
        b
        for b in dry_run.run.benchmarks.values()
        if b.technique in STEP_TECHNIQUES and b.extra_info.get("unit") == "train_step"
    ]
    assert {b.technique for b in steps} == ran
    for b in steps:
        info = b.extra_info
        assert "time_to_target_s" in info and "time_to_target_s_per_seed" in info, b.fullname
        assert info["target_accuracy"] == profile.target_accuracy and "curves" in info
    rows = [r for r in summary.technique_rows(dry_run.run) if r.technique in STEP_TECHNIQUES]
    assert {r.technique for r in rows} == ran
    target = f"time to {100 * profile.target_accuracy:.1f}%"
    for r in rows:
        assert r.time is not None and r.time.what.startswith((target, "step ratio")), r
        assert "time to" in r.time.text(), r.time.text()


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
    import json

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
