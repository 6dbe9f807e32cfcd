"""Measuring: device-synchronised timing, peak memory, FLOPs, parameters (energy: `energy`).

CUDA work is asynchronous: a clock read right after a launch measures the
launch, not the work. Everything timed here ends with `sync(device)`.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
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


def synced(fn: Callable[..., Any], device: torch.device | str) -> Callable[..., Any]:
    """`fn` followed by a device synchronisation: the unit to hand to a timer."""
    device = torch.device(device)

    def run(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
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


def resident_bytes(device: torch.device | str, resident: Iterable[Any]) -> int:
    """Bytes of the distinct storages that `resident` holds on `device`'s type."""
    tracker = _LiveStorages(torch.device(device).type)
    for tensor in resident_tensors(*resident):
        tracker.add(tensor)
    return tracker.current


def peak_memory(
    fn: Callable[[], Any],
    device: torch.device | str,
    resident: Iterable[Any] = (),
    graph_pools: Collection[tuple[int, int]] | None = None,
) -> int | None:
    """Peak bytes of the variant's own tensors while `fn` runs once: what
    `resident` holds (model, gradients, optimiser state, inputs) plus what `fn`
    allocates at its peak, whatever else is in memory (other variants' cached
    models, earlier benches' tensors). The same meaning on every device:

    CUDA: the caching allocator's peak above what was allocated when `fn`
    started (`max_memory_allocated` after a reset, minus `memory_allocated`
    before), plus the bytes of `resident`'s tensors on the device. A unit that
    replays CUDA graphs allocates nothing while it replays: `graph_pools`, the
    private pools its graphs were recorded into (`new_graph_pools`), count whole
    (`graph_peak`); None when the unit recorded again into them as it ran, and the
    figure would count that memory twice.
    CPU: live torch storages counted through a dispatch mode, starting from the
    tensors in `resident`. Process RSS would mix in the interpreter, other
    variants and the allocator's cache. Run it outside the timed rounds: on the
    CPU it slows each op.
    """
    device = torch.device(device)
    if device.type == "cuda":
        pools_before = pool_segments(device, graph_pools) if graph_pools else []
        sync(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync(device)
        above = max(0, torch.cuda.max_memory_allocated(device) - before)
        if not graph_pools:
            return int(resident_bytes(device, resident) + above)
        pools = pool_segments(device, graph_pools)
        if pools != pools_before:
            return None
        return graph_peak(resident_storages(device, resident), above, pools)
    tracker = _LiveStorages(device.type)
    for tensor in resident_tensors(*resident):
        tracker.add(tensor)
    with tracker:
        fn()
    return tracker.peak


# -- CUDA graphs' memory pools ---------------------------------------------------------------
# A model compiled to replay CUDA graphs (torch.compile's reduce-overhead and max-autotune)
# records them into a private memory pool of the caching allocator; a replay writes into
# the pool's fixed addresses without allocating, so an allocator peak taken around it misses
# the graphs' activations. The pool is the variant's for as long as its graphs live.

Segments = list[tuple[int, int]]  # (address, bytes) of the allocator's segments


def graph_pool_ids(device: torch.device | str) -> set[tuple[int, int]]:
    """Ids of the private pools (CUDA graphs') that hold memory on `device` now."""
    return {pool for pool, _, _ in _segments(torch.device(device)) if tuple(pool) != (0, 0)}


def new_graph_pools(before: Collection[tuple[int, int]], device: torch.device | str) -> set:
    """The private pools on `device` that did not exist `before` (`graph_pool_ids`):
    those of the graphs recorded since."""
    return graph_pool_ids(device) - set(before)


def pool_segments(device: torch.device, pools: Collection[tuple[int, int]]) -> Segments:
    """(address, bytes) of every segment of `pools` on `device`, in address order."""
    wanted = {tuple(p) for p in pools}
    return sorted((a, n) for pool, a, n in _segments(device) if tuple(pool) in wanted)


def _segments(device: torch.device) -> list[tuple[tuple[int, int], int, int]]:
    """(pool id, address, bytes) of the caching allocator's segments on `device`."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    return [
        (tuple(s["segment_pool_id"]), s["address"], s["total_size"])
        for s in torch.cuda.memory_snapshot()
        if s["device"] == index
    ]


def resident_storages(device: torch.device | str, resident: Iterable[Any]) -> dict[int, int]:
    """Address -> bytes of the distinct storages `resident` holds on `device`'s type."""
    kind = torch.device(device).type
    storages = (t.untyped_storage() for t in resident_tensors(*resident) if t.device.type == kind)
    return {s.data_ptr(): s.nbytes() for s in storages}


def graph_peak(storages: Mapping[int, int], above: int, pools: Segments) -> int:
    """Peak bytes of a variant whose unit replays CUDA graphs: its resident storages
    (address -> bytes) outside the graphs' pools, the pools' segments whole (a replay
    may write anywhere in them; they count at the allocator's reserved size, rounded to
    its 2 MiB segments, where a tensor counts at its own size), and what the unit
    allocated `above` that outside the pools. A gradient that a recorded backward
    wrote into a pool counts once, as part of the pool."""

    def in_pool(address: int) -> bool:
        return any(start <= address < start + size for start, size in pools)

    outside = sum(n for address, n in storages.items() if not in_pool(address))
    return int(outside + sum(size for _, size in pools) + max(0, above))


class RunMemory:
    """The peak of a whole run's own tensors (a training run: model, optimiser
    state, the data it holds on the device, its steps and evaluations).

    CUDA: `with RunMemory(device) as run:` around the run; `run.peak` is the
    caching allocator's peak above what was allocated when it began. CPU: the
    same block runs under the live-storage counter (each op is slower, so keep
    it off timed work); tensors the run holds that existed before it (a dataset
    it reads in place) are added with `hold`.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.peak = 0
        self._before = 0
        self._tracker = _LiveStorages(self.device.type) if self.device.type != "cuda" else None

    def hold(self, *objects: Any) -> None:
        """Count tensors that the run holds but did not allocate (CPU; on CUDA the
        run's copies to the device are allocations and already counted)."""
        if self._tracker is not None:
            for tensor in resident_tensors(*objects):
                self._tracker.add(tensor)

    def __enter__(self) -> RunMemory:
        if self._tracker is not None:
            self._tracker.__enter__()
        else:
            sync(self.device)
            self._before = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._tracker is not None:
            self._tracker.__exit__(*exc)
            self.peak = self._tracker.peak
        else:
            sync(self.device)
            self.peak = max(0, int(torch.cuda.max_memory_allocated(self.device) - self._before))


def allocator_peak_memory(
    fn: Callable[[], Any],
    device: torch.device | str,
    resident: Iterable[Any] = (),
    graph_pools: Collection[tuple[int, int]] | None = None,
) -> int | None:
    """Peak bytes like `peak_memory`, but on the CPU counted at the allocator.

    torch.compile runs its model eagerly under a TorchDispatchMode, so
    `peak_memory` would measure the eager model; the allocator also sees the
    buffers of compiled (inductor) kernels. CPU: the profiler's memory events
    while `fn` runs, on top of the bytes `resident` holds. `fn` runs twice under
    the profiler and the peak is taken over the second call: frees of blocks
    allocated before profiling are invisible, and the first call frees those
    (e.g. the gradients of the previous step). Compare it only with itself.
    CUDA: the caching allocator's peak, as `peak_memory` (with its `graph_pools`).
    """
    device = torch.device(device)
    if device.type != "cpu":
        return peak_memory(fn, device, resident, graph_pools)
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


def model_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers (BatchNorm statistics, ...)."""
    return sum(t.nbytes for t in (*model.parameters(), *model.buffers()))


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
