"""Helpers shared by the tests: a stand-in for pytest-benchmark's fixture, and
pytest run in a subprocess from the repository root (as a user runs it)."""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"  # the MkDocs pages (mkdocs.yml at the root)
DOCS_HOOK = DOCS / "hooks" / "facts.py"


NO_CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA is not available on this machine"
)
#: Marks of a test (or a parameter) that needs a CUDA device: skipped without one,
#: selected with `-m cuda` by scripts/gpu_check.sh.
CUDA_MARKS = (pytest.mark.cuda, NO_CUDA)


def needs_cuda(test):
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


class FakeBenchmark:
    """pytest-benchmark's `pedantic` (with its untimed per-round `setup` and
    `teardown`), `stats` and `extra_info`, nothing else, timed by `clock`.
    `before_timing` and `after_timing` are hooks a test may set (e.g. to count
    what happened while the rounds ran)."""

    def __init__(self, clock=time.perf_counter) -> None:
        self.extra_info: dict = {}
        self.stats = None
        self.clock = clock

    def before_timing(self) -> None:
        pass

    def after_timing(self) -> None:
        pass

    def pedantic(self, fn, rounds, warmup_rounds, iterations=1, setup=None, teardown=None):
        def one_round() -> float:
            made = setup() if setup is not None else None
            args, kwargs = made if made else ((), {})
            start = self.clock()
            fn(*args, **kwargs)
            elapsed = self.clock() - start
            if teardown is not None:
                teardown(*args, **kwargs)
            return elapsed

        for _ in range(warmup_rounds):
            one_round()
        self.before_timing()
        times = [one_round() for _ in range(rounds)]
        self.after_timing()
        self.stats = SimpleNamespace(
            stats=SimpleNamespace(median=statistics.median(times), data=times)
        )


def run_pytest(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m pytest ARGS` from the repository root, output captured."""
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def run_benches(json_out: Path, *args: str, timeout: int = 900) -> dict:
    """Run benches on the CPU in the quick profile; the saved JSON (raw samples kept)."""
    proc = run_pytest(*args, "--vb-profile", "quick", "--vb-device", "cpu",
                      f"--benchmark-json={json_out}", "--benchmark-save-data", "-q",
                      timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    import json

    return json.loads(Path(json_out).read_text())


def saved_problems(data: dict) -> list[str]:
    """What is wrong with a saved run, one line each: a benchmark recorded failed
    (`visionbench_failed`: an exception, e.g. a figure missing from the schema), or one
    whose figures break the schema (`metrics.validate`). Empty when all is well."""
    from visionbench.measure import metrics

    problems = [
        f"{failed['name']}: failed: {failed['extra_info'].get('error')}"
        for failed in data.get("visionbench_failed", [])
    ]
    for b in data["benchmarks"]:
        try:
            metrics.validate(b["extra_info"])
        except metrics.SchemaError as exc:
            problems.append(f"{b['name']}: {exc}")
    return problems


@functools.cache
def load_noxfile():
    """The repository's noxfile as a module (nox itself, a development dependency,
    must be importable: skipped otherwise), loaded once: each load registers its sessions
    with nox again, which nox warns of."""
    pytest.importorskip("nox", reason="nox is a development dependency")
    return load_file("visionbench_noxfile", ROOT / "noxfile.py")


def load_docs_facts():
    """docs/hooks/facts.py, the MkDocs hook whose `sources()` names every code object the
    docs quote, as a module (the tests that keep the docs' tables to the code read it)."""
    return load_file("visionbench_docs_facts", DOCS_HOOK)


def load_file(name: str, path: Path):
    """The Python file at `path` as a module called `name` (not on sys.path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
