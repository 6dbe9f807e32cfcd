"""GPU clocks for the A/B gate: what NVML says they were, and locking them when allowed.

A GPU's clocks follow its temperature and power: a block timed while the
GPU throttled differs from one that did not, on both sides alike (the sides
alternate within milliseconds), but the spread between blocks grows. The
lane records every GPU's clocks and throttle reasons before and after each
block; `--lock-clocks` locks the graphics clock at the GPU's default
application clock for the invocation (nvmlDeviceSetGpuLockedClocks: root or
a runner configured for it; refused otherwise, said and left free) and
resets it at the end. Both act on this job's GPUs only, those its
CUDA_VISIBLE_DEVICES names (`measure.gpus.job_gpus`): on a machine that hosts
several runners the others' GPUs are theirs. NVML only: the coordinator never
starts CUDA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from visionbench.measure import gpus

#: NVML's clock event ("throttle") reason bits, by name (nvmlClocksEventReason*).
REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def _nvml() -> Any:
    """pynvml, initialised, or None without NVML (no GPU, no driver)."""
    from visionbench.measure.gpus import NVML

    return NVML.library()


def reasons(mask: int) -> list[str]:
    return [name for bit, name in REASONS.items() if mask & bit]


def _reason_mask(lib: Any, handle: Any) -> int:
    getter = getattr(lib, "nvmlDeviceGetCurrentClocksEventReasons", None)
    if getter is None:  # nvidia-ml-py before 12.535
        getter = lib.nvmlDeviceGetCurrentClocksThrottleReasons
    return int(getter(handle))


def clocks() -> list[dict[str, Any]] | None:
    """Per GPU of this job: its name, graphics (SM) and memory clocks now and at most
    (MHz), the reasons its clocks are held down, its temperature. None without NVML."""
    lib = _nvml()
    if lib is None:
        return None
    out = []
    try:
        job = gpus.job_gpus_here(lib)
        if job.reason is not None:
            return [{"error": job.reason}]
        for gpu in job.gpus:
            h = gpu.handle
            out.append(
                {
                    "index": gpu.index,
                    "name": gpu.name,
                    "uuid": gpu.uuid,
                    "sm_mhz": lib.nvmlDeviceGetClockInfo(h, lib.NVML_CLOCK_SM),
                    "mem_mhz": lib.nvmlDeviceGetClockInfo(h, lib.NVML_CLOCK_MEM),
                    "max_sm_mhz": lib.nvmlDeviceGetMaxClockInfo(h, lib.NVML_CLOCK_SM),
                    "max_mem_mhz": lib.nvmlDeviceGetMaxClockInfo(h, lib.NVML_CLOCK_MEM),
                    "reasons": reasons(_reason_mask(lib, h)),
                    "temperature_c": lib.nvmlDeviceGetTemperature(h, lib.NVML_TEMPERATURE_GPU),
                }
            )
    except Exception as exc:  # an NVML that cannot answer: say so, time anyway
        return [{"error": f"{type(exc).__name__}: {exc}"}]
    return out


@contextlib.contextmanager
def locked_clocks(lock: bool) -> Iterator[list[str]]:
    """With `lock`, the graphics clock of each of this job's GPUs locked at its default
    application clock while inside, reset on leaving; yields what was done, one line
    per GPU (nothing without `lock` or without NVML)."""
    lib = _nvml() if lock else None
    done: list[str] = []
    locked = []
    if lib is not None:
        try:
            job = gpus.job_gpus_here(lib)
        except Exception as exc:  # an NVML that cannot list its GPUs: lock nothing
            job = gpus.JobGpus(reason=f"NVML could not list the GPUs ({type(exc).__name__}: {exc})")
        if job.reason is not None:
            done.append(f"--lock-clocks: nothing locked: {job.reason}")
        for gpu in job.gpus:
            h, i = gpu.handle, gpu.index
            try:
                mhz = lib.nvmlDeviceGetDefaultApplicationsClock(h, lib.NVML_CLOCK_GRAPHICS)
                lib.nvmlDeviceSetGpuLockedClocks(h, mhz, mhz)
                locked.append(h)
                done.append(f"GPU {i} ({gpu.name}): graphics clock locked at {mhz} MHz")
            except Exception as exc:
                done.append(f"GPU {i}: clocks not locked ({type(exc).__name__}: {exc}); left free")
    elif lock:
        done.append("--lock-clocks: no NVML here (no NVIDIA GPU or driver); nothing locked")
    try:
        yield done
    finally:
        for h in locked:
            with contextlib.suppress(Exception):
                lib.nvmlDeviceResetGpuLockedClocks(h)
