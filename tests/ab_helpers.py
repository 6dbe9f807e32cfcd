"""What the A/B gate's tests share: throwaway git projects, and finding leftover processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MARK = "VB_TEST_MARK"  # inherited by every process an invocation starts (the zygote's env)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def commit_all(repo: Path, message: str = "base") -> None:
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


def new_repo(repo: Path) -> Path:
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    commit_all(repo)
    return repo


def worktrees(repo: Path) -> list[str]:
    return [ln for ln in git(repo, "worktree", "list", "--porcelain").splitlines()
            if ln.startswith("worktree ")]  # fmt: skip


def marked(mark: str) -> list[int]:
    """Pids of live processes whose environment holds MARK=mark."""
    needle = f"{MARK}={mark}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def start_ab(project: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`visionbench ab ARGS` in `project`, marked; (the process, its mark)."""
    mark = uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": str(SRC), MARK: mark}
    proc = subprocess.Popen(
        [sys.executable, "-m", "visionbench.cli", "ab", *args],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell's background job ignores SIGINT and its children inherit that: give the
        # command Python's usual Ctrl-C, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    return proc, mark


def wait_for(condition, timeout: float = 180.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def interrupt(proc: subprocess.Popen, mark: str, project: Path) -> str:
    """Ctrl-C to the command alone: it must end with 130 and leave no worktree and no
    process of its own (zygote, workers, valgrind) behind. Its stderr."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted" in err
    assert len(worktrees(project)) == 1
    assert wait_for(lambda: not marked(mark), timeout=10), f"left running: {marked(mark)}"
    return err


PYPROJECT = """\
[tool.pytest.ini_options]
python_files = ["bench_*.py"]
python_functions = ["bench_*"]
"""

#: Two benches of real torch work: `bench_conv` runs its convolution WORK times a call
#: (work.txt: what a change to the tree slows), `bench_steady` once.
TORCH_BENCH = """\
import pathlib

import torch

WORK = int(pathlib.Path(__file__).with_name("work.txt").read_text())
conv = torch.nn.Conv2d(8, 16, 3)
x = torch.randn(16, 8, 32, 32)


def step():
    with torch.no_grad():
        for _ in range(WORK):
            conv(x)


def bench_conv(benchmark):
    benchmark.pedantic(step, rounds=5, warmup_rounds=1)


def bench_steady(benchmark):
    benchmark.pedantic(lambda: conv(x), rounds=5, warmup_rounds=1)
"""


def torch_project(root: Path) -> Path:
    """A git project with TORCH_BENCH at WORK = 1, committed."""
    (root / "benches").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "benches" / "bench_tiny.py").write_text(TORCH_BENCH)
    (root / "benches" / "work.txt").write_text("1\n")
    return new_repo(root)
