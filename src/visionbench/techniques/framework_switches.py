"""Framework switches: PyTorch settings that change what a training step costs but
not what it computes (the seed poster's experiment 3, PyTorch's performance-tuning
guide). Each variant wraps the same step of the same model; none changes the
math, so no accuracy is recorded: only the time of a step.

  default            PyTorch's defaults: no debugging APIs, cudnn.benchmark off,
                     the batch copied from pageable host memory (the reference)
  anomaly_detection  torch.autograd.detect_anomaly: every forward op records its
                     stack trace and every backward output is checked for NaN.
                     Expected: several times slower; a debugging tool only
  autograd_profiler  torch.autograd.profiler.profile around the step: every op is
                     recorded with timestamps. Expected: a per-op overhead, large
                     for small models whose ops are short
  cudnn_benchmark    torch.backends.cudnn.benchmark = True (CUDA): cuDNN times its
                     convolution algorithms on the first call of each shape and
                     keeps the fastest. Expected: faster steady steps for fixed
                     shapes, a slower first step (`cudnn_search_s`). Timed in a
                     process of its own (`OWN_PROCESS`), its ratio to the default
                     from separate blocks (paired_rounds = 0)
  pinned_copy        the host batch in pinned (page-locked) memory, copied with
                     non_blocking=True (CUDA): the copy can use DMA and overlap.
                     Expected: a faster copy, most visible for large batches
"""

from __future__ import annotations

import contextlib
import statistics
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import torch

from visionbench import models
from visionbench.measure import metrics, techniques
from visionbench.measure.energy import EnergyMeter
from visionbench.measure.meters import count_params, time_once
from visionbench.measure.runner import Variant, in_fresh_process, replay
from visionbench.models.user import load as load_user_model
from visionbench.training.train import Trainer
from visionbench.training.workloads import Workload, batches, build_model

TECHNIQUE = techniques.SWITCHES.name
REFERENCE = techniques.SWITCHES.reference
VARIANTS = ("default", "anomaly_detection", "autograd_profiler", "cudnn_benchmark", "pinned_copy")
CUDA_ONLY = ("cudnn_benchmark", "pinned_copy")


#: Variants timed in a process of their own, not round by round beside the reference:
#: cuDNN keeps the plan it chose for a convolution per process, keyed by the shapes and
#: settings but not by `benchmark`, and uses a kept plan whatever the flag says. In one
#: process the variant's search would serve the reference's rounds too (or, after any
#: step of the same shapes, never run): the ratio would read 1 whatever the flag does.
OWN_PROCESS = ("cudnn_benchmark",)


def own_process(variant: str) -> bool:
    """Whether the variant is timed in a fresh process of its own (`OWN_PROCESS`)."""
    return variant in OWN_PROCESS


def unsupported(variant: str, device: torch.device) -> str | None:
    """Why the variant cannot run on the device (a skip reason), or None."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown framework switch {variant!r}; choose one of {VARIANTS}")
    if variant in CUDA_ONLY and device.type != "cuda":
        return f"{variant} is a CUDA setting; this run is on {device.type}"
    return None


@contextlib.contextmanager
def switched(variant: str) -> Iterator[None]:
    """The variant's setting around a block, restored after."""
    if variant == "anomaly_detection":
        with warnings.catch_warnings():  # it warns that it is slow: that is what is measured
            warnings.filterwarnings("ignore", message="Anomaly Detection has been enabled")
            with torch.autograd.detect_anomaly(check_nan=True):
                yield
    elif variant == "autograd_profiler":
        with torch.autograd.profiler.profile():
            yield
    elif variant == "cudnn_benchmark":
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = before
    else:
        yield


@dataclass(frozen=True)
class HostStep:
    """A training step of a workload from one batch in host memory, as a variant copies
    it: what building it needs, picklable for a process of its own."""

    variant: str
    workload: Workload
    classes: int
    channels: int
    x: torch.Tensor  # the batch, on the CPU
    y: torch.Tensor
    model_source: str | None = None  # a --vb-model's MODULE:FACTORY, loaded again there

    def build(self, device: torch.device) -> tuple[Callable[[], None], Trainer]:
        """The step (the batch copied pinned and non_blocking for pinned_copy, from
        pageable memory otherwise) and its trainer, on `device`."""
        shape = SimpleNamespace(num_classes=self.classes, channels=self.channels)
        cfg = self.workload.train
        trainer = Trainer(build_model(self.workload, shape, cfg.seed), cfg, device, 10**9)
        pinned = self.variant == "pinned_copy"
        x, y = (self.x.pin_memory(), self.y.pin_memory()) if pinned else (self.x, self.y)

        def step() -> None:
            trainer.step(x.to(device, non_blocking=pinned), y.to(device, non_blocking=pinned))

        return step, trainer


def host_step(variant: str, bench: Any, model_name: str) -> HostStep:
    """The variant's step of `model_name` on the bench's first training batch."""
    workload = bench.workload(model_name)
    data = bench.data.at(workload.image_size)
    x, y = next(batches(data, workload.train, torch.device("cpu"), train=True).epoch(0))
    source = models.spec(model_name).source
    return HostStep(variant, workload, data.num_classes, data.channels, x, y, source)


def measure(bench: Any, benchmark: Any, variant: str, model_name: str) -> None:
    """Time one training step under the variant's switch and record it: round by
    round with the reference's step (another trainer of the same model, under the
    defaults), or, for a variant of OWN_PROCESS, in a process of its own."""
    job = host_step(variant, bench, model_name)
    if own_process(variant):
        figures = _in_own_process(bench, benchmark, job)
    else:
        step, trainer = job.build(bench.device)
        build_reference = None
        if variant != REFERENCE:
            build_reference = lambda: replace(job, variant=REFERENCE).build(bench.device)[0]  # noqa: E731
        with switched(variant):
            step()  # gradients and optimiser state
        figures = bench.time_paired(
            benchmark,
            step,
            bench.profile.train.batch_size,
            build_reference,
            around=lambda: switched(variant),
        )
        figures["params"] = count_params(trainer.model)
    metrics.record(
        benchmark,
        **bench.describe_workload(
            Variant(TECHNIQUE, variant, REFERENCE),
            job.workload,
            metrics.TRAIN_STEP,
            job.workload.train.batch_size,
        ),
        **figures,
    )


def _in_own_process(bench: Any, benchmark: Any, job: HostStep) -> dict[str, Any]:
    """The variant's rounds timed in a fresh process (`own_rounds`), replayed to
    pytest-benchmark; its figures (no pairing: paired_rounds = 0)."""
    timing = bench.profile.timing
    done = in_fresh_process(own_rounds, job, str(bench.device), timing.rounds, timing.warmup_rounds)
    replay(benchmark, done["samples"])
    median = statistics.median(done["samples"])
    return {
        "samples_per_s": job.workload.train.batch_size / median,
        "energy_j": done["energy_j"],
        "power_w": done["power_w"],
        "paired_rounds": 0,
        "cudnn_search_s": max(0.0, done["first_step_s"] - median),
        "params": done["params"],
    }


def own_rounds(job: HostStep, device_name: str, rounds: int, warmup_rounds: int) -> dict[str, Any]:
    """In a fresh process: the variant's step under its switch, timed (each round
    device-synchronised), with nothing cached by any step before.

    A first step at half the batch, under the defaults, creates what every process
    pays once (cuDNN's and cuBLAS's handles, the kernels' modules) at other shapes, so
    that `first_step_s`, the step at the timed shapes that runs cuDNN's search, holds
    the search and a step; then `warmup_rounds` and `rounds` (`samples`), and the
    energy of a block of steps (`energy.EnergyMeter.over`)."""
    device = torch.device(device_name)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # its handles and workspaces on the bench's GPU
    if job.model_source is not None:
        models.register_user(load_user_model(f"{job.workload.model}={job.model_source}"))
    step, trainer = job.build(device)
    n = job.x.shape[0]  # other shapes: half the batch (two images for a batch of one)
    other = slice(0, n // 2) if n > 1 else [0, 0]
    trainer.step(job.x[other].to(device), job.y[other].to(device))
    with switched(job.variant):
        first_step_s = time_once(step, device)[0]
        for _ in range(warmup_rounds):
            time_once(step, device)
        samples = [time_once(step, device)[0] for _ in range(rounds)]
        energy = EnergyMeter(device).over(step)
    return {
        "samples": samples,
        "first_step_s": first_step_s,
        "energy_j": energy.energy_j,
        "power_w": energy.power_w,
        "params": count_params(trainer.model),
    }
