"""Which GPUs are this job's: NVML's devices matched to the CUDA devices of this process.

NVML numbers every GPU of the machine; CUDA numbers only the ones
CUDA_VISIBLE_DEVICES names, in its own order. On a machine that hosts several
runners (one GPU each), NVML's GPU 0 is often another job's. Two ways to tell,
one place for both:

- a process that has started CUDA knows its devices' PCI bus ids and UUIDs
  (torch's device properties): `match` finds the NVML device that *is* one
  (`NVML.handle`, the energy meter's);
- a process that must not start CUDA (the A/B gate's coordinator and zygote, which
  fork workers) reads CUDA_VISIBLE_DEVICES as CUDA does: `job_gpus` (the gate's
  GPU records and `--lock-clocks`).

Standard library only: the A/B gate's zygote, which holds no visionbench, loads
this file by path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BusId = tuple[int, int, int]  # PCI (domain, bus, device): NVML's and CUDA's common key


@dataclass(frozen=True)
class Gpu:
    """One GPU as NVML reports it."""

    index: int  # NVML's index (every GPU of the machine, NVML's order)
    name: str
    uuid: str  # "GPU-…"
    bus_id: BusId
    handle: Any = field(default=None, compare=False, repr=False)  # NVML's handle


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def nvml_gpus(lib: Any) -> list[Gpu]:
    """Every GPU NVML sees, from an initialised pynvml (`lib`); raises what NVML raises."""
    gpus = []
    for i in range(lib.nvmlDeviceGetCount()):
        handle = lib.nvmlDeviceGetHandleByIndex(i)
        pci = lib.nvmlDeviceGetPciInfo(handle)
        name, uuid = _text(lib.nvmlDeviceGetName(handle)), _text(lib.nvmlDeviceGetUUID(handle))
        gpus.append(Gpu(i, name, uuid, (pci.domain, pci.bus, pci.device), handle))
    return gpus


# -- a process that has started CUDA: torch's device properties --------------------------


def identity(props: Any) -> tuple[BusId | None, str | None]:
    """(PCI bus id, "GPU-" UUID) of a CUDA device from torch's device properties, None
    for what this torch does not report: `pci_domain_id`, `pci_bus_id` and
    `pci_device_id` are missing from some releases the project accepts (torch's own
    type stubs leave them out, even in 2.14), `uuid` from older ones."""
    parts = [getattr(props, f"pci_{part}_id", None) for part in ("domain", "bus", "device")]
    bus_id = tuple(parts) if all(isinstance(p, int) for p in parts) else None
    uuid = getattr(props, "uuid", None)
    uuid = f"GPU-{str(uuid).removeprefix('GPU-')}" if uuid else None
    return bus_id, uuid  # type: ignore[return-value]


def match(gpus: Sequence[Gpu], bus_id: BusId | None = None, uuid: str | None = None) -> Gpu | None:
    """The NVML GPU on `bus_id`, else the one with `uuid`; None when neither is known or
    no GPU has it."""
    for gpu in gpus:
        if bus_id is not None and gpu.bus_id == tuple(bus_id):
            return gpu
    for gpu in gpus:
        if uuid is not None and gpu.uuid.lower() == uuid.lower():
            return gpu
    return None


# -- the session's NVML -------------------------------------------------------------------


class Nvml:
    """NVML for this process: initialised once on first use, shut down once at the
    end (`close`, called by the root conftest when pytest ends).

    `handle(device)` finds the NVML device that *is* the torch device, by PCI bus id
    or UUID (`match`): torch's index counts only the devices
    CUDA_VISIBLE_DEVICES shows, in CUDA's order, and NVML's counts every GPU of the
    machine in its own. `lib` replaces pynvml (tests pass a fake).
    """

    def __init__(self, lib: Any = None) -> None:
        self._lib = lib
        self._state: str = "closed"  # "closed", "open" or "absent" (no NVML here)

    def library(self) -> Any:
        """pynvml, initialised; None where NVML cannot be loaded or started."""
        if self._state == "absent":
            return None
        if self._state == "closed":
            try:
                if self._lib is None:
                    import pynvml

                    self._lib = pynvml
                self._lib.nvmlInit()
            except Exception:  # no NVML library, no driver, or no GPU
                self._state = "absent"
                return None
            self._state = "open"
        return self._lib

    def gpu(self, device: Any, props: Any = None) -> Gpu | None:
        """The NVML GPU that is the CUDA `device`, or None where there is none.

        `props` (torch's device properties: PCI bus id, UUID) defaults to `device`'s."""
        lib = self.library()
        if lib is None:
            return None
        try:
            if props is None:
                import torch  # only here: the zygote loads this module without torch

                props = torch.cuda.get_device_properties(torch.device(device))
            return match(nvml_gpus(lib), *identity(props))
        except Exception:  # an NVML or a torch that cannot answer: no GPU to read
            return None

    def handle(self, device: Any, props: Any = None) -> Any:
        """The NVML handle of `gpu(device, props)`, or None."""
        found = self.gpu(device, props)
        return found.handle if found is not None else None

    def driver_version(self) -> str | None:
        lib = self.library()
        if lib is None:
            return None
        try:
            version = lib.nvmlSystemGetDriverVersion()
        except Exception:
            return None
        return version.decode() if isinstance(version, bytes) else str(version)

    def close(self) -> None:
        """nvmlShutdown, once, if this session initialised NVML."""
        if self._state == "open":
            with contextlib.suppress(Exception):
                self._lib.nvmlShutdown()
        self._state = "closed" if self._state == "open" else self._state


#: The session's NVML (closed by the root conftest's pytest_unconfigure).
NVML = Nvml()


# -- a process that must not start CUDA: CUDA_VISIBLE_DEVICES, read as CUDA reads it -------


@dataclass(frozen=True)
class JobGpus:
    """The GPUs this job's CUDA sees (in NVML's order), or why they cannot be told."""

    gpus: tuple[Gpu, ...] = ()
    reason: str | None = None  # set when they cannot be told (then `gpus` is empty)


def _entries(visible: str) -> list[str]:
    """CUDA_VISIBLE_DEVICES's entries as CUDA takes them (torch's `_parse_visible_devices`
    follows the same rules): UUID lists ("GPU-…", "MIG-…") end at the first entry of
    another kind; a list of ordinals ends at the first entry that does not start with a
    number (CUDA reads each with strtoul: "1gpu2" is 1); a repeated entry hides every
    device."""
    parts = [p.strip() for p in visible.split(",")]
    kept: list[str] = []
    for part in parts:
        prefix = next((p for p in ("GPU-", "MIG-") if parts[0].startswith(p)), None)
        if prefix is not None:
            if not part.startswith(prefix):
                break
            value = part
        else:
            digits = part[: len(part) - len(part.lstrip("0123456789"))]
            if not digits:
                break
            value = str(int(digits))
        if value in kept:
            return []
        kept.append(value)
    return kept


def _by_uuid(gpus: Sequence[Gpu], entries: list[str]) -> list[Gpu]:
    """The GPUs named by UUIDs or unique UUID prefixes; an unknown or ambiguous one ends
    the list, as in CUDA."""
    found: list[Gpu] = []
    for entry in entries:
        hits = [g for g in gpus if g.uuid.lower().startswith(entry.lower())]
        if len(hits) != 1:
            break
        found.append(hits[0])
    return found


def job_gpus(gpus: Sequence[Gpu], visible: str | None, order: str | None) -> JobGpus:
    """The GPUs that a CUDA process started with CUDA_VISIBLE_DEVICES=`visible` and
    CUDA_DEVICE_ORDER=`order` uses, of NVML's `gpus`, without starting CUDA.

    Unset: every GPU. UUIDs (or unique prefixes): those GPUs. Ordinals count CUDA's
    devices: in PCI bus order with CUDA_DEVICE_ORDER=PCI_BUS_ID; with the default
    (FASTEST_FIRST), fastest first, which among GPUs of one model is PCI bus order as
    well (CUDA's ordering by speed cannot separate equal devices). On a machine of
    mixed GPUs with ordinals in the default order, which one CUDA calls 0 is a guess:
    left untold unless the ordinals name every GPU. MIG instances share their GPU's
    clocks with other instances, possibly other jobs': left untold.
    """
    if visible is None:
        return JobGpus(tuple(gpus))
    entries = _entries(visible)
    if not entries:
        return JobGpus()
    if entries[0].startswith("MIG-"):
        return JobGpus(reason=f"CUDA_VISIBLE_DEVICES={visible} names MIG instances; "
                       "their GPU and its clocks are shared with the other instances")  # fmt: skip
    if entries[0].startswith("GPU-"):
        return JobGpus(tuple(sorted(_by_uuid(gpus, entries), key=lambda g: g.index)))
    ordinals = [int(e) for e in entries]
    ordinals = ordinals[: next((i for i, o in enumerate(ordinals) if o >= len(gpus)), None)]
    in_pci_order = sorted(gpus, key=lambda g: g.bus_id)
    one_model = len({g.name for g in gpus}) <= 1
    if order == "PCI_BUS_ID" or one_model or sorted(ordinals) == list(range(len(gpus))):
        chosen = [in_pci_order[o] for o in ordinals]
        return JobGpus(tuple(sorted(chosen, key=lambda g: g.index)))
    return JobGpus(reason=(
        f"CUDA_VISIBLE_DEVICES={visible} counts CUDA's devices fastest first on a machine of "
        f"{len({g.name for g in gpus})} GPU models: which GPU each is cannot be told without "
        "starting CUDA. Set CUDA_DEVICE_ORDER=PCI_BUS_ID, or name the GPUs by UUID"))  # fmt: skip


def job_gpus_here(lib: Any, environ: Mapping[str, str] | None = None) -> JobGpus:
    """`job_gpus` for this process: NVML's GPUs (`lib`, initialised) and its environment."""
    env = os.environ if environ is None else environ
    return job_gpus(nvml_gpus(lib), env.get("CUDA_VISIBLE_DEVICES"), env.get("CUDA_DEVICE_ORDER"))
