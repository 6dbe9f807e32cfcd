"""The all-reduce measured: a DDP communication hook that wraps the variant's hook, counts
the bytes handed to each collective and times each from launch to completion."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist


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


def bucket_bytes(ddp: Any) -> int:
    """Bytes of DDP's gradient buckets as its reducer reports them: persistent
    buffers allocated in C++ outside the measured step, which the CPU's count of
    live tensors would not see."""
    sizes = ddp._get_ddp_logging_data().get("bucket_sizes", "")
    if isinstance(sizes, str):
        sizes = [int(v) for v in sizes.replace(" ", "").split(",") if v]
    return int(sum(sizes))
