"""Measuring: device-synchronised timing, peak memory, FLOPs, parameters, energy.

CUDA work is asynchronous: a clock read right after a launch measures the
launch, not the work. Everything timed here ends with `sync(device)`.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode


def sync(device: torch.device | str) -> None:
    """Wait for all queued work on the device (a no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def synced(fn: Callable[[], Any], device: torch.device | str) -> Callable[[], Any]:
    """`fn` followed by a device synchronisation: the unit to hand to a timer."""
    device = torch.device(device)

    def run() -> Any:
        out = fn()
        sync(device)
        return out

    return run


def time_once(fn: Callable[[], Any], device: torch.device | str) -> tuple[float, Any]:
    """Wall time of one synchronised call (for one-off costs, not for benchmarks)."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


# -- memory ------------------------------------------------------------------


class _LiveStorages(TorchDispatchMode):
    """Counts the bytes of live tensor storages on one device type, and their peak.

    Every aten op's outputs are registered; a storage leaves the count when it
    is freed (a weakref finalizer on the storage). Memory that exists before
    the measured call is registered explicitly with `add`.
    """

    def __init__(self, device_type: str) -> None:
        super().__init__()
        self.device_type = device_type
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def add(self, tensor: Any) -> None:
        if not isinstance(tensor, torch.Tensor) or tensor.device.type != self.device_type:
            return
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self.live:
            return
        self.live[key] = storage.nbytes()
        self.current += self.live[key]
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            self.add(leaf)
        return out


def resident_tensors(*objects: Any) -> Iterator[torch.Tensor]:
    """Tensors held by modules (parameters, gradients, buffers), optimisers
    (their state) and plain tensors or containers of them."""
    for obj in objects:
        if isinstance(obj, nn.Module):
            for p in obj.parameters():
                yield p
                if p.grad is not None:
                    yield p.grad
            yield from obj.buffers()
        elif isinstance(obj, torch.optim.Optimizer):
            for state in obj.state.values():
                yield from (v for v in state.values() if isinstance(v, torch.Tensor))
        elif isinstance(obj, torch.Tensor):
            yield obj
        elif isinstance(obj, dict):
            yield from resident_tensors(*obj.values())
        elif isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
            yield from resident_tensors(*obj)


def peak_memory(
    fn: Callable[[], Any], device: torch.device | str, resident: Iterable[Any] = ()
) -> int:
    """Peak bytes in use while `fn` runs once, including what `resident` holds.

    CUDA: the caching allocator's peak (`max_memory_allocated`) after resetting
    it, so it covers exactly this call plus what was already allocated.
    CPU: live torch storages counted through a dispatch mode, starting from the
    tensors in `resident` (model, optimiser, inputs). Process RSS would mix in
    the interpreter, other variants and the allocator's cache; this figure
    isolates the variant. Run it outside the timed rounds: it slows each op.
    """
    device = torch.device(device)
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync(device)
        return int(torch.cuda.max_memory_allocated(device))
    tracker = _LiveStorages(device.type)
    for tensor in resident_tensors(*resident):
        tracker.add(tensor)
    with tracker:
        fn()
    return tracker.peak


def allocator_peak_memory(
    fn: Callable[[], Any], device: torch.device | str, resident: Iterable[Any] = ()
) -> int:
    """Peak bytes like `peak_memory`, but on the CPU counted at the allocator.

    torch.compile runs its model eagerly under a TorchDispatchMode, so
    `peak_memory` would measure the eager model; the allocator also sees the
    buffers of compiled (inductor) kernels. CPU: the profiler's memory events
    while `fn` runs, on top of the bytes `resident` holds. `fn` runs twice under
    the profiler and the peak is taken over the second call: frees of blocks
    allocated before profiling are invisible, and the first call frees those
    (e.g. the gradients of the previous step). Compare it only with itself.
    CUDA: the caching allocator's peak, as `peak_memory`.
    """
    device = torch.device(device)
    if device.type != "cpu":
        return peak_memory(fn, device, resident)
    from torch.profiler import ProfilerActivity, profile, record_function

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
        base = _LiveStorages(device.type)
        for tensor in resident_tensors(*resident):
            base.add(tensor)
        with record_function("visionbench.measured"):
            fn()
    events = prof.profiler.kineto_results.events()
    mark = next(e for e in events if e.name() == "visionbench.measured")
    allocations = sorted(
        (e.start_ns(), e.nbytes())
        for e in events
        if e.name() == "[memory]" and mark.start_ns() <= e.start_ns() <= mark.end_ns()
    )
    current = peak = base.current
    for _, nbytes in allocations:
        current += nbytes
        peak = max(peak, current)
    return peak


# -- model size ----------------------------------------------------------------


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, sample: torch.Tensor) -> int:
    """Forward FLOPs per image (multiply-add = 2 FLOPs) of `model` on `sample`
    (a batch; the count is divided by its size), in eval mode, no autograd."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops() // sample.shape[0])


# -- energy ----------------------------------------------------------------------


@dataclass
class EnergyReading:
    energy_j: float | None = None
    power_w: float | None = None


class EnergyMeter:
    """GPU energy over a span of work, from NVML's total-energy counter.

    Present only on a CUDA device whose NVML answers (Volta and newer); on the
    CPU or without NVML the reading stays None, recorded as absent.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.handle = None
        self.reading = EnergyReading()
        if self.device.type != "cuda":
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            index = self.device.index if self.device.index is not None else 0
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)  # supported?
        except Exception:  # NVML missing, or the GPU cannot count energy
            self.handle = None

    @contextlib.contextmanager
    def span(self, units: int = 1) -> Iterator[EnergyReading]:
        """Measure the block; `energy_j` is per unit of work (e.g. per step)."""
        if self.handle is None:
            yield self.reading
            return
        import pynvml

        sync(self.device)
        start_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        start = time.perf_counter()
        yield self.reading
        sync(self.device)
        elapsed = time.perf_counter() - start
        joules = (pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - start_mj) / 1000.0
        self.reading.energy_j = joules / max(units, 1)
        self.reading.power_w = joules / elapsed if elapsed > 0 else None
