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

import contextlib
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
#: Where a pytest-xdist controller's dry runs are, for its workers (set before they start).
DIR_ENV = "VISIONBENCH_DRY_RUNS"
#: Runs the dry run's pytest (argv[2:]) and writes its exit code to argv[1] when it ends,
#: so that a process which did not start it (an xdist worker) can wait for it.
WRAPPER = (
    "import subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1] + '.part', 'w').write(str(code)); "
    "__import__('os').replace(sys.argv[1] + '.part', sys.argv[1])"
)


@dataclass
class Started:
    """A profile's dry run, started by this process (`proc`) or found in the directory
    the process that started it named (`DIR_ENV`: a pytest-xdist worker's view)."""

    name: str
    tmp: Path  # its storage/, its output (pytest.out), its exit code (rc) and its report
    proc: subprocess.Popen | None = None

    @property
    def output(self) -> Path:
        return self.tmp / "pytest.out"

    @property
    def rc(self) -> Path:
        return self.tmp / "rc"

    @property
    def waited_s(self) -> float:
        """How long the suite's tests waited for it, in all of the suite's processes."""
        waited = self.tmp / "waited"
        return sum(map(float, waited.read_text().split())) if waited.exists() else 0.0

    def ended(self) -> bool:
        return self.rc.exists()

    def wait(self) -> subprocess.CompletedProcess:
        """Wait for it (killed after TIMEOUT_S); its exit code and output."""
        start = time.monotonic()
        while not self.ended() and time.monotonic() - start < TIMEOUT_S:
            if self.proc is not None and self.proc.poll() is not None and not self.ended():
                break  # its wrapper was killed: no exit code will come
            time.sleep(0.5)
        if not self.ended():
            kill(self.proc)
        with open(self.tmp / "waited", "a") as f:
            f.write(f"{time.monotonic() - start:.3f}\n")
        code = int(self.rc.read_text()) if self.ended() else -9
        text = self.output.read_text(encoding="utf-8", errors="replace")
        return subprocess.CompletedProcess([self.name], code, text, "")


STARTED = pytest.StashKey[dict[str, Started]]()


def selected(items: list[pytest.Item]) -> list[str]:
    """The profiles whose dry-run tests are among `items`, in PROFILES' order."""
    names = {
        item.callspec.params[PARAM]
        for item in items
        if PARAM in getattr(getattr(item, "callspec", None), "params", {})
    }
    return [p for p in PROFILES if p in names]


def selected_ids(ids: list[str]) -> list[str]:
    """The same from the test ids a pytest-xdist worker collected (what its controller
    sees): a test of tests/test_dry_runs.py whose parameter names a profile."""
    names = {m.group(1) for i in ids if (m := re.search(r"test_dry_runs\.py::\w+\[(\w+)\]$", i))}
    return [p for p in PROFILES if p in names]


def paths(name: str) -> list[str]:
    """The bench paths profile `name`'s dry run runs (BENCHES)."""
    chosen = BENCHES[name]
    return ["benches"] if chosen is None else [f"benches/bench_{t}.py" for t in chosen]


def start(name: str, bench_args: tuple[str, ...], base: Path | None = None) -> Started:
    """`pytest BENCHES --vb-profile NAME --vb-dry-run` on the CPU, on one thread, in a
    process group of its own (so that `stop` takes its wrapper and pytest together)."""
    if base is None:
        tmp = Path(tempfile.mkdtemp(prefix=f"visionbench-dry-{name}-"))
    else:
        tmp = base / name
        tmp.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *paths(name),
        "--vb-profile", name, "--vb-dry-run", "--vb-device", "cpu", "--vb-threads", "1",
        f"--benchmark-storage=file://{tmp / 'storage'}", *bench_args, "-q", "-rs",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(tmp / "pytest.out", "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, str(tmp / "rc"), *cmd], cwd=ROOT, env=env,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Started(name, tmp, proc)


def found(name: str) -> Started | None:
    """Profile `name`'s dry run, started by the pytest-xdist controller (DIR_ENV)."""
    base = os.environ.get(DIR_ENV)
    tmp = Path(base) / name if base else None
    return Started(name, tmp) if tmp is not None and tmp.is_dir() else None


def kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()


def timings(started: dict[str, Started]) -> list[str]:
    """One line per finished dry run: its pytest's own time and how long the suite's tests
    waited for it (what the dry runs add to the suite's wall time)."""
    lines = []
    for s in started.values():
        if not s.ended() or not s.output.exists():
            continue
        took = re.findall(r" in ([\d.]+)s", s.output.read_text(encoding="utf-8", errors="replace"))
        took_s = f"{float(took[-1]):.0f} s" if took else "(no time: it did not finish)"
        lines.append(f"{s.name} dry run: {took_s} on one thread; the tests waited "
                     f"{s.waited_s:.0f} s for it")  # fmt: skip
    return lines


def stop(started: dict[str, Started], base: Path | None = None) -> None:
    """Kill what still runs (the session ended early: a failure, -x, Ctrl-C), remove
    what they wrote."""
    for s in started.values():
        kill(s.proc)
        shutil.rmtree(s.tmp, ignore_errors=True)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)
