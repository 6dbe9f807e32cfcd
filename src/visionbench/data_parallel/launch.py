"""Data-parallel training: DistributedDataParallel launched the way torchrun launches it.

A `Job` is one variant at one world size. `launch` starts its ranks through
torch.distributed's elastic launcher (`LaunchConfig` + `elastic_launch`, the
API behind torchrun) with a c10d rendezvous on port 0 of the loopback address:
the agent's TCP store binds a port the OS picks at that moment and the ranks
join through it, so two launches running at once never race for a port. CUDA:
NCCL, one process per GPU. CPU: gloo, the cores this process may use split
evenly between the ranks (each pinned to its share, with as many torch
threads), so that every world size runs on the same cores.

Every rank runs `worker`:
  1. accuracy: the profile's recipe trained data-parallel at the recipe's
     global batch (each global batch split into world size x micro-batches,
     drop_last), evaluated on rank 0;
  2. the timed unit: one synchronised DDP step at a fixed per-rank batch (weak
     scaling: the global batch grows with the world size), between two
     barriers; rank 0's clock gives the samples;
  3. the all-reduce, measured by a DDP communication hook that wraps the
     variant's hook (DDP's `allreduce_hook`, the reference, or the bf16/fp16
     compression hooks of `ddp_comm_hooks.default_hooks`): while the wrapped
     hook runs, each all-reduce it issues is counted (the bytes of the tensor
     handed to the collective, so a compressed bucket counts at its compressed
     size) and timed from its launch to its completion (host clock on the CPU,
     CUDA events on the GPU);
  4. peak memory of one step, per rank (the largest is recorded): the CUDA
     allocator's peak, or on the CPU the live torch tensors of the step plus
     DDP's gradient buckets as its reducer reports them.

Faults: a rank that raises or is killed fails the launch (the agent
stops the others); a rank that hangs makes the others' collectives time out
after `Job.timeout_s`, and a watchdog kills every rank still running after
`Job.deadline_s`. `launch` then raises `DataParallelError` naming each rank and
what became of it, after making sure none of the ranks is left running.

Under torchrun (`torchrun --nnodes N ... -m pytest benches/bench_data_parallel.py`)
the pytest process of each rank is itself a rank: `run_in_process` runs the
job on the process group torchrun set up, and only rank 0 records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
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

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from visionbench import models
from visionbench.data.imageset import ImageSet
from visionbench.measure import peak_memory, sync
from visionbench.train import Batches, Trainer, autocast, evaluate

TECHNIQUE = "data_parallel"
HOOKS = ("allreduce", "bf16", "fp16")  # DDP communication hooks a variant may use
FAULTS = ("raise", "hang", "kill")  # injected faults (tests of the fault handling)
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"  # set by torchrun's agent in every rank it starts

Log = Callable[[str], None]


class DataParallelError(RuntimeError):
    """A launch that failed; the message names every rank and what became of it.
    `pids`: the ranks' process ids (all ended by the time this is raised)."""

    def __init__(self, message: str, pids: dict[int, int] | None = None) -> None:
        super().__init__(message)
        self.pids = pids or {}


# -- what runs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One data-parallel configuration; `description` says what it should change."""

    name: str
    hook: str = "allreduce"  # which default_hooks hook all-reduces the buckets
    bucket_cap_mb: float | None = None  # None: DDP's default (25 MB)
    accumulation: int = 1  # micro-batches per synchronised step (no_sync on all but the last)
    description: str = ""

    def __post_init__(self) -> None:
        if self.hook not in HOOKS:
            raise ValueError(f"Variant.hook={self.hook!r}; choose one of {HOOKS}")
        if self.accumulation < 1:
            raise ValueError(f"Variant.accumulation must be at least 1, got {self.accumulation}")


REFERENCE = "ddp"


def variants(bucket_caps_mb: tuple[float, float], accumulation: int) -> list[Variant]:
    """The technique's variants, the reference (plain DDP) first."""
    small, large = sorted(bucket_caps_mb)
    return [
        Variant(
            REFERENCE,
            description="DDP as it comes: fp32 gradients all-reduced in 25 MB buckets, "
            "overlapped with the backward pass",
        ),
        Variant(
            "bf16_compress",
            hook="bf16",
            description="gradients cast to bf16 for the all-reduce: half the bytes; the "
            "step's result differs by bf16 rounding of the averaged gradient",
        ),
        Variant(
            "fp16_compress",
            hook="fp16",
            description="the same with fp16: half the bytes, more mantissa, less range",
        ),
        Variant(
            f"bucket_{_mb(small)}mb",
            bucket_cap_mb=small,
            description="smaller buckets: more, smaller all-reduces that start earlier in "
            "the backward pass (more overlap, more launch cost); same result",
        ),
        Variant(
            f"bucket_{_mb(large)}mb",
            bucket_cap_mb=large,
            description="larger buckets: fewer all-reduces that start later (less "
            "overlap, less launch cost); same result",
        ),
        Variant(
            f"no_sync_x{accumulation}",
            accumulation=accumulation,
            description=f"gradient accumulation over {accumulation} micro-batches of the "
            "per-rank batch, all-reducing only on the last (no_sync): the same bytes per "
            f"step for {accumulation}x the samples",
        ),
    ]


def _mb(value: float) -> str:
    return f"{value:g}".replace(".", "p")


@dataclass(frozen=True)
class Fault:
    """A failure injected into one rank before the timed rounds (for tests).

    raise: an exception; hang: sleeps until stopped; kill: the rank sends
    itself SIGKILL (as the out-of-memory killer would).
    """

    rank: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"Fault.kind={self.kind!r}; choose one of {FAULTS}")


@dataclass(frozen=True)
class Shard:
    """A dataset split as plain arrays (pickled to the ranks without shared memory)."""

    images: np.ndarray  # uint8 N x C x H x W
    labels: np.ndarray  # int64 N
    classes: tuple[str, ...]

    @classmethod
    def of(cls, data: ImageSet) -> Shard:
        return cls(data.images.numpy(), data.labels.numpy(), data.classes)

    def imageset(self, name: str) -> ImageSet:
        return ImageSet(
            name, torch.from_numpy(self.images), torch.from_numpy(self.labels), self.classes
        )


@dataclass(frozen=True)
class Job:
    """Everything the ranks of one launch need (picklable)."""

    variant: Variant
    world_size: int
    device_type: str  # "cpu" (gloo) or "cuda" (NCCL, one GPU per rank)
    model: str
    image_size: int
    train: Any  # TrainConfig: the recipe; its batch_size is the global batch of training
    per_rank_batch: int  # images per rank in each micro-batch of the timed step
    rounds: int
    warmup_rounds: int
    data_name: str
    train_data: Shard
    test_data: Shard
    mean: tuple[float, ...]
    std: tuple[float, ...]
    cores: tuple[int, ...] = ()  # CPU cores shared out between the ranks (empty: all)
    timeout_s: float = 60.0  # a collective waiting longer fails (a rank hung)
    deadline_s: float = 600.0  # the watchdog kills every rank still running after this
    fault: Fault | None = None
    run_dir: str = ""  # set by `launch`: where ranks leave their pids

    @property
    def backend(self) -> str:
        return backend_for(self.device_type)

    @property
    def micro_batch_for_accuracy(self) -> int | None:
        """Per-rank micro-batch that keeps the recipe's global batch, or None when
        the global batch does not split evenly over ranks and micro-batches."""
        parts = self.world_size * self.variant.accumulation
        return self.train.batch_size // parts if self.train.batch_size % parts == 0 else None


def backend_for(device_type: str) -> str:
    return "nccl" if device_type == "cuda" else "gloo"


# -- topology ------------------------------------------------------------------------


def usable_cores() -> tuple[int, ...]:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def devices_available(device_type: str) -> int:
    """Ranks one machine can hold: its GPUs, or its usable CPU cores."""
    if device_type == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    return len(usable_cores())


def world_sizes(available: int, cap: int | None) -> list[int]:
    """1, 2, 4, ... up to what the machine has (and the profile's cap), plus the
    largest itself when it is not a power of two."""
    top = min(available, cap) if cap else available
    sizes = [1 << i for i in range(max(top, 1).bit_length()) if 1 << i <= top]
    if top > 0 and sizes[-1] != top:
        sizes.append(top)
    return sizes if top > 0 else []


def under_torchrun() -> bool:
    """This process is a rank that torchrun (or another elastic agent) started."""
    return TORCHRUN_ENV in os.environ and "WORLD_SIZE" in os.environ


def torchrun_topology() -> tuple[int, int]:
    """(world size, node count) of the torchrun job this process belongs to."""
    world = int(os.environ["WORLD_SIZE"])
    nodes = int(os.environ.get("GROUP_WORLD_SIZE") or 0)
    if not nodes:
        local = int(os.environ.get("LOCAL_WORLD_SIZE") or world)
        nodes = max(1, world // max(local, 1))
    return world, nodes


@dataclass(frozen=True)
class Topology:
    """What the fingerprint records: runs of different topologies are never compared."""

    world_size: int  # the largest world size the run trains at
    backend: str  # "gloo", "nccl", or both ("gloo,nccl") when several devices run
    nodes: int


def topology(device_types: Sequence[str], cap: int | None) -> Topology:
    """The topology of this session's data-parallel runs on these device types."""
    types = [t for t in device_types if devices_available(t)] or ["cpu"]
    backend = ",".join(sorted({backend_for(t) for t in types}))
    if under_torchrun():
        world, nodes = torchrun_topology()
        return Topology(world, backend, nodes)
    largest = max((world_sizes(devices_available(t), cap) or [1])[-1] for t in types)
    return Topology(largest, backend, 1)


# -- measuring the all-reduce --------------------------------------------------------


def merged_length(intervals: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Length of the union of `intervals` clipped to [start, end]."""
    spans = sorted((max(a, start), min(b, end)) for a, b in intervals)
    total, reach = 0.0, start
    for a, b in spans:
        if b <= reach:
            continue
        total += b - max(a, reach)
        reach = b
    return total


class CommMeter:
    """A DDP communication hook that wraps a default hook and measures it.

    `state` for `register_comm_hook`; `hook` the function. Every all-reduce the
    wrapped hook issues is counted by the bytes of the tensor it hands to the
    collective and timed from launch to completion: on the CPU with the host
    clock (the completion callback runs when gloo's work is done), on CUDA with
    events on the stream (launch) and in the completion callback, whose stream
    waits for NCCL's work.
    """

    def __init__(self, hook: str, device: torch.device) -> None:
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        self.inner = {
            "allreduce": default_hooks.allreduce_hook,
            "bf16": default_hooks.bf16_compress_hook,
            "fp16": default_hooks.fp16_compress_hook,
        }[hook]
        self.cuda = device.type == "cuda"
        self.reset()

    def reset(self) -> None:
        self.bytes = 0
        self.calls = 0
        self.spans: list[list[Any]] = []  # [launch, completion] clock readings or events

    def _clock(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def _counting_all_reduce(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def all_reduce(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            self.bytes += tensor.numel() * tensor.element_size()
            self.calls += 1
            span = [self._clock(), None]
            self.spans.append(span)
            work = real(tensor, *args, **kwargs)

            def done(fut: Any) -> None:
                span[1] = self._clock()

            work.get_future().then(done)
            return work

        return all_reduce

    @staticmethod
    def hook(meter, bucket):  # no annotations: DDP checks them against dist.GradBucket
        real = dist.all_reduce
        dist.all_reduce = meter._counting_all_reduce(real)  # the default hooks call it by name
        try:
            return meter.inner(None, bucket)
        finally:
            dist.all_reduce = real

    def in_flight_s(self, start: Any, end: Any) -> float:
        """Seconds within [start, end] (clock readings or events, synchronised) during
        which at least one all-reduce was in flight."""
        if self.cuda:
            spans = [(start.elapsed_time(a) / 1e3, start.elapsed_time(b) / 1e3)
                     for a, b in self.spans if b is not None]  # fmt: skip
            return merged_length(spans, 0.0, start.elapsed_time(end) / 1e3)
        spans = [(a, b) for a, b in self.spans if b is not None]
        return merged_length(spans, start, end)


# -- one rank ------------------------------------------------------------------------


def _pin_cpu(job: Job, local_rank: int, local_world: int) -> None:
    """Give this rank its even share of the cores, and as many torch threads."""
    cores = list(job.cores or usable_cores())
    share = max(1, len(cores) // local_world)
    mine = cores[local_rank * share : (local_rank + 1) * share] or cores[:share]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, mine)
    torch.set_num_threads(len(mine))


def _inject(fault: Fault | None, rank: int) -> None:
    if fault is None or fault.rank != rank:
        return
    if fault.kind == "raise":
        raise RuntimeError(f"injected fault: rank {rank} raised")
    if fault.kind == "hang":
        while True:
            time.sleep(1)
    os.kill(os.getpid(), signal.SIGKILL)


class DDPStep:
    """DDP around the job's model, its optimiser and the synchronised step."""

    def __init__(self, job: Job, device: torch.device, total_steps: int) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        torch.manual_seed(job.train.seed)
        model = models.build(
            job.model,
            num_classes=len(job.train_data.classes),
            in_channels=job.train_data.images.shape[1],
            image_size=job.image_size,
        ).to(device)
        kwargs: dict[str, Any] = {}
        if job.variant.bucket_cap_mb is not None:
            kwargs["bucket_cap_mb"] = job.variant.bucket_cap_mb
        if device.type == "cuda":
            kwargs["device_ids"] = [device.index]
        self.ddp = DDP(model, **kwargs)
        self.meter = CommMeter(job.variant.hook, device)
        self.ddp.register_comm_hook(self.meter, CommMeter.hook)
        self.trainer = Trainer(self.ddp, job.train, device, total_steps)
        self.device = device

    def step(self, micro: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """One optimiser step over the micro-batches, all-reducing on the last only."""
        trainer, k = self.trainer, len(micro)
        self.ddp.train()
        trainer.zero_grad()
        loss = torch.zeros((), device=self.device)
        for i, (x, y) in enumerate(micro):
            quiet = self.ddp.no_sync() if i < k - 1 else contextlib.nullcontext()
            with quiet, autocast(self.device, trainer.cfg.amp):
                loss = F.cross_entropy(self.ddp(x), y) / k
            trainer.scaler.scale(loss).backward()
        trainer.scaler.step(trainer.optimizer)
        trainer.scaler.update()
        if trainer.scheduler is not None and trainer.steps_done + 1 < trainer.total_steps:
            trainer.scheduler.step()
        trainer.steps_done += 1
        return loss.detach()


def bucket_bytes(ddp: Any) -> int:
    """Bytes of DDP's gradient buckets as its reducer reports them: persistent
    buffers allocated in C++ outside the measured step, which the CPU's count of
    live tensors would not see."""
    sizes = ddp._get_ddp_logging_data().get("bucket_sizes", "")
    if isinstance(sizes, str):
        sizes = [int(v) for v in sizes.replace(" ", "").split(",") if v]
    return int(sum(sizes))


def micro_batches(
    x: torch.Tensor, y: torch.Tensor, rank: int, world: int, parts: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's `parts` micro-batches of a global batch: micro-batch j of rank r is
    slice j * world + r of the batch cut into world x parts equal slices."""
    size = x.shape[0] // (world * parts)
    return [
        (x[(j * world + rank) * size : (j * world + rank + 1) * size],
         y[(j * world + rank) * size : (j * world + rank + 1) * size])
        for j in range(parts)
    ]  # fmt: skip


def _train_for_accuracy(job: Job, rank: int, device: torch.device) -> dict[str, Any]:
    """The recipe trained data-parallel at its global batch; evaluated on rank 0."""
    micro = job.micro_batch_for_accuracy
    if micro is None:
        return {}  # the global batch cannot be kept: no accuracy at this world size
    train = job.train_data.imageset(job.data_name)
    cfg = job.train
    batches = Batches(train, cfg.batch_size, device, mean=job.mean, std=job.std,
                      seed=cfg.seed, drop_last=True)  # fmt: skip
    total = cfg.epochs * len(batches)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    runner = DDPStep(job, device, total)
    steps, diverged = 0, False
    dist.barrier()
    sync(device)
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        loss = torch.zeros((), device=device)
        for x, y in batches.epoch(epoch):
            loss = runner.step(micro_batches(x, y, rank, job.world_size, job.variant.accumulation))
            steps += 1
            if steps >= total:
                break
        if not bool(torch.isfinite(loss)):
            diverged = True
            break
        if steps >= total:
            break
    sync(device)
    train_time = time.perf_counter() - start
    figures: dict[str, Any] = {
        "train_time_s": train_time,
        "diverged": diverged,
        "train_steps": steps,
    }
    if rank == 0:
        test = job.test_data.imageset(job.data_name)
        tests = Batches(test, 512, device, mean=job.mean, std=job.std, shuffle=False)
        judge = Trainer(runner.ddp.module, cfg, device)
        figures.update(accuracy=evaluate(judge, tests), eval_images=len(test))
    dist.barrier()
    return figures


def _time_steps(job: Job, rank: int, device: torch.device) -> dict[str, Any]:
    """Warm-up and timed rounds of one synchronised step at the fixed per-rank batch."""
    k, world = job.variant.accumulation, job.world_size
    train = job.train_data.imageset(job.data_name)
    need = job.per_rank_batch * world * k
    if need > len(train):
        raise ValueError(
            f"{job.data_name}: a step of {job.per_rank_batch} images x {world} ranks x {k} "
            f"micro-batches needs {need} training images, the split has {len(train)}"
        )
    x, y = next(iter(Batches(train, need, device, mean=job.mean, std=job.std, seed=job.train.seed)))
    micro = micro_batches(x, y, rank, world, k)
    runner = DDPStep(job, device, total_steps=10**9)
    meter = runner.meter

    def step() -> None:
        runner.step(micro)

    for _ in range(job.warmup_rounds):
        step()
    _inject(job.fault, rank)
    times, shares, in_flight, sent, calls = [], [], [], [], []
    for _ in range(job.rounds):
        dist.barrier()
        sync(device)
        meter.reset()
        start = meter._clock() if meter.cuda else None
        t0 = time.perf_counter()
        step()
        end = meter._clock() if meter.cuda else None
        sync(device)
        dist.barrier()
        t1 = time.perf_counter()
        busy = meter.in_flight_s(start, end) if meter.cuda else meter.in_flight_s(t0, t1)
        times.append(t1 - t0)
        in_flight.append(busy)
        shares.append(min(1.0, busy / (t1 - t0)))
        sent.append(meter.bytes)
        calls.append(meter.calls)
    peak = peak_memory(step, device, resident=[runner.ddp.module, runner.trainer.optimizer, micro])
    if device.type == "cpu":  # the CUDA allocator's peak already holds them
        peak += bucket_bytes(runner.ddp)
    return {
        "times": times,
        "allreduce_share": float(np.median(shares)),
        "allreduce_time_s": float(np.median(in_flight)),
        "allreduce_bytes": int(np.median(sent)),
        "allreduce_calls": int(np.median(calls)),
        "peak_mem_bytes": int(peak),
        "samples_per_step": job.per_rank_batch * world * k,
    }


def run_job(job: Job) -> dict[str, Any] | None:
    """One rank's part of a job, on an initialised default process group. Returns
    the job's figures on rank 0 (every rank's peak memory gathered), else None."""
    rank = dist.get_rank()
    if dist.get_world_size() != job.world_size:
        raise ValueError(
            f"the process group has {dist.get_world_size()} ranks, the job wants {job.world_size}"
        )
    device = _device(job)
    figures = _train_for_accuracy(job, rank, device)
    figures.update(_time_steps(job, rank, device))
    peaks: list[Any] = [None] * job.world_size if rank == 0 else []
    dist.gather_object(figures["peak_mem_bytes"], peaks if rank == 0 else None, dst=0)
    if rank != 0:
        return None
    figures["peak_mem_bytes_per_rank"] = peaks
    return figures


def _device(job: Job) -> torch.device:
    if job.device_type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def worker(job: Job) -> dict[str, Any] | None:
    """The entrypoint of each launched rank (env:// rendezvous set by the agent)."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(job.world_size)))
    announce(job)
    if job.device_type == "cpu":
        _pin_cpu(job, local_rank, local_world)
    device = _device(job)
    kwargs: dict[str, Any] = {"timeout": timedelta(seconds=job.timeout_s)}
    if device.type == "cuda":
        kwargs["device_id"] = device
    try:
        dist.init_process_group(job.backend, **kwargs)
        figures = run_job(job)
    except BaseException as exc:
        if job.run_dir:  # the launcher names this rank's own error, not just the first seen
            text = f"{type(exc).__name__}: {exc}".splitlines()[0]
            text = text.split(". This is typically caused")[0]  # gloo's advice, not the error
            Path(job.run_dir, f"rank{dist_rank()}.error").write_text(text[:400])
        raise
    if figures is not None:
        figures["port"] = int(os.environ["MASTER_PORT"])
    dist.destroy_process_group()
    return figures


def announce(job: Job) -> None:
    """Leave this rank's pid where the launcher's watchdog and clean-up find it."""
    if job.run_dir:
        Path(job.run_dir, f"rank{dist_rank()}.pid").write_text(str(os.getpid()))


def dist_rank() -> int:
    return int(os.environ.get("RANK", "0"))


# -- launching -----------------------------------------------------------------------


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
            _pin_cpu(job, local_rank, local_world)
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


# -- figures -------------------------------------------------------------------------


def scaling_efficiency(samples_per_s: float, world_size: int, single: float | None) -> float | None:
    """Throughput at world size N over N x the throughput at world size 1."""
    if single is None or single <= 0 or world_size < 1:
        return None
    return samples_per_s / (world_size * single)


def throughput(samples_per_step: int, times: Sequence[float]) -> float:
    """Global images per second from the median step time."""
    median = float(np.median(times))
    return samples_per_step / median if median > 0 else math.nan


# -- what a session runs -------------------------------------------------------------


def device_types(choice: str) -> list[str]:
    """Device types `--vb-device CHOICE` runs on (auto: CUDA when present, else CPU)."""
    cuda = torch.cuda.is_available()
    return {"cpu": ["cpu"], "cuda": ["cuda"], "all": ["cpu", "cuda"]}.get(
        choice, ["cuda"] if cuda else ["cpu"]
    )


def bench_world_sizes(choice: str, cap: int | None) -> list[int]:
    """World sizes to parametrise the bench with: under torchrun 1 and its world
    size; otherwise 1, 2, 4, ... for the devices chosen (a size a device type
    cannot hold is skipped there with the reason)."""
    if under_torchrun():
        return sorted({1, torchrun_topology()[0]})
    sizes: set[int] = {1}
    for kind in device_types(choice):
        sizes.update(world_sizes(devices_available(kind), cap))
    return sorted(sizes)


def unavailable(device: torch.device, world_size: int) -> str | None:
    """Why this bench case cannot run here (a skip reason), or None when it can."""
    if device.type == "cuda" and (device.index or 0) > 0:
        return "data-parallel training runs once over every GPU, in cuda0's case"
    if under_torchrun():
        rank, world = int(os.environ.get("RANK", "0")), torchrun_topology()[0]
        if world_size == 1 and rank != 0:
            return "world size 1 runs on torchrun's rank 0 alone"
        if world_size not in (1, world):
            return f"under torchrun the world size is {world}"
        return None
    have = devices_available(device.type)
    if world_size > have:
        what = "GPUs" if device.type == "cuda" else "CPU cores"
        return f"world size {world_size} needs {world_size} {what}; this machine has {have}"
    return None
