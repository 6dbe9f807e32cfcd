"""`visionbench ab`: the baseline worktree, its clean-up, bad input, and whole runs
on a tiny project of its own (pytest-benchmark benches without torch: seconds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from visionbench import cli
from visionbench.gate import ab, output

SRC = Path(__file__).resolve().parents[1] / "src"

BENCH = """\
import pathlib
import time

WORK = int(pathlib.Path(__file__).with_name("work.txt").read_text())
PAUSE = float(pathlib.Path(__file__).with_name("pause.txt").read_text())


def bench_loop(benchmark):
    time.sleep(PAUSE)
    benchmark.pedantic(lambda: sum(range(WORK)), rounds=5, warmup_rounds=1)
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A git repository with one bench; the working directory is inside it."""
    repo = tmp_path / "proj"
    (repo / "benches").mkdir(parents=True)
    (repo / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [tool.pytest.ini_options]
        python_files = ["bench_*.py"]
        python_functions = ["bench_*"]
        """)
    )
    (repo / "benches" / "bench_fake.py").write_text(BENCH)
    (repo / "benches" / "work.txt").write_text("20000\n")
    (repo / "benches" / "pause.txt").write_text("0\n")
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return repo


def worktrees(repo: Path) -> list[str]:
    return [ln for ln in git(repo, "worktree", "list", "--porcelain").splitlines()
            if ln.startswith("worktree ")]  # fmt: skip


def test_the_baseline_worktree_is_checked_out_and_removed(project):
    commit = ab.resolve_rev(project, "HEAD")
    with ab.baseline_worktree(project, commit) as tree:
        assert (tree / "benches" / "bench_fake.py").is_file()
        assert git(tree, "rev-parse", "HEAD") == commit
        assert len(worktrees(project)) == 2
    assert not tree.exists() and not tree.parent.exists()
    assert len(worktrees(project)) == 1


def test_the_worktree_is_removed_on_ctrl_c(project):
    with pytest.raises(KeyboardInterrupt), ab.baseline_worktree(project, "HEAD") as tree:
        raise KeyboardInterrupt
    assert not tree.parent.exists() and len(worktrees(project)) == 1


def test_a_bad_rev_is_bad_input_naming_it(project, capsys):
    assert cli.main(["ab", "--baseline", "no-such-rev", "--budget", "1"]) == 2
    assert "'no-such-rev' is not a commit" in capsys.readouterr().err
    assert len(worktrees(project)) == 1


def test_outside_a_git_tree_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert cli.main(["ab", "--baseline", "HEAD"]) == 2
    assert "not inside a git working tree" in capsys.readouterr().err


def test_the_candidate_says_dirty_and_detached(project):
    assert ab.describe_tree(project).endswith(" (main)")
    assert "+dirty" not in ab.describe_tree(project)
    (project / "benches" / "work.txt").write_text("30000\n")
    assert "+dirty (main)" in ab.describe_tree(project)
    git(project, "checkout", "-q", "--detach")
    assert ab.describe_tree(project).endswith("+dirty (detached)")


def test_pytest_arguments_a_side_rejects_are_bad_input(project, capsys):
    code = cli.main(["ab", "--baseline", "HEAD", "--times-only", "--no-such-pytest-option"])
    assert code == 2
    assert "--no-such-pytest-option" in capsys.readouterr().err
    assert len(worktrees(project)) == 1


def test_other_commands_still_reject_unknown_arguments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["history", "--no-such-option"])


def test_a_uncommitted_slowdown_is_a_regression_and_a_a_passes(
    project, tmp_path, capsys, monkeypatch
):
    """The candidate is the working tree as it is: an uncommitted change that makes
    the bench 4x slower regresses; the same invocation on a clean tree does not."""
    common = ["ab", "--baseline", "HEAD", "--times-only", "--alpha", "0.05", "--seed", "1"]
    (project / "benches" / "work.txt").write_text("80000\n")
    out = tmp_path / "slow.json"
    assert cli.main([*common, "--max-pairs", "6", "--json", str(out), "-q"]) == 1
    data = json.loads(out.read_text())
    assert data["baseline"] == git(project, "rev-parse", "HEAD")
    assert "+dirty" in data["candidate"]
    assert data["pairs"] == 6 and data["seconds"] > 0
    assert data["orders"].count("AB") == data["orders"].count("BA") == 3
    (bench,) = data["benchmarks"]
    assert bench["name"] == "benches/bench_fake.py::bench_loop"
    assert bench["metric"] == "time" and bench["verdict"] == "regression"
    assert bench["pairs"] == 6 and bench["ratio"] > 2 and bench["ci_low"] > 1.5
    assert bench["p_value"] < 0.05 and bench["ci_high"] >= bench["ratio"]
    assert "regression" in capsys.readouterr().out
    assert "A/B gate FAILED" in (project / "reports" / "ab.md").read_text()

    git(project, "checkout", "--", "benches/work.txt")
    out, step_summary = tmp_path / "same.json", tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    assert cli.main([*common, "--max-pairs", "2", "--json", str(out)]) == 0
    assert "A/B gate passed" in step_summary.read_text()
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["verdict"] != "regression" and bench["pairs"] == 2
    assert len(worktrees(project)) == 1


def test_deterministic_figures_come_from_one_full_run_per_side(project, tmp_path, capsys):
    out = tmp_path / "ab.json"
    assert cli.main(["ab", "--baseline", "HEAD", "--max-pairs", "2", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "full run of the baseline" in err and "full run of the candidate" in err
    data = json.loads(out.read_text())
    assert data["pairs"] == 2
    assert [b["metric"] for b in data["benchmarks"]] == ["time"]  # the fake bench records none


def test_ctrl_c_mid_run_removes_the_worktree(project):
    """SIGINT while a pair runs: the command ends (130) and leaves no worktree behind."""
    (project / "benches" / "pause.txt").write_text("30\n")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "visionbench.cli", "ab", "--baseline", "HEAD", "--times-only"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell's background job ignores SIGINT and its children inherit that: give the
        # command Python's usual Ctrl-C, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(worktrees(project)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(worktrees(project)) == 2, "the baseline worktree never appeared"
    time.sleep(1.0)  # a pair is running
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert len(worktrees(project)) == 1


def test_pytest_runs_the_benches_unless_a_path_is_named(project):
    assert ab.with_benches(project, ["-k", "model_size"]) == ["benches", "-k", "model_size"]
    named = ["benches/bench_fake.py::bench_loop", "-q"]
    assert ab.with_benches(project, named) == named


def test_a_bench_failing_in_the_candidate_fails_the_gate_but_not_in_the_baseline_alone():
    code, headline, _ = output.ab_verdict({}, {"x": "OutOfMemoryError"}, [], allow_missing=False)
    assert code == 1 and "1 failed" in headline
    theirs = {"x": f"{output.BASELINE_FAILED}OutOfMemoryError"}
    code, headline, _ = output.ab_verdict({}, theirs, [], allow_missing=False)
    assert code == 0 and "1 baseline failed" in headline
