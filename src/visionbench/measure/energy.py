"""GPU energy: NVML's total-energy counter over a span of work, read from the GPU that is
the bench's CUDA device (`gpus.NVML`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from visionbench.measure.gpus import NVML, Nvml
from visionbench.measure.meters import sync


@dataclass
class EnergyReading:
    energy_j: float | None = None
    power_w: float | None = None


#: The shortest span whose energy is recorded. NVML's total-energy counter moves in steps
#: about 100 ms apart (ML.ENERGY's Zeus notes it of NVIDIA GPUs), so a span of a few steps
#: reads nothing or a whole step more: one second bounds that to about a tenth.
ENERGY_MIN_SPAN_S = 1.0


def energy_figures(joules: float, elapsed_s: float, units: int) -> EnergyReading:
    """A span's figures: joules per unit and mean watts; none for a span shorter than
    ENERGY_MIN_SPAN_S, whose reading the counter's steps would decide."""
    if elapsed_s < ENERGY_MIN_SPAN_S:
        return EnergyReading()
    return EnergyReading(joules / max(units, 1), joules / elapsed_s)


class EnergyMeter:
    """GPU energy over a span of work, from NVML's total-energy counter.

    Present only on a CUDA device whose NVML answers (Volta and newer); on the
    CPU or without NVML the reading stays None, recorded as absent, and so it does
    for a span shorter than ENERGY_MIN_SPAN_S (`over` runs a unit until it is not).
    """

    def __init__(self, device: torch.device | str, nvml: Nvml | None = None) -> None:
        self.device = torch.device(device)
        self.handle = None
        self.nvml = nvml or NVML
        self.reading = EnergyReading()
        if self.device.type != "cuda":
            return
        handle = self.nvml.handle(self.device)
        if handle is None:
            return
        try:
            self.nvml.library().nvmlDeviceGetTotalEnergyConsumption(handle)  # supported?
        except Exception:  # the GPU cannot count energy
            return
        self.handle = handle

    def _counter(self) -> tuple[float, float]:
        """(millijoules so far, perf_counter seconds), after the device's queued work."""
        sync(self.device)
        mj = self.nvml.library().nvmlDeviceGetTotalEnergyConsumption(self.handle)
        return mj, time.perf_counter()

    @contextlib.contextmanager
    def span(self, units: int = 1) -> Iterator[EnergyReading]:
        """Measure the block; `energy_j` is per unit of work (e.g. per step)."""
        if self.handle is None:
            yield self.reading
            return
        start_mj, start = self._counter()
        yield self.reading
        end_mj, end = self._counter()
        figures = energy_figures((end_mj - start_mj) / 1000.0, end - start, units)
        self.reading.energy_j, self.reading.power_w = figures.energy_j, figures.power_w

    def over(self, unit: Callable[[], Any], min_units: int = 1) -> EnergyReading:
        """Energy per call of `unit` over a block of calls of it alone: at least
        `min_units` of them and ENERGY_MIN_SPAN_S of time (no call without a counter)."""
        if self.handle is None:
            return self.reading
        calls = 0
        start_mj, start = self._counter()
        while calls < min_units or time.perf_counter() - start < ENERGY_MIN_SPAN_S:
            unit()
            sync(self.device)
            calls += 1
        end_mj, end = self._counter()
        self.reading = energy_figures((end_mj - start_mj) / 1000.0, end - start, calls)
        return self.reading
