"""Saved-run JSON built in memory, shaped as pytest-benchmark 5 writes it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from pytest_benchmark.utils import get_machine_id

from visionbench.measure.results import Run

MACHINE = get_machine_id()  # pytest-benchmark's storage folder for this machine
FINGERPRINT = {
    "gpu_name": None,
    "gpu_count": 0,
    "driver": None,
    "cuda": None,
    "cudnn": None,
    "torch": "2.14.1",
    "torchvision": "0.29.1",
    "cpu_model": "Test CPU",
    "threads": 2,
    "profile": "quick",
}


def stats_of(samples: list[float]) -> dict[str, Any]:
    q1, median, q3 = (float(x) for x in np.quantile(samples, [0.25, 0.5, 0.75]))
    return {
        "min": min(samples),
        "max": max(samples),
        "mean": statistics.fmean(samples),
        "stddev": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "rounds": len(samples),
        "median": median,
        "iqr": q3 - q1,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": 0,
        "stddev_outliers": 0,
        "outliers": "0;0",
        "ld15iqr": min(samples),
        "hd15iqr": max(samples),
        "ops": 1 / statistics.fmean(samples),
        "total": sum(samples),
        "data": list(samples),
        "iterations": 1,
    }


def steady(ms: float, n: int = 30, jitter: float = 0.02, seed: int = 0) -> list[float]:
    """n timings around `ms` milliseconds with a right-skewed jitter, in seconds."""
    rng = np.random.default_rng(seed)
    return [float(x) for x in ms * 1e-3 * (1 + jitter * rng.exponential(1.0, n))]


def bench(
    name: str,
    samples: list[float],
    technique: str = "model_size",
    variant: str | None = None,
    reference: str = "small",
    **extra: Any,
) -> dict[str, Any]:
    variant = variant or name
    return {
        "group": technique,
        "name": f"bench_step[{name}]",
        "fullname": f"benches/bench_{technique}.py::bench_step[{name}]",
        "params": {"variant": variant},
        "param": variant,
        "extra_info": {
            "technique": technique,
            "variant": variant,
            "reference": reference,
            "unit": "train_step",
            **extra,
        },
        "options": {"timer": "perf_counter"},
        "stats": stats_of(samples),
    }


def run_data(
    benches: list[dict[str, Any]],
    fingerprint: dict[str, Any] | None = None,
    commit: str = "0123456789abcdef",
    when: str = "2026-01-01T00:00:00+00:00",
) -> dict[str, Any]:
    return {
        "machine_info": {
            "node": "vm",
            "machine": "x86_64",
            "system": "Linux",
            "python_implementation": "CPython",
            "python_version": "3.11.7",
            "cpu": {"brand_raw": "Test CPU"},
            "visionbench": dict(FINGERPRINT if fingerprint is None else fingerprint),
        },
        "commit_info": {"id": commit, "dirty": False, "branch": "main"},
        "benchmarks": benches,
        "datetime": when,
        "version": "5.2.3",
    }


def save(storage: Path, number: int, name: str, data: dict[str, Any]) -> Path:
    folder = storage / MACHINE
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{number:04d}_{name}.json"
    path.write_text(json.dumps(data, indent=4))
    return path


def as_run(data: dict[str, Any], number: int = 1, name: str = "run") -> Run:
    return Run(Path(f"/nonexistent/{MACHINE}/{number:04d}_{name}.json"), data)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under folder: bytes and mtime, to prove nothing was rewritten."""
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
