"""`visionbench ci`'s parts, each on its own: the job's context from what GitHub Actions
sets, the baseline chosen from git and the history, the testbed, the one summary, the
runner's readiness, a job stopped mid-step, and a matrix's shards merged or refused. The
whole life: test_ci_lifecycle.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from argparse import Namespace
from pathlib import Path

import pytest
from gate_helpers import FINGERPRINT, run_data, save, steady
from gate_helpers import bench as gate_bench
from history_helpers import figures, write
from test_shards import shard_runs

from visionbench.ci import commands, context, decide, ready, sharded, steps
from visionbench.ci.context import CiError
from visionbench.ci.summary import MARKER, Summary
from visionbench.history import branch
from visionbench.measure import results

ROOT = Path(__file__).resolve().parents[1]
NO_OPTIONS = Namespace()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


# -- the context ------------------------------------------------------------------------------


def github_env(tmp_path: Path, event: str, data: dict) -> dict[str, str]:
    (tmp_path / "event.json").write_text(json.dumps(data))
    return {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_SHA": "merge" * 8,
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_BASE_REF": "main",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_REPOSITORY": "acme/vision",
        "GITHUB_SERVER_URL": "https://github.example.invalid",
        "GITHUB_RUN_ID": "42",
    }


PR_EVENT = {
    "pull_request": {"head": {"sha": "a" * 40, "repo": {"full_name": "acme/vision"}}},
    "repository": {"default_branch": "trunk"},
}


def test_a_pull_requests_context_tests_its_head_not_githubs_merge_commit(tmp_path):
    ctx = context.from_environment(NO_OPTIONS, github_env(tmp_path, "pull_request", PR_EVENT))
    assert ctx.sha == "a" * 40 and ctx.base_ref == "main" and not ctx.fork
    assert ctx.main_branch == "trunk" and not ctx.on_main
    assert ctx.run_url == "https://github.example.invalid/acme/vision/actions/runs/42"


def test_a_fork_is_told_by_the_events_head_repository(tmp_path):
    data = {"pull_request": {"head": {"sha": "b" * 40, "repo": {"full_name": "Mallory/vision"}}}}
    ctx = context.from_environment(NO_OPTIONS, github_env(tmp_path, "pull_request", data))
    assert ctx.fork and ctx.head_repository == "Mallory/vision"


def test_options_win_over_the_environment_and_a_push_to_main_is_main(tmp_path):
    env = github_env(tmp_path, "pull_request", PR_EVENT)
    options = Namespace(event="push", ref="refs/heads/main", sha="c" * 40, main_branch="main")
    ctx = context.from_environment(options, env)
    assert ctx.on_main and ctx.sha == "c" * 40
    assert not context.from_environment(Namespace(event="push", ref="refs/heads/x"), {}).on_main


def test_a_job_without_an_event_or_with_an_unreadable_one_is_refused(tmp_path):
    with pytest.raises(CiError, match="give --event"):
        context.from_environment(NO_OPTIONS, {})
    (tmp_path / "event.json").write_text("{not json")
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(tmp_path / "event.json")}
    with pytest.raises(CiError, match=r"event\.json"):
        context.from_environment(NO_OPTIONS, env)


def test_ci_names_the_default_history_branch_as_the_branch_module_does():
    assert commands.DEFAULT_BRANCH == branch.DEFAULT_BRANCH


# -- the baseline -----------------------------------------------------------------------------


@pytest.fixture
def line(tmp_path):
    """A git history c1 <- c2 <- c3 <- c4 <- c5 and a history folder with runs of c1
    and c3 (and a dirty run of c4, never a baseline)."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    commits = []
    for i in range(1, 6):
        (repo / "f.txt").write_text(str(i))
        git(repo, "add", "f.txt")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", f"c{i}")
        commits.append(git(repo, "rev-parse", "HEAD"))
    folder = tmp_path / "history" / "testbed"
    for number, (i, dirty) in enumerate([(0, False), (2, False), (3, True)], 1):
        data = run_data(figures(number), None, commits[i], f"2026-01-0{number}T12:00:00+00:00")
        data["commit_info"]["dirty"] = dirty
        write(folder.parent, folder.name, number, f"run{i + 1}", data)
    return repo, folder, commits


def test_the_merge_bases_own_run_is_the_baseline(line):
    repo, folder, commits = line
    chosen = decide.baseline(repo, folder, commits[2])
    assert chosen.run.path.name == "0002_run3.json"
    assert chosen.why == f"the run of the merge base {commits[2][:12]}"


def test_else_the_newest_run_of_main_at_or_before_the_merge_base(line):
    repo, folder, commits = line
    chosen = decide.baseline(repo, folder, commits[4])  # c5: no run; c4's is dirty
    assert chosen.run.path.name == "0002_run3.json"
    assert f"commit {commits[2][:12]}, 2 commit(s) before it" in chosen.why
    assert decide.baseline(repo, folder, commits[1]).run.path.name == "0001_run1.json"


def test_no_run_at_or_before_the_merge_base_is_no_baseline(line):
    repo, folder, commits = line
    for path in results.run_files(folder)[:2]:
        path.unlink()
    chosen = decide.baseline(repo, folder, commits[4])
    assert chosen.run is None and "no run of main at or before the merge base" in chosen.why


def test_a_merge_base_needs_both_histories(line):
    repo, _, commits = line
    assert decide.merge_base(repo, commits[3], commits[4]) == commits[3]
    with pytest.raises(CiError, match="fetch-depth: 0"):
        decide.merge_base(repo, "origin/main", commits[4])


def test_the_testbed_is_the_matching_folder_else_the_nearest_and_what_differs(tmp_path):
    history = tmp_path / "history"
    write(history, "a-testbed", 1, "x", run_data(figures(1), None, "1" * 40, "2026-01-01"))
    other = {**FINGERPRINT, "torch": "9.9.9", "driver": "999.1"}
    write(history, "b-testbed", 1, "y", run_data(figures(1), other, "2" * 40, "2026-01-01"))
    mine = results.load(
        write(
            tmp_path / "bench",
            "m",
            1,
            "z",
            run_data(figures(2), {**FINGERPRINT, "torch": "9.9.9"}, "3" * 40, "2026-01-02"),
        )
    )
    found = decide.testbed(history, mine)
    assert found.folder is None and found.nearest.name == "a-testbed"
    assert found.differences() == f"torch {FINGERPRINT['torch']} → 9.9.9"
    same = results.load(
        write(tmp_path / "bench", "m", 2, "w", run_data(figures(3), None, "4" * 40, "2026-01-03"))
    )
    assert decide.testbed(history, same).folder.name == "a-testbed"


# -- the summary ------------------------------------------------------------------------------


def test_the_summary_is_one_markdown_with_the_gates_folded(tmp_path):
    (tmp_path / "ab.md").write_text("## A/B\n\n**A/B gate FAILED: 1 regression**\n\n| t |\n")
    s = Summary("visionbench on this pull request", verdict="FAILED: slower")
    assert s.part("the A/B gate", tmp_path / "ab.md") == "A/B gate FAILED: 1 regression"
    assert s.part("the history gate", tmp_path / "gate.md") is None  # not written
    s.row("baseline", "0001_x: a | b")
    s.note("only the A/B lane gated")
    text = s.markdown()
    assert text.startswith(MARKER + "\n") and text.count(MARKER) == 1
    assert "**FAILED: slower**" in text and "> **only the A/B lane gated**" in text
    assert "| baseline | 0001_x: a \\| b |" in text  # a cell's pipe cannot split the row
    assert "<details><summary>the A/B gate</summary>" in text and "| t |" in text
    assert "the history gate" not in text


# -- readiness --------------------------------------------------------------------------------


def test_a_ready_cpu_runner_names_python_and_torch():
    found = ready.check("cpu", ROOT)
    assert found.python == sys.version.split()[0] and found.torch and not found.gpus


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a usable GPU")
def test_cuda_unusable_fails_loudly_naming_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(CiError) as caught:
        ready.check("cuda", ROOT)
    message = str(caught.value)
    assert "CUDA is not usable" in message and "never falls back to the CPU" in message
    assert "CUDA_VISIBLE_DEVICES=''" in message


def test_a_package_missing_or_too_old_is_named(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["no-such-distribution>=1", "pytest>=999"]\n'
    )
    with pytest.raises(CiError) as caught:
        ready.check("cpu", tmp_path)
    message = str(caught.value)
    assert "no-such-distribution is not installed" in message
    assert "pytest>=999" in message and "this runner is not ready" in message


# -- a stopped job -----------------------------------------------------------------------------


def test_a_signal_stops_the_running_step_and_the_job(tmp_path):
    """SIGTERM to the job while a step runs: the step is ended, Stopped carries 143."""
    child = tmp_path / "pid"
    script = f"import os, time; open({str(child)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM))
    start = time.monotonic()
    with pytest.raises(steps.Stopped) as caught, steps.Steps(tmp_path) as job:
        timer.start()
        job.run("a long step", [sys.executable, "-c", script])
    assert caught.value.code == 128 + signal.SIGTERM and job.current == "a long step"
    assert time.monotonic() - start < 50  # ended, not waited for
    pid = int(child.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


# -- the command ------------------------------------------------------------------------------


def test_ci_pr_refuses_another_event(tmp_path, capsys):
    from visionbench import cli

    args = ["ci", "pr", "--event", "push", "--out", str(tmp_path / "out")]
    assert cli.main(args) == 2
    assert "a pull request's job, not 'push'" in capsys.readouterr().err


def test_a_forks_pull_request_is_named_with_the_standard_library_alone(tmp_path):
    """As the workflow's hosted job runs it: `python -S` (no site-packages at all)."""
    env = {
        **github_env(
            tmp_path,
            "pull_request",
            {"pull_request": {"head": {"sha": "d" * 40, "repo": {"full_name": "mallory/vision"}}}},
        ),
        "PYTHONPATH": str(ROOT / "src"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "PATH": os.environ["PATH"],
    }
    done = subprocess.run(
        [sys.executable, "-S", "-m", "visionbench.ci", "pr", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "summary.md").read_text()
    assert "**not benchmarked: a pull request from the fork mallory/vision**" in text
    assert "never runs a fork's code" in text
    assert "::warning::not benchmarked" in done.stdout


def test_a_job_that_breaks_exits_2_with_its_summary_never_1(tmp_path):
    """A bug in a job is not a regression: exit 2, and the one summary says what broke."""
    from visionbench.ci.jobs import Job

    options = Namespace(event="push", repo=tmp_path, out=tmp_path / "out", device="cpu",
                        step_summary=str(tmp_path / "step.md"))  # fmt: skip
    job = Job(context.from_environment(options, {}), options, "visionbench on main")

    def broken() -> int:
        raise RuntimeError("a bug")

    assert job.run(broken) == 2
    text = (tmp_path / "step.md").read_text()
    assert text.count(MARKER) == 1 and "**could not run: RuntimeError: a bug" in text
    assert (tmp_path / "out" / "summary.md").read_text().strip() == text.strip()


# -- a matrix's shards ------------------------------------------------------------------------


def test_the_matrix_is_its_shards_as_step_outputs_and_a_bad_count_is_refused(tmp_path, capsys):
    out = tmp_path / "output"
    assert commands.main(["matrix", "--shards", "3", "--outputs", str(out)]) == 0
    assert out.read_text() == 'count=3\nshards=["1/3", "2/3", "3/3"]\n'
    for bad in ("0", "two", "-1", "257", ""):
        assert commands.main(["matrix", "--shards", bad, "--outputs", str(out)]) == 2
        assert "VISIONBENCH_SHARDS" in capsys.readouterr().err
    assert out.read_text().count("count=") == 1  # a refused count writes no output


def artifacts(tmp_path: Path, runs: list[dict]) -> Path:
    """The shards' runs as the final job downloads them: one folder per artifact, each
    holding what `ci shard` saved in run/ (a machine folder, a run file)."""
    folder = tmp_path / "artifacts"
    for i, data in enumerate(runs):
        save(folder / f"gpu-bench-shard-{i}", 1, f"shard{i + 1}", data)
    return folder


HEAD = "0123456789abcdef"  # the commit test_shards.shard_runs makes its runs at


def test_the_shards_runs_merge_into_the_jobs_run(tmp_path):
    run, count = sharded.merged(artifacts(tmp_path, shard_runs()), tmp_path / "run", HEAD)
    assert count == 2 and len(run.benchmarks) == 4
    assert run.path.parent.parent == tmp_path / "run" and run.path.name.startswith("0001_merged")
    assert results.load_run("latest", tmp_path / "run").path == run.path  # as a job's own run
    assert sharded.plan_line(run) == "shards 1/2, 2/2, split by count"


def plain_run() -> dict:
    return run_data([gate_bench("other", steady(5))], commit=HEAD)


@pytest.mark.parametrize(
    ("runs", "head", "reason"),
    [
        pytest.param(lambda: [], HEAD, "holds no saved run: no shard job uploaded one", id="none"),
        pytest.param(lambda: shard_runs()[:1], HEAD, "shards 2/2 are missing", id="missing"),
        pytest.param(
            lambda: shard_runs(), "f" * 40, f"tests {'f' * 12}: a shard of another", id="old"
        ),
        pytest.param(
            lambda: [shard_runs()[0], shard_runs(commit="f" * 16)[1]],
            HEAD,
            "commit ffffffff",
            id="one-of-another-commit",
        ),
        pytest.param(
            lambda: [shard_runs()[0], shard_runs(fingerprint={"torch": "9.9.9"})[1]],
            HEAD,
            "different machine fingerprints (torch",
            id="fingerprints",
        ),
        pytest.param(lambda: [shard_runs()[0]] * 2, HEAD, "is in both", id="overlap"),
        pytest.param(
            lambda: [shard_runs()[0], shard_runs(3)[1]], HEAD, "different plans", id="plans"
        ),
        pytest.param(lambda: [plain_run()], HEAD, "is not a shard's run", id="not-a-shard"),
    ],
)
def test_shards_that_are_not_one_run_of_the_tested_commit_are_refused(tmp_path, runs, head, reason):
    folder = artifacts(tmp_path, runs())
    folder.mkdir(exist_ok=True)
    with pytest.raises(CiError) as caught:
        sharded.merged(folder, tmp_path / "run", head)
    assert reason in str(caught.value)
    assert not (tmp_path / "run").exists()  # nothing saved, so nothing gated or pushed


def test_no_folder_of_shards_is_refused_naming_the_option(tmp_path):
    with pytest.raises(CiError, match=r"--shard-runs .*missing: no such folder"):
        sharded.merged(tmp_path / "missing", tmp_path / "run", HEAD)
