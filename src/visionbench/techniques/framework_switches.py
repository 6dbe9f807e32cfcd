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
                     shapes, a slower first step
  pinned_copy        the host batch in pinned (page-locked) memory, copied with
                     non_blocking=True (CUDA): the copy can use DMA and overlap.
                     Expected: a faster copy, most visible for large batches
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from visionbench.measure import metrics, techniques
from visionbench.measure.meters import count_params
from visionbench.measure.runner import Variant
from visionbench.training.train import Trainer
from visionbench.training.workloads import batches, build_model

TECHNIQUE = techniques.SWITCHES.name
REFERENCE = techniques.SWITCHES.reference
VARIANTS = ("default", "anomaly_detection", "autograd_profiler", "cudnn_benchmark", "pinned_copy")
CUDA_ONLY = ("cudnn_benchmark", "pinned_copy")


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


def step_from_host(variant: str, bench: Any, model_name: str) -> tuple[Callable[[], None], Any]:
    """A training step of `model_name` from a batch in host memory, as the variant
    copies it (pinned and non_blocking, or pageable); the step and its trainer."""
    workload = bench.workload(model_name)
    data = bench.data.at(workload.image_size)
    cfg = workload.train
    trainer = Trainer(build_model(workload, data, cfg.seed), cfg, bench.device, total_steps=10**9)
    x, y = next(batches(data, cfg, torch.device("cpu"), train=True).epoch(0))
    pinned = variant == "pinned_copy"
    if pinned:
        x, y = x.pin_memory(), y.pin_memory()

    def step() -> None:
        trainer.step(
            x.to(bench.device, non_blocking=pinned), y.to(bench.device, non_blocking=pinned)
        )

    return step, trainer


def measure(bench: Any, benchmark: Any, variant: str, model_name: str) -> None:
    """Time one training step under the variant's switch, round by round with
    the reference's step (another trainer of the same model, under the
    defaults), and record it."""
    step, trainer = step_from_host(variant, bench, model_name)
    build_reference = None
    if variant != REFERENCE:
        build_reference = lambda: step_from_host(REFERENCE, bench, model_name)[0]  # noqa: E731
    with switched(variant):
        step()  # gradients, optimiser state and (cudnn_benchmark) the algorithm search
    figures = bench.time_paired(
        benchmark,
        step,
        bench.profile.train.batch_size,
        build_reference,
        around=lambda: switched(variant),
    )
    workload = bench.workload(model_name)
    metrics.record(
        benchmark,
        **bench.describe_workload(
            Variant(TECHNIQUE, variant, REFERENCE),
            workload,
            metrics.TRAIN_STEP,
            workload.train.batch_size,
        ),
        **figures,
        params=count_params(trainer.model),
    )
