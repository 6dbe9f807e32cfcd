"""Figures for people: seconds, bytes, ratios and metric values in their units (the
schema's, `metrics.METRICS`). Pure functions of numbers; the gates, the report and the
history site all write figures with them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from visionbench.measure.metrics import BYTES, COUNT, FRACTION, METRICS, SECONDS
from visionbench.measure.results import Bench

SLUG_CHARS = 60  # a longer name is cut and keyed, so that every path stays short


def slug(text: str) -> str:
    """A name from a run (a technique, a model, a label: untrusted, of any length) as a
    file name: letters, digits, `_.-` only, at most SLUG_CHARS plus a key of the whole."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "x"
    if len(safe) <= SLUG_CHARS:
        return safe
    return f"{safe[:SLUG_CHARS]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _digits(number: float) -> str:
    """Three significant digits, never in exponent notation (1010, not 1.01e+03)."""
    return f"{number:.3g}" if abs(number) < 1000 else f"{number:.0f}"


def fmt_seconds(value: float) -> str:
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(value) >= scale:
            return f"{_digits(value / scale)} {unit}"
    return f"{_digits(value / 1e-9)} ns"


def fmt_bytes(value: float) -> str:
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(value) >= scale:
            return f"{_digits(value / scale)} {unit}"
    return f"{value:.0f} B"


def fmt_ratio(ratio: float) -> str:
    """A ratio to the reference: two decimals, or two significant digits below 0.1
    (a cached epoch at 0.0048x of a disk epoch, not 0.00x)."""
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def fmt_times(ratio: float) -> str:
    """How many times: 2.1×, 12×, 1.15×."""
    return f"{ratio:.3g}×" if ratio < 10 else f"{ratio:.0f}×"


def fmt_share(value: Any) -> str:
    """A share in percent, or "-" where there is none."""
    return "-" if not isinstance(value, (int, float)) else f"{value:.1%}"


def fmt_number(value: Any, spec: str) -> str:
    """A number in a format spec, or "-" where there is none."""
    return "-" if not isinstance(value, (int, float)) else format(value, spec)


def fmt_value(metric: str, value: Any) -> str:
    """A figure in its metric's unit, for people."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, (int, float)):
        return str(value)
    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == SECONDS:
        return fmt_seconds(value)
    if unit == BYTES:
        return fmt_bytes(value)
    if unit == FRACTION:
        return f"{value:.1%}"
    if unit == COUNT or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4g} {unit}".strip()


def short_name(fullname: str) -> str:
    """`benches/bench_x.py::bench_y[a-b]` -> `bench_x.py::bench_y[a-b]`."""
    path, _, rest = fullname.partition("::")
    return f"{Path(path).name}::{rest}" if rest else fullname


def time_summary(bench: Bench) -> str:
    """Median with its interquartile range and the minimum, over n rounds."""
    s = bench.stats
    if not isinstance(s.get("median"), (int, float)):
        return "-"
    return (
        f"{fmt_seconds(s['median'])} (IQR {fmt_seconds(s['q1'])}–{fmt_seconds(s['q3'])}, "
        f"min {fmt_seconds(s['min'])}, {bench.rounds} rounds)"
    )
