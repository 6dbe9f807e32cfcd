"""`visionbench ab`: the baseline worktree, its clean-up, bad input, and whole runs
on a tiny project of its own (a pytest-benchmark bench without torch: seconds a block)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest
from ab_helpers import git, interrupt, marked, start_ab, wait_for, worktrees

from visionbench import cli
from visionbench.ab import calibration, full_runs, output, processes, worktree
from visionbench.gate.config import GateConfig
from visionbench.stats import paired, sequential

BENCH = """\
import pathlib
import time

WORK = int(pathlib.Path(__file__).with_name("work.txt").read_text())
PAUSE = float(pathlib.Path(__file__).with_name("pause.txt").read_text())


def bench_loop(benchmark):
    time.sleep(PAUSE)
    benchmark.pedantic(lambda: sum(range(WORK)), rounds=5, warmup_rounds=1)
"""


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


def test_the_baseline_worktree_is_checked_out_and_removed(project):
    commit = worktree.resolve_rev(project, "HEAD")
    with worktree.baseline_worktree(project, commit) as tree:
        assert (tree / "benches" / "bench_fake.py").is_file()
        assert git(tree, "rev-parse", "HEAD") == commit
        assert len(worktrees(project)) == 2
    assert not tree.exists() and not tree.parent.exists()
    assert len(worktrees(project)) == 1


def test_the_worktree_is_removed_on_ctrl_c(project):
    with pytest.raises(KeyboardInterrupt), worktree.baseline_worktree(project, "HEAD") as tree:
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
    assert worktree.describe_tree(project).endswith(" (main)")
    assert "+dirty" not in worktree.describe_tree(project)
    (project / "benches" / "work.txt").write_text("30000\n")
    assert "+dirty (main)" in worktree.describe_tree(project)
    git(project, "checkout", "-q", "--detach")
    assert worktree.describe_tree(project).endswith("+dirty (detached)")


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
    the bench 4x slower regresses; the same invocation on a clean tree does not, with
    blocks enough that the exact test could have rejected (an A/A of fewer could pass
    whatever the gate did)."""
    common = ["ab", "--baseline", "HEAD", "--times-only", "--alpha", "0.05", "--seed", "1"]
    (project / "benches" / "work.txt").write_text("80000\n")
    out = tmp_path / "slow.json"
    rounds = ["--max-blocks", "6", "--rounds", "8"]
    assert cli.main([*common, *rounds, "--json", str(out), "-q"]) == 1
    data = json.loads(out.read_text())
    assert data["baseline"] == git(project, "rev-parse", "HEAD")
    assert "+dirty" in data["candidate"]
    # decided at the first look, the fewest blocks at which the exact test can reject
    assert data["lane"] == "time" and data["seconds"] > 0
    assert data["blocks"] == paired.least_pairs(0.05) == 5
    name = "benches/bench_fake.py::bench_loop"
    for block in data["block_records"]:  # each block: 8 round-pairs, as many AB as BA
        assert block["round_pairs"] == {name: 8}
        assert sorted(block["orders"][name]) == ["AB"] * 4 + ["BA"] * 4
    (bench,) = data["benchmarks"]
    assert bench["name"] == name
    assert bench["metric"] == "time" and bench["verdict"] == "regression"
    assert bench["blocks"] == 5 and bench["ratio"] > 2 and bench["ci_low"] > 1.5
    assert bench["p_value"] < 0.05 and bench["ci_high"] >= bench["ratio"]
    assert "regression" in capsys.readouterr().out
    assert "A/B gate FAILED" in (project / "reports" / "ab.md").read_text()

    git(project, "checkout", "--", "benches/work.txt")
    out, step_summary = tmp_path / "same.json", tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    least = paired.least_pairs(0.01)  # 7: below it the exact test cannot reject at all
    aa = ["ab", "--baseline", "HEAD", "--times-only", "--alpha", "0.01", "--seed", "1"]
    assert cli.main([*aa, "--rounds", "8", "--max-blocks", str(least + 3), "--json", str(out)]) == 0
    assert "A/B gate passed" in step_summary.read_text()
    assert "smallest change provable" in step_summary.read_text()
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["verdict"] in ("unchanged", "inconclusive")
    assert least <= bench["blocks"] <= least + 3
    assert bench["provable"] is not None  # these blocks could have proven a change
    assert len(worktrees(project)) == 1


def test_deterministic_figures_come_from_one_full_run_per_side(project, tmp_path, capsys):
    out = tmp_path / "ab.json"
    assert cli.main(["ab", "--baseline", "HEAD", "--max-blocks", "2", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "full run of the baseline" in err and "full run of the candidate" in err
    data = json.loads(out.read_text())
    assert data["blocks"] == 2
    assert data["minutes"]["trainings"] > 0 and data["minutes"]["timing blocks"] > 0
    assert [b["metric"] for b in data["benchmarks"]] == ["time"]  # the fake bench records none


def test_ctrl_c_mid_block_leaves_no_worktree_and_no_process(project):
    """SIGINT while the workers build (the bench pauses in its test body): the command
    ends (130), leaving no worktree, no worker and no zygote."""
    (project / "benches" / "pause.txt").write_text("30\n")
    proc, mark = start_ab(project, "--baseline", "HEAD", "--times-only")
    assert wait_for(lambda: len(marked(mark)) >= 3), "the zygote and its workers never appeared"
    time.sleep(1.0)  # both workers are in the bench's pause
    interrupt(proc, mark, project)


def test_pytest_runs_the_benches_unless_a_path_is_named(project):
    assert processes.with_benches(project, ["-k", "model_size"]) == ["benches", "-k", "model_size"]
    named = ["benches/bench_fake.py::bench_loop", "-q"]
    assert processes.with_benches(project, named) == named


def test_a_bench_failing_in_the_candidate_fails_the_gate_but_not_in_the_baseline_alone():
    code, headline = output.ab_verdict([], {"x": "OutOfMemoryError"}, [], allow_missing=False)
    assert code == 1 and "1 failed" in headline
    theirs = {"x": f"{processes.BASELINE_FAILED}OutOfMemoryError"}
    code, headline = output.ab_verdict(["unchanged"], theirs, [], allow_missing=False)
    assert code == 0 and headline == "A/B gate passed: 1 unchanged, 1 baseline failed"


def test_the_baseline_s_saved_run_of_the_same_commit_is_reused(project, tmp_path, capsys):
    """A run of the baseline commit saved on this machine: only the candidate trains, and
    the output says which run stood in for the baseline's."""
    store = tmp_path / "store"
    saved = subprocess.run(
        [sys.executable, "-m", "pytest", "benches", "-q", "-p", "no:cacheprovider",
         f"--benchmark-storage=file://{store}", "--benchmark-save=baseline"],
        cwd=project, capture_output=True, text=True,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stdout[-2000:]
    out = tmp_path / "ab.json"
    args = ["--max-blocks", "2", "--storage", str(store), "--json", str(out)]
    assert cli.main(["ab", "--baseline", "HEAD", *args]) == 0
    err = capsys.readouterr().err
    assert "full run of the candidate" in err and "full run of the baseline" not in err
    (note,) = json.loads(out.read_text())["notes"]
    assert "0001_baseline.json" in note and "only the candidate trained" in note


def test_a_full_run_past_the_budget_is_stopped_and_said(tmp_path):
    """The budget bounds the full runs too: one that would overrun is stopped, and
    accuracy and memory are reported NOT COMPARED instead of silently passing."""
    side = processes.Side("candidate", tmp_path, "working tree")

    class Overrunning:
        args = ("benches", "-k", "x")

        def run(self, side, *, timing_only, timeout):
            assert timeout <= 60.0 and not timing_only
            raise subprocess.TimeoutExpired("pytest", timeout)

    store = calibration.Store(tmp_path)
    runs = full_runs.FullRuns(Overrunning(), store, {"cpu": "x"}, left=lambda: 60.0)
    assert runs.compare(side, side, None, set(), GateConfig()) is None
    (warning,) = runs.warnings
    assert "NOT COMPARED" in warning and "--budget" in warning
    assert store.full_run_s({"cpu": "x"}, "benches -k x") == 60.0  # remembered, a lower bound


def test_too_few_blocks_are_said_not_provable_never_a_figure():
    """Four blocks cannot reach p < 0.01 in the exact signed-rank test (its least p is
    1/16): the table and the summary say "not provable", and an inconclusive verdict
    states no other figure beside it; seven blocks give a figure."""
    logs = {"b::x": [0.05, -0.02, 0.10, 0.01]}
    j = paired.judge(logs, level=0.01, tolerance=0.10)
    seq = sequential.Sequential(j, {}, 4, logs)
    (row,) = output.time_rows(seq, {"b::x": 0.2}, 0.01)
    assert row[-2:] == ["not provable", "inconclusive"]
    assert "none, with 4 block(s)" in output.provable_summary(seq, 0.01)
    logs = {"b::x": [0.05, -0.02, 0.10, 0.01, 0.03, 0.00, 0.04]}
    seq = sequential.Sequential(paired.judge(logs, level=0.01, tolerance=0.10), {}, 7, logs)
    (row,) = output.time_rows(seq, {"b::x": 0.2}, 0.01)
    # sd 0.0389: exp((z_0.99 + z_0.9) * 0.0389 / sqrt(7 * 3/pi)) - 1
    assert row[-2] == "5.6%"
