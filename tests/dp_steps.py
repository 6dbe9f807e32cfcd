"""Entrypoints the data-parallel tests launch in each rank (importable by name, as
the elastic launcher's forkserver children need): one DDP step through the
library's own `DDPStep`, returning what the tests compare."""

from __future__ import annotations

import torch
import torch.distributed as dist

from visionbench.data_parallel.rank import DDPStep, Job, announce, micro_batches
from visionbench.training.train import Batches


def global_batch(job: Job) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `per_rank_batch x world_size` training images, normalised."""
    data = job.train_data.imageset(job.data_name)
    size = job.per_rank_batch * job.world_size
    batches = Batches(data, size, torch.device("cpu"), mean=job.mean, std=job.std, seed=0)
    return next(iter(batches))


def one_step(job: Job) -> dict:
    """One DDP step on this rank's share of the global batch: the averaged
    gradients it leaves behind and the bytes the hook saw go to all-reduce."""
    announce(job)
    dist.init_process_group("gloo")
    try:
        rank = dist.get_rank()
        x, y = global_batch(job)
        runner = DDPStep(job, torch.device("cpu"), total_steps=1)
        runner.step(micro_batches(x, y, rank, job.world_size, 1))
        grads = [p.grad.detach().clone() for p in runner.ddp.module.parameters()]
        return {"grads": grads, "bytes": runner.meter.bytes, "calls": runner.meter.calls}
    finally:
        dist.destroy_process_group()
