"""`nox -s tests`' two passes (tests/conftest.py): every test but the `quiet` ones over
pytest-xdist's workers, then the `quiet` ones alone; the dry runs an xdist controller
starts, found and waited for by the worker that checks them."""

from __future__ import annotations

import subprocess
import sys

import dry_runs
import pytest
from helpers import load_noxfile, run_pytest

QUIET_MODULE = "tests/test_ab_lane.py"  # every test of it is `quiet`
OTHER_MODULE = "tests/test_noxfile.py"  # none of it is


def collected(*args: str) -> tuple[int, list[str], str]:
    proc = run_pytest("--collect-only", "-q", *args, timeout=120)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    return proc.returncode, ids, proc.stdout


def test_the_two_passes_split_the_selection_and_lose_nothing():
    _, every, _ = collected(QUIET_MODULE, OTHER_MODULE)
    _, first, _ = collected(QUIET_MODULE, OTHER_MODULE, *load_noxfile().PARALLEL[-1:])
    _, second, _ = collected(QUIET_MODULE, OTHER_MODULE, *load_noxfile().ALONE)
    assert first and second
    assert all(i.startswith(OTHER_MODULE) for i in first)
    assert all(i.startswith(QUIET_MODULE) for i in second)
    assert sorted(first + second) == sorted(every)


def test_a_pass_left_empty_by_the_split_passes_and_an_empty_selection_fails():
    """`nox -s tests -- -k NAME` where NAME is only `quiet` tests: the first pass has
    nothing to run (the second runs them), which is not "no tests"; a selection that
    matches nothing at all still is (exit 5)."""
    code, ids, out = collected(QUIET_MODULE, "--quiet-tests=skip")
    assert (code, ids) == (0, []) and "left to the other pass" in out
    code, _, _ = collected(OTHER_MODULE, "--quiet-tests=skip", "-k", "no_such_test_anywhere")
    assert code == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_dry_run_is_found_by_a_process_that_did_not_start_it(tmp_path, monkeypatch):
    """What an xdist worker sees: the directory its controller named, each dry run's exit
    code written by the wrapper when its pytest ended, and its wait recorded there."""
    base = tmp_path / "dry"
    (base / "standard").mkdir(parents=True)
    (base / "standard" / "pytest.out").write_text("1 passed in 3.00s\n")
    subprocess.run(
        [sys.executable, "-c", dry_runs.WRAPPER, str(base / "standard" / "rc"),
         sys.executable, "-c", "raise SystemExit(3)"], check=True,
    )  # fmt: skip
    monkeypatch.setenv(dry_runs.DIR_ENV, str(base))
    assert dry_runs.found("paper") is None
    started = dry_runs.found("standard")
    done = started.wait()
    assert done.returncode == 3 and "1 passed" in done.stdout
    assert started.waited_s >= 0 and (base / "standard" / "waited").exists()
    assert dry_runs.timings({"standard": started}) == [
        f"standard dry run: 3 s on one thread; the tests waited {started.waited_s:.0f} s for it"
    ]


def test_the_controller_reads_which_dry_runs_its_workers_collected():
    ids = [
        "tests/test_dry_runs.py::test_every_benchmark_is_saved_valid_and_none_failed[paper]",
        "tests/test_dry_runs.py::test_every_model_and_size_of_the_profile_ran[standard]",
        "tests/test_dry_run_parts.py::test_a_dry_run_keeps_what_the_profile_runs[paper]",
        "tests/test_noxfile.py::test_x[standard]",
    ]
    assert dry_runs.selected_ids(ids) == ["standard", "paper"]
    assert dry_runs.selected_ids(ids[2:]) == []


def test_over_xdist_each_test_runs_once_on_one_worker_per_core():
    """The benches' plugin gives each xdist worker a device and sends it the whole
    collection (fixtures/shards.py); the suite takes it out, so a test runs once and
    `-n auto` means a worker per core."""
    import os
    import re

    module = "tests/test_metrics.py"
    _, ids, _ = collected(module)
    proc = run_pytest(module, *load_noxfile().PARALLEL, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(rf"\b{len(ids)} passed", proc.stdout), proc.stdout[-1000:]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f"created: {cores}/{cores} workers" in proc.stdout or cores == 1, proc.stdout[:800]
