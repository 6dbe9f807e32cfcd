"""Helpers shared by the tests: a stand-in for pytest-benchmark's fixture, and
pytest run in a subprocess from the repository root (as a user runs it)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent


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
            if setup is not None:
                setup()
            start = self.clock()
            fn()
            elapsed = self.clock() - start
            if teardown is not None:
                teardown()
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
