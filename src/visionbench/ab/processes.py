"""The A/B gate's processes: whole pytest runs per side, and the zygote with its workers.

Each side (the baseline worktree, the candidate working tree or its own worktree)
runs with its own benches, conftest and src, in its own Python (this virtualenv's
unless --baseline-python/--candidate-python, `ab.sides`) with its own environment
variables, on the same pytest arguments (-k, paths, --vb-* options):
- `Pytest`: one side's whole run (training included) in a fresh process, for
  the deterministic figures (accuracy, memory, flags);
- `Zygote`: the timing lane's and the instruction lane's processes
  (`visionbench.ab.zygote`), started in the `Pinned` environment, each
  worker forked from it for one side; `Zygotes`: one per side where the sides
  differ in Python or variables (a zygote's interpreter and environment are its
  workers'), asked as one.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from visionbench.ab.worktree import AbError
from visionbench.measure import TIMING_ONLY_ENV, results
from visionbench.measure.results import Run

PYTEST_BAD_INPUT = (2, 3, 4, 5)  # interrupted, internal error, usage error, nothing collected


@dataclass(frozen=True)
class Side:
    name: str  # "baseline" or "candidate"
    root: Path  # the tree its pytest runs in
    label: str  # what it is: a commit, or the working tree's description
    python: str = sys.executable  # its interpreter (a path as given: a venv's is not resolved)
    env: tuple[tuple[str, str], ...] = ()  # variables set on top of the caller's

    @property
    def environment(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What its processes start in besides the tree: two sides that differ here need a
        zygote each."""
        return self.python, self.env

    @property
    def default_environment(self) -> bool:
        """Whether it runs in this Python with no variables of its own."""
        return self.environment == (sys.executable, ())

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with this side's variables set."""
        return {**base, **dict(self.env)}


def inherited_path(trees: Sequence[Path]) -> list[str]:
    """The caller's PYTHONPATH (libraries installed beside the virtualenv), less the
    sides' trees (a side must never find the other's modules behind its own) and empty
    entries (they would add the working directory)."""
    own = {os.path.realpath(p) for tree in trees for p in (tree, tree / "src")}
    entries = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    return [p for p in entries if p and os.path.realpath(p) not in own]


def side_path(root: Path, inherited: Sequence[str] = ()) -> str:
    """PYTHONPATH of a side: its src (visionbench) and its root (conftest, fixtures,
    benches) first, then what it inherits."""
    return os.pathsep.join([str(root / "src"), str(root), *inherited])


def is_path(root: Path, arg: str) -> bool:
    """Whether a pytest argument names a path (or a node id) under `root`."""
    path = arg.split("::")[0]
    return not arg.startswith("-") and bool(path) and (root / path).exists()


def with_benches(root: Path, args: list[str]) -> list[str]:
    """The pytest arguments, with `benches` first unless they name a path (pytest's
    own default, testpaths, is the test suite)."""
    return args if any(is_path(root, a) for a in args) else ["benches", *args]


#: What a worker's in-process pytest adds: no cache, no hypothesis plugin (seconds of
#: import per worker), quiet, pytest-benchmark's own timing off (the lane times).
WORKER_PYTEST = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q",
                 "--benchmark-disable")  # fmt: skip


def worker_args(
    root: Path, args: Sequence[str], basetemp: Path, nodes: Sequence[str] | None = None
) -> list[str]:
    """A worker's pytest arguments for the side at `root`: the user's, with paths made
    absolute (both sides' workers run in one working directory), or with `nodes` (node
    ids) in place of the paths, so that pytest imports only their modules."""
    if nodes is None:
        selection = [str(root / a) if is_path(root, a) else a for a in args]
    else:
        selection = [a for a in args if not is_path(root, a)] + [str(root / n) for n in nodes]
    return [*selection, *WORKER_PYTEST, f"--rootdir={root}", f"--basetemp={basetemp}"]


class Pytest:
    """Runs one side's pytest in a fresh process of its Python and variables, with the
    user's arguments; `trees`: both sides' roots (left out of the inherited PYTHONPATH)."""

    def __init__(self, args: Sequence[str], workdir: Path, trees: Sequence[Path] = ()) -> None:
        self.args = list(args)
        self.workdir = workdir
        self.trees = tuple(trees)
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
        env = {**side.environ(os.environ),
               "PYTHONPATH": side_path(side.root, inherited_path(self.trees))}  # fmt: skip
        env.pop(TIMING_ONLY_ENV, None)
        if timing_only:
            env[TIMING_ONLY_ENV] = "1"
        cmd = [
            side.python,
            "-m",
            "pytest",
            *self.args,
            "-p",
            "no:cacheprovider",
            "-q",
            f"--benchmark-json={out}",
            *(f"--deselect={n}" for n in deselect),
        ]
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


# -- the pinned environment ----------------------------------------------------------------

RUN_MARK_ENV = "VISIONBENCH_AB_RUN"  # marks every process of one invocation (zygote, workers)
#: A failure of the baseline's side alone starts with this (it does not fail the gate).
BASELINE_FAILED = "in the baseline: "  # a failure of the baseline's side alone
ZYGOTE = Path(__file__).with_name("zygote.py")
#: The zygote's command: zygote.py loaded by path (no visionbench package in the zygote).
BOOT = (
    "import importlib.util as u, sys; "
    "s = u.spec_from_file_location('visionbench_zygote', sys.argv[1]); "
    "m = u.module_from_spec(s); sys.modules[s.name] = m; s.loader.exec_module(m); "
    "m.zygote(int(sys.argv[2]))"
)


def default_threads(cores: int | None = None) -> int:
    """Threads per member: 1 on a machine with 4 cores or fewer (two workers and the
    coordinator share it), else half the cores."""
    cores = cores or os.cpu_count() or 1
    return 1 if cores <= 4 else cores // 2


def no_aslr() -> tuple[tuple[str, ...], str]:
    """(the command prefix that starts a process without address-space randomisation,
    what it does). Forked children keep their parent's layout, so the zygote's decides
    every worker's: with ASLR off it is also the same from one invocation to the next."""
    with contextlib.suppress(OSError):
        if Path("/proc/sys/kernel/randomize_va_space").read_text().strip() == "0":
            return (), "off (kernel.randomize_va_space = 0)"
    setarch = shutil.which("setarch")
    if setarch is None:
        return (), "on: setarch (util-linux) not found; each invocation is one layout sample"
    prefix = (setarch, platform.machine(), "-R")
    try:
        proc = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return (), f"on: setarch -R failed ({exc})"
    if proc.returncode != 0:
        return (), f"on: setarch -R failed ({proc.stderr.strip()[:200]})"
    return prefix, "off (setarch -R): the zygote's layout, shared by every worker forked from it"


@dataclass(frozen=True)
class Pinned:
    """The environment every member of both sides runs in: recorded in the JSON."""

    threads: int  # torch.set_num_threads, OMP_NUM_THREADS (and MKL's, OpenBLAS's)
    cwd: Path  # one working directory for both sides
    env: dict[str, str]  # the zygote's environment, inherited by every worker
    aslr: str
    prefix: tuple[str, ...]  # e.g. ("/usr/bin/setarch", "x86_64", "-R")

    def record(self) -> dict[str, object]:
        return {
            "threads": self.threads,
            "OMP_WAIT_POLICY": self.env.get("OMP_WAIT_POLICY"),
            "PYTHONHASHSEED": self.env.get("PYTHONHASHSEED"),
            "cwd": str(self.cwd),
            "environment_bytes": sum(len(k) + len(v) + 2 for k, v in self.env.items()),
            "aslr": self.aslr,
        }


def pin(threads: int, cwd: Path, mark: str, trees: Sequence[Path] = ()) -> Pinned:
    """The pinned environment: the caller's, with the thread counts, passive OpenMP
    waiting (an idle worker sleeps instead of spinning on the cores the other side is
    timed on), a fixed hash seed and the timing-only switch. PYTHONPATH keeps what is
    not one of the sides' `trees` (libraries installed beside the virtualenv); each
    worker puts its own side's tree before it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if inherited := inherited_path(trees):
        env["PYTHONPATH"] = os.pathsep.join(inherited)
    env.update(
        {
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
            "OMP_WAIT_POLICY": "PASSIVE",
            "PYTHONHASHSEED": "0",
            TIMING_ONLY_ENV: "1",
            RUN_MARK_ENV: mark,
        }
    )
    prefix, aslr = no_aslr()
    cwd.mkdir(parents=True, exist_ok=True)
    return Pinned(threads, cwd, env, aslr, prefix)


# -- the zygote and its workers, seen from the coordinator --------------------------------


class WorkerLost(AbError):
    """A worker that died or hung: its message says which, with its log's end. Within a
    block it fails the benchmarks that worker had left; anywhere else the invocation
    cannot go on (exit 2)."""


def tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class Worker:
    """One side's worker: ask it, hear from it."""

    side: str
    pid: int
    conn: Connection
    log: Path

    def receive(self, timeout: float) -> tuple:
        """The worker's next message; WorkerLost when it ended or stayed silent."""
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
            why = f"did not answer within {timeout:.0f} s"
        except (EOFError, OSError):
            why = "ended"
        raise WorkerLost(
            f"the {self.side}'s worker (pid {self.pid}) {why}; its log:\n{tail(self.log)}"
        )

    def ask(self, request: tuple, timeout: float) -> tuple:
        try:
            self.conn.send(request)
        except OSError:
            raise WorkerLost(
                f"the {self.side}'s worker (pid {self.pid}) ended; its log:\n{tail(self.log)}"
            ) from None
        return self.receive(timeout)

    def quit(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("quit",))
        self.conn.close()


class Zygote:
    """The coordinator's handle on the zygote (`visionbench.ab.zygote`): start it in
    the pinned environment (`python`, `env` on top: a side's), fork workers from it, and
    end it with every worker (`close`, also on Ctrl-C: nothing of the invocation is
    left running). `name`: its log's."""

    def __init__(
        self,
        pinned: Pinned,
        workdir: Path,
        python: str = sys.executable,
        env: Sequence[tuple[str, str]] = (),
        name: str = "zygote",
    ) -> None:
        self.pinned, self.workdir, self.python, self.env = pinned, workdir, python, dict(env)
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.workers: list[Worker] = []
        self.hello: dict = {}

    def __enter__(self) -> Zygote:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 600) -> dict:
        """Start it and wait until it has preloaded; what it says of itself."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control = ours
        log = self.log
        cmd = [*self.pinned.prefix, self.python, "-c", BOOT, str(ZYGOTE), str(theirs.fileno())]
        with open(log, "w", encoding="utf-8") as fh:
            self.proc = subprocess.Popen(
                cmd,
                pass_fds=(theirs.fileno(),),
                env={**self.pinned.env, **self.env},
                cwd=self.pinned.cwd,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        theirs.close()
        self.hello = json.loads(self._receive(timeout, log))
        if any(m.startswith(("torch:", "pytest:")) for m in self.hello["missing"]):
            raise AbError(f"the zygote cannot import: {'; '.join(self.hello['missing'])}")
        return self.hello

    def _receive(self, timeout: float, log: Path) -> bytes:
        assert self.control is not None
        self.control.settimeout(timeout)
        try:
            data = self.control.recv(1 << 16)
        except TimeoutError:
            data = b""
        if not data:
            raise AbError(f"the zygote stopped answering; its log:\n{tail(log)}")
        return data

    def fork(self, spec: dict) -> Worker:
        """A worker of `spec["side"]`, forked from the zygote; its connection."""
        assert self.control is not None
        mine, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(self.control, [json.dumps(spec).encode()], [its.fileno()])
        finally:
            its.close()
        pid = json.loads(self._receive(60, self.log))["pid"]
        worker = Worker(spec["side"], pid, Connection(mine.detach()), Path(spec["log"]))
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """End every worker and the zygote (idempotent)."""
        for worker in self.workers:
            worker.conn.close()
        if self.control is not None:
            self.control.close()  # the zygote kills its workers' groups and exits
            self.control = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for worker in self.workers:  # and if the zygote could not
            with contextlib.suppress(OSError):
                os.killpg(worker.pid, signal.SIGKILL)
        self.workers = []


class Zygotes:
    """A zygote per side (`Zygote`s started in each side's Python and variables), asked
    as the lanes ask one: a worker is forked by its own side's zygote (`spec["side"]`),
    and the coordinator still asks the two sides for round-pairs milliseconds apart."""

    def __init__(self, by_side: Mapping[str, Zygote]) -> None:
        self.by_side = dict(by_side)

    @property
    def hello(self) -> dict:
        """The baseline's zygote's word on itself, with both sides' GPUs."""
        hellos = [z.hello for z in self.by_side.values()]
        gpus = sorted({g for h in hellos for g in h.get("gpus", [])})
        return {**self.by_side["baseline"].hello, "gpus": gpus}

    def fork(self, spec: dict) -> Worker:
        return self.by_side[spec["side"]].fork(spec)
