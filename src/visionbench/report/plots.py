"""The report's PNGs (matplotlib, no display needed): each section's variants against
its reference, the data-parallel scaling, each benchmark's trend across saved runs,
and the Grad-CAM grids."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.data_parallel.variants import REFERENCE as DDP
from visionbench.gate.runs import network_differences
from visionbench.metrics import METRICS
from visionbench.report.format import fmt_value, short_name
from visionbench.report.sections import data_parallel, reference_of, time_vs_ref
from visionbench.results import Bench, Run


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global state, no display

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _bar_panel(ax, labels, values, ref_index, title, value_text) -> None:
    colours = ["#4c72b0" if i != ref_index else "#dd8452" for i in range(len(values))]
    y = np.arange(len(values))
    ax.barh(y, [v if v is not None else 0 for v in values], color=colours)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    if ref_index is not None:
        ax.axvline(1.0, color="#444", lw=0.8, ls="--")
    for yi, v, text in zip(y, values, value_text, strict=True):
        if v is not None:
            ax.text(v, yi, f" {text}", va="center", fontsize=8)
    ax.margins(x=0.3)


def paired_times(
    benches: Sequence[Bench], ref: Bench, blocks: list[float | None]
) -> tuple[list[float | None], dict[int, tuple[float, float]]]:
    """Each bar's time relative to the reference: the paired ratio where there is
    one (with its interval, by bar index), else the ratio of medians (blocks)."""
    shown, intervals = list(blocks), {}
    for i, b in enumerate(benches):
        found = time_vs_ref(b, ref)
        if found is None:
            continue
        ratio, low, high = found
        shown[i] = ratio
        if low is not None and high is not None:
            intervals[i] = (low, high)
    return shown, intervals


def plot_technique(technique: str, benches: Sequence[Bench], path: Path) -> Path:
    """Bars per variant: time (median; min as a dot), peak memory, accuracy; ref = 1."""
    ok = [b for b in benches if not b.error]
    ref = reference_of(ok)
    labels = [b.variant + (" (ref)" if b is ref else "") for b in ok]
    ref_index = ok.index(ref) if ref is not None else None

    def rel(values: list[float | None], base: float | None) -> list[float | None]:
        if base in (None, 0):
            return values
        return [None if v is None else v / base for v in values]

    med = [b.stats.get("median") for b in ok]
    mins = [b.stats.get("min") for b in ok]
    mem = [b.extra_info.get("peak_mem_bytes") for b in ok]
    acc = [b.extra_info.get("accuracy") for b in ok]
    panels = [("time", med, mins)]
    if any(v is not None for v in mem):
        panels.append(("peak_mem_bytes", mem, None))
    if any(v is not None for v in acc):
        panels.append(("accuracy", acc, None))
    fig = _figure(max(6.0, 4.2 * len(panels)), 1.0 + 0.45 * len(ok))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (metric, values, extra) in zip(axes, panels, strict=True):
        base = values[ref_index] if ref_index is not None else None
        if metric == "accuracy":
            shown = [None if v is None else v * 100 for v in values]
            text = [fmt_value(metric, v) for v in values]
            _bar_panel(ax, labels, shown, None, "accuracy (%)", text)
            ax.set_xlim(0, 112)
            if base is not None:
                ax.axvline(base * 100, color="#444", lw=0.8, ls="--")
            continue
        text = [fmt_value(metric, v) for v in values]
        what = "time per unit" if metric == "time" else "peak memory"
        unit = "× reference" if base else METRICS[metric].unit
        if metric == "time":
            unit += "; bar median, dot min"
        shown = rel(values, base)
        if metric == "time" and ref is not None:
            shown, low_high = paired_times(ok, ref, shown)
            if low_high:
                unit = "× ref: paired ratio, whisker 95% CI; dot min"
        _bar_panel(ax, labels, shown, ref_index, f"{what} ({unit})", text)
        if extra is not None:
            ax.plot(rel(extra, base), np.arange(len(extra)), "o", color="black", ms=4)
        if metric == "time" and ref is not None and low_high:
            for yi, (lo, hi) in low_high.items():
                ax.plot([lo, hi], [yi, yi], color="#c44e52", lw=2, solid_capstyle="butt")
    fig.suptitle(f"{technique}: variants relative to the reference (orange)", fontsize=11)
    fig.savefig(path)
    return path


def plot_scaling(benches: Sequence[Bench], path: Path) -> Path:
    """Data parallel: global samples/s against world size, one line per variant,
    with the reference's world size 1 throughput scaled linearly (dashed)."""
    chosen = data_parallel(benches)
    fig = _figure(6.0, 3.6)
    ax = fig.subplots()
    variants: dict[str, list[tuple[int, float]]] = {}
    places = {(b.extra_info.get("dataset"), b.extra_info.get("device")) for b in chosen}
    for b in chosen:
        per_s = b.extra_info.get("samples_per_s")
        label = b.variant
        if len(places) > 1:
            label += f" ({b.extra_info.get('dataset')}, {b.extra_info.get('device')})"
        if isinstance(per_s, (int, float)):
            variants.setdefault(label, []).append((b.extra_info["world_size"], per_s))
    for name, points in variants.items():
        points.sort()
        ax.plot(*zip(*points, strict=True), "o-", ms=4, label=name)
    sizes = sorted({ws for points in variants.values() for ws, _ in points})
    ref = dict(variants.get(DDP, []))
    if 1 in ref and sizes:  # one dataset and device: the reference scaled linearly
        ax.plot(sizes, [ref[1] * n for n in sizes], "--", color="#444", lw=0.8, label="linear")
    ax.set_xticks(sizes)
    ax.set_xlabel("world size (ranks)")
    ax.set_ylabel("global samples/s")
    ax.legend(fontsize=7)
    fig.suptitle("data_parallel: throughput by world size (weak scaling)", fontsize=11)
    fig.savefig(path)
    return path


def timed(run: Run, name: str) -> bool:
    b = run.benchmarks.get(name)
    return b is not None and not b.error and isinstance(b.stats.get("median"), (int, float))


def plot_trends(
    technique: str,
    names: Sequence[str],
    runs: Sequence[Run],
    path: Path,
    current: Mapping[str, Bench] | None = None,
) -> Path:
    """Small multiples: each benchmark's median (IQR band) and minimum across the runs;
    with `current` (the reported run's benchmarks), only runs of the same network."""
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure(4.2 * cols, 2.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        xs, med, q1, q3, mins = [], [], [], [], []
        for i, run in enumerate(runs):
            if not timed(run, name):
                continue
            b = run.benchmarks[name]
            if current and name in current and network_differences(b, current[name]):
                continue  # another network under the same name: not its history
            xs.append(i)
            med.append(b.stats["median"] * 1e3)
            q1.append(b.stats["q1"] * 1e3)
            q3.append(b.stats["q3"] * 1e3)
            mins.append(b.stats["min"] * 1e3)
        ax.fill_between(xs, q1, q3, alpha=0.25, color="#4c72b0", label="IQR")
        ax.plot(xs, med, "o-", color="#4c72b0", ms=3, label="median")
        ax.plot(xs, mins, "v--", color="#55a868", ms=3, lw=0.8, label="min")
        ax.set_title(short_name(name).split("::")[-1], fontsize=9)
        ax.set_ylabel("ms per unit", fontsize=8)
        ticks = xs if len(xs) <= 8 else xs[:: math.ceil(len(xs) / 8)]
        ax.set_xticks(ticks, [runs[i].label[:4] for i in ticks], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{technique}: time across {len(runs)} saved runs (run number)", fontsize=11)
    fig.savefig(path)
    return path


def plot_grid(benches: Sequence[Any], path: Path, title: str) -> Path:
    """A PNG grid: a row of the images, then one row per benchmark (variant) with its
    Grad-CAM maps over them. `benches` carry `variant` and extra_info["gradcam"]."""
    first = benches[0].extra_info["gradcam"]
    n = len(first["images"])
    rows = len(benches) + 1
    fig = _figure(1.25 * n + 1.4, 1.3 * rows)
    axes = fig.subplots(rows, n, squeeze=False)
    for j in range(n):
        ax = axes[0, j]
        ax.imshow(np.asarray(first["images"][j]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"label {first['labels'][j]}", fontsize=7)
    axes[0, 0].set_ylabel("image", fontsize=8)
    for i, bench in enumerate(benches, start=1):
        cam = bench.extra_info["gradcam"]
        acc = bench.extra_info.get("accuracy")
        label = bench.variant + (f"\n{acc:.1%}" if isinstance(acc, float) else "")
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(np.asarray(cam["images"][j]), cmap="gray", vmin=0, vmax=255)
            ax.imshow(np.asarray(cam["maps"][j]), cmap="jet", alpha=0.5, vmin=0, vmax=255)
            ok = cam["predicted"][j] == cam["labels"][j]
            ax.set_title(f"→ {cam['predicted'][j]}" + ("" if ok else " ✗"), fontsize=7)
        axes[i, 0].set_ylabel(label, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Grad-CAM: {title}", fontsize=10)
    fig.savefig(path)
    return path
