"""The report's sections in markdown, one function per kind, each from saved benchmarks.

A section is a run's benchmarks of one pytest-benchmark group (one technique and
timed unit) on one dataset and device (`by_section`). Each variant is read
against the section's reference (`reference_of`): its time as the paired ratio
with its interval, or the ratio of medians of blocks timed apart
(`time_vs_ref`), called faster or slower only beyond the gate's time tolerance
for that benchmark (`time_verdict`). `details` writes a section's table and what
its technique adds: adaptive selection's statements, convergence to a target
(`report.convergence`), the resolution knee (`report.knee`), the overfitting gap.
`gradcam`, `curves` and `examples` head the figures; the data-parallel section is
`report.scaling`. Plots are drawn apart
(`visionbench.report.plots`); `visionbench.report.run` composes the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from visionbench.gate.config import GateConfig
from visionbench.measure.figures import infos_difference
from visionbench.measure.format import (
    fmt_ratio,
    fmt_seconds,
    fmt_value,
    time_summary,
)
from visionbench.measure.results import Bench, Run
from visionbench.report import convergence, knee
from visionbench.report.evidence import TimeEvidence, number
from visionbench.selection.verdict import statements as selection_statements
from visionbench.stats.defaults import DEFAULTS
from visionbench.stats.equivalence import BETTER, WORSE, Figure, judge

TIME_TOLERANCE = DEFAULTS["tolerance"]["time"]  # the gate's: a ratio within it is no change

# -- sections and their references ---------------------------------------------------


def by_section(run: Run) -> dict[str, list[Bench]]:
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


def reference_of(benches: Sequence[Bench]) -> Bench | None:
    ref = next((b.reference for b in benches if b.reference), None)
    return next((b for b in benches if b.variant == ref and not b.error), None)


def at_chance(info: Mapping[str, Any]) -> bool:
    """The accuracy is no better than guessing: within the 95% binomial interval
    of 1/classes on its test images (a budget that taught nothing)."""
    acc, classes, n = info.get("accuracy"), info.get("classes"), info.get("eval_images")
    if not isinstance(acc, (int, float)) or not classes or not n:
        return False
    return acc <= 1 / classes + Figure(1 / classes, n).half_width(0.95)


def time_vs_ref(b: Bench, ref: Bench | None) -> tuple[float, float | None, float | None] | None:
    """The variant's time over its reference's: the paired ratio with its interval
    when the two were timed round by round (`ratio_vs_ref`), else the ratio of the
    two medians, timed in separate blocks (no interval: None, None)."""
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
    way = TimeEvidence(math.sqrt(low * high), low, high).direction(tolerance)
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


def accuracy_vs_ref(b: Bench, ref: Bench | None, tolerance: float) -> str:
    """`−0.3 pt: same`, `−3.0 pt: worse`, `−10.0 pt: not resolved (±11.2 pt)`: the difference
    in accuracy and what its 90% interval says against the tolerance (`stats.equivalence`)."""
    if ref is None or b is ref:
        return ""
    diff = infos_difference(b.extra_info, ref.extra_info)
    if diff is None:
        return ""
    judged = judge(diff, tolerance)
    points = f"{diff.change * 100:+.1f} pt".replace("-", "−")
    words = judged.verdict if judged.verdict in (BETTER, WORSE) else judged.short()
    return f"{points}: {words}"


# -- a technique's table -------------------------------------------------------------


def technique_table(
    benches: Sequence[Bench], compact: bool = False, config: GateConfig | None = None
) -> str:
    """Each variant against the group's reference: markdown for the report, or a
    compact terminal table (median time, no spreads) with `compact`. A variant's
    time verdict uses `config`'s time tolerance for its benchmark."""
    config = config or GateConfig()
    ref = reference_of(benches)
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
        acc = b.extra_info.get("accuracy")
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
                fmt_time_vs_ref(b, ref, config.tolerance_for(b.fullname, "time")),
                fmt_value("peak_mem_bytes", mem)
                + (f" ({fmt_ratio(mem / rmem)})" if mem and rmem else ""),
                acc_text,
                accuracy_vs_ref(b, ref, config.tolerance_for(b.fullname, "accuracy")),
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


def details(
    technique: str, benches: Sequence[Bench], config: GateConfig | None = None
) -> list[str]:
    """A section in detail: its heading, model, table, and what its technique adds."""
    lines = [f"## {technique}", ""]
    if line := models_line(benches):
        lines += [line[0].upper() + line[1:], ""]
    lines += [technique_table(benches, False, config), ""]
    tolerance = (config or GateConfig()).tolerance_for(benches[0].fullname, "accuracy")
    for text in selection_statements(benches, tolerance):  # adaptive selection: does routing pay?
        lines += [text, ""]
    if text := convergence.section(benches):  # time to target, early stopping
        lines += [text, ""]
    if text := knee.statement(benches):  # resolution: the smallest size as accurate
        lines += [text, ""]
    if gaps := gap_lines(benches):  # train vs test accuracy: overfitting
        lines += ["Train against test accuracy:", "", *gaps, ""]
    return lines


def gap_lines(benches: Sequence[Bench]) -> list[str]:
    """Train against test accuracy per variant (the overfitting gap), where recorded."""
    lines = []
    for b in benches:
        train, test = number(b.extra_info, "train_accuracy"), number(b.extra_info, "accuracy")
        if train is not None and test is not None and not b.error:
            lines.append(
                f"- {b.variant}: training split {train:.1%} (without augmentation), test "
                f"{test:.1%}: a gap of {(train - test) * 100:.1f} pt"
            )
    return lines


# -- Grad-CAM ------------------------------------------------------------------------

GRADCAM_CAPTION = (
    "Each column is one test image of a fixed, seeded set (top row: the image, its label "
    "and, per model, the class it predicted); each row overlays one model's Grad-CAM map for "
    "its predicted class (captum LayerGradCam on the last spatial feature layer, upsampled to "
    "the input, so coarse for small inputs; red: most evidence, scaled per image)."
)


def gradcam_maps(benches: Sequence[Bench]) -> list[Bench]:
    """The benchmarks of a section that saved Grad-CAM maps."""
    return [b for b in benches if b.extra_info.get("gradcam") and not b.error]


def gradcam(title: str, png: str) -> list[str]:
    """The Grad-CAM grid's heading, caption and image."""
    return [f"## Grad-CAM: {title}", "", GRADCAM_CAPTION, "", f"![Grad-CAM: {title}]({png})", ""]


# -- curves and augmentation examples ------------------------------------------------

CURVES_CAPTION = (
    "Each line is one variant: the mean over its seeds of the training loss averaged over "
    "each epoch's steps, and of the test accuracy after each epoch; the band is the seeds' "
    "range. Where the variants' learning-rate schedules differ (one-cycle, constant, "
    "cosine), the third panel draws seed 0's rate at the start of each quarter of every "
    "epoch."
)
#: What each column of the augmentation grid shows (`augment.examples` names them).
EXAMPLE_COLUMNS = {
    "original": "the image",
    "pad+crop": "padded and randomly cropped back",
    "flip": "flipped left-right (shown on every image; training flips half)",
    "cutout": "a square cut out, filled with the mean colour",
    "all": "all of them as one training epoch draws them",
}


def curves(title: str, png: str) -> list[str]:
    """A section's training curves: caption and image."""
    return [CURVES_CAPTION, "", f"![{title}: training curves]({png})", ""]


def augmented_examples(benches: Sequence[Bench]) -> Bench | None:
    """The benchmark of a section that saved the augmentation grid, if any."""
    return next(
        (b for b in benches if b.extra_info.get("augmented_examples") and not b.error), None
    )


def examples(title: str, png: str, columns: Sequence[str]) -> list[str]:
    """The augmentation grid's heading, caption (its columns, as recorded) and image."""
    said = "; ".join(f"{c}: {EXAMPLE_COLUMNS.get(c, c)}" for c in columns)
    caption = (
        "A fixed, seeded set of training images, one per row, under the augmentation this "
        f'bench trains with, as in the "1000 seconds" article. Columns: {said}.'
    )
    return [
        f"## Augmentation examples: {title}", "", caption, "",
        f"![Augmentation examples: {title}]({png})", "",
    ]  # fmt: skip
