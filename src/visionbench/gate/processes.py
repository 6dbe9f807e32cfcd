"""The A/B gate's processes: one side's pytest, run whole in a fresh process.

Each side (the baseline worktree, the candidate working tree) runs with its
own benches, conftest and src (PYTHONPATH) in this virtualenv's Python, on
the same pytest arguments (-k, paths, --vb-* options).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from visionbench import results
from visionbench.gate.worktree import AbError
from visionbench.results import Run

TIMING_ONLY_ENV = "VISIONBENCH_TIMING_ONLY"  # read by visionbench.runner.timing_only
PYTEST_BAD_INPUT = (2, 3, 4, 5)  # interrupted, internal error, usage error, nothing collected


@dataclass(frozen=True)
class Side:
    name: str  # "baseline" or "candidate"
    root: Path  # the tree its pytest runs in
    label: str  # what it is: a commit, or the working tree's description


def side_path(root: Path) -> str:
    """PYTHONPATH of a side: its src (visionbench) and its root (conftest, fixtures, benches)."""
    return os.pathsep.join([str(root / "src"), str(root)])


def with_benches(root: Path, args: list[str]) -> list[str]:
    """The pytest arguments, with `benches` first unless they name a path (pytest's
    own default, testpaths, is the test suite)."""
    named = any(not a.startswith("-") and (root / a.split("::")[0]).exists() for a in args)
    return args if named else ["benches", *args]


class Pytest:
    """Runs one side's pytest in a fresh process with the user's arguments."""

    def __init__(self, args: Sequence[str], workdir: Path, python: str = sys.executable) -> None:
        self.args = list(args)
        self.workdir = workdir
        self.python = python
        self.count = 0

    def run(
        self,
        side: Side,
        *,
        timing_only: bool,
        deselect: Sequence[str] = (),
        timeout: float | None = None,
    ) -> tuple[Run, float]:
        """(the saved run, seconds). AbError when pytest could not run the selection;
        subprocess.TimeoutExpired (the process killed) past `timeout` seconds."""
        self.count += 1
        tag = f"{self.count:04d}-{side.name}{'-timing' if timing_only else '-full'}"
        out, log = self.workdir / f"{tag}.json", self.workdir / f"{tag}.log"
        env = {**os.environ, "PYTHONPATH": side_path(side.root)}
        env.pop(TIMING_ONLY_ENV, None)
        if timing_only:
            env[TIMING_ONLY_ENV] = "1"
        cmd = [self.python, "-m", "pytest", *self.args, "-p", "no:cacheprovider", "-q",
               f"--benchmark-json={out}", *(f"--deselect={n}" for n in deselect)]  # fmt: skip
        start = time.perf_counter()
        with open(log, "w", encoding="utf-8") as fh:
            proc = subprocess.run(
                cmd, cwd=side.root, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout
            )
        seconds = time.perf_counter() - start
        if proc.returncode in PYTEST_BAD_INPUT or not out.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            raise AbError(
                f"pytest of the {side.name} ({side.label}) exited {proc.returncode} without "
                f"results; its arguments: {' '.join(self.args) or '(none)'}\n{tail}"
            )
        try:
            return results.load(out), seconds
        except results.ResultsError as exc:
            raise AbError(f"unreadable results of the {side.name}: {exc}") from None
