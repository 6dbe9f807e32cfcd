"""Launching a data-parallel job: its ranks started through torch's elastic launcher
(the API behind torchrun) on a free port, watched, and named when they fail; or, under
torchrun, this process run as one of its ranks."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch.distributed as dist

from visionbench.data_parallel.rank import Job, pin_cpu, run_job, worker

Log = Callable[[str], None]


class DataParallelError(RuntimeError):
    """A launch that failed; the message names every rank and what became of it.
    `pids`: the ranks' process ids (all ended by the time this is raised)."""

    def __init__(self, message: str, pids: dict[int, int] | None = None) -> None:
        super().__init__(message)
        self.pids = pids or {}


@dataclass
class Launched:
    """What a launch gave back: rank 0's figures and the port the ranks met on."""

    figures: dict[str, Any]
    port: int | None = None
    pids: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0


def _pids(run_dir: Path) -> dict[int, int]:
    out = {}
    for path in run_dir.glob("rank*.pid"):
        with contextlib.suppress(ValueError, OSError):
            out[int(path.stem[4:])] = int(path.read_text())
    return out


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError):
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _kill(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class _Watchdog:
    """Kills every rank of a launch still running after `deadline_s`."""

    def __init__(self, run_dir: Path, deadline_s: float) -> None:
        self.run_dir = run_dir
        self.killed: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(deadline_s,), daemon=True)

    def _watch(self, deadline_s: float) -> None:
        if self._stop.wait(deadline_s):
            return
        self.killed = {r: p for r, p in _pids(self.run_dir).items() if alive(p)}
        _kill(list(self.killed.values()))

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """The elastic agent installs its own SIGTERM/SIGINT/... handlers; put ours back."""
    names = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    saved = {}
    if threading.current_thread() is threading.main_thread():
        saved = {n: signal.getsignal(getattr(signal, n)) for n in names if hasattr(signal, n)}
    try:
        yield
    finally:
        for name, handler in saved.items():
            if handler is not None:
                signal.signal(getattr(signal, name), handler)


def launch(
    job: Job, log: Log | None = None, entrypoint: Callable[[Job], Any] | None = None
) -> Launched:
    """Run `job` on `job.world_size` local ranks through the elastic launcher.

    Raises DataParallelError naming each rank's fate when any rank fails, hangs
    past the timeouts or is killed; no rank is left running either way.
    `entrypoint` replaces `worker` (tests run a single step through it); it must
    be importable by name, and sets up its own process group.
    """
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    prefer_forkserver()
    with tempfile.TemporaryDirectory(prefix="visionbench-ddp-") as tmp:
        run_dir = Path(tmp)
        job = dataclasses.replace(job, run_dir=str(run_dir))
        options: dict[str, Any] = {
            "min_nodes": 1,
            "max_nodes": 1,
            "nproc_per_node": job.world_size,
            "run_id": f"visionbench-{uuid.uuid4().hex[:12]}",
            "rdzv_backend": "c10d",
            "rdzv_endpoint": "127.0.0.1:0",  # the agent's store binds a free port
            "rdzv_configs": {"timeout": int(max(job.timeout_s, 30))},
            "max_restarts": 0,
            "monitor_interval": 0.05,
            "start_method": "forkserver",
            "logs_specs": DefaultLogsSpecs(log_dir=str(run_dir / "logs"), redirects=Std.ALL),
        }
        if "shutdown_timeout" in {f.name for f in dataclasses.fields(LaunchConfig)}:
            options["shutdown_timeout"] = 5  # SIGTERM, then SIGKILL after 5 s
        if log is not None:
            log(
                f"launching {job.variant.name} at world size {job.world_size} "
                f"({job.backend}, {job.device_type})"
            )
        start = time.perf_counter()
        try:
            with _keep_signal_handlers(), _Watchdog(run_dir, job.deadline_s) as watchdog:
                try:
                    results = elastic_launch(LaunchConfig(**options), entrypoint or worker)(job)
                except ChildFailedError as exc:
                    raise DataParallelError(
                        describe_failure(
                            job, exc.failures, watchdog.killed, _errors(run_dir), _pids(run_dir)
                        ),
                        _pids(run_dir),
                    ) from None
                except Exception as exc:  # the rendezvous or the agent itself
                    raise DataParallelError(
                        f"data-parallel {job.variant.name} at world size {job.world_size}: "
                        f"the launch failed: {type(exc).__name__}: {exc}",
                        _pids(run_dir),
                    ) from exc
        finally:
            pids = _pids(run_dir)
            _kill([p for p in pids.values() if alive(p)])  # never leave a rank behind
        figures = results.get(0)
        if figures is None:
            raise DataParallelError(f"{job.variant.name}: rank 0 returned no figures", pids)
        port = figures.pop("port", None)
        return Launched(figures, port, pids, time.perf_counter() - start)


COMM_ERRORS = ("Connection closed by peer", "Timed out", "timed out", "timeout", "Connection reset")


def describe_failure(
    job: Job,
    failures: dict[int, Any],
    killed: dict[int, int],
    errors: dict[int, str] | None = None,
    pids: dict[int, int] | None = None,
) -> str:
    """What became of each rank, root causes first: its own error (as the rank wrote
    it), the signal or exit code the agent saw, the watchdog's kill, or that it was
    still running when the launcher stopped it."""
    errors = errors or {}
    timed_out = any("imed out" in e or "timeout" in e for e in errors.values())
    causes, echoes = [], []
    for rank in range(job.world_size):
        failure = failures.get(rank)
        known = (pids or {}).get(rank) or (failure.pid if failure is not None else None)
        pid = f" (pid {known})" if known else ""
        if rank in killed:
            causes.append(
                f"rank {rank}{pid}: hung past the deadline of "
                f"{job.deadline_s:g} s; killed by the watchdog"
            )
        elif rank in errors:
            text = f"rank {rank}{pid}: {errors[rank]}"
            (echoes if any(c in errors[rank] for c in COMM_ERRORS) else causes).append(text)
        elif failure is not None:
            causes.append(f"rank {rank}{pid}: {_failure_text(failure)}")
        elif timed_out:
            causes.append(
                f"rank {rank}{pid}: no error of its own, still running while the others timed "
                "out waiting for it (hung); stopped by the launcher"
            )
        else:
            echoes.append(f"rank {rank}{pid}: stopped by the launcher after another rank failed")
    if not causes:  # only lost connections: the ranks without an error of their own died
        causes = [
            e.replace("stopped by the launcher after another rank failed",
                      "ended without an error of its own (killed, or exited), and the "
                      "others lost their connection to it")
            for e in echoes if "stopped by the launcher" in e
        ]  # fmt: skip
        echoes = [e for e in echoes if "stopped by the launcher" not in e]
    return (
        f"data-parallel {job.variant.name} at world size {job.world_size} ({job.backend}) "
        "failed: " + "; ".join(causes + echoes)
    )


def _errors(run_dir: Path) -> dict[int, str]:
    out = {}
    for path in run_dir.glob("rank*.error"):
        with contextlib.suppress(ValueError, OSError):
            out[int(path.stem[4:])] = path.read_text().strip()
    return out


def _failure_text(failure: Any) -> str:
    message = failure.message
    if isinstance(message, dict):
        message = message.get("message") or ""
    message = str(message or "").strip()
    if failure.exitcode is not None and failure.exitcode < 0:
        return f"killed by {failure.signal_name()}"
    if message and not message.startswith("To enable traceback"):
        return message.splitlines()[-1][:300]
    return f"exited with code {failure.exitcode}"


_PRELOADED = False


def prefer_forkserver() -> None:
    """Start ranks from a forkserver that has torch and visionbench imported once,
    so that each launch forks ready ranks in a fraction of a second instead of
    importing torch anew (seconds) per rank; the forkserver itself never touches
    CUDA (it only imports), so its children may."""
    # The forkserver is a child of this process and exits with it; every rank it
    # forks is ended by `launch`.
    global _PRELOADED
    if not _PRELOADED:
        import multiprocessing

        multiprocessing.set_forkserver_preload([__name__])
        _PRELOADED = True


# -- under torchrun ------------------------------------------------------------------


def run_in_process(job: Job) -> dict[str, Any] | None:
    """Run `job` with this process as a rank of the torchrun job it belongs to
    (the process group is made once and kept for the session). A failure raises
    DataParallelError naming this rank; the bench then ends this rank's pytest,
    and torchrun stops the others."""
    if not dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        if job.device_type == "cpu":
            pin_cpu(job, local_rank, local_world)
        # the other ranks wait here while rank 0 runs the world-size-1 cases alone
        wait = timedelta(seconds=max(8 * job.deadline_s, 1800))
        dist.init_process_group(job.backend, timeout=wait)
    try:
        return run_job(job)
    except Exception as exc:  # the ranks can no longer pair their collectives
        raise DataParallelError(
            f"data-parallel {job.variant.name} under torchrun failed on rank "
            f"{dist.get_rank()} of {job.world_size}: {type(exc).__name__}: {exc}"
        ) from exc
