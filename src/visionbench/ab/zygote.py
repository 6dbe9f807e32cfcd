"""The A/B gate's zygote and its workers: processes that time one side's units on request.

This module runs in processes of its own and is loaded there by file path
(never as `visionbench.ab.zygote`): at module level it imports the standard
library only, so that the zygote holds no visionbench at all and each worker
imports visionbench, conftest, fixtures and benches from its own side's tree.

Why workers forked from one zygote, and not fresh processes per side:
- Each process is one sample of the program's layout: library base addresses
  (ASLR), environment size, link order move a benchmark by more than the
  changes a team needs to catch (Mytkowicz, Diwan, Hauswirth, Sweeney:
  "Producing wrong data without doing anything obviously wrong!", ASPLOS
  2009; Curtsinger & Berger: "Stabilizer: statistically sound performance
  evaluation", ASPLOS 2013). Children forked from one parent share the
  parent's layout; the zygote itself is started under `setarch -R` where it
  exists, in a pinned environment (see `visionbench.ab.processes`).
- A fresh process pays seconds of `import torch` before it measures
  anything; a fork from the zygote pays none of it, so a block of two
  workers costs seconds and the budget buys many blocks.
- Forking after torch has run an OpenMP region or a backward pass hangs or
  raises (pytorch/pytorch#17199; autograd's "threading in combination with
  fork-based multiprocessing"): the zygote only imports (torch, torchvision,
  numpy, pytest, ...), runs nothing and never touches CUDA, the supported
  pattern (multiprocessing's forkserver with `set_forkserver_preload`). A
  worker initialises CUDA, when its benches use it, after the fork.

The zygote reads fork requests from a Unix socket (SOCK_SEQPACKET) to the
coordinator, each with one end of a socketpair that becomes the worker's
connection (`multiprocessing.connection.Connection`). Each worker leads a
process group of its own; when the coordinator closes the socket (or dies),
the zygote kills every worker's group and exits, and a worker whose zygote
died is killed by the kernel (PR_SET_PDEATHSIG).

A worker runs pytest in-process on its side's tree with pytest-benchmark's
`benchmark.pedantic` (and `benchmark(...)`) replaced: instead of timing the
unit, a bench *registers* it (target, arguments, per-round setup and
teardown) under its node id and warms it up. Any bench that times through
pytest-benchmark works, also in a baseline older than this lane. Then the
worker serves "time unit X once" requests: setup, a device synchronisation,
the target between two readings of `time.perf_counter`, a synchronisation,
teardown (the runner's synchronised timer), until told to quit. Under
valgrind (the instruction lane) the same units are built inside
`torch.utils.benchmark.Timer`'s subprocess (`instruction_schedule`).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

#: Imported by the zygote before it forks anything (imports only: nothing is run; measured
#: here, none of them starts a thread). Every worker then finds them loaded: its set-up is
#: visionbench, the benches' collection and the units' building.
PRELOAD = (
    "numpy",
    "torch",
    "torchvision",
    "scipy.stats",
    "PIL.Image",
    "tabulate",
    "pytest",
    "pytest_benchmark.plugin",
    "sklearn.model_selection",
    "sklearn.neighbors",
    "sklearn.svm",
    "sklearn.tree",
    "captum.attr",
    "matplotlib",
    "pandas",
    "psutil",
)
PR_SET_PDEATHSIG = 1
DEFAULT_TIMER = time.perf_counter  # pytest-benchmark's default: a unit it times itself


# -- the zygote --------------------------------------------------------------------------


def die_with_parent() -> None:
    """The kernel kills this process when its parent dies (Linux; elsewhere nothing)."""
    parent = os.getppid()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)


def preload() -> list[str]:
    """Import PRELOAD; the ones that failed, with why."""
    missing = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional library: the worker will say more
            missing.append(f"{name}: {type(exc).__name__}: {exc}")
    return missing


def gpus_module() -> Any:
    """This tree's `visionbench/measure/gpus.py`, loaded by path under a name of its own:
    the zygote holds no visionbench (each worker imports its side's)."""
    name = "visionbench_zygote_gpus"
    if name not in sys.modules:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(os.path.dirname(here), "measure", "gpus.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before it runs: its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def gpus() -> list[str]:
    """This job's NVIDIA GPUs by name (those its CUDA_VISIBLE_DEVICES names, `job_gpus`;
    ["unmatched"] where NVML cannot tell which; none without NVML): never through
    CUDA, which must stay uninitialised in the zygote."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        job = gpus_module().job_gpus_here(pynvml)
        return ["unmatched"] if job.reason is not None else [g.name for g in job.gpus]
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def zygote(control_fd: int) -> None:
    """Preload, say ready, then fork a worker per request until the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's: it ends us
    die_with_parent()
    control = socket.socket(fileno=control_fd)
    missing = preload()
    torch = sys.modules.get("torch")
    control.send(
        json.dumps(
            {
                "missing": missing,
                "pid": os.getpid(),
                "torch": getattr(torch, "__version__", None),
                "gpus": gpus(),
            }
        ).encode()
    )
    children: set[int] = set()
    events = selectors.DefaultSelector()
    events.register(control, selectors.EVENT_READ)
    try:
        while True:
            for pid in list(children):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        children.discard(pid)
            if not events.select(timeout=0.5):
                continue
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 1)
            if not message:
                break  # the coordinator closed its end, or died
            pid = os.fork()
            if pid == 0:  # the worker
                code = 1
                try:
                    os.setpgid(0, 0)
                    events.close()
                    control.close()
                    die_with_parent()
                    code = worker(json.loads(message), fds[0])
                except BaseException:
                    with contextlib.suppress(Exception):
                        traceback.print_exc()
                finally:
                    os._exit(code)
            with contextlib.suppress(OSError):
                os.setpgid(pid, pid)  # also here: no race with a kill right after
            for fd in fds:
                os.close(fd)
            children.add(pid)
            control.send(json.dumps({"pid": pid}).encode())
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


# -- units -------------------------------------------------------------------------------


def started_devices(
    count: int, has_context: Callable[[int], bool] | None, current: int
) -> list[int]:
    """The CUDA devices of `count` that this process has started (`has_context`: whether
    device i holds a primary context), on any of which a unit may have queued work: a
    bench on cuda:1 leaves the current device at 0. The `current` one alone where torch
    cannot say."""
    if has_context is None:
        return [current]
    return [i for i in range(count) if has_context(i)]


def sync() -> None:
    """Wait for the queued work of every GPU this process has started CUDA on."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return
    has_context = getattr(torch._C, "_cuda_hasPrimaryContext", None)
    count, current = torch.cuda.device_count(), torch.cuda.current_device()
    for index in started_devices(count, has_context, current):
        torch.cuda.synchronize(index)


class Unit:
    """What a bench handed to pytest-benchmark to time: one round of it."""

    def __init__(self, target, args=(), kwargs=None, setup=None, teardown=None, iterations=1):
        self.target, self.args, self.kwargs = target, tuple(args), dict(kwargs or {})
        self.setup, self.teardown, self.iterations = setup, teardown, int(iterations)
        self.warm_s: float | None = None  # the last warm-up call, seconds
        self.result: Any = None  # what the target returned last

    def _arguments(self) -> tuple[tuple, dict]:
        if self.setup is not None:
            made = self.setup()
            if made:
                return tuple(made[0]), dict(made[1])
        return self.args, self.kwargs

    def timed(self) -> float:
        """Seconds of one round (per iteration), device-synchronised; setup and
        teardown untimed, as pytest-benchmark's pedantic rounds."""
        args, kwargs = self._arguments()
        sync()
        start = time.perf_counter()
        for _ in range(self.iterations):
            self.result = self.target(*args, **kwargs)
        sync()
        seconds = (time.perf_counter() - start) / self.iterations
        if self.teardown is not None:
            self.teardown(*args, **kwargs)
        return seconds

    def run(self) -> Any:
        """One round, untimed (what the instruction lane counts); the target's result."""
        args, kwargs = self._arguments()
        result = self.target(*args, **kwargs)
        if self.teardown is not None:
            self.teardown(*args, **kwargs)
        return result


class Registry:
    """The units the benches of one pytest session registered, by node id.

    `install` replaces pytest-benchmark's `BenchmarkFixture.pedantic` and
    `__call__` in this process: the unit is warmed up (`warmup` calls, or the
    bench's own warm-up rounds and one more) and kept instead of timed. A bench
    timed with another clock (a replay of rounds measured in other processes)
    is listed in `not_timed`, and so is one whose call takes longer than `max_unit_s`
    (a seed's whole training to a target accuracy: far too long to interleave).
    """

    def __init__(self, warmup: int | None = None, max_unit_s: float | None = None) -> None:
        self.warmup, self.max_unit_s = warmup, max_unit_s
        self.units: dict[str, Unit] = {}
        self.not_timed: dict[str, str] = {}

    def add(self, fixture: Any, unit: Unit, warmup_rounds: int) -> Any:
        """Warm the unit up and keep it; what its target returned (the bench may use it)."""
        timer = getattr(fixture, "_timer", DEFAULT_TIMER)
        if timer is not DEFAULT_TIMER:
            name = getattr(timer, "__qualname__", repr(timer))
            self.not_timed[fixture.fullname] = f"timed by its own clock ({name})"
            return unit.run()
        for _ in range(max(1, warmup_rounds) if self.warmup is None else self.warmup):
            unit.warm_s = unit.timed()
            if self.max_unit_s is not None and unit.warm_s > self.max_unit_s:
                self.not_timed[fixture.fullname] = (
                    f"one call takes {unit.warm_s:.0f} s, more than this lane's "
                    f"{self.max_unit_s:.0f} s"
                )
                break
        else:
            self.units[fixture.fullname] = unit
        return unit.result

    def install(self) -> None:
        from pytest_benchmark.fixture import BenchmarkFixture

        registry = self

        def pedantic(
            self,
            target,
            args=(),
            kwargs=None,
            setup=None,
            teardown=None,
            rounds=1,
            warmup_rounds=0,
            iterations=1,
        ):
            self._mode = "benchmark.pedantic(...)"  # used: no "fixture not used" warning
            unit = Unit(target, args, kwargs, setup, teardown, iterations)
            return registry.add(self, unit, warmup_rounds)

        def call(self, function, *args, **kwargs):
            self._mode = "benchmark(...)"
            return registry.add(self, Unit(function, args, kwargs), 1)

        BenchmarkFixture.pedantic = pedantic
        BenchmarkFixture.__call__ = call


class Outcomes:
    """A pytest plugin: which tests passed, failed (why) or were skipped (why)."""

    def __init__(self) -> None:
        self.passed: set[str] = set()
        self.failed: dict[str, str] = {}
        self.skipped: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            why = getattr(crash, "message", None) or str(report.longrepr).splitlines()[-1:]
            self.failed.setdefault(report.nodeid, str(why)[:500])
        elif report.skipped and report.nodeid not in self.failed:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.skipped[report.nodeid] = str(reason).removeprefix("Skipped: ")
        elif report.when == "call" and report.passed:
            self.passed.add(report.nodeid)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.failed[report.nodeid or "collection"] = str(report.longrepr)[-500:]


def collect(spec: dict[str, Any]) -> tuple[dict[str, Unit], dict[str, Any]]:
    """Run the side's selected benches in this process, registering their units.

    `spec`: root (the side's tree), args (pytest's, paths absolute), threads,
    warmup (None: each bench's own). Returns the units of the benches that passed
    and a report: pytest's exit code, failed, skipped and not-timed benches,
    each unit's warm-up seconds, and what this process ran on."""
    root = spec["root"]
    paths = [os.path.join(root, "src"), root]
    sys.path[:0] = paths
    # for the processes the benches (and Timer) start: this side first, then what was there
    inherited = os.environ.get("PYTHONPATH")  # never an empty entry: it means the cwd
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, inherited] if inherited else paths)
    import pytest
    import torch

    torch.set_num_threads(int(spec["threads"]))
    registry = Registry(spec.get("warmup"), spec.get("max_unit_s"))
    registry.install()
    outcomes = Outcomes()
    code = pytest.main(list(spec["args"]), plugins=[outcomes])
    units = {n: u for n, u in registry.units.items() if n in outcomes.passed}
    failed = dict(outcomes.failed)
    for name in registry.units.keys() - units.keys():
        failed.setdefault(name, "the bench did not pass")
    devices = []
    if torch.cuda.is_initialized():
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return units, {
        "exit": int(code),
        "units": {n: u.warm_s for n, u in units.items()},
        "failed": failed,
        "skipped": outcomes.skipped,
        "not_timed": registry.not_timed,
        "threads": torch.get_num_threads(),
        "cuda_devices": devices,
        "pid": os.getpid(),
    }


# -- workers -----------------------------------------------------------------------------


def redirect(log: str) -> None:
    """This process's stdout and stderr (file descriptors 1 and 2) to `log`."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def worker(spec: dict[str, Any], fd: int) -> int:
    """One side's worker: build the units, then answer the coordinator until it is done.

    Timing ("mode": "time"): sends ("ready", report), then answers ("run", name)
    with ("done", seconds) or ("error", why), until ("quit",) or the connection
    closes. Instructions ("mode": "instructions"): counts each unit under
    valgrind and sends ("counted", report, counts)."""
    from multiprocessing.connection import Connection

    redirect(spec["log"])
    os.chdir(spec["cwd"])
    conn = Connection(fd)
    units, report = collect(spec)
    if report["exit"] not in (0, 1):  # interrupted, internal or usage error, nothing collected
        conn.send(("ready", report))
        return 0
    if spec["mode"] == "instructions":
        counts = count_instructions(spec, sorted(units))
        conn.send(("counted", report, counts))
        return 0
    conn.send(("ready", report))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return 0
        if request[0] == "quit":
            return 0
        try:
            conn.send(("done", units[request[1]].timed()))
        except Exception as exc:  # one unit's failure is that benchmark's
            conn.send(("error", f"{type(exc).__name__}: {exc}"[:500]))


# -- the instruction lane ----------------------------------------------------------------

#: Timer's setup inside its valgrind'ed interpreter: this module by path, the units built.
#: collect_callgrind first runs setup and statement once in the calling process, as a check:
#: there the worker's units are built already, and the statement does nothing.
SETUP = """\
import importlib.util as _u, sys as _s
_spec = _u.spec_from_file_location("visionbench_zygote", {path!r})
_m = _u.module_from_spec(_spec); _s.modules[_spec.name] = _m; _spec.loader.exec_module(_m)
_vb_next = _m.instruction_schedule({spec!r}) if _m.under_valgrind() else (lambda: None)
"""


def under_valgrind() -> bool:
    """Whether this process runs on valgrind's synthetic CPU (valgrind maps its core's
    preload library into every process it runs)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("vgpreload_core" in line for line in maps)
    except OSError:
        return "vgpreload" in os.environ.get("LD_PRELOAD", "")


def instrumentation(state: str) -> None:
    """Callgrind's instrumentation of this process on or off (`callgrind_control -i`):
    off, valgrind runs code several times faster; nothing is counted either way until
    Timer toggles collection on around a unit."""
    import subprocess

    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], capture_output=True,
                   check=True, timeout=300)  # fmt: skip


def instruction_schedule(spec_json: str) -> Callable[[], None]:
    """Inside Timer's valgrind'ed interpreter: build the side's units (instrumentation
    off while building, as from the start under VALGRIND_SHIM; on again before Timer's
    check and the first count), and return the statement's
    function, which runs the next unit of the schedule on each call.

    The first call is Timer's warm-up of the statement and runs nothing (every unit was
    warmed up when it was registered); each later call is counted."""
    spec = json.loads(spec_json)
    redirect(spec["log"])  # its pytest's output beside the worker's, in the worker's log
    instrumentation("off")  # building is not counted: run it at valgrind's plain speed
    try:
        units, report = collect(spec)
    finally:
        instrumentation("on")  # before Timer's check, which needs it on (`count_instructions`)
    lost = [n for n in dict.fromkeys(spec["schedule"]) if n not in units]
    if lost:
        raise RuntimeError(f"under valgrind these benches did not build: {lost}; {report}")
    order = iter([None, *spec["schedule"]])

    def next_unit() -> None:
        name = next(order)
        if name is not None:
            units[name].run()

    return next_unit


#: A `valgrind` put first on Timer's PATH: torch starts callgrind with its instrumentation
#: on (`--instr-atstart=yes`), and importing torch instrumented took 316 s against 34 s
#: uninstrumented (AMD EPYC, one valgrind); `instruction_schedule` switches it on after
#: building, before Timer's check and every count, so the counts are the same.
VALGRIND_SHIM = """#!{python}
import os, sys
args = ["--instr-atstart=no" if a == "--instr-atstart=yes" else a for a in sys.argv[1:]]
os.execv({real!r}, [{real!r}, *args])
"""


def valgrind_shim(directory: str) -> str:
    """A directory holding the `valgrind` of VALGRIND_SHIM (for the front of PATH)."""
    real = shutil.which("valgrind")
    if real is None:
        raise RuntimeError("valgrind is not installed")
    shim = os.path.join(directory, "bin")
    os.makedirs(shim, exist_ok=True)
    path = os.path.join(shim, "valgrind")
    with open(path, "w", encoding="utf-8") as f:
        f.write(VALGRIND_SHIM.format(python=sys.executable, real=os.path.realpath(real)))
    os.chmod(path, 0o755)
    return shim


def count_instructions(spec: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Instructions of each unit, `spec["repeats"]` times, counted by callgrind through
    torch.utils.benchmark.Timer(..., num_threads=1).collect_callgrind; denoised
    (CPython's reference counting and dictionary noise left out). The units run in
    rounds (each unit once per round); every count is one call of one unit.

    Each side's valgrind talks to callgrind_control through vgdb files in a directory of
    its own (TMPDIR, which valgrind, vgdb and callgrind_control all read). Timer checks
    its process with `callgrind_control --stat`, which queries every callgrind process it
    can see and gives up at the first whose instrumentation is off, before printing the
    rest: with one directory for both, the other side, building with its instrumentation
    off, failed this side's check whenever it was listed first (about half the runs)."""
    from torch.utils.benchmark import Timer

    schedule = [n for _ in range(int(spec["repeats"])) for n in names]
    counts: dict[str, list[int]] = {n: [] for n in names}
    if not schedule:
        return {"counts": counts}
    # Timer starts `python` from PATH and checks that it is this interpreter
    os.makedirs(spec["vgdb_dir"], exist_ok=True)
    bindir = os.path.dirname(sys.executable)
    shim = valgrind_shim(spec["vgdb_dir"])
    os.environ["PATH"] = os.pathsep.join([shim, bindir, os.environ.get("PATH", "")])
    os.environ["TMPDIR"] = spec["vgdb_dir"]  # this side's callgrind seen by its tools only
    nodes = [os.path.join(spec["root"], n) for n in names]  # only their modules imported
    inner = {
        **spec,
        "args": [*spec["node_args"], *nodes],
        "schedule": schedule,
        "warmup": 1,
        "threads": 1,
        "max_unit_s": None,  # chosen natively already; on valgrind's CPU every call is slower
    }
    setup = SETUP.format(path=os.path.abspath(__file__), spec=json.dumps(inner))
    start = time.monotonic()
    stats = Timer(stmt="_vb_next()", setup=setup, num_threads=1).collect_callgrind(
        number=1, repeats=len(schedule), collect_baseline=False
    )
    for name, stat in zip(schedule, stats, strict=True):
        counts[name].append(int(stat.counts(denoise=True)))
    return {"counts": counts, "seconds": time.monotonic() - start}
