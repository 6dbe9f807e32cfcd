"""The timing lane end to end: workers forked from one zygote, blocks of round-pairs.

On throwaway git projects: a tiny one with real torch work (seconds a block), and a
copy of this repository's own model-size bench (the worker protocol on the real
benches, conftest and fixtures). Slowdowns are 2x or more, so that a loaded machine
cannot hide them; nothing here asserts a time.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from ab_helpers import (
    commit_all,
    interrupt,
    marked,
    new_repo,
    start_ab,
    torch_project,
    wait_for,
    worktrees,
)

from visionbench import cli

pytestmark = pytest.mark.quiet  # real timings judged: after the dry runs (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--times-only", "--alpha", "0.05", "--seed", "3"]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    repo = torch_project(tmp_path / "tiny")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return repo


def by_name(data: dict) -> dict[str, dict]:
    return {b["name"].split("::")[-1]: b for b in data["benchmarks"]}


def test_calibration_then_a_2x_slowdown_flagged_and_its_neighbour_not(tiny, tmp_path, capsys):
    """--calibrate: the baseline against itself, each benchmark's spreads and smallest
    provable changes, saved for this machine; then a candidate whose conv bench does
    twice the work: that one regresses, the untouched one does not, and the run's plan
    comes from the calibration."""
    store = tmp_path / "store"
    calibrate = ["ab", "--baseline", "HEAD", "--calibrate", "--budget", "0.5", "--rounds", "6"]
    assert cli.main([*calibrate, "--storage", str(store)]) == 0
    out = capsys.readouterr().out
    assert "provable in 15 min" in out and "sd block" in out and "bench_conv" in out
    (entry,) = json.loads((store / "visionbench-ab-calibration.json").read_text())["entries"]
    assert entry["machine"]["threads"] >= 1 and entry["machine"]["cores"] >= 1
    noise = entry["time"]["benchmarks"]
    assert set(noise) == {
        "benches/bench_tiny.py::bench_conv",
        "benches/bench_tiny.py::bench_steady",
    }
    assert all(b["blocks"] >= 3 and b["block_sd"] is not None for b in noise.values())

    (tiny / "benches" / "work.txt").write_text("2\n")
    result = tmp_path / "slow.json"
    args = [*QUICK, "--max-blocks", "8", "--rounds", "8", "--storage", str(store)]
    assert cli.main(["ab", "--baseline", "HEAD", *args, "--json", str(result)]) == 1
    captured = capsys.readouterr()
    assert "plan from this machine's calibration" in captured.err
    data = json.loads(result.read_text())
    benches = by_name(data)
    assert benches["bench_conv"]["verdict"] == "regression"
    assert benches["bench_conv"]["ratio"] > 1.3 and benches["bench_conv"]["ci_low"] > 1.1
    assert benches["bench_steady"]["verdict"] != "regression"
    env = data["environment"]
    assert env["threads"] == 1 or env["threads"] >= 1
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["PYTHONHASHSEED"] == "0"
    assert env["environment_bytes"] > 0 and env["aslr"].startswith(("off", "on"))
    assert set(data["minutes"]) >= {"set-up", "timing blocks", "trainings", "total"}
    assert data["minutes"]["timing blocks"] > 0 and data["minutes"]["trainings"] == 0
    assert "smallest change provable" in captured.out
    assert len(worktrees(tiny)) == 1


def test_an_a_a_flags_nothing(tiny, tmp_path):
    result = tmp_path / "aa.json"
    args = [*QUICK, "--max-blocks", "7", "--rounds", "6", "--json", str(result)]
    assert cli.main(["ab", "--baseline", "HEAD", *args]) == 0
    data = json.loads(result.read_text())
    assert data["blocks"] == 7
    assert {b["verdict"] for b in data["benchmarks"]} <= {"unchanged", "inconclusive"}


EVAL_ONLY_SLOWDOWN = """

# -- test: in eval mode every convolution runs its forward on two batches more
import torch as _torch  # noqa: E402
import torch.nn as _nn  # noqa: E402

_forward = _nn.Conv2d.forward


def _slower(self, x):
    out = _forward(self, x)
    if not self.training:
        with _torch.no_grad():
            _forward(self, _torch.cat([x, x]))
    return out


_nn.Conv2d.forward = _slower
"""


@pytest.fixture
def repo_copy(tmp_path, monkeypatch):
    """This repository's benches, fixtures, conftest and src in a git project of its own."""
    repo = tmp_path / "repo"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("src", "benches", "fixtures"):
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy(ROOT / name, repo / name)
    new_repo(repo)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return repo


def test_an_eval_only_slowdown_flags_inference_and_no_train_step(repo_copy, tmp_path):
    """The real model-size bench, small CNN, quick profile: with convolutions slowed in
    eval mode only (patched into the candidate's conftest.py), its inference batch
    regresses and its training step does not."""
    with open(repo_copy / "conftest.py", "a", encoding="utf-8") as fh:
        fh.write(EVAL_ONLY_SLOWDOWN)
    result = tmp_path / "eval.json"
    args = [*QUICK, "--max-blocks", "7", "--rounds", "6", "--json", str(result),
            "benches/bench_model_size.py", "-k", "small_cnn", "--vb-profile", "quick",
            "--vb-device", "cpu"]  # fmt: skip
    assert cli.main(["ab", "--baseline", "HEAD", *args]) == 1
    benches = by_name(json.loads(result.read_text()))
    assert set(benches) == {"bench_train_step[cpu-mnist5k-small_cnn]",
                            "bench_inference[cpu-mnist5k-small_cnn]"}  # fmt: skip
    assert benches["bench_inference[cpu-mnist5k-small_cnn]"]["verdict"] == "regression"
    assert benches["bench_train_step[cpu-mnist5k-small_cnn]"]["verdict"] != "regression"


@pytest.mark.parametrize("when", ["zygote starting", "workers building", "round-pairs"])
def test_ctrl_c_at_any_point_leaves_nothing_running(tiny, when):
    """SIGINT to the command alone, at three points: it ends with 130, and no worktree,
    no zygote and no worker is left."""
    if when == "workers building":  # the bench sleeps at import: the workers are building
        bench = tiny / "benches" / "bench_tiny.py"
        bench.write_text("import time\ntime.sleep(60)\n" + bench.read_text())
        commit_all(tiny, "slow import")
    proc, mark = start_ab(tiny, "--baseline", "HEAD", "--times-only", "--rounds", "40")
    # marked: the command itself, then its zygote, then the zygote's two workers
    if when == "zygote starting":
        assert wait_for(lambda: len(marked(mark)) >= 2), "the zygote never started"
    else:
        assert wait_for(lambda: len(marked(mark)) >= 4), "the workers never started"
        time.sleep(2.0 if when == "workers building" else 8.0)
    interrupt(proc, mark, tiny)
