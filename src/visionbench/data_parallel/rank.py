"""One rank of a data-parallel job: the `Job` it runs, DDP around the model, the
training for accuracy at the recipe's global batch, the timed synchronised steps,
and `worker`, the entrypoint of each launched rank."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from visionbench import models
from visionbench.data.imageset import ImageSet
from visionbench.data_parallel.comm import CommMeter, bucket_bytes
from visionbench.data_parallel.topology import backend_for, usable_cores
from visionbench.data_parallel.variants import Variant
from visionbench.measure.meters import peak_memory, sync
from visionbench.training.train import (
    Batches,
    Trainer,
    autocast,
    evaluate,
    evaluation_batches,
    fp32_precision,
)

FAULTS = ("raise", "hang", "kill")  # injected faults (tests of the fault handling)


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


def pin_cpu(job: Job, local_rank: int, local_world: int) -> None:
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
        with fp32_precision(self.device, trainer.cfg.tf32):  # strict fp32 unless the recipe's TF32
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
        tests = evaluation_batches(test, cfg, device, job.mean, job.std)
        judge = Trainer(runner.ddp.module, cfg, device)
        figures.update(accuracy=evaluate(judge, tests), eval_images=cfg.evaluated(len(test)))
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
        pin_cpu(job, local_rank, local_world)
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
