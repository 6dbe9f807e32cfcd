"""A stand-in for pynvml over machines described GPU by GPU (name, UUID, PCI bus), for the
tests of what visionbench asks NVML: which GPU is which, clocks, locks, energy."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace


@dataclass(frozen=True)
class FakeGpu:
    name: str
    uuid: str  # "GPU-…", as NVML gives it
    bus: int  # PCI bus number (domain 0, device 0)


def machine(name: str, buses: list[int], tag: str = "0") -> list[FakeGpu]:
    """GPUs of one model on `buses`, listed in that order (NVML's own order)."""
    return [FakeGpu(name, f"GPU-{tag}{i:07x}-aaaa-bbbb-cccc-{bus:012x}", bus) for i, bus in
            enumerate(buses)]  # fmt: skip


H100 = "NVIDIA H100 80GB HBM3"
A100 = "NVIDIA A100-SXM4-80GB"
V100 = "Tesla V100-SXM2-32GB"
T4 = "Tesla T4"

#: An eight-GPU machine whose NVML order is not its PCI order (as NVML allows).
EIGHT_H100 = machine(H100, [0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB][::-1])


class FakeNvml:
    """pynvml's calls that visionbench makes. Handles are "gpu<NVML index>"."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_CLOCK_GRAPHICS, NVML_TEMPERATURE_GPU = 1, 2, 0, 0

    def __init__(self, gpus: list[FakeGpu], allow_lock: bool = True, energy=None) -> None:
        self.gpus, self.allow_lock = gpus, allow_lock
        self.energy = energy  # handle -> millijoules so far (a callable), or None
        self.locked: list[tuple[str, int, int]] = []
        self.reset: list[str] = []
        self.inits = self.shutdowns = 0

    def _gpu(self, handle: str) -> FakeGpu:
        return self.gpus[int(handle.removeprefix("gpu"))]

    def nvmlInit(self):
        self.inits += 1

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self):
        return b"550.54.15"

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return f"gpu{i}"

    def nvmlDeviceGetPciInfo(self, handle):
        return SimpleNamespace(domain=0, bus=self._gpu(handle).bus, device=0)

    def nvmlDeviceGetName(self, handle):
        return self._gpu(handle).name.encode()

    def nvmlDeviceGetUUID(self, handle):
        return self._gpu(handle).uuid

    def nvmlDeviceGetClockInfo(self, handle, kind):
        return {1: 1500, 2: 5000}[kind]

    def nvmlDeviceGetMaxClockInfo(self, handle, kind):
        return {1: 1900, 2: 5001}[kind]

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return 0x4 | 0x20

    def nvmlDeviceGetTemperature(self, handle, kind):
        return 71

    def nvmlDeviceGetDefaultApplicationsClock(self, handle, kind):
        return 1410

    def nvmlDeviceSetGpuLockedClocks(self, handle, low, high):
        if not self.allow_lock:
            raise RuntimeError("Insufficient Permissions")
        self.locked.append((handle, low, high))

    def nvmlDeviceResetGpuLockedClocks(self, handle):
        self.reset.append(handle)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.energy is None:
            raise RuntimeError("Not Supported")
        return self.energy(handle)
