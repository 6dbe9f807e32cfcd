"""The benchmark-history branch against a bare repository as the remote: appends, a second
fingerprint, pushes that race, reading it back, and the gate on what was read."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gate_helpers import MACHINE
from history_helpers import OTHER, history_run, write

from visionbench import cli
from visionbench.history import branch
from visionbench.history.branch import BranchError

BRANCH = branch.DEFAULT_BRANCH


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path, monkeypatch):
    """As on a CI runner: no global git configuration, no committer configured."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("NAME", "EMAIL"):
        for who in ("AUTHOR", "COMMITTER"):
            monkeypatch.delenv(f"GIT_{who}_{var}", raising=False)


@pytest.fixture
def remote(tmp_path):
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    return bare


def clone(remote: Path, path: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(remote), str(path)], check=True,
                   capture_output=True)  # fmt: skip
    return path


@pytest.fixture
def runs(tmp_path):
    """Run files as `nox -s bench` leaves them: three of this machine, one of another."""
    storage = tmp_path / "bench"
    ours = [write(storage, MACHINE, i, f"run{i}", history_run(i)) for i in (1, 2, 3)]
    other = write(storage, "elsewhere", 1, "other", history_run(4, OTHER))
    return {"ours": ours, "other": other}


def on_branch(remote: Path) -> dict[str, bytes]:
    """Every file on the remote's branch: path -> bytes."""
    names = git(remote, "ls-tree", "-r", "--name-only", BRANCH).split()
    return {
        name: subprocess.run(
            ["git", "-C", str(remote), "show", f"{BRANCH}:{name}"], capture_output=True,
            check=True,
        ).stdout
        for name in names
    }  # fmt: skip


def quiet(_: str) -> None:
    pass


def test_appending_twice_numbers_the_runs_in_one_folder(remote, runs, tmp_path):
    work = clone(remote, tmp_path / "ci")
    first = branch.push([runs["ours"][0]], work, say=quiet)
    second = branch.push([runs["ours"][1]], work, say=quiet)
    files = on_branch(remote)
    folder = first[0].path.split("/")[0]
    assert sorted(files) == [f"{folder}/0001_run1.json", f"{folder}/0002_run2.json"]
    assert second[0].path == f"{folder}/0002_run2.json"
    assert files[first[0].path] == runs["ours"][0].read_bytes()  # the bytes, unchanged
    assert files[second[0].path] == runs["ours"][1].read_bytes()
    assert git(remote, "rev-list", "--count", BRANCH).strip() == "2"  # appended, not replaced
    assert folder.endswith(branch.folder_name(branch.results.load(runs["ours"][0]))[-8:])
    # the clone's own branches and working tree are untouched
    assert git(work, "status", "--porcelain") == ""
    assert not (work / folder).exists()


def test_a_second_fingerprint_gets_a_folder_of_its_own(remote, runs, tmp_path):
    work = clone(remote, tmp_path / "ci")
    branch.push([runs["ours"][0]], work, say=quiet)
    (placed,) = branch.push([runs["other"]], work, say=quiet)
    folders = {name.split("/")[0] for name in on_branch(remote)}
    assert len(folders) == 2
    assert placed.path.endswith("/0001_other.json") and "Other-CPU" in placed.path


def test_a_run_already_there_is_not_added_twice(remote, runs, tmp_path):
    work = clone(remote, tmp_path / "ci")
    branch.push(runs["ours"][:2], work, say=quiet)
    placed = branch.push(runs["ours"][:2], work, say=quiet)
    assert [p.added for p in placed] == [False, False]
    assert len(on_branch(remote)) == 2
    assert git(remote, "rev-list", "--count", BRANCH).strip() == "1"


def test_a_push_that_lost_the_race_is_retried_and_nothing_is_lost(remote, runs, tmp_path):
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    branch.push([runs["ours"][0]], a, say=quiet)
    attempts, messages = [], []

    def the_other_job_pushes_first(attempt: int) -> None:
        attempts.append(attempt)
        if attempt == 1:  # b fetched and pushed between a's fetch and a's push
            branch.push([runs["ours"][2]], b, say=quiet)

    branch.push([runs["ours"][1]], a, say=messages.append, before_push=the_other_job_pushes_first)
    assert attempts == [1, 2]
    assert any("rejected" in m for m in messages)
    files = on_branch(remote)
    assert sorted(Path(n).name for n in files) == ["0001_run1.json", "0002_run3.json",
                                                   "0003_run2.json"]  # fmt: skip
    by_bytes = set(files.values())
    assert {p.read_bytes() for p in runs["ours"]} <= by_bytes


def test_jobs_pushing_at_once_all_land(remote, tmp_path):
    """Four jobs append at the same moment, each from its own clone (threads: the git
    processes they start run truly at once)."""
    storage = tmp_path / "bench"
    sources = [write(storage, MACHINE, i, f"job{i}", history_run(i)) for i in range(1, 5)]
    clones = [clone(remote, tmp_path / f"job{i}") for i in range(len(sources))]
    start = threading.Barrier(len(sources))

    def job(i: int) -> list[branch.Placed]:
        start.wait()
        return branch.push([sources[i]], clones[i], retries=10, say=quiet)

    with ThreadPoolExecutor(len(sources)) as pool:
        placed = list(pool.map(job, range(len(sources))))
    assert all(p.added for (p,) in placed)
    files = on_branch(remote)
    assert len(files) == 4
    assert {s.read_bytes() for s in sources} == set(files.values())
    assert sorted(Path(n).name[:4] for n in files) == ["0001", "0002", "0003", "0004"]
    assert git(remote, "rev-list", "--count", BRANCH).strip() == "4"  # one commit each


def test_a_rejecting_remote_fails_after_the_retries(remote, runs, tmp_path, capsys):
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'history is read-only today' >&2\nexit 1\n")
    hook.chmod(0o755)
    work = clone(remote, tmp_path / "ci")
    with pytest.raises(BranchError, match=r"after 2 attempts.*read-only today"):
        branch.push([runs["ours"][0]], work, retries=2, say=quiet)
    args = ["history-branch", "push", str(runs["ours"][0]), "--repo", str(work), "--retries", "1"]
    assert cli.main(args) == 2
    assert "read-only today" in capsys.readouterr().err


def test_an_unreadable_run_pushes_nothing(remote, runs, tmp_path, capsys):
    work = clone(remote, tmp_path / "ci")
    bad = write(tmp_path / "bench", MACHINE, 9, "bad", '{"benchmarks": [')
    args = ["history-branch", "push", str(runs["ours"][0]), str(bad), "--repo", str(work)]
    assert cli.main(args) == 2
    assert "0009_bad.json" in capsys.readouterr().err
    assert git(remote, "branch", "--list", BRANCH) == ""


def test_pull_copies_the_branch_and_names_the_candidates_folder(
    remote, runs, tmp_path, monkeypatch, capsys
):
    work = clone(remote, tmp_path / "ci")
    branch.push([*runs["ours"][:2], runs["other"]], work, say=quiet)
    into = tmp_path / "main-history"
    (into / "stale").mkdir(parents=True)  # replaced whole
    outputs = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    candidate = runs["ours"][2]
    args = ["history-branch", "pull", "--repo", str(work), "--into", str(into),
            "--like", str(candidate)]  # fmt: skip
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert not (into / "stale").exists()
    assert len(list(into.glob("*/*.json"))) == 3
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    folder = Path(values["folder"])
    assert folder.parent == into
    assert sorted(p.name for p in folder.iterdir()) == ["0001_run1.json", "0002_run2.json"]
    assert values["candidate"] == str(candidate)
    assert f"baseline folder (the fingerprint of {candidate}): {folder}" in out
    # the pull request's gate, as the workflow runs it: main's newest run as the baseline
    monkeypatch.chdir(tmp_path)
    gate = ["gate", "--storage", str(folder), "--baseline", "latest", "--candidate",
            str(candidate), "--summary", str(tmp_path / "gate.md")]  # fmt: skip
    assert cli.main(gate) in (0, 1)  # compared, not refused (2) as another machine's
    assert "0002_run2" in (tmp_path / "gate.md").read_text()


def test_pull_without_the_branch_says_so(remote, tmp_path, capsys):
    work = clone(remote, tmp_path / "ci")
    assert branch.pull(tmp_path / "into", work) is None
    assert cli.main(["history-branch", "pull", "--repo", str(work), "--into",
                     str(tmp_path / "into")]) == 0  # fmt: skip
    assert "no branch benchmark-history on origin yet" in capsys.readouterr().out
