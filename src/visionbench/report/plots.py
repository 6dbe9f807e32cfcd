"""The report's PNGs (matplotlib, no display needed): each section's variants against
its reference, the data-parallel scaling, each benchmark's trend across saved runs,
and the Grad-CAM grids."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from visionbench.data_parallel.variants import REFERENCE as DDP
from visionbench.gate.runs import network_differences
from visionbench.measure.figures import figure_of
from visionbench.measure.format import fmt_value, short_name
from visionbench.measure.metrics import METRICS
from visionbench.measure.results import Bench, Run
from visionbench.report.scaling import data_parallel
from visionbench.report.sections import reference_of, time_vs_ref
from visionbench.report.tradeoffs import TradeOff


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


def _accuracy_panel(ax, benches: Sequence[Bench], labels, ref_index: int | None) -> None:
    """Accuracy as dots with their 95% intervals (binomial over the test images or the
    seeds' spread, `stats.equivalence.Figure`), on an axis that starts where the
    differences show: 95.1% and 98.2% must not look alike."""
    y = np.arange(len(benches))
    lows, highs = [], []
    for yi, b in zip(y, benches, strict=True):
        figure = figure_of(b.extra_info)
        if figure is None:
            continue
        half = figure.half_width()
        colour = "#dd8452" if yi == ref_index else "#4c72b0"
        ax.errorbar(figure.value * 100, yi, xerr=half * 100, fmt="o", color=colour, capsize=3)
        ax.text(figure.value * 100, yi - 0.25, fmt_value("accuracy", figure.value), fontsize=8,
                ha="center")  # fmt: skip
        lows.append(figure.value - half)
        highs.append(figure.value + half)
    if lows:
        low, high = max(0.0, min(lows)), min(1.0, max(highs))
        margin = max(0.005, 0.15 * (high - low))
        ax.set_xlim(max(0.0, low - margin) * 100, min(1.0, high + margin) * 100)
    if ref_index is not None and (ref := figure_of(benches[ref_index].extra_info)) is not None:
        ax.axvline(ref.value * 100, color="#444", lw=0.8, ls="--")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_title("accuracy (%), bar: 95% interval (zoomed)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)


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
    """Bars per variant: time (median; min as a dot) and peak memory, ref = 1; accuracy
    as dots with their intervals."""
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
            _accuracy_panel(ax, ok, labels, ref_index)
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


# -- trade-offs, curves, augmentation ------------------------------------------------

FRONT, DOMINATED, BY_MEMORY = "#c44e52", "#4c72b0", "#55a868"


def plot_pareto(t: TradeOff, path: Path) -> Path:
    """A sweep's trade-off: time (log) against accuracy with its 95% interval; the
    front joined, dominated variants faded, each point labelled."""
    fig = _figure(6.6, 4.4)
    ax = fig.subplots()
    kept = {p.name for p in t.front.by_memory}
    shown: set[str] = set()
    for p in t.points:
        on = t.front.on_front(p.name)
        kind = "on the front" if on else "front by memory alone" if p.name in kept else "dominated"
        colour = FRONT if on else BY_MEMORY if p.name in kept else DOMINATED
        alpha = 1.0 if on or p.name in kept else 0.35
        half = t.noise.get(p.name, 0.0)
        spread = [[min(half, p.accuracy) * 100], [min(half, 1 - p.accuracy) * 100]]  # in 0..100%
        ax.errorbar(
            p.time, p.accuracy * 100, yerr=spread, fmt="o",
            color=colour, alpha=alpha, capsize=3, ms=6,
            mfc=colour if on else "white", label=kind if kind not in shown else None,
        )  # fmt: skip
        shown.add(kind)
        ax.annotate(t.label(p.name), (p.time, p.accuracy * 100), textcoords="offset points",
                    xytext=(6, 5), fontsize=8, alpha=max(alpha, 0.6))  # fmt: skip
    front = t.front.front
    ax.plot([p.time for p in front], [p.accuracy * 100 for p in front], "-", color=FRONT,
            lw=1.2, zorder=0)  # fmt: skip
    ax.set_xscale("log")
    times = sorted({p.time for p in t.points})
    steps = LogLocator(subs=(1.0, 2.0, 5.0)).tick_values(times[0], times[-1])
    if sum(times[0] <= v <= times[-1] for v in steps) >= 2:
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    else:  # a range within one 1-2-5 step (0.57x to 1x): tick the variants' own times
        ax.xaxis.set_major_locator(FixedLocator(times))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{t.measure} (log scale)")
    ax.set_ylabel("test accuracy (%), bar: 95% interval")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.margins(x=0.15, y=0.1)
    fig.suptitle(f"{t.technique} ({t.where}): the time/accuracy trade-off", fontsize=11)
    fig.savefig(path)
    return path


def _seeds_array(per_seed: Sequence[Sequence[float | None]]) -> np.ndarray:
    """Seeds x epochs, NaN where a seed stopped earlier or had no value."""
    width = max((len(row) for row in per_seed), default=0)
    out = np.full((len(per_seed), width), np.nan)
    for i, row in enumerate(per_seed):
        out[i, : len(row)] = [np.nan if v is None else v for v in row]
    return out


def with_curves(benches: Sequence[Bench]) -> list[Bench]:
    """The benchmarks of a section that saved their training curves."""
    return [b for b in benches if isinstance(b.extra_info.get("curves"), Mapping) and not b.error]


def _lr_line(curves: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """Seed 0's learning rates against the epoch (fractional: each rate at the start of
    its part of the epoch's steps)."""
    xs, ys = [], []
    for epoch, rates in enumerate(curves.get("lr") or []):
        for i, rate in enumerate(rates):
            if rate is not None:
                xs.append(epoch + i / len(rates))
                ys.append(rate)
    return xs, ys


def plot_curves(title: str, benches: Sequence[Bench], path: Path) -> Path:
    """Training curves per variant: mean training loss and test accuracy per epoch (line:
    the mean over seeds; band: their range), and the learning rate where the variants'
    schedules differ (the one-cycle schedule against constant and cosine)."""
    chosen = with_curves(benches)
    lr_lines = {b.variant: _lr_line(b.extra_info["curves"]) for b in chosen}
    schedules_differ = len({tuple(ys) for _, ys in lr_lines.values()}) > 1
    panels = 3 if schedules_differ else 2
    fig = _figure(4.2 * panels, 3.4)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    colours = [f"C{i}" for i in range(10)]
    styles = ["-", "--", ":", "-."]  # variants that trained alike still show apart
    losses = []
    for i, b in enumerate(chosen):
        curves, colour = b.extra_info["curves"], colours[i % len(colours)]
        style = styles[i % len(styles)]
        label = b.variant + (" (ref)" if b.variant == b.reference else "")
        for ax, key, scale in ((axes[0], "loss", 1.0), (axes[1], "accuracy", 100.0)):
            values = _seeds_array(curves[key]) * scale
            if values.size == 0:
                continue
            epochs = np.arange(1, values.shape[1] + 1)
            with np.errstate(all="ignore"):
                mean = np.nanmean(values, axis=0)
            ax.plot(epochs, mean, marker="o", ls=style, ms=3, color=colour, label=label)
            if values.shape[0] > 1:
                ax.fill_between(epochs, np.nanmin(values, axis=0), np.nanmax(values, axis=0),
                                color=colour, alpha=0.2, lw=0)  # fmt: skip
            if key == "loss":
                losses.extend(v for v in values.ravel() if np.isfinite(v) and v > 0)
        if schedules_differ:
            xs, ys = lr_lines[b.variant]
            axes[2].plot(xs, ys, ls=style, color=colour, label=label)
    axes[0].set_title("mean training loss per epoch", fontsize=10)
    if losses and max(losses) / min(losses) > 10:
        axes[0].set_yscale("log")
    axes[1].set_title("test accuracy after each epoch (%)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    if schedules_differ:
        axes[2].set_title("learning rate (seed 0), through each epoch", fontsize=10)
        axes[2].legend(fontsize=7)
    seeds = max((len(b.extra_info["curves"]["loss"]) for b in chosen), default=1)
    what = f"mean of {seeds} seeds, band: their range" if seeds > 1 else "one seed"
    fig.suptitle(f"{title}: training curves ({what})", fontsize=11)
    fig.savefig(path)
    return path


def _show(ax, image: Sequence[Any]) -> None:
    """A C x H x W image of 0..255 levels: grey for one channel, RGB for three."""
    array = np.asarray(image, dtype=np.uint8)
    if array.shape[0] == 1:
        ax.imshow(array[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(np.transpose(array[:3], (1, 2, 0)))


def plot_examples(examples: Mapping[str, Any], path: Path, title: str) -> Path:
    """The augmentation grid: one row per image, one column per augmentation."""
    columns, images = examples["columns"], examples["images"]
    fig = _figure(1.3 * len(columns) + 0.6, 1.25 * len(images) + 0.6)
    axes = fig.subplots(len(images), len(columns), squeeze=False)
    for i, row in enumerate(images):
        for j, image in enumerate(row):
            _show(axes[i, j], image)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    for j, name in enumerate(columns):
        axes[0, j].set_title(name, fontsize=9)
    fig.suptitle(f"Augmentation: {title}", fontsize=10)
    fig.savefig(path)
    return path
