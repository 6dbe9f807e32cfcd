"""`visionbench bisect GOOD BAD [pytest args]`: the commit of GOOD..BAD that slowed things.

The history's change points say that main stepped to a new level between two
runs, often many commits apart; this finds the commit, with the A/B lane
(`visionbench ab --times-only`: both sides measured here and now, paired):

1. GOOD against BAD on the selection: the benchmarks that regressed are the
   ones bisected (all of the user's selection when `-k` names them; nothing
   regressed: nothing to bisect, said).
2. Over the first-parent commits GOOD..BAD, bisection: a commit is *slow*
   when it regressed against GOOD on any of them, *not slow* otherwise
   (an inconclusive step counts as not slow, and the table says so).
3. The first slow commit against its own parent: a regression there names the
   commit; none means that no single commit did it (the slowdown built up over
   several commits and crossed the tolerance at that one).

Each step checks its candidate out in a temporary worktree and runs `visionbench
ab --baseline PARENT --times-only` there in a process of its own; its lines go
to the terminal indented. `--budget` bounds the whole bisection: each step gets
the minutes left over the steps left (at least `MIN_STEP_MINUTES`).

Exit 0: the bisection ended (a commit named, no single commit, or nothing to
bisect); 2: bad input (a revision that is not a commit, GOOD not an ancestor of
BAD, an empty range, arguments a step's `ab` rejects).
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from visionbench.ab.processes import is_path
from visionbench.ab.worktree import AbError, baseline_worktree, git, resolve_rev, toplevel
from visionbench.core.exits import EXIT_PASS, say

DEFAULT_BUDGET_MINUTES = 60.0
MIN_STEP_MINUTES = 2.0  # less and a step's lane ends before its first looks
HEADERS = ["step", "baseline", "candidate", "benchmark", "ratio (interval)", "verdict", "wall"]


@dataclass(frozen=True)
class Verdict:
    """One benchmark's outcome in one step (the A/B lane's JSON, cut down)."""

    name: str
    ratio: float
    low: float
    high: float
    verdict: str  # "regression", "improvement", "unchanged", "inconclusive", ...


#: A judge: (baseline commit, candidate commit, pytest args, minutes) -> the verdicts.
Judge = Callable[[str, str, Sequence[str], float], list[Verdict]]


@dataclass
class Step:
    label: str  # "GOOD..BAD", "bisect 2", "confirm"
    baseline: str
    candidate: str
    verdicts: list[Verdict]
    wall_s: float

    def slow(self, names: Sequence[str]) -> bool:
        return any(v.verdict == "regression" for v in self.verdicts if v.name in names)


@dataclass
class Outcome:
    steps: list[Step] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)
    commit: str | None = None  # the commit named
    conclusion: str = ""


def commit_range(repo: Path, good: str, bad: str) -> tuple[str, str, list[str]]:
    """(GOOD's id, BAD's id, the first-parent commits after GOOD up to BAD, oldest first);
    AbError when either is not a commit, GOOD is not an ancestor of BAD, or the range
    is empty."""
    good_id, bad_id = resolve_rev(repo, good, "GOOD"), resolve_rev(repo, bad, "BAD")
    if git(repo, "merge-base", "--is-ancestor", good_id, bad_id, check=False).returncode != 0:
        raise AbError(f"GOOD {good!r} is not an ancestor of BAD {bad!r}: nothing to bisect")
    ids = git(repo, "rev-list", "--first-parent", "--reverse", f"{good_id}..{bad_id}")
    commits = ids.stdout.split()
    if not commits:
        raise AbError(f"GOOD {good!r} and BAD {bad!r} are the same commit: nothing to bisect")
    return good_id, bad_id, commits


def step_args(repo: Path, args: Sequence[str], names: Sequence[str]) -> list[str]:
    """The user's pytest arguments with their paths and `-k` replaced by node ids."""
    out, skip = [], False
    for a in args:
        if skip or a == "-k":
            skip = not skip
            continue
        if not (a.startswith("-k") or is_path(repo, a)):
            out.append(a)
    return [*out, *names]


class Bisection:
    """GOOD..BAD bisected with a judge (the A/B lane; a fake in the tests)."""

    def __init__(
        self, repo: Path, good: str, bad: str, args: Sequence[str], judge: Judge, budget_s: float
    ) -> None:
        self.repo, self.args, self.judge, self.budget_s = repo, list(args), judge, budget_s
        self.good, self.bad, self.commits = commit_range(repo, good, bad)
        self.parent = dict(zip(self.commits, [self.good, *self.commits[:-1]], strict=True))
        self.began = time.monotonic()
        self.outcome = Outcome()

    def steps_left(self, lo: int, hi: int) -> int:
        """Bisection steps between indices lo (not slow) and hi (slow), and the confirmation."""
        return max(0, math.ceil(math.log2(hi - lo))) + 1

    def step(self, label: str, baseline: str, candidate: str, names: Sequence[str],
             steps_left: int) -> Step:  # fmt: skip
        left_s = self.budget_s - (time.monotonic() - self.began)
        minutes = max(MIN_STEP_MINUTES, left_s / 60 / max(1, steps_left))
        say(f"{label}: {baseline[:10]} against {candidate[:10]}, {minutes:.1f} min...")
        began = time.monotonic()
        verdicts = self.judge(baseline, candidate, step_args(self.repo, self.args, names) if names
                              else self.args, minutes)  # fmt: skip
        step = Step(label, baseline, candidate, verdicts, time.monotonic() - began)
        self.outcome.steps.append(step)
        found = ", ".join(f"{short(v.name)} {v.ratio:.3f}x {v.verdict}" for v in verdicts)
        say(f"{label}: {found or 'nothing timed'} ({step.wall_s / 60:.1f} min)")
        return step

    def run(self) -> Outcome:
        n, out = len(self.commits), self.outcome
        say(f"bisecting {n} commit(s) {self.good[:10]}..{self.bad[:10]} (first parent)")
        first = self.step("GOOD..BAD", self.good, self.bad, [], self.steps_left(-1, n - 1) + 1)
        out.benchmarks = [v.name for v in first.verdicts if v.verdict == "regression"]
        if not out.benchmarks:
            out.conclusion = "BAD is not slower than GOOD on this selection: nothing to bisect"
            return out
        lo, hi = -1, n - 1  # commits[lo] (GOOD at -1) not slow, commits[hi] slow
        judged = {self.bad: first}
        while hi - lo > 1:
            mid = (lo + hi) // 2
            step = self.step(f"bisect {len(out.steps)}", self.good, self.commits[mid],
                             out.benchmarks, self.steps_left(lo, hi))  # fmt: skip
            judged[self.commits[mid]] = step
            lo, hi = (lo, mid) if step.slow(out.benchmarks) else (mid, hi)
        suspect = self.commits[hi]
        parent = self.parent[suspect]
        if parent == self.good:  # judged against its parent already
            confirm = judged[suspect]
        else:
            confirm = self.step("confirm", parent, suspect, out.benchmarks, 1)
        unsure = [s.label for s in out.steps if any(v.verdict == "inconclusive" and
                  v.name in out.benchmarks for v in s.verdicts)]  # fmt: skip
        if unsure:
            say(
                f"inconclusive, counted as not slow: {', '.join(unsure)} (a larger --budget "
                "decides more)"
            )
        if confirm.slow(out.benchmarks):
            out.commit = suspect
            out.conclusion = f"the first slow commit: {describe(self.repo, suspect)}"
        else:
            out.conclusion = (
                f"no single commit: {describe(self.repo, suspect)} is the first slower than "
                f"GOOD beyond the tolerance, but not against its parent; the slowdown built "
                f"up over several commits"
            )
        return out


def short(name: str) -> str:
    return name.split("::")[-1]


def describe(repo: Path, commit: str) -> str:
    return git(repo, "log", "-1", "--format=%h %s", commit, check=False).stdout.strip() or commit


def table(outcome: Outcome) -> str:
    rows = []
    for i, s in enumerate(outcome.steps, 1):
        shown = [v for v in s.verdicts if not outcome.benchmarks or v.name in outcome.benchmarks]
        for j, v in enumerate(shown or [Verdict("(nothing timed)", math.nan, math.nan,
                                                math.nan, "")]):  # fmt: skip
            head = [f"{i} {s.label}", s.baseline[:10], s.candidate[:10]] if j == 0 else ["", "", ""]
            ratio = f"{v.ratio:.3f}x ({v.low:.3f}-{v.high:.3f})" if math.isfinite(v.ratio) else ""
            wall = f"{s.wall_s / 60:.1f} min" if j == 0 else ""
            rows.append([*head, short(v.name), ratio, v.verdict, wall])
    return tabulate(rows, headers=HEADERS, disable_numparse=True)


# -- the real judge: `visionbench ab` in a worktree of the candidate ----------------------------


def ab_judge(repo: Path, extra: Sequence[str] = ()) -> Judge:
    """A judge running `visionbench ab --baseline BASELINE --times-only` in a temporary
    worktree of the candidate, in a process of its own; `extra`: more `ab` options."""

    def judge(baseline: str, candidate: str, args: Sequence[str], minutes: float) -> list[Verdict]:
        with baseline_worktree(repo, candidate) as tree:
            out = tree.parent / "ab.json"
            cmd = [sys.executable, "-m", "visionbench.cli", "ab", "--baseline", baseline,
                   "--times-only", "--budget", f"{minutes:.2f}", "--json", str(out),
                   "--summary", str(tree.parent / "ab.md"), *extra, *args]  # fmt: skip
            lines = run_indented(cmd, tree)
            if not out.is_file():
                tail = "\n".join(lines[-30:])
                raise AbError(f"the A/B lane of {candidate[:10]} gave no results "
                              f"({shlex.join(cmd)}):\n{tail}")  # fmt: skip
            return verdicts_of(json.loads(out.read_text(encoding="utf-8")))

    return judge


def run_indented(cmd: Sequence[str], cwd: Path) -> list[str]:
    """Run `cmd`, its output shown indented; its lines."""
    lines = []
    with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            say(f"    {lines[-1]}")
    return lines


def verdicts_of(data: dict[str, Any]) -> list[Verdict]:
    nan = math.nan
    timed = [b for b in data.get("benchmarks", []) if b.get("metric") == "time"]
    return [
        Verdict(b["name"], b["ratio"], b.get("ci_low", nan), b.get("ci_high", nan), b["verdict"])
        for b in timed
        if b.get("ratio") is not None
    ]


def cmd_bisect(args: Any, judge: Judge | None = None) -> int:
    """`visionbench bisect`: see the module docstring."""
    if args.budget is not None and args.budget <= 0:
        raise AbError(f"--budget must be positive minutes, got {args.budget}")
    repo = toplevel(Path.cwd())
    extra = [*(["--alpha", str(args.alpha)] if args.alpha is not None else []),
             *(["--config", str(args.config)] if args.config is not None else [])]  # fmt: skip
    budget = args.budget if args.budget is not None else DEFAULT_BUDGET_MINUTES
    pytest_args = [a for a in args.pytest_args if a != "--"]
    bisection = Bisection(repo, args.good, args.bad, pytest_args,
                          judge or ab_judge(repo, extra), budget * 60)  # fmt: skip
    outcome = bisection.run()
    print(table(outcome))
    wall = time.monotonic() - bisection.began
    print(f"\n{outcome.conclusion} ({len(outcome.steps)} A/B steps, {wall / 60:.1f} min)")
    return EXIT_PASS


def command_line(before: str, after: str, fullname: str) -> str:
    """The command that bisects a step of a benchmark's history between two commits."""
    return shlex.join(["visionbench", "bisect", before, after, "-k", short(fullname)])


def add_parser(sub: Any) -> None:
    b = sub.add_parser(
        "bisect",
        allow_abbrev=False,
        help="find the commit of GOOD..BAD that slowed the selected benchmarks (A/B lane)",
        usage="visionbench bisect GOOD BAD [options] [pytest args]",
        description="Bisect the first-parent commits GOOD..BAD with the A/B lane (visionbench "
        "ab --times-only): GOOD against BAD picks the benchmarks that regressed, bisection "
        "finds the first commit slower than GOOD on them, and that commit against its parent "
        "names it, or says that no single commit did it. Arguments it does not know go to "
        "pytest on both sides of every step (-k, paths, --vb-* options). Exit 0: the "
        "bisection ended; 2: bad input (a revision that is not a commit, GOOD not an "
        "ancestor of BAD).",
    )
    b.add_argument("good", metavar="GOOD", help="a commit without the slowdown")
    b.add_argument("bad", metavar="BAD", help="a later commit with it (GOOD an ancestor)")
    b.add_argument(
        "--budget",
        type=float,
        metavar="MINUTES",
        help=f"wall time of the whole bisection, shared by its steps (default "
        f"{DEFAULT_BUDGET_MINUTES:g}; each step at least {MIN_STEP_MINUTES:g})",
    )
    b.add_argument("--config", type=Path, help="pyproject.toml with [tool.visionbench.gate]")
    b.add_argument("--alpha", type=float, help="significance level (overrides the config)")
    b.set_defaults(func=cmd_bisect)
