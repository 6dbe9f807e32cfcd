"""Every profile's path on the CPU: `standard` and `paper` (the default wherever there is
a GPU) run as dry runs (`--vb-dry-run`: every variant, model, input size and dataset, on a
few images for a few steps) over every bench, as `nox -s bench` runs them. Every
benchmark is saved and valid against the schema, none failed, only the CUDA-only variants
and the cases the profile cannot run here are skipped (with their reasons), every stem
of the resolution sweep is built and recorded, and the report and its summary render.

`quick` runs for real in the other bench tests; here, each of the two other profiles is
one pytest process, started when collection ends and run beside the rest of the suite
(tests/dry_runs.py); these tests run last. `standard`'s runs every bench; `paper`'s only
the benches whose code paths `paper` changes (dry_runs.BENCHES says which and why). The
fast tests of what a dry run keeps and how a failure reaches this check are in
tests/test_dry_run_parts.py.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import dry_runs
import pytest
from dry_runs import PROFILES
from helpers import saved_problems

from visionbench import cli, models, profiles, report
from visionbench.measure import results, techniques
from visionbench.report import summary, tradeoffs
from visionbench.report.run import DRY_RUN_NOTE

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
    started = request.config.stash.get(dry_runs.STARTED, {}).get(name) or dry_runs.found(name)
    assert started is not None, f"the {name} dry run was not started (tests/conftest.py)"
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
