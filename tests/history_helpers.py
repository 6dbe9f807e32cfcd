"""A saved history for the history site's tests: two techniques, runs of several
commits on two machine fingerprints, and a corrupt run file among them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gate_helpers import FINGERPRINT, MACHINE, bench, run_data, steady

MIB = 1 << 20
#: technique -> (reference, variants)
TECHNIQUES = {
    "model_size": ("small", ("small", "resnet18")),
    "grad_zeroing": ("set_to_none", ("set_to_none", "zero")),
}
OTHER = {**FINGERPRINT, "cpu_model": "Other CPU", "threads": 8}
OTHER_FOLDER = "Other-machine"


def commit(i: int) -> str:
    return f"{i:x}".rjust(8, "a") + "0" * 32


def figures(i: int, speed: float = 1.0) -> list[dict[str, Any]]:
    """Run i's benchmarks: each variant's time, memory, accuracy and (not the
    reference) a paired ratio with its interval, all different from run to run."""
    out = []
    for t, (technique, (ref, variants)) in enumerate(TECHNIQUES.items()):
        for j, variant in enumerate(variants):
            ms = (10 + 5 * j + 3 * t) * speed * (1 + 0.01 * i)
            extra: dict[str, Any] = {
                "accuracy": 0.90 + 0.01 * j - 0.001 * i,
                "peak_mem_bytes": (100 + 10 * j + i) * MIB,
            }
            if variant != ref:
                ratio = 1.4 + 0.01 * i
                extra |= {
                    "ratio_vs_ref": ratio,
                    "ratio_ci_low": ratio - 0.05,
                    "ratio_ci_high": ratio + 0.05,
                    "paired_rounds": 30,
                }
            samples = steady(ms, seed=100 * i + 10 * t + j)
            out.append(bench(variant, samples, technique, variant, ref, **extra))
    return out


def history_run(
    i: int, fingerprint: dict[str, Any] | None = None, speed: float = 1.0, day: int | None = None
) -> dict[str, Any]:
    """Run i: commit(i), committed on day `day` of January (default i), ran a day later."""
    day = i if day is None else day
    data = run_data(
        figures(i, speed), fingerprint, commit(i), f"2026-01-{day + 1:02d}T12:00:00+00:00"
    )
    data["commit_info"]["time"] = f"2026-01-{day:02d}T09:30:00+00:00"
    return data


def write(storage: Path, folder: str, number: int, name: str, data: Any) -> Path:
    path = storage / folder / f"{number:04d}_{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def saved_history(storage: Path) -> dict[str, list[Path]]:
    """This machine: 4 runs of 4 commits, the third saved last (commit order differs from
    the numbers), and a truncated file; another machine: 2 runs in a folder of its own."""
    ours = [
        write(storage, MACHINE, 1, "first", history_run(1)),
        write(storage, MACHINE, 2, "second", history_run(2)),
        write(storage, MACHINE, 3, "fourth", history_run(4)),
        write(storage, MACHINE, 4, "third", history_run(3)),
    ]
    broken = write(storage, MACHINE, 5, "broken", json.dumps(history_run(5))[:300])
    other = [
        write(storage, OTHER_FOLDER, 1, "a", history_run(2, OTHER, speed=3.0)),
        write(storage, OTHER_FOLDER, 2, "b", history_run(3, OTHER, speed=3.0)),
    ]
    return {"ours": ours, "broken": [broken], "other": other}
