"""`visionbench bisect`: over a synthetic history whose slow commit is known, with a fake
A/B judge (no timing): the commit named, "no single commit", nothing to bisect, bad input,
the site's link is checked in test_history_changes.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from ab_helpers import commit_all, git, new_repo

from visionbench import cli
from visionbench.ab import bisection as bisect

TRAIN = "benches/bench_m.py::bench_train"
INFER = "benches/bench_m.py::bench_infer"
TOLERANCE = 0.05


def history(root: Path, commits: int = 8) -> list[str]:
    """A project of `commits` commits after its first (GOOD); their ids, oldest first."""
    (root / "benches").mkdir(parents=True)
    (root / "benches" / "bench_m.py").write_text("")
    new_repo(root)
    ids = [git(root, "rev-parse", "HEAD")]
    for i in range(commits):
        (root / f"notes{i}.txt").write_text(f"{i}\n")
        commit_all(root, f"change {i}")
        ids.append(git(root, "rev-parse", "HEAD"))
    return ids


class FakeJudge:
    """The train step's time at each commit (`level`), compared as the A/B lane would
    (a ratio beyond the tolerance is a regression); inference never changes."""

    def __init__(self, level: dict[str, float]) -> None:
        self.level, self.calls = level, []

    def __call__(self, baseline, candidate, args, minutes):
        self.calls.append((baseline, candidate, list(args), minutes))
        ratio = self.level[candidate] / self.level[baseline]
        verdict = "regression" if ratio > 1 + TOLERANCE else "unchanged"
        train = bisect.Verdict(TRAIN, ratio, ratio * 0.98, ratio * 1.02, verdict)
        infer = bisect.Verdict(INFER, 1.0, 0.98, 1.02, "unchanged")
        return [v for v in (train, infer) if "-k" in args or v.name in args]


def options(good: str, bad: str, *pytest_args: str) -> argparse.Namespace:
    return argparse.Namespace(good=good, bad=bad, budget=30.0, alpha=None, config=None,
                              pytest_args=list(pytest_args))  # fmt: skip


@pytest.fixture
def repo(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    root.mkdir()
    ids = history(root)
    monkeypatch.chdir(root)
    return ids


@pytest.mark.parametrize("slow", [1, 3, 6, 8])
def test_the_slow_commit_is_named(repo, slow, capsys):
    """One commit of eight slows the train step by 20%: named, in at most
    1 + log2(8) + 1 A/B steps, the last its parent against it."""
    judge = FakeJudge({c: 1.2 if i >= slow else 1.0 for i, c in enumerate(repo)})
    code = bisect.cmd_bisect(options(repo[0], repo[-1], "-k", "bench_", "--vb-profile", "quick"),
                             judge)  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert f"the first slow commit: {repo[slow][:7]}" in out and f"change {slow - 1}" in out
    assert len(judge.calls) <= 5
    assert judge.calls[0][:2] == (repo[0], repo[-1])  # GOOD against BAD first
    assert any(c[:2] == (repo[slow - 1], repo[slow]) for c in judge.calls)  # confirmed
    for call in judge.calls[1:]:  # only the benchmark that regressed, the options kept
        assert call[2] == ["--vb-profile", "quick", TRAIN]
    for header in bisect.HEADERS:
        assert header in out
    assert "1.200x (1.176-1.224)" in out and "regression" in out


def test_a_slowdown_built_up_over_several_commits_is_no_single_commit(repo, capsys):
    """3% a commit: the eighth is 27% slower than GOOD, no commit 5% slower than its parent."""
    judge = FakeJudge({c: 1.03**i for i, c in enumerate(repo)})
    assert bisect.cmd_bisect(options(repo[0], repo[-1], "-k", "bench_"), judge) == 0
    out = capsys.readouterr().out
    assert "no single commit" in out and "built up over several commits" in out
    assert "the first slow commit" not in out


def test_nothing_slower_is_nothing_to_bisect(repo, capsys):
    judge = FakeJudge(dict.fromkeys(repo, 1.0))
    assert bisect.cmd_bisect(options(repo[0], repo[-1], "-k", "bench_"), judge) == 0
    assert "nothing to bisect" in capsys.readouterr().out
    assert len(judge.calls) == 1


@pytest.mark.parametrize(
    ("good", "bad", "message"),
    [
        ("nosuchrev", "HEAD", "GOOD 'nosuchrev' is not a commit"),
        ("HEAD~3", "v9", "BAD 'v9' is not a commit"),
        ("HEAD", "HEAD~3", "GOOD 'HEAD' is not an ancestor of BAD 'HEAD~3'"),
        ("HEAD", "HEAD", "the same commit"),
    ],
)
def test_bad_input_is_exit_2_with_a_clear_message(repo, good, bad, message, capsys):
    assert cli.main(["bisect", good, bad, "-k", "bench_"]) == 2
    err = capsys.readouterr().err
    assert "visionbench bisect: error:" in err and message in err


def test_a_branch_off_the_first_parent_line_is_not_bisected(repo, tmp_path):
    """GOOD..BAD follows first parents: a merged side branch's commits are not steps."""
    root = Path.cwd()
    git(root, "checkout", "-q", "-b", "side", repo[2])
    (root / "side.txt").write_text("side\n")
    commit_all(root, "side work")
    side = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "merge", "-q", "--no-ff", "-m",
        "merge side", "side")  # fmt: skip
    _, _, commits = bisect.commit_range(root, repo[0], "HEAD")
    assert side not in commits and commits[:-1] == repo[1:]
