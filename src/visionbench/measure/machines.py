"""Which runs may be compared: the machine fingerprints of two runs, and the history.

Runs are compared only when their fingerprints (`visionbench.measure.fingerprint`)
match; runs made outside this repository's conftest fall back to
pytest-benchmark's own machine_info fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visionbench.measure.fingerprint import differences
from visionbench.measure.results import Run

# pytest-benchmark's own machine_info fields, compared when a run lacks the
# visionbench fingerprint (runs made outside this repository's conftest).
FALLBACK_FIELDS = ("system", "machine", "python_implementation", "python_version", "cpu.brand_raw")


def _field(info: Mapping[str, Any], dotted: str) -> Any:
    value: Any = info
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def machine_differences(a: Run, b: Run) -> dict[str, tuple[Any, Any]]:
    """Fingerprint fields that differ between two runs: name -> (a's, b's)."""
    fa, fb = a.machine_info.get("visionbench"), b.machine_info.get("visionbench")
    if isinstance(fa, Mapping) and isinstance(fb, Mapping):
        return differences(dict(fa), dict(fb))
    if isinstance(fa, Mapping) != isinstance(fb, Mapping):
        return {
            "visionbench fingerprint": (
                "present" if fa else "absent",
                "present" if fb else "absent",
            )
        }
    pairs = {k: (_field(a.machine_info, k), _field(b.machine_info, k)) for k in FALLBACK_FIELDS}
    return {k: v for k, v in pairs.items() if v[0] != v[1]}


def comparable_history(baseline: Run, runs: Sequence[Run], lookback: int) -> list[Run]:
    """The baseline and the runs saved before it on the same machine, newest `lookback`."""
    number = baseline.number
    same = [
        r
        for r in runs
        if r.path.parent.resolve() == baseline.path.parent.resolve()
        and r.number is not None
        and number is not None
        and r.number < number
        and not machine_differences(baseline, r)
    ]
    same.sort(key=lambda r: r.number)
    return [*same[-(lookback - 1) :], baseline] if lookback > 1 else [baseline]
