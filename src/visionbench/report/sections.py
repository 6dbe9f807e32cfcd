"""The report's sections in markdown, one function per kind, each from saved benchmarks.

A section is a run's benchmarks of one pytest-benchmark group (one technique and
timed unit) on one dataset and device (`by_section`). Each variant is read
against the section's reference (`reference_of`): its time as the paired ratio
with its interval, or the ratio of medians of blocks timed apart
(`time_vs_ref`), called faster or slower only beyond the gate's time tolerance
for that benchmark (`time_verdict`). `details` writes a section's table and what
its technique adds: adaptive selection's statements, convergence to a target,
the resolution knee, the overfitting gap. `scaling` is the data-parallel
section, `gradcam` the Grad-CAM grid's heading. Plots are drawn apart
(`visionbench.report.plots`); `visionbench.report.run` composes the report.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from visionbench.data_parallel.variants import REFERENCE as DDP
from visionbench.data_parallel.variants import TECHNIQUE as DATA_PARALLEL
from visionbench.gate.config import GateConfig
from visionbench.measure.figures import infos_difference
from visionbench.measure.format import (
    fmt_bytes,
    fmt_number,
    fmt_ratio,
    fmt_seconds,
    fmt_share,
    fmt_value,
    time_summary,
)
from visionbench.measure.results import Bench, Run
from visionbench.report.convergence import compare_to_reference, stopped_early
from visionbench.report.knee import knee
from visionbench.report.summary import TimeEvidence, number
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
    if text := convergence(benches):  # time to target, early stopping
        lines += [text, ""]
    if text := knee_statement(benches):  # resolution: the smallest size as accurate
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


# -- convergence: time to a target, early stopping -----------------------------------


def _mean_sd(values: Sequence[float | None], fmt: str, unit: str = "") -> str:
    hits = [v for v in values if v is not None]
    if not hits:
        return "never"
    sd = statistics.stdev(hits) if len(hits) > 1 else 0.0
    return f"{format(statistics.fmean(hits), fmt)} ± {format(sd, fmt)}{unit}"


def convergence(benches: Sequence[Any], confidence: float = 0.95) -> str:
    """A technique's convergence figures ("" when it has none): time to target per
    variant and the contrasts with the reference, and for variants that trained
    fewer epochs than their budget (early stopping), the epochs saved and the
    accuracy given up against their reference."""
    lines: list[str] = []
    timed = [b for b in benches if "epochs_to_target_per_seed" in b.extra_info]
    if timed:
        target = timed[0].extra_info.get("target_accuracy")
        lines += [
            f"Time to {target:.1%} test accuracy" if target is not None else "Time to target",
            "",
            "| variant | reached | epochs to target | time to target | per seed (epochs) "
            "| final accuracy |",
            "|---|---|---|---|---|---|",
        ]
        for b in timed:
            info = b.extra_info
            per_seed = info["epochs_to_target_per_seed"]
            budget = info.get("epochs")
            never = "stopped" if stopped_early(info) else f">{budget}" if budget else "never"
            seeds = ", ".join(str(e) if e is not None else never for e in per_seed)
            acc = info.get("accuracy")
            acc_text = "-" if acc is None else f"{acc:.1%} ± {info.get('accuracy_std', 0):.1%}"
            lines.append(
                f"| {b.variant} | {sum(e is not None for e in per_seed)}/{len(per_seed)} "
                f"| {_mean_sd(per_seed, '.2f')} "
                f"| {_mean_sd(info.get('time_to_target_s_per_seed') or [], '.2f', ' s')} "
                f"| {seeds} | {acc_text} |"
            )
        lines.append("")
        lines += [f"- {c.sentence()}" for c in compare_to_reference(benches, confidence)]
        lines.append("")
    lines += _early_stopping_lines(benches)
    return "\n".join(lines).strip()


def _early_stopping_lines(benches: Sequence[Any]) -> list[str]:
    by_variant = {b.variant: b.extra_info for b in benches}
    lines = []
    for variant, info in by_variant.items():
        ref = by_variant.get(info.get("reference"))
        if ref is None or ref is info or not stopped_early(info):
            continue
        run, budget = info["epochs_run"], info["epochs"]
        text = f"- {variant}: stopped after {run:.3g} of {budget} epochs on average"
        text += f" ({budget - run:.3g} epochs saved"
        if info.get("train_time_s") and ref.get("train_time_s"):
            change = info["train_time_s"] / ref["train_time_s"] - 1
            text += (
                f"; training time {info['train_time_s']:.3g} s vs {ref['train_time_s']:.3g} s, "
                f"{change:+.0%}"
            )
        text += ")"
        acc, ref_acc = info.get("accuracy"), ref.get("accuracy")
        if acc is not None and ref_acc is not None:
            spread = math.hypot(info.get("accuracy_std") or 0, ref.get("accuracy_std") or 0)
            text += (
                f"; accuracy {acc:.1%} vs {ref_acc:.1%} for the full budget "
                f"({(acc - ref_acc) * 100:+.1f} pt; seed spread of both ±{spread * 100:.1f} pt)"
            )
        lines.append(text + ".")
    return [*lines, ""] if lines else []


# -- resolution: the knee ------------------------------------------------------------


def _ratio(b: Any, ref: Any, value: Any) -> str | None:
    mine, theirs = value(b), value(ref)
    if not isinstance(mine, (int, float)) or not isinstance(theirs, (int, float)) or not theirs:
        return None
    return f"{mine / theirs:.2f}×"


def knee_statement(benches: Sequence[Any]) -> str:
    """The knee statement of a resolution section ("" for any other section)."""
    if not any(b.extra_info.get("technique") == "resolution" for b in benches):
        return ""
    found = knee(benches)
    if found is None:
        return ""
    b, ref, noise = found
    ref_acc = ref.extra_info["accuracy"]
    if b is ref:
        return (
            f"**Knee**: no smaller size is within the noise of {ref.variant}'s accuracy "
            f"({ref_acc:.1%}): every step down the sweep costs accuracy."
        )
    time = _ratio(b, ref, lambda x: x.stats.get("median"))
    memory = _ratio(b, ref, lambda x: x.extra_info.get("peak_mem_bytes"))
    savings = ", ".join(
        text
        for text in (time and f"{time} its time", memory and f"{memory} its peak memory")
        if text
    )
    return (
        f"**Knee**: {b.variant} is the smallest size whose accuracy "
        f"({b.extra_info['accuracy']:.1%}) is within the noise (±{noise * 100:.1f} pt, 95%) of "
        f"the reference {ref.variant} ({ref_acc:.1%})" + (f": {savings}." if savings else ".")
    )


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


# -- data parallel: scaling ---------------------------------------------------------


def data_parallel(benches: Sequence[Any]) -> list[Any]:
    return [
        b
        for b in benches
        if b.extra_info.get("technique") == DATA_PARALLEL
        and not b.error
        and isinstance(b.extra_info.get("world_size"), int)
    ]


def _scaling_row(b: Any) -> str:
    info = b.extra_info
    sent = info.get("allreduce_bytes")
    calls = info.get("allreduce_calls")
    sent_text = (
        "-"
        if sent is None
        else fmt_bytes(sent) + (f" ({calls} call{'s' if calls != 1 else ''})" if calls else "")
    )
    per_rank = info.get("peak_mem_bytes_per_rank") or (
        [info["peak_mem_bytes"]] if isinstance(info.get("peak_mem_bytes"), (int, float)) else []
    )
    mem = "-" if not per_rank else fmt_bytes(max(per_rank))
    acc = info.get("accuracy")
    acc_text = "-" if acc is None else f"{acc:.1%}"
    per_s, efficiency = info.get("samples_per_s"), info.get("scaling_efficiency")
    return (
        f"| {b.variant} | {info['world_size']} | {fmt_number(per_s, ',.0f')} "
        f"| {fmt_number(efficiency, '.2f')} | {fmt_share(info.get('allreduce_share'))} "
        f"| {sent_text} | {mem} | {acc_text} |"
    )


def _scaling_statements(benches: Sequence[Any]) -> list[str]:
    by = {(b.variant, b.extra_info["world_size"]): b.extra_info for b in benches}
    sizes = sorted({ws for _, ws in by})
    out = []
    one, top = by.get((DDP, 1)), by.get((DDP, sizes[-1]))
    if one and top and sizes[-1] > 1 and one.get("samples_per_s") and top.get("samples_per_s"):
        n = sizes[-1]
        eff = top["samples_per_s"] / (n * one["samples_per_s"])
        speed = top["samples_per_s"] / one["samples_per_s"]
        text = (
            f"Measured: plain DDP at world size {n} ({top.get('backend')}) ran "
            f"{top['samples_per_s']:,.0f} samples/s against {one['samples_per_s']:,.0f} at "
            f"world size 1: {speed:.2f}x the throughput, a scaling efficiency of {eff:.2f}; "
            f"the all-reduce was in flight for {fmt_share(top.get('allreduce_share'))} of the step."
        )
        if str(top.get("device", "")).startswith("cpu"):
            text += (
                f" On the CPU the {n} ranks split the cores that world size 1 had to itself, "
                "so no speed-up is expected: with nothing lost the throughput would stay the "
                f"same (1.00x, efficiency 1/{n} = {1 / n:.2f}). "
            )
            if speed > 1.1:
                text += (
                    "Above that, world size 1's multi-threaded step used the cores less well "
                    "than single-threaded ranks did (small kernels, or threads competing with "
                    "other work on a busy machine: compare the world size 1 rows across runs)."
                )
            elif speed < 0.9:
                text += "Below it is what gloo's all-reduce and the split of the cores cost."
            else:
                text += "It stayed about there."
        out.append(text)
    for name in ("bf16_compress", "fp16_compress"):
        mine, ref = by.get((name, sizes[-1])), by.get((DDP, sizes[-1]))
        if mine and ref and mine.get("allreduce_bytes") and ref.get("allreduce_bytes"):
            ratio = mine["allreduce_bytes"] / ref["allreduce_bytes"]
            out.append(
                f"{name} at world size {sizes[-1]} handed {fmt_bytes(mine['allreduce_bytes'])} "
                f"per step to the all-reduce against {fmt_bytes(ref['allreduce_bytes'])} "
                f"({ratio:.2f}x), for {fmt_number(mine.get('samples_per_s'), ',.0f')} samples/s "
                f"against {fmt_number(ref.get('samples_per_s'), ',.0f')}."
            )
    return out


def scaling(benches: Sequence[Any]) -> str:
    """The scaling section of a run's data-parallel benches ("" without any): per dataset
    and device, each variant's throughput at every world size, its scaling efficiency
    against world size 1, the all-reduce's bytes and share of the step, peak memory per
    rank and accuracy; then in words what was measured. On a CPU the ranks split the
    cores that world size 1 had to itself, so the ideal is no loss, not a speed-up; the
    text says so rather than calling it a failure."""
    chosen = data_parallel(benches)
    if not chosen:
        return ""
    groups: dict[tuple, list[Any]] = {}
    for b in chosen:
        key = (b.extra_info.get("dataset"), b.extra_info.get("device"))
        groups.setdefault(key, []).append(b)
    lines = [f"## {DATA_PARALLEL}: scaling", ""]
    for (dataset, device), group in groups.items():
        group.sort(key=lambda b: (b.variant != DDP, b.variant, b.extra_info["world_size"]))
        info = group[0].extra_info
        steps = info.get("train_steps")
        budget = f"{steps} steps" if steps else f"{info.get('epochs')} epoch(s)"
        lines += [
            f"{dataset}, {device}: {info.get('model')} at {info.get('image_size')} px, "
            f"{info.get('batch_size')} images per rank per micro-batch (weak scaling); "
            f"accuracy after {budget} at the recipe's global batch.",
            "",
            "| variant | world size | samples/s | scaling efficiency | all-reduce share "
            "| all-reduce per step | peak memory per rank (max) | accuracy |",
            "|---|---|---|---|---|---|---|---|",
            *(_scaling_row(b) for b in group),
            "",
            *(f"{s}\n" for s in _scaling_statements(group)),
        ]
    return "\n".join(lines)
