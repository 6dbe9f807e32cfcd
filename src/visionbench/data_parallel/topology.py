"""Where data-parallel training runs: world sizes a machine can hold, the backend for a
device, the topology the fingerprint records, and the ranks torchrun started."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"  # set by torchrun's agent in every rank it starts


def backend_for(device_type: str) -> str:
    return "nccl" if device_type == "cuda" else "gloo"


def usable_cores() -> tuple[int, ...]:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def devices_available(device_type: str) -> int:
    """Ranks one machine can hold: its GPUs, or its usable CPU cores."""
    if device_type == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    return len(usable_cores())


def world_sizes(available: int, cap: int | None) -> list[int]:
    """1, 2, 4, ... up to what the machine has (and the profile's cap), plus the
    largest itself when it is not a power of two."""
    top = min(available, cap) if cap else available
    sizes = [1 << i for i in range(max(top, 1).bit_length()) if 1 << i <= top]
    if top > 0 and sizes[-1] != top:
        sizes.append(top)
    return sizes if top > 0 else []


def under_torchrun() -> bool:
    """This process is a rank that torchrun (or another elastic agent) started."""
    return TORCHRUN_ENV in os.environ and "WORLD_SIZE" in os.environ


def torchrun_rank() -> int | None:
    """This process's rank in the torchrun job it belongs to; None outside torchrun."""
    return int(os.environ.get("RANK") or 0) if under_torchrun() else None


def torchrun_topology() -> tuple[int, int]:
    """(world size, node count) of the torchrun job this process belongs to."""
    world = int(os.environ["WORLD_SIZE"])
    nodes = int(os.environ.get("GROUP_WORLD_SIZE") or 0)
    if not nodes:
        local = int(os.environ.get("LOCAL_WORLD_SIZE") or world)
        nodes = max(1, world // max(local, 1))
    return world, nodes


@dataclass(frozen=True)
class Topology:
    """What the fingerprint records: runs of different topologies are never compared."""

    world_size: int  # the largest world size the run trains at
    backend: str  # "gloo", "nccl", or both ("gloo,nccl") when several devices run
    nodes: int


def topology(device_types: Sequence[str], cap: int | None) -> Topology:
    """The topology of this session's data-parallel runs on these device types."""
    types = [t for t in device_types if devices_available(t)] or ["cpu"]
    backend = ",".join(sorted({backend_for(t) for t in types}))
    if under_torchrun():
        world, nodes = torchrun_topology()
        return Topology(world, backend, nodes)
    largest = max((world_sizes(devices_available(t), cap) or [1])[-1] for t in types)
    return Topology(largest, backend, 1)


# -- what a session runs -------------------------------------------------------------


def device_types(choice: str) -> list[str]:
    """Device types `--vb-device CHOICE` runs on (auto: CUDA when present, else CPU)."""
    cuda = torch.cuda.is_available()
    return {"cpu": ["cpu"], "cuda": ["cuda"], "all": ["cpu", "cuda"]}.get(
        choice, ["cuda"] if cuda else ["cpu"]
    )


def bench_world_sizes(choice: str, cap: int | None) -> list[int]:
    """World sizes to parametrise the bench with: under torchrun 1 and its world
    size; otherwise 1, 2, 4, ... for the devices chosen (a size a device type
    cannot hold is skipped there with the reason)."""
    if under_torchrun():
        return sorted({1, torchrun_topology()[0]})
    sizes: set[int] = {1}
    for kind in device_types(choice):
        sizes.update(world_sizes(devices_available(kind), cap))
    return sorted(sizes)


def unavailable(device: torch.device, world_size: int) -> str | None:
    """Why this bench case cannot run here (a skip reason), or None when it can."""
    if device.type == "cuda" and (device.index or 0) > 0:
        return "data-parallel training runs once over every GPU, in cuda0's case"
    if under_torchrun():
        rank, world = int(os.environ.get("RANK", "0")), torchrun_topology()[0]
        if world_size == 1 and rank != 0:
            return "world size 1 runs on torchrun's rank 0 alone"
        if world_size not in (1, world):
            return f"under torchrun the world size is {world}"
        return None
    have = devices_available(device.type)
    if world_size > have:
        what = "GPUs" if device.type == "cuda" else "CPU cores"
        return f"world size {world_size} needs {world_size} {what}; this machine has {have}"
    return None
