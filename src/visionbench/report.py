"""Tables (tabulate) and plots (matplotlib, no display needed) of saved runs.

`write_report` makes `reports/<run>/report.md` with PNGs beside it:
  - per technique and timed unit (pytest-benchmark group), data and device: each
    variant's time (median, with the minimum), peak memory and accuracy relative
    to the technique's reference variant;
  - for the same sections: each benchmark's trend across the saved history of
    this machine (median with its interquartile band, and the minimum).
`history_table` is one metric across the newest saved runs, a row per benchmark.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from visionbench import convergence, explain, knee, scaling, summary
from visionbench.gate.config import DEFAULTS, GateConfig
from visionbench.gate.runs import Comparison, network_differences
from visionbench.metrics import METRICS, accuracy_noise
from visionbench.results import Bench, Run
from visionbench.selection.verdict import statements as selection_statements

TIME_TOLERANCE = DEFAULTS["tolerance"]["time"]  # the gate's: a ratio within it is no change

# -- formatting ----------------------------------------------------------------------


def _digits(number: float) -> str:
    """Three significant digits, never in exponent notation (1010, not 1.01e+03)."""
    return f"{number:.3g}" if abs(number) < 1000 else f"{number:.0f}"


def fmt_seconds(value: float) -> str:
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(value) >= scale:
            return f"{_digits(value / scale)} {unit}"
    return f"{_digits(value / 1e-9)} ns"


def at_chance(info: Mapping[str, Any]) -> bool:
    """The accuracy is no better than guessing: within the 95% binomial interval
    of 1/classes on its test images (a budget that taught nothing)."""
    acc, classes, n = info.get("accuracy"), info.get("classes"), info.get("eval_images")
    if not isinstance(acc, (int, float)) or not classes or not n:
        return False
    return acc <= 1 / classes + accuracy_noise(1 / classes, n)


def fmt_ratio(ratio: float) -> str:
    """A ratio to the reference: two decimals, or two significant digits below 0.1
    (a cached epoch at 0.0048x of a disk epoch, not 0.00x)."""
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def time_vs_ref(b: Bench, ref: Bench | None) -> tuple[float, float | None, float | None] | None:
    """The variant's time over its reference's: the paired ratio with its interval
    when the two were timed round by round (`ratio_vs_ref`), else the ratio of
    the two medians, timed in separate blocks (no interval: None, None)."""
    info = b.extra_info
    if isinstance(info.get("ratio_vs_ref"), (int, float)) and info.get("paired_rounds"):
        return info["ratio_vs_ref"], info.get("ratio_ci_low"), info.get("ratio_ci_high")
    med, rmed = b.stats.get("median"), ref.stats.get("median") if ref is not None else None
    if not med or not rmed or b is ref:
        return None
    return med / rmed, None, None


def time_verdict(low: float | None, high: float | None, tolerance: float = TIME_TOLERANCE) -> str:
    """What a ratio's interval says: "faster" or "slower" only when the whole
    interval lies beyond the tolerance; "no difference beyond noise" when it
    holds 1 (or when there is no interval: blocks timed apart say nothing);
    otherwise "within the tolerance"."""
    if low is None or high is None:
        return "not paired: no interval"
    way = summary.TimeEvidence(math.sqrt(low * high), low, high).direction(tolerance)
    if way != "same":
        return way
    if low <= 1 <= high:
        return "no difference beyond noise"
    return f"within the {tolerance:.0%} tolerance"


def fmt_time_vs_ref(b: Bench, ref: Bench | None, tolerance: float = TIME_TOLERANCE) -> str:
    """`0.71× [0.68–0.74] faster`, or `0.98× (blocks)` without a paired interval."""
    found = time_vs_ref(b, ref)
    if found is None:
        return ""
    ratio, low, high = found
    if low is None or high is None:
        return f"{fmt_ratio(ratio)} (blocks)"
    interval = f"[{fmt_ratio(low).rstrip('×')}–{fmt_ratio(high)}]"
    return f"{fmt_ratio(ratio)} {interval} {time_verdict(low, high, tolerance)}"


def fmt_bytes(value: float) -> str:
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(value) >= scale:
            return f"{_digits(value / scale)} {unit}"
    return f"{value:.0f} B"


def fmt_value(metric: str, value: Any) -> str:
    """A figure in its metric's unit, for people."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, (int, float)):
        return str(value)
    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == "s":
        return fmt_seconds(value)
    if unit == "B":
        return fmt_bytes(value)
    if unit == "fraction":
        return f"{value:.1%}"
    if unit == "count" or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4g} {unit}".strip()


def fmt_change(row: Comparison) -> str:
    if row.change is None:
        return ""
    if row.metric in METRICS and METRICS[row.metric].kind == "accuracy":
        return f"{row.change * 100:+.1f} pt"
    return f"{row.change:+.1%}"


def fmt_detectable(row: Comparison) -> str:
    """The smallest change an inconclusive comparison could have flagged."""
    d = row.detectable
    if d is None or math.isinf(d):
        return "unknown"
    if row.metric in METRICS and METRICS[row.metric].kind == "accuracy":
        return f"{d * 100:.1f} pt"
    return f"{d:+.0%}" if d < 1 else f"{d + 1:.3g}×"


def fmt_p(p: float | None) -> str:
    if p is None:
        return ""
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


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


# -- gate rows -----------------------------------------------------------------------

GATE_HEADERS = ["benchmark", "metric", "baseline", "candidate", "change", "p-value", "verdict"]


def gate_table_rows(rows: Sequence[Comparison], detail: bool = True) -> list[list[str]]:
    out = []
    for r in rows:
        verdict = r.verdict
        if r.detectable is not None:
            verdict += f" (detectable: {fmt_detectable(r)})"
        line = [
            short_name(r.benchmark),
            r.metric,
            fmt_value(r.metric, r.baseline),
            fmt_value(r.metric, r.candidate),
            fmt_change(r),
            fmt_p(r.p_value),
            verdict,
        ]
        if detail:
            line.append(r.note)
        out.append(line)
    return out


# -- history -------------------------------------------------------------------------


def matches(fullname: str, pattern: str | None) -> bool:
    """-k: a glob if it has wildcards, else a case-insensitive substring."""
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatch(fullname.lower(), pattern.lower())
    return pattern.lower() in fullname.lower()


def metric_value(bench: Bench, metric: str) -> Any:
    """`time` is the median of the samples; other metrics come from extra_info."""
    if metric == "time":
        return bench.stats.get("median")
    return bench.extra_info.get(metric)


def history_table(
    runs: Sequence[Run], metric: str = "time", pattern: str | None = None, last: int = 5
) -> tuple[list[str], list[list[str]]]:
    """One row per benchmark, one column per run (the newest `last`, oldest on the
    left, headed by run, date and commit), then the newest run's change against
    the one before it: long, like `git log` or asv's tables, so that a run of 80
    benchmarks stays readable in a terminal."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if last < 1:
        raise ValueError(f"--last must be at least 1, not {last}")
    runs = list(runs)[-last:]
    names: list[str] = []
    for run in runs:
        for name in run.benchmarks:
            if name not in names and matches(name, pattern):
                names.append(name)
    tests = [n.partition("::")[2] or n for n in names]
    labels = tests if len(set(tests)) == len(tests) else [short_name(n) for n in names]
    headers = ["benchmark", *(f"{r.label}\n{r.date}\n{r.commit}" for r in runs)]
    if len(runs) > 1:
        headers.append("change")
    rows = []
    for label, name in zip(labels, names, strict=True):
        benches = [run.benchmarks.get(name) for run in runs]
        row = [label, *(_cell(b, metric) for b in benches)]
        if len(runs) > 1:
            row.append(_change(benches[-2], benches[-1], metric))
        rows.append(row)
    return headers, rows


def _change(before: Bench | None, after: Bench | None, metric: str) -> str:
    """The newest value against the one before it, relative (or in points for a fraction)."""
    if before is None or after is None or before.error or after.error:
        return "-"
    old, new = metric_value(before, metric), metric_value(after, metric)
    if not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
        return "-"
    if METRICS[metric].kind == "accuracy":
        return f"{100 * (new - old):+.1f} pt"
    return f"{100 * (new / old - 1):+.0f}%" if old else "-"


def _cell(bench: Bench | None, metric: str) -> str:
    if bench is None:
        return "-"
    if bench.error:
        return "failed"
    return fmt_value(metric, metric_value(bench, metric))


# -- plots ---------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global state, no display

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _sections(run: Run) -> dict[str, list[Bench]]:
    """Benchmarks by pytest-benchmark group (one technique and timed unit), data and device."""
    sections: dict[str, list[Bench]] = {}
    for bench in run.benchmarks.values():
        where = [bench.extra_info.get(k) for k in ("dataset", "device")]
        if bench.extra_info.get("world_size") is not None:  # data parallel: one table per size
            where.append(f"world size {bench.extra_info['world_size']}")
        title = bench.group or bench.technique
        if any(where):
            title += f" ({', '.join(str(w) for w in where if w)})"
        sections.setdefault(title, []).append(bench)
    return sections


def _reference(benches: Sequence[Bench]) -> Bench | None:
    ref = next((b.reference for b in benches if b.reference), None)
    return next((b for b in benches if b.variant == ref and not b.error), None)


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


def _paired_times(
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
    ref = _reference(ok)
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
            shown, low_high = _paired_times(ok, ref, shown)
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
    chosen = scaling.data_parallel(benches)
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
    ref = dict(variants.get(scaling.REFERENCE, []))
    if 1 in ref and sizes:  # one dataset and device: the reference scaled linearly
        ax.plot(sizes, [ref[1] * n for n in sizes], "--", color="#444", lw=0.8, label="linear")
    ax.set_xticks(sizes)
    ax.set_xlabel("world size (ranks)")
    ax.set_ylabel("global samples/s")
    ax.legend(fontsize=7)
    fig.suptitle("data_parallel: throughput by world size (weak scaling)", fontsize=11)
    fig.savefig(path)
    return path


def _timed(run: Run, name: str) -> bool:
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
            if not _timed(run, name):
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


# -- the report ----------------------------------------------------------------------


def _technique_table(
    benches: Sequence[Bench], compact: bool = False, tolerance: float = TIME_TOLERANCE
) -> str:
    """Each variant against the group's reference: markdown for the report, or a
    compact terminal table (median time, no spreads) with `compact`."""
    ref = _reference(benches)
    rows = []
    for b in benches:
        if b.error:
            rows.append([b.variant, f"failed: {b.error}", "", "", "", "", ""])
            continue
        med = b.stats.get("median")
        mem, rmem = (
            b.extra_info.get("peak_mem_bytes"),
            ref.extra_info.get("peak_mem_bytes") if ref else None,
        )
        acc, racc = b.extra_info.get("accuracy"), ref.extra_info.get("accuracy") if ref else None
        train_acc = b.extra_info.get("train_accuracy")
        std = b.extra_info.get("accuracy_std")
        acc_text = fmt_value("accuracy", acc) + (" (chance)" if at_chance(b.extra_info) else "")
        seeds = b.extra_info.get("seeds") or 1
        if acc is not None and std is not None and seeds > 1 and not compact:
            acc_text += f" ± {std * 100:.1f} pt ({seeds} seeds)"
        rows.append(
            [
                b.variant + (" (ref)" if b is ref else ""),
                (fmt_seconds(med) if med else "") if compact else time_summary(b),
                fmt_time_vs_ref(b, ref, tolerance),
                fmt_value("peak_mem_bytes", mem)
                + (f" ({fmt_ratio(mem / rmem)})" if mem and rmem else ""),
                acc_text,
                f"{(acc - racc) * 100:+.1f} pt" if acc is not None and racc is not None else "",
                fmt_value("train_accuracy", train_acc) if train_acc is not None else "",
            ]
        )
    headers = [
        "variant",
        "time per unit",
        "time vs ref",
        "peak memory",
        "accuracy",
        "vs ref",
        "train accuracy",
    ]
    if compact:
        headers[1] = "median time"
    keep = [i for i in range(len(headers)) if any(r[i] not in ("", "-") for r in rows)]
    rows = [[r[i] for i in keep] for r in rows]
    return tabulate(
        rows, headers=[headers[i] for i in keep], tablefmt="simple" if compact else "github"
    )


def models_line(benches: Sequence[Bench]) -> str | None:
    """Which network a section measured: its one model (the step techniques), or the
    user's models among several (the model-size sweep), each with its import path."""
    found: dict[str, str | None] = {}
    for b in benches:
        if isinstance(b.extra_info.get("model"), str):
            found.setdefault(b.extra_info["model"], b.extra_info.get("model_source"))

    def named(model: str) -> str:
        source = found[model]
        return f"`{model}`" + (f" (your model, `{source}`)" if source else "")

    if len(found) == 1:
        return f"model: {named(next(iter(found)))}"
    yours = [f"`{m}` (`{source}`)" for m, source in found.items() if source]
    plural = "s" if len(yours) > 1 else ""
    return f"your model{plural}: {', '.join(yours)}" if yours else None


DRY_RUN_NOTE = (
    "**A dry run** (`--vb-dry-run`): every variant, model, input size and dataset of the "
    "profile ran, on a few images for a few steps, each unit timed twice. It shows that the "
    "profile runs end to end on this machine; its figures measure nothing."
)


def summary_text(run: Run, tolerance: float = TIME_TOLERANCE) -> str:
    """Every group of a run, each variant against its reference: the table a person
    reads at the end of `nox -s bench` (time, memory and accuracy side by side)."""
    fp = run.machine_info.get("visionbench") or {}
    parts = [DRY_RUN_NOTE.replace("**", "").replace("`", ""), ""] if fp.get("dry_run") else []
    for technique, benches in _sections(run).items():
        line = models_line(benches)
        title = f"{technique}; {line.replace('`', '')}" if line else technique
        parts += [title, _technique_table(benches, True, tolerance), ""]
    if text := scaling.markdown(list(run.benchmarks.values())):
        parts += [text]
    if text := summary.bf16_paragraph(run):
        parts += [text.replace("**", "")]
    return "\n".join(parts)


def opening(run: Run, out_dir: Path, config: GateConfig | None = None) -> list[str]:
    """The report's first part: the summary, each recipe ladder, the Grad-CAM grids."""
    lines = []
    if text := summary.summary_markdown(run, config):
        lines += [text, ""]
    for title, benches in _sections(run).items():
        if text := summary.ladder_markdown(benches):
            lines += [text.replace("## The recipe ladder", f"## The recipe ladder: {title}"), ""]
    for title, benches in _sections(run).items():
        maps = [b for b in benches if b.extra_info.get("gradcam") and not b.error]
        if maps:
            slug = "".join(ch if ch.isalnum() else "_" for ch in title)
            png = explain.plot_grid(maps, out_dir / f"gradcam_{slug}.png", title)
            lines += [
                f"## Grad-CAM: {title}",
                "",
                explain.CAPTION,
                "",
                f"![Grad-CAM: {title}]({png.name})",
                "",
            ]
    return lines


def write_report(
    run: Run, history: Sequence[Run], out_dir: Path, config: GateConfig | None = None
) -> Path:
    """Write report.md and its PNGs into out_dir; return the markdown's path: the
    summary (one verdict per technique, tolerances from `config`), the recipe ladder
    and Grad-CAM grids first, then every section in detail."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fp = run.machine_info.get("visionbench") or {}
    machine = ", ".join(f"{k} {v}" for k, v in fp.items() if v not in (None, "")) or (
        f"{run.machine_info.get('machine', '?')}, python {run.machine_info.get('python_version')}"
    )
    lines = [
        f"# visionbench report: {run.label}" + (" (dry run)" if fp.get("dry_run") else ""),
        "",
        *([DRY_RUN_NOTE, ""] if fp.get("dry_run") else []),
        f"- run: `{run.path}` ({run.date}, commit {run.commit or 'unknown'})",
        f"- machine: {machine}",
        f"- history: {len(history)} saved runs of this machine with the same fingerprint",
        "",
        "Times are seconds per timed unit (one training step, inference batch or data epoch):",
        "the median with its interquartile range, the minimum, and the number of rounds.",
        "",
    ]
    tolerance = (config or GateConfig()).tolerance["time"]
    lines += opening(run, out_dir, config)
    lines += ["# Details", ""]
    for technique, benches in _sections(run).items():
        slug = "".join(ch if ch.isalnum() else "_" for ch in technique)
        lines += [f"## {technique}", ""]
        if line := models_line(benches):
            lines += [line[0].upper() + line[1:], ""]
        lines += [_technique_table(benches, False, tolerance), ""]
        for text in selection_statements(benches):  # adaptive selection: does routing pay?
            lines += [text, ""]
        if text := convergence.markdown(benches):  # time to target, early stopping
            lines += [text, ""]
        if text := knee.markdown(benches):  # resolution: the smallest size as accurate
            lines += [text, ""]
        if gaps := summary.gap_lines(benches):  # train vs test accuracy: overfitting
            lines += ["Train against test accuracy:", "", *gaps, ""]
        if any(not b.error for b in benches):
            png = plot_technique(technique, benches, out_dir / f"{slug}.png")
            lines += [f"![{technique}: variants]({png.name})", ""]
        names = [b.fullname for b in benches if any(_timed(r, b.fullname) for r in history)]
        if len(history) > 1 and names:
            png = plot_trends(
                technique, names, history, out_dir / f"{slug}_trend.png", run.benchmarks
            )
            lines += [f"![{technique}: trend across runs]({png.name})", ""]
    if text := scaling.markdown(list(run.benchmarks.values())):
        png = plot_scaling(list(run.benchmarks.values()), out_dir / "data_parallel_scaling.png")
        lines += [text, f"![data_parallel: samples/s by world size]({png.name})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
