"""The profiles' dry runs that tests/test_dry_runs.py checks, started in the background
as soon as collection ends (tests/conftest.py), so that they run while the rest of the
suite does; their tests run last and wait for them.

Each is one pytest process on one torch thread: the suite's other tests and the dry runs
share the cores instead of the dry runs waiting for an idle machine (a step of a few
images parallelises poorly over threads anyway).

`standard`'s runs every bench. `paper`'s runs only what `paper` changes that
`standard`'s cannot show (BENCHES): every registered model at 224 px, the sweep to
224 px with its stems, its compile modes (`reduce-overhead` only there) and its
selection tiers. The other benches run the same code in both profiles with other
sizes or epochs (the step techniques, data parallelism and Grad-CAM on ResNet-18 or
the profile's models, which model_size already runs at 224 px; the data paths, the
recipe ladder, augmentation and the talk's pipeline at the same 32 px): run twice, they
doubled the dry runs' cost in CI, not what they check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("standard", "paper")
#: The techniques (one bench module each, benches/bench_<name>.py) each profile's dry run
#: runs; None: every bench.
BENCHES: dict[str, tuple[str, ...] | None] = {
    "standard": None,
    "paper": ("model_size", "resolution", "compile", "adaptive_selection"),
}
PARAM = "dry_run"  # the name of test_dry_runs' parametrised fixture
TIMEOUT_S = 1800  # a dry run that takes longer has hung


@dataclass
class Started:
    name: str
    proc: subprocess.Popen
    tmp: Path  # its storage/, its output (pytest.out) and its report
    waited_s: float = 0.0  # how long the suite's tests waited for it to end

    @property
    def output(self) -> Path:
        return self.tmp / "pytest.out"

    def wait(self) -> subprocess.CompletedProcess:
        """Wait for it (killed after TIMEOUT_S); its exit code and output."""
        start = time.monotonic()
        try:
            self.proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.waited_s += time.monotonic() - start
        text = self.output.read_text(encoding="utf-8", errors="replace")
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, text, "")


STARTED = pytest.StashKey[dict[str, Started]]()


def selected(items: list[pytest.Item]) -> list[str]:
    """The profiles whose dry-run tests are among `items`, in PROFILES' order."""
    names = {
        item.callspec.params[PARAM]
        for item in items
        if PARAM in getattr(getattr(item, "callspec", None), "params", {})
    }
    return [p for p in PROFILES if p in names]


def paths(name: str) -> list[str]:
    """The bench paths profile `name`'s dry run runs (BENCHES)."""
    chosen = BENCHES[name]
    return ["benches"] if chosen is None else [f"benches/bench_{t}.py" for t in chosen]


def start(name: str, bench_args: tuple[str, ...]) -> Started:
    """`pytest BENCHES --vb-profile NAME --vb-dry-run` on the CPU, on one thread."""
    tmp = Path(tempfile.mkdtemp(prefix=f"visionbench-dry-{name}-"))
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *paths(name),
        "--vb-profile", name, "--vb-dry-run", "--vb-device", "cpu", "--vb-threads", "1",
        f"--benchmark-storage=file://{tmp / 'storage'}", *bench_args, "-q", "-rs",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(tmp / "pytest.out", "w") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    return Started(name, proc, tmp)


def timings(started: dict[str, Started]) -> list[str]:
    """One line per finished dry run: its pytest's own time and how long the suite's tests
    waited for it (what the dry runs add to the suite's wall time)."""
    lines = []
    for s in started.values():
        if s.proc.poll() is None or not s.output.exists():
            continue
        took = re.findall(r" in ([\d.]+)s", s.output.read_text(encoding="utf-8", errors="replace"))
        took_s = f"{float(took[-1]):.0f} s" if took else "(no time: it did not finish)"
        lines.append(f"{s.name} dry run: {took_s} on one thread; the tests waited "
                     f"{s.waited_s:.0f} s for it")  # fmt: skip
    return lines


def stop(started: dict[str, Started]) -> None:
    """Kill what still runs (the session ended early: a failure, -x, Ctrl-C), remove
    what they wrote."""
    for s in started.values():
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        shutil.rmtree(s.tmp, ignore_errors=True)
