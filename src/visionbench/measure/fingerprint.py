"""The machine fingerprint: what decides whether two runs may be compared.

Stored in pytest-benchmark's `machine_info["visionbench"]` by the root
conftest's `pytest_benchmark_update_machine_info` hook. Two runs are
comparable only when every field matches (the gate says which differ).

`world_size`, `backend` and `nodes` are the data-parallel topology (the
largest world size trained, the torch.distributed backend, the machines the
ranks ran on). Runs saved before these fields existed were all one process on
one node: for them `nodes` is taken as 1 and the other two are not compared.
`dry_run` marks a run of `--vb-dry-run` (a few images and steps: its figures
measure nothing), so that it is never compared with a real run; runs saved
before the field were real runs.

`cpu_bf16_kernels` (informative, not compared: the CPU model and torch decide
it) says whether oneDNN has bf16 kernels on this CPU (AVX512-BF16 or AMX):
without them a bf16 step on the CPU runs emulated, slower than fp32, and the
report says so beside its bf16 figures.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

FIELDS = (
    "gpu_name",
    "gpu_count",
    "driver",
    "cuda",
    "cudnn",
    "torch",
    "torchvision",
    "cpu_model",
    "threads",
    "profile",
    "tf32_matmul",
    "tf32_cudnn",
    "cudnn_benchmark",
    "deterministic",
    "world_size",
    "backend",
    "nodes",
    "dry_run",
)

#: Fields added after runs were first saved: the value a run without the field is
#: taken to have, or None when such a run is not compared on that field.
ADDED_LATER: dict[str, object] = {
    **dict.fromkeys(("tf32_matmul", "tf32_cudnn", "cudnn_benchmark", "deterministic")),
    "world_size": None,
    "backend": None,
    "nodes": 1,
    "dry_run": False,
}


NOT_IMPORTABLE = "not importable"  # a library's version where it does not import


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def nvidia_driver() -> str | None:
    """The NVIDIA driver's version through the session's NVML (None without one)."""
    from visionbench.measure.gpus import NVML

    return NVML.driver_version()


def numerics() -> dict[str, bool]:
    """The switches that change what an fp32 step computes or how it is chosen.

    TF32 (Ampere and newer): fp32 matrix products and cuDNN convolutions on
    tensor cores with a 10-bit mantissa, faster and less exact (PyTorch allows it
    for cuDNN by default, not for matmul). `cudnn.benchmark` times kernels at
    first use and keeps the fastest; deterministic algorithms trade speed for
    repeatability. visionbench's Trainer sets TF32 per step from its recipe (the
    `tf32` precision variant); these are the process-wide settings everything
    else runs under. Two runs that differ in any of them are not compared.
    """
    return {
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "deterministic": bool(
            torch.are_deterministic_algorithms_enabled() or torch.backends.cudnn.deterministic
        ),
    }


def torchvision_version() -> str:
    """torchvision's release, or NOT_IMPORTABLE where it does not import beside this torch
    (a run there skips the benches that need it)."""
    try:
        import torchvision
    except Exception:
        return NOT_IMPORTABLE
    return torchvision.__version__


def cpu_bf16_kernels() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU (AVX512-BF16 or AMX): where it has
    none, torch runs a bf16 convolution or matmul on the CPU emulated, slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def fingerprint(
    profile: str, topology: object | None = None, *, dry_run: bool = False
) -> dict[str, object]:
    """The fields that must match between a baseline and a candidate run;
    `topology` (a data_parallel.topology.Topology) gives world_size, backend and nodes;
    `dry_run`: the run is a `--vb-dry-run` (its figures measure nothing)."""
    cuda = torch.cuda.is_available()
    count = torch.cuda.device_count() if cuda else 0
    names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
    return {
        "gpu_name": ", ".join(names) or None,
        "gpu_count": count,
        "driver": nvidia_driver() if cuda else None,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "torch": torch.__version__,
        "torchvision": torchvision_version(),
        "cpu_model": cpu_model(),
        "threads": torch.get_num_threads(),
        "profile": profile,
        **numerics(),
        "world_size": getattr(topology, "world_size", 1),
        "backend": getattr(topology, "backend", None),
        "nodes": getattr(topology, "nodes", 1),
        "dry_run": dry_run,
        # informative, not compared:
        "cpu_count": os.cpu_count(),
        "cpu_bf16_kernels": cpu_bf16_kernels(),
    }


def testbed(fp: dict[str, object]) -> list[str]:
    """A testbed in words, the fields that tell two apart at a glance: the GPU model and
    count, driver and CUDA (the CPU model and threads without a GPU), torch, the profile
    (a dry run's says so) and the nodes of a data-parallel run. The history branch names
    a testbed's folder by these words and a key of every compared field
    (`history.series.folder_name`), so two GPU models, drivers or torch builds never
    share a line."""
    if fp.get("gpu_name"):
        where = [f"{fp['gpu_name']} ×{fp.get('gpu_count')}"]
        where += [f"driver {fp.get('driver')}", f"CUDA {fp.get('cuda')}"]
    else:
        where = [f"{fp.get('cpu_model')}, {fp.get('threads')} threads"]
    words = [*where, f"torch {fp.get('torch')}", str(fp.get("profile"))]
    if (fp.get("nodes") or 1) > 1:
        words.append(f"{fp.get('nodes')} nodes")
    return words


def differences(a: dict[str, object], b: dict[str, object]) -> dict[str, tuple[object, object]]:
    """Fields of FIELDS whose values differ: name -> (a's, b's)."""
    out = {}
    for k in FIELDS:
        if k in ADDED_LATER and (k not in a or k not in b):
            if ADDED_LATER[k] is None:
                continue
            va, vb = a.get(k, ADDED_LATER[k]), b.get(k, ADDED_LATER[k])
        else:
            va, vb = a.get(k), b.get(k)
        if va != vb:
            out[k] = (va, vb)
    return out
