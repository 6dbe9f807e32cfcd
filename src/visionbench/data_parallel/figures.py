"""The data-parallel bench's figures: a job assembled from the session's profile, data
and device, launched (or run as this torchrun rank), rank 0's timed steps replayed into
pytest-benchmark, and the figures recorded (throughput, scaling efficiency, the
all-reduce, memory per rank, accuracy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from visionbench.data_parallel.launch import launch, run_in_process
from visionbench.data_parallel.rank import Job, Shard
from visionbench.data_parallel.topology import torchrun_topology, under_torchrun
from visionbench.data_parallel.variants import REFERENCE, TECHNIQUE, Variant
from visionbench.measure import metrics
from visionbench.measure.meters import count_params
from visionbench.measure.runner import Variant as Measured
from visionbench.measure.runner import replay
from visionbench.training.model_bench import ModelBench
from visionbench.training.workloads import Workload, build_model


def scaling_efficiency(samples_per_s: float, world_size: int, single: float | None) -> float | None:
    """Throughput at world size N over N x the throughput at world size 1."""
    if single is None or single <= 0 or world_size < 1:
        return None
    return samples_per_s / (world_size * single)


def throughput(samples_per_step: int, times: Sequence[float]) -> float:
    """Global images per second from the median step time."""
    median = float(np.median(times))
    return samples_per_step / median if median > 0 else math.nan


def measure(
    bench: ModelBench,
    benchmark: Any,
    variant: Variant,
    world_size: int,
    singles: dict[tuple, float],
) -> dict[str, Any] | None:
    """Launch `variant` at `world_size` ranks (or run it as this torchrun rank),
    replay rank 0's timed steps into pytest-benchmark and record its figures.

    `singles` holds each variant's samples_per_s at world size 1 from this session
    (for scaling_efficiency); world size 1 adds to it. Returns the figures
    recorded, or None on a torchrun rank other than 0 (which records nothing).
    """
    budget = bench.profile.data_parallel
    size = bench.profile.model_size.image_size
    data = bench.data.at(size)
    cfg = bench.profile.train
    if budget.epochs is not None:
        cfg = cfg.with_(epochs=budget.epochs)
    if budget.max_steps is not None:
        cfg = cfg.with_(max_steps=budget.max_steps)
    mean, std = data.stats()
    job = Job(
        variant=variant,
        world_size=world_size,
        device_type=bench.device.type,
        model=budget.model,
        image_size=size,
        train=cfg,
        per_rank_batch=cfg.batch_size,
        rounds=bench.timing.rounds,
        warmup_rounds=bench.timing.warmup_rounds,
        data_name=data.name,
        train_data=Shard.of(data.train),
        test_data=Shard.of(data.test),
        mean=mean,
        std=std,
        timeout_s=budget.timeout_s,
        deadline_s=budget.deadline_s,
    )
    nodes = 1
    if under_torchrun() and world_size > 1:
        figures = run_in_process(job)
        nodes = torchrun_topology()[1]
        if figures is None:
            return None
    else:
        figures = launch(job, bench.trained.log).figures
    times = figures.pop("times")
    replay(benchmark, times)
    per_s = throughput(figures.pop("samples_per_step"), times)
    key = (variant.name, str(bench.device.type), data.name)
    if world_size == 1:
        singles[key] = per_s
    row = Measured(TECHNIQUE, variant.name, reference=REFERENCE)
    workload = Workload(budget.model, size, cfg)
    model = build_model(workload, data, cfg.seed)
    recorded = {
        **bench.describe_workload(row, workload, metrics.TRAIN_STEP, cfg.batch_size),
        "world_size": world_size,
        "backend": job.backend,
        "nodes": nodes,
        "global_batch": cfg.batch_size * world_size * variant.accumulation,
        "comm_hook": variant.hook,
        "accumulation": variant.accumulation,
        "samples_per_s": per_s,
        "scaling_efficiency": scaling_efficiency(per_s, world_size, singles.get(key)),
        "params": count_params(model),
        "seeds": 1,
        **figures,
    }
    if variant.bucket_cap_mb is not None:
        recorded["bucket_cap_mb"] = variant.bucket_cap_mb
    metrics.record(benchmark, **recorded)
    return recorded
