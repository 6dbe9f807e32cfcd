"""The decisions of a CI job that depend on git and on main's history.

- The testbed: the folder of the history branch whose newest run has the job's
  fingerprint (`history.branch.matching_folder`); when none has, the nearest folder
  and what differs from it (another torch, driver, GPU...), said loudly.
- The baseline of a pull request's run: the run of its merge base with main on that
  testbed, else the newest run of main at or before the merge base (an ancestor of it:
  Bencher's "start point"), never main's tip, which may hold changes the pull request
  has not seen.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from visionbench.ci.context import CiError
from visionbench.history.branch import matching_folder
from visionbench.measure import results
from visionbench.measure.machines import machine_differences
from visionbench.measure.results import ResultsError, Run


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CiError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def merge_base(repo: Path, base: str, head: str = "HEAD") -> str:
    """The commit where `head` left `base` (both need their history: fetch-depth 0)."""
    try:
        return git(repo, "merge-base", base, head)
    except CiError as exc:
        raise CiError(
            f"no merge base of {base} and {head}: {exc} (the checkout needs the history of "
            "both: actions/checkout with fetch-depth: 0)"
        ) from None


@dataclass(frozen=True)
class Testbed:
    """Where the job's run belongs in main's history."""

    folder: Path | None  # the matching folder; None: no saved run has this fingerprint
    nearest: Path | None = None  # otherwise the folder that differs in the fewest fields
    differs: dict[str, tuple[object, object]] | None = None  # field -> (saved, this job's)

    def differences(self) -> str:
        return ", ".join(f"{k} {a} → {b}" for k, (a, b) in (self.differs or {}).items())


def newest_runs(history: Path) -> dict[Path, Run]:
    """Each folder's newest readable run."""
    out = {}
    for folder in sorted(p for p in history.iterdir() if p.is_dir()):
        for path in reversed(results.run_files(folder)):
            try:
                out[folder] = results.load(path)
                break
            except ResultsError:
                continue
    return out


def nearest(history: Path, run: Run, skip: Path | None = None) -> Testbed:
    """No folder for `run`: the one (not `skip`) whose newest run differs in the fewest
    fingerprint fields, and what differs."""
    newest = {f: r for f, r in newest_runs(history).items() if f != skip}
    if not newest:
        return Testbed(None)
    near = min(newest, key=lambda f: (len(machine_differences(newest[f], run)), f.name))
    return Testbed(None, near, machine_differences(newest[near], run))


def testbed(history: Path, run: Run) -> Testbed:
    """The folder of `run`'s testbed in a checkout of the history, or the nearest one."""
    folder = matching_folder(history, run)
    return Testbed(folder) if folder is not None else nearest(history, run)


@dataclass(frozen=True)
class Baseline:
    run: Run | None
    why: str  # which run, and why that one (for the summary)


def baseline(repo: Path, folder: Path, base: str) -> Baseline:
    """The run of `base` in `folder`, else the newest run of an ancestor of `base`."""
    by_commit: dict[str, Run] = {}
    for path in results.run_files(folder):
        try:
            run = results.load(path)
        except ResultsError:
            continue
        if run.commit_id and not run.dirty:
            by_commit[run.commit_id] = run  # in number order: the newest run of a commit wins
    short = base[:12]
    if base in by_commit:
        return Baseline(by_commit[base], f"the run of the merge base {short}")
    for steps, commit in enumerate(git(repo, "rev-list", "--topo-order", base).split()):
        if commit in by_commit:
            return Baseline(
                by_commit[commit],
                f"the newest run of main at or before the merge base {short}: commit "
                f"{commit[:12]}, {steps} commit(s) before it (the merge base has no run)",
            )
    return Baseline(None, f"no run of main at or before the merge base {short} on this testbed")
