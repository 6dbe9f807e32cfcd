"""The baseline revision in a temporary git worktree, and what the candidate tree is.

`visionbench ab` checks REV out (detached) in a temporary worktree and runs
it with its own benches, conftest and src beside the working tree (the
candidate, uncommitted changes included). The worktree is removed on
leaving, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from visionbench.core.exits import BadInput

PREFIX = "visionbench-ab-"  # of the temporary folder holding the worktree and the work files


class AbError(BadInput):
    """Bad input to the A/B gate: exit 2."""


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=check
    )


def toplevel(path: Path) -> Path:
    """The root of the git working tree holding `path`."""
    try:
        proc = git(path, "rev-parse", "--show-toplevel", check=False)
    except FileNotFoundError:
        raise AbError("git is not installed; the A/B gate checks REV out with git") from None
    if proc.returncode != 0:
        raise AbError(f"{path} is not inside a git working tree: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def resolve_rev(repo: Path, rev: str, what: str = "--baseline") -> str:
    """The full commit id of `rev`; AbError naming it (as `what`) when it is not a commit
    here."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
               check=False)  # fmt: skip
    if proc.returncode != 0 or not proc.stdout.strip():
        raise AbError(f"{what} {rev!r} is not a commit of the repository at {repo}")
    return proc.stdout.strip()


def describe_tree(repo: Path) -> str:
    """The candidate: HEAD's short id, +dirty with uncommitted changes, (detached) off a branch."""
    head = git(repo, "rev-parse", "--short", "HEAD", check=False).stdout.strip() or "no commit"
    dirty = bool(git(repo, "status", "--porcelain").stdout.strip())  # untracked files too
    branch = git(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False).stdout.strip()
    return f"{head}{'+dirty' if dirty else ''} ({branch or 'detached'})"


@contextlib.contextmanager
def baseline_worktree(repo: Path, commit: str, name: str = "baseline") -> Iterator[Path]:
    """`commit` checked out (detached) in a temporary worktree; removed on leaving,
    also on Ctrl-C or SIGTERM (turned into SystemExit while it exists). Its parent
    folder is the invocation's scratch space, removed with it. `name`: the side's
    (a --candidate REV has a worktree of its own too)."""
    tmp = Path(tempfile.mkdtemp(prefix=PREFIX))
    tree = tmp / name
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: leave SIGTERM alone
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        proc = git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit, check=False)
        if proc.returncode != 0:
            raise AbError(f"cannot check out {commit} in {tree}: {proc.stderr.strip()}")
        yield tree
    finally:
        git(repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git(repo, "worktree", "prune", check=False)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
