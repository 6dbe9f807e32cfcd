"""The report's opening: one row per technique with a plain verdict.

`verdict` turns a variant-against-reference comparison into words that respect
the noise ("2.1× faster, same accuracy", "no difference beyond noise", "faster
but −3.0 pt"). Its time evidence is one input, `TimeEvidence`: today the ratio
of the two medians (or of the mean times to target), called a difference only
beyond the gate's time tolerance; a paired interval, where one was measured,
goes in the same place and then decides. Accuracy differs only beyond both the
gate's accuracy tolerance and the binomial and seed noise of the two figures.
Tolerances come from the gate's configuration (`[tool.visionbench.gate]`), per
benchmark as the gate reads them: a pattern's override (e.g. data loading's 20%)
applies to the variant it matches.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from visionbench.gate.config import GateConfig
from visionbench.metrics import accuracy_noise
from visionbench.report.format import fmt_times
from visionbench.results import Bench, Run

#: Units preferred for a technique's summary row: training-level first.
UNIT_ORDER = ("train_epoch", "train_step", "infer_batch", "epoch", "augmented_epoch")
#: Units that explain rather than speed up (Grad-CAM): no summary row.
NOT_TECHNIQUES = ("explain_batch",)


@dataclass(frozen=True)
class TimeEvidence:
    """A variant's time against its reference's: `ratio` = variant / reference, and its
    interval (`low`, `high`) when paired measurements gave one (None: the ratio alone)."""

    ratio: float
    low: float | None = None
    high: float | None = None
    what: str = "median time per unit"  # what was compared, for the reader

    def text(self) -> str:
        """The ratio, its interval where there is one, and what was compared:
        `0.76× [0.73–0.78×] (time per unit, paired ... over 20 rounds)`."""
        interval = ""
        if self.low is not None and self.high is not None:
            interval = f" [{self.low:.2f}–{self.high:.2f}×]"
        return f"{fmt_times(self.ratio)}{interval} ({self.what})"

    def direction(self, tolerance: float) -> str:
        """Faster, slower or same: with an interval, only when the whole interval
        lies beyond the tolerance; without one, the ratio beyond it."""
        bound = 1 + tolerance
        if self.low is not None and self.high is not None:
            if self.high < 1 / bound:
                return "faster"
            return "slower" if self.low > bound else "same"
        if self.ratio < 1 / bound:
            return "faster"
        return "slower" if self.ratio > bound else "same"


def verdict(
    time: TimeEvidence | None,
    accuracy_change: float | None,
    accuracy_noise_: float = 0.0,
    *,
    config: GateConfig | None = None,
    memory_ratio: float | None = None,
    benchmark: str = "",
) -> str:
    """A plain verdict of a variant against its reference.

    `accuracy_change` is variant minus reference (fraction), `accuracy_noise_` the
    half-width of the noise of that difference; `memory_ratio` variant / reference.
    The tolerances are `config`'s for the variant's `benchmark` (its full name).
    """
    config = config or GateConfig()

    def tolerance(kind: str) -> float:
        return config.tolerance_for(benchmark, kind)

    parts = []
    way = time.direction(tolerance("time")) if time is not None else "same"
    acc_way = "same"
    if accuracy_change is not None:
        limit = max(tolerance("accuracy"), accuracy_noise_)
        if abs(accuracy_change) > limit:
            acc_way = "lower" if accuracy_change < 0 else "higher"
    points = f"{accuracy_change * 100:+.1f} pt".replace("-", "−") if accuracy_change else ""
    assert time is not None or way == "same"
    if way == "faster":
        parts.append(f"{fmt_times(1 / time.ratio)} faster")  # type: ignore[union-attr]
    elif way == "slower":
        parts.append(f"{fmt_times(time.ratio)} slower")  # type: ignore[union-attr]
    if acc_way == "same":
        if parts and accuracy_change is not None:
            parts[-1] += ", same accuracy"
    elif parts:
        parts[-1] += f" but {points}" if acc_way == "lower" else f" and {points}"
    else:
        parts.append(f"same time, {points}" if time is not None else points)
    if not parts:
        parts.append("no difference beyond noise")
    mem_tol = tolerance("memory")
    if memory_ratio is not None and abs(memory_ratio - 1) > mem_tol:
        parts.append(f"{fmt_times(memory_ratio)} the memory")
    return "; ".join(parts)


# -- evidence from saved benchmarks -----------------------------------------------------


def number(info: Mapping[str, Any], key: str) -> float | None:
    value = info.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def all_reached(info: Mapping[str, Any]) -> bool:
    return info.get("target_reached") == 1 and number(info, "time_to_target_s") is not None


def reached(info: Mapping[str, Any]) -> list[float]:
    """Each seed's time to target, of the seeds that reached it."""
    return [float(t) for t in info.get("time_to_target_s_per_seed") or [] if t is not None]


def seeds_run(info: Mapping[str, Any]) -> int:
    """Seeds behind the time-to-target figures."""
    return len(info.get("time_to_target_s_per_seed") or [])


def time_evidence(bench: Bench, ref: Bench) -> TimeEvidence | None:
    """Time to target when both reached it on every seed, else the variant's time paired
    round by round with its reference's (`ratio_vs_ref` and its interval), else the
    ratio of the two medians (timed in separate blocks)."""
    a, b = bench.extra_info, ref.extra_info
    if all_reached(a) and all_reached(b):
        target = a.get("target_accuracy")
        what = f"time to {target:.1%}" if isinstance(target, float) else "time to target"
        return TimeEvidence(a["time_to_target_s"] / b["time_to_target_s"], what=what)
    if number(a, "ratio_vs_ref") is not None and a.get("paired_rounds"):
        what = f"time per unit, paired with the reference over {a['paired_rounds']} rounds"
        low, high = number(a, "ratio_ci_low"), number(a, "ratio_ci_high")
        return TimeEvidence(a["ratio_vs_ref"], low, high, what=what)
    med, rmed = bench.stats.get("median"), ref.stats.get("median")
    if isinstance(med, (int, float)) and isinstance(rmed, (int, float)) and rmed > 0:
        what = "median time per unit"
        if "time_to_target_s_per_seed" in a and "time_to_target_s_per_seed" in b:
            what += (
                f"; time to target not comparable: {len(reached(a))}/{seeds_run(a)} vs "
                f"{len(reached(b))}/{seeds_run(b)} seeds reached it"
            )
        return TimeEvidence(med / rmed, what=what)
    return None


def accuracy_difference(bench: Bench, ref: Bench) -> tuple[float | None, float]:
    """Variant minus reference accuracy, and the 95% half-width of its noise: each
    figure's binomial noise on its test images and its seeds' spread, combined."""
    a, b = number(bench.extra_info, "accuracy"), number(ref.extra_info, "accuracy")
    if a is None or b is None:
        return None, 0.0

    def noise(info: Mapping[str, Any], acc: float) -> float:
        n = info.get("eval_images")
        binomial = accuracy_noise(acc, n) if n else 0.0
        seeds = info.get("seeds") or 1
        std = number(info, "accuracy_std") or 0.0
        spread = 1.96 * std / math.sqrt(seeds) if seeds > 1 else 0.0
        return max(binomial / math.sqrt(seeds), spread)

    return a - b, math.hypot(noise(bench.extra_info, a), noise(ref.extra_info, b))


def memory_ratio(bench: Bench, ref: Bench) -> float | None:
    for key in ("peak_mem_bytes", "cache_mem_bytes"):
        a, b = number(bench.extra_info, key), number(ref.extra_info, key)
        if a is not None and b:
            return a / b
    return None


@dataclass(frozen=True)
class Row:
    technique: str
    where: str  # dataset, device and timed unit
    variant: str
    reference: str
    time: TimeEvidence | None
    accuracy_change: float | None
    accuracy_noise: float
    memory_ratio: float | None
    benchmark: str = ""  # the variant's full name: which tolerances apply
    note: str = ""  # what the verdict depends on beyond the figures (e.g. emulated bf16)

    def verdict(self, config: GateConfig | None = None) -> str:
        said = verdict(
            self.time,
            self.accuracy_change,
            self.accuracy_noise,
            config=config,
            memory_ratio=self.memory_ratio,
            benchmark=self.benchmark,
        )
        return f"{said} ({self.note})" if self.note else said


def _row(bench: Bench, ref: Bench, where: str) -> Row:
    change, noise = accuracy_difference(bench, ref)
    return Row(
        bench.technique, where, bench.variant, ref.variant, time_evidence(bench, ref),
        change, noise, memory_ratio(bench, ref), bench.fullname,
    )  # fmt: skip


def best_row(benches: Sequence[Bench], where: str, config: GateConfig | None = None) -> Row | None:
    """The variant to switch on against its reference: the last rung of a ladder;
    otherwise the fastest variant whose accuracy is not lower beyond noise (the
    fastest of all when every variant loses accuracy)."""
    config = config or GateConfig()
    ok = [b for b in benches if not b.error]
    ref_name = next((b.reference for b in ok if b.reference), None)
    ref = next((b for b in ok if b.variant == ref_name), None)
    others = [b for b in ok if b is not ref]
    if ref is None or not others:
        return None
    rows = [_row(b, ref, where) for b in others]
    if all(isinstance(b.extra_info.get("rung"), int) for b in others):
        return max(zip(others, rows, strict=True), key=lambda p: p[0].extra_info["rung"])[1]

    def keeps_accuracy(r: Row) -> bool:
        if r.accuracy_change is None:
            return True
        tolerance = config.tolerance_for(r.benchmark, "accuracy")
        return r.accuracy_change >= -max(tolerance, r.accuracy_noise)

    timed = [r for r in rows if r.time is not None] or rows
    pool = [r for r in timed if keeps_accuracy(r)] or timed
    return min(pool, key=lambda r: r.time.ratio if r.time is not None else math.inf)


def _unit(bench: Bench) -> str:
    return str(bench.extra_info.get("unit") or "")


def technique_rows(run: Run, config: GateConfig | None = None) -> list[Row]:
    """One row per technique, dataset and device: its main benchmark group (the
    training-level unit first, then the group with the most variants)."""
    groups: dict[tuple[str, str, str], dict[str, list[Bench]]] = {}
    for b in run.benchmarks.values():
        if _unit(b) in NOT_TECHNIQUES:
            continue
        info = b.extra_info
        key = (b.technique, str(info.get("dataset") or ""), str(info.get("device") or ""))
        groups.setdefault(key, {}).setdefault(b.group or _unit(b), []).append(b)
    rows = []
    for (_, dataset, device), by_group in groups.items():

        def rank(benches: list[Bench]) -> tuple[int, int]:
            unit = _unit(benches[0])
            order = UNIT_ORDER.index(unit) if unit in UNIT_ORDER else len(UNIT_ORDER)
            return order, -len(benches)

        benches = min(by_group.values(), key=rank)
        where = ", ".join(x for x in (dataset, device, _unit(benches[0])) if x)
        row = best_row(benches, where, config)
        if row is None:
            continue
        if any(emulated_bf16(run, b) for b in benches if b.variant in (row.variant, row.reference)):
            row = dataclasses.replace(row, note=NO_BF16_KERNELS)
        rows.append(row)
    return rows


# -- bf16 on a CPU without bf16 kernels ------------------------------------------------------

NO_BF16_KERNELS = "no bf16 kernels on this CPU: bf16 ran emulated"


def emulated_bf16(run: Run, bench: Bench) -> bool:
    """The benchmark ran in autocast bf16 on a CPU that the run's fingerprint says has no
    bf16 kernels (`cpu_bf16_kernels`; unknown in runs saved before it: not said)."""
    fp = run.machine_info.get("visionbench") or {}
    info = bench.extra_info
    return (
        fp.get("cpu_bf16_kernels") is False
        and info.get("amp") == "bf16"
        and str(info.get("device") or "").startswith("cpu")
    )


def bf16_paragraph(run: Run) -> str:
    """Why bf16 is slow here, where the run has bf16 figures of a CPU without bf16 kernels."""
    if not any(emulated_bf16(run, b) for b in run.benchmarks.values()):
        return ""
    cpu = (run.machine_info.get("visionbench") or {}).get("cpu_model") or "this CPU"
    return (
        f"**bf16 on this CPU:** {cpu} has no bf16 kernels for oneDNN (they need AVX512-BF16 "
        "or AMX), so every bf16 figure of the CPU here is of an emulation, slower than fp32. "
        "On a CPU with them, or a GPU, bf16 can pay: these rows do not say it does not."
    )


def summary_markdown(run: Run, config: GateConfig | None = None) -> str:
    rows = technique_rows(run, config)
    if not rows:
        return ""
    table = []
    for r in rows:
        time = r.time.text() if r.time is not None else "-"
        acc = f"{r.accuracy_change * 100:+.1f} pt" if r.accuracy_change is not None else "-"
        if r.accuracy_change is not None and r.accuracy_noise:
            acc += f" (noise ±{r.accuracy_noise * 100:.1f})"
        mem = fmt_times(r.memory_ratio) if r.memory_ratio is not None else "-"
        table.append(
            [r.technique, r.where, f"{r.variant} vs {r.reference}", time, mem, acc,
             r.verdict(config)]
        )  # fmt: skip
    headers = ["technique", "measured on", "best variant", "time", "memory", "accuracy", "verdict"]
    lines = [
        "## Summary: what pays off on this machine",
        "",
        "One row per technique: its best variant against the reference (time and memory "
        "as variant ÷ reference; a difference within the gate's tolerance, or accuracy "
        "within its noise, reads as none). For a ladder, the last rung against the baseline.",
        "",
        tabulate(table, headers=headers, tablefmt="github"),
        "",
    ]
    if text := bf16_paragraph(run):
        lines += [text, ""]
    return "\n".join(lines)
