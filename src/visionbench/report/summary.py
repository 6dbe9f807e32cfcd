"""The report's opening: one row per technique with a plain verdict, and the trade-offs.

`verdict` turns a variant-against-reference comparison into words that respect
the noise ("2.1× faster, same accuracy", "no difference beyond noise", "faster
but −3.0 pt", "2× faster, accuracy not resolved (±11.2 pt)"). Its time evidence is
`TimeEvidence`: the time to the profile's target, paired over seeds (seed i has
the same initialisation and data order in every variant), where every seed of
both reached it, with the step ratio beside it; otherwise the step ratio alone
(the variant's step timed round by round with the reference's), or the ratio of
the two medians. It is called a difference only when its interval (or, without
one, the ratio) lies beyond the gate's time tolerance. Accuracy is worded by
`stats.equivalence`: "same" only when the whole 90% interval of the difference lies
within the gate's accuracy tolerance, "not resolved" when the noise cannot tell.

A sweep (model size, resolution) has no best variant: it is a trade-off, stated
as its Pareto front on time and accuracy (`report.pareto`; memory where it
changes the front), with each dominated variant named beside the ones that beat it.
Tolerances come from the gate's configuration (`[tool.visionbench.gate]`), per
benchmark as the gate reads them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from visionbench.gate.config import GateConfig
from visionbench.measure import metrics, techniques
from visionbench.measure.figures import figure_of, infos_difference
from visionbench.measure.format import fmt_bytes, fmt_times
from visionbench.measure.results import Bench, Run
from visionbench.report.pareto import Front, Point, pareto
from visionbench.stats.equivalence import (
    BETTER,
    SAME,
    UNRESOLVED,
    WORSE,
    Difference,
    Judgement,
    judge,
)
from visionbench.stats.seeds import paired_interval

#: Units preferred for a technique's summary row: training-level first.
UNIT_ORDER = (
    metrics.TRAIN_EPOCH,
    metrics.TRAIN_STEP,
    metrics.INFER_BATCH,
    metrics.EPOCH,
    metrics.AUGMENTED_EPOCH,
)
#: Units that explain rather than speed up (Grad-CAM): no summary row.
NOT_TECHNIQUES = (metrics.EXPLAIN_BATCH,)
#: Sweeps: a trade-off between time, memory and accuracy, stated as a Pareto front.
SWEEPS = techniques.of_kind("sweep")
#: Confidence of the time-to-target ratio's interval over paired seeds.
SEED_CONFIDENCE = 0.95


@dataclass(frozen=True)
class TimeEvidence:
    """A variant's time against its reference's: `ratio` = variant / reference, and its
    interval (`low`, `high`) when paired measurements gave one (None: the ratio alone).
    `beside`: the step ratio, shown beside a time-to-target ratio."""

    ratio: float
    low: float | None = None
    high: float | None = None
    what: str = "median time per unit"  # what was compared, for the reader
    beside: TimeEvidence | None = None

    def text(self) -> str:
        """The ratio, its interval where there is one, and what was compared:
        `0.76× [0.73–0.78×] (step ratio: time per step, paired ... over 20 rounds)`."""
        interval = ""
        if self.low is not None and self.high is not None:
            interval = f" [{self.low:.2f}–{self.high:.2f}×]"
        text = f"{fmt_times(self.ratio)}{interval} ({self.what})"
        return text + (f"; beside it {self.beside.text()}" if self.beside is not None else "")

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


def _points(change: float) -> str:
    return f"{change * 100:+.1f} pt".replace("-", "−")


def verdict(
    time: TimeEvidence | None,
    accuracy: Difference | None,
    *,
    config: GateConfig | None = None,
    memory_ratio: float | None = None,
    benchmark: str = "",
) -> str:
    """A plain verdict of a variant against its reference.

    `accuracy` is variant minus reference with its noise; `memory_ratio` variant /
    reference. The tolerances are `config`'s for the variant's `benchmark` (its full name).
    """
    config = config or GateConfig()

    def tolerance(kind: str) -> float:
        return config.tolerance_for(benchmark, kind)

    parts = []
    way = time.direction(tolerance("time")) if time is not None else "same"
    judged = judge(accuracy, tolerance("accuracy")) if accuracy is not None else None
    if way == "faster":
        parts.append(f"{fmt_times(1 / time.ratio)} faster")  # type: ignore[union-attr]
    elif way == "slower":
        parts.append(f"{fmt_times(time.ratio)} slower")  # type: ignore[union-attr]
    if judged is None:
        pass
    elif judged.verdict == SAME:
        if parts:
            parts[-1] += ", same accuracy"
    elif judged.verdict == UNRESOLVED:
        words = f"accuracy {judged.short()}"
        if parts:
            parts[-1] += f", {words}"
        else:
            parts.append(f"same time, {words}" if time is not None else words)
    else:
        points = _points(judged.change)
        if parts:
            parts[-1] += f" but {points}" if judged.verdict == WORSE else f" and {points}"
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


def _unit_words(info: Mapping[str, Any]) -> str:
    """What one timed round is, for the reader; a training step's ratio is the step ratio."""
    unit = info.get("unit")
    return "step ratio: time per step" if unit == metrics.TRAIN_STEP else "time per unit"


def step_evidence(bench: Bench, ref: Bench) -> TimeEvidence | None:
    """The variant's unit paired round by round with its reference's (`ratio_vs_ref` and
    its interval), else the ratio of the two medians (timed in separate blocks)."""
    a = bench.extra_info
    words = _unit_words(a)
    if number(a, "ratio_vs_ref") is not None and a.get("paired_rounds"):
        what = f"{words}, paired with the reference over {a['paired_rounds']} rounds"
        low, high = number(a, "ratio_ci_low"), number(a, "ratio_ci_high")
        return TimeEvidence(a["ratio_vs_ref"], low, high, what=what)
    med, rmed = bench.stats.get("median"), ref.stats.get("median")
    if isinstance(med, (int, float)) and isinstance(rmed, (int, float)) and rmed > 0:
        what = "median time per unit" if words == "time per unit" else f"{words}, medians"
        return TimeEvidence(med / rmed, what=what)
    return None


def to_target_evidence(bench: Bench, ref: Bench) -> TimeEvidence | None:
    """Time to the target, variant over reference, paired seed by seed (the geometric mean
    of the per-seed ratios, with a t-interval of their logs over two or more seeds),
    when every seed of both reached it; else None."""
    a, b = bench.extra_info, ref.extra_info
    if not (all_reached(a) and all_reached(b)):
        return None
    ta, tb = reached(a), reached(b)
    n = min(len(ta), len(tb))
    if n == 0 or any(t <= 0 for t in ta[:n] + tb[:n]):
        return None
    logs = [math.log(x / y) for x, y in zip(ta[:n], tb[:n], strict=True)]
    mean, low, high = paired_interval(logs, SEED_CONFIDENCE)
    target = a.get("target_accuracy")
    to = f"time to {target:.1%}" if isinstance(target, float) else "time to target"
    what = f"{to}, paired over {n} seed{'s' if n > 1 else ''}"
    return TimeEvidence(
        math.exp(mean),
        math.exp(low) if low is not None else None,
        math.exp(high) if high is not None else None,
        what=what,
    )


def time_evidence(bench: Bench, ref: Bench) -> TimeEvidence | None:
    """Time to target when both reached it on every seed (the step ratio beside it, for a
    training step), else the step (or unit) ratio, saying why time to target is not used."""
    step = step_evidence(bench, ref)
    to_target = to_target_evidence(bench, ref)
    if to_target is not None:
        beside = step if bench.extra_info.get("unit") == metrics.TRAIN_STEP else None
        return dataclasses.replace(to_target, beside=beside)
    a, b = bench.extra_info, ref.extra_info
    if step is not None and "time_to_target_s_per_seed" in a and "time_to_target_s_per_seed" in b:
        why = (
            f"; time to target not comparable: {len(reached(a))}/{seeds_run(a)} vs "
            f"{len(reached(b))}/{seeds_run(b)} seeds reached it"
        )
        step = dataclasses.replace(step, what=step.what + why)
    return step


def accuracy_difference(bench: Bench, ref: Bench) -> Difference | None:
    """Variant minus reference accuracy with its noise (`stats.equivalence`'s model)."""
    return infos_difference(bench.extra_info, ref.extra_info)


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
    accuracy: Difference | None
    memory_ratio: float | None
    benchmark: str = ""  # the variant's full name: which tolerances apply
    note: str = ""  # what the verdict depends on beyond the figures (e.g. emulated bf16)

    def judgement(self, config: GateConfig | None = None) -> Judgement | None:
        if self.accuracy is None:
            return None
        config = config or GateConfig()
        return judge(self.accuracy, config.tolerance_for(self.benchmark, "accuracy"))

    def verdict(self, config: GateConfig | None = None) -> str:
        said = verdict(
            self.time,
            self.accuracy,
            config=config,
            memory_ratio=self.memory_ratio,
            benchmark=self.benchmark,
        )
        return f"{said} ({self.note})" if self.note else said


def target_note(bench: Bench, ref: Bench) -> str:
    """Where the variant and its reference reached the target in different numbers of
    seeds, that count: the verdict then judges the step or epoch time alone, and a
    variant that is faster per epoch but never got there must not read as the one to
    switch on."""
    a, b = bench.extra_info, ref.extra_info
    if "time_to_target_s_per_seed" not in a or "time_to_target_s_per_seed" not in b:
        return ""
    got, ref_got = len(reached(a)), len(reached(b))
    if got == ref_got:
        return ""
    target = a.get("target_accuracy")
    to = f"{target:.1%}" if isinstance(target, float) else "the target"
    return f"reached {to} in {got}/{seeds_run(a)} seeds, the reference in {ref_got}/{seeds_run(b)}"


def _row(bench: Bench, ref: Bench, where: str) -> Row:
    return Row(
        bench.technique, where, bench.variant, ref.variant, time_evidence(bench, ref),
        accuracy_difference(bench, ref), memory_ratio(bench, ref), bench.fullname,
        target_note(bench, ref),
    )  # fmt: skip


def _split(benches: Sequence[Bench]) -> tuple[Bench | None, list[Bench]]:
    """The section's reference and the other variants (failed ones left out)."""
    ok = [b for b in benches if not b.error]
    ref_name = next((b.reference for b in ok if b.reference), None)
    ref = next((b for b in ok if b.variant == ref_name), None)
    return ref, [b for b in ok if b is not ref]


def best_row(benches: Sequence[Bench], where: str, config: GateConfig | None = None) -> Row | None:
    """The variant to switch on against its reference: the last rung of a ladder;
    otherwise the fastest variant whose accuracy is the same or better (proven), else
    the fastest whose accuracy is not resolved, else the fastest of all."""
    ref, others = _split(benches)
    if ref is None or not others:
        return None
    rows = [_row(b, ref, where) for b in others]
    if all(isinstance(b.extra_info.get("rung"), int) for b in others):
        return max(zip(others, rows, strict=True), key=lambda p: p[0].extra_info["rung"])[1]

    def standing(r: Row) -> int:
        judged = r.judgement(config)
        if judged is None or judged.verdict in (SAME, BETTER):
            return 0
        return 1 if judged.verdict == UNRESOLVED else 2

    timed = [r for r in rows if r.time is not None] or rows
    best = min(standing(r) for r in timed)
    pool = [r for r in timed if standing(r) == best]
    return min(pool, key=lambda r: r.time.ratio if r.time is not None else math.inf)


# -- sweeps: trade-offs on a Pareto front ------------------------------------------------


@dataclass(frozen=True)
class TradeOff:
    """A sweep's variants as points (time relative to the reference, accuracy, peak
    memory) and their Pareto front."""

    technique: str
    where: str
    reference: str
    measure: str  # what a point's time is, for the reader
    points: list[Point]
    front: Front
    noise: dict[str, float]  # each accuracy's own 95% half-width
    yours: frozenset[str] = frozenset()  # --vb-model models among the variants

    def label(self, name: str) -> str:
        return name + (" (your model)" if name in self.yours else "")


def sweep_points(benches: Sequence[Bench]) -> tuple[list[Point], str, Bench] | None:
    """Every usable variant of a sweep as a point, with what its time means, and the
    reference: time to target relative to the reference's (paired over seeds) where every
    variant recorded it on every seed, else the step (unit) ratio to the reference's."""
    ref, others = _split(benches)
    if ref is None:
        return None
    usable = [b for b in others if number(b.extra_info, "accuracy") is not None]
    if number(ref.extra_info, "accuracy") is None:
        return None
    to_target = {b.variant: to_target_evidence(b, ref) for b in usable}
    if usable and all(e is not None for e in to_target.values()) and all_reached(ref.extra_info):
        evidence = to_target
        target = ref.extra_info.get("target_accuracy")
        to = f"{target:.1%}" if isinstance(target, float) else "the target"
        measure = f"time to {to}, × {ref.variant}'s (paired over seeds)"
    else:
        evidence = {b.variant: step_evidence(b, ref) for b in usable}
        unit = "training step" if ref.extra_info.get("unit") == metrics.TRAIN_STEP else "unit"
        measure = f"time per {unit}, × {ref.variant}'s"
    points = [_point(ref, 1.0)]
    for b in usable:
        e = evidence[b.variant]
        if e is not None:
            points.append(_point(b, e.ratio))
    return points, measure, ref


def _point(b: Bench, time: float) -> Point:
    info = b.extra_info
    return Point(b.variant, time, float(info["accuracy"]), number(info, "peak_mem_bytes"))


def trade_off(benches: Sequence[Bench], where: str) -> TradeOff | None:
    found = sweep_points(benches)
    if found is None or len(found[0]) < 2:
        return None
    points, measure, ref = found
    by_name = {b.variant: b for b in benches}
    noise = {}
    for p in points:
        figure = figure_of(by_name[p.name].extra_info)
        noise[p.name] = figure.half_width() if figure is not None else 0.0
    yours = frozenset(p.name for p in points if by_name[p.name].extra_info.get("model_source"))
    front = pareto(points)
    return TradeOff(ref.technique, where, ref.variant, measure, points, front, noise, yours)


# -- the rows ------------------------------------------------------------------------------


def _unit(bench: Bench) -> str:
    return str(bench.extra_info.get("unit") or "")


def main_groups(run: Run) -> list[tuple[str, str, list[Bench]]]:
    """(technique, where, benches) per technique, dataset and device: its main benchmark
    group (the training-level unit first, then the group with the most variants)."""
    groups: dict[tuple[str, str, str], dict[str, list[Bench]]] = {}
    for b in run.benchmarks.values():
        if _unit(b) in NOT_TECHNIQUES:
            continue
        info = b.extra_info
        key = (b.technique, str(info.get("dataset") or ""), str(info.get("device") or ""))
        groups.setdefault(key, {}).setdefault(b.group or _unit(b), []).append(b)
    out = []
    for (technique, dataset, device), by_group in groups.items():

        def rank(benches: list[Bench]) -> tuple[int, int]:
            unit = _unit(benches[0])
            order = UNIT_ORDER.index(unit) if unit in UNIT_ORDER else len(UNIT_ORDER)
            return order, -len(benches)

        benches = min(by_group.values(), key=rank)
        where = ", ".join(x for x in (dataset, device, _unit(benches[0])) if x)
        out.append((technique, where, benches))
    return out


def technique_rows(run: Run, config: GateConfig | None = None) -> list[Row]:
    """One row per technique, dataset and device that is not a sweep."""
    rows = []
    for technique, where, benches in main_groups(run):
        if technique in SWEEPS:
            continue
        row = best_row(benches, where, config)
        if row is None:
            continue
        if any(emulated_bf16(run, b) for b in benches if b.variant in (row.variant, row.reference)):
            note = "; ".join(x for x in (row.note, NO_BF16_KERNELS) if x)
            row = dataclasses.replace(row, note=note)
        rows.append(row)
    return rows


def trade_offs(run: Run) -> list[TradeOff]:
    """One trade-off per sweep, dataset and device."""
    found = (trade_off(b, where) for t, where, b in main_groups(run) if t in SWEEPS)
    return [t for t in found if t is not None]


def _accuracy_cell(r: Row, config: GateConfig | None) -> str:
    judged = r.judgement(config)
    if judged is None or r.accuracy is None:
        return "-"
    return f"{_points(r.accuracy.change)}; {judged.text()}"


def _range(values: Sequence[float], fmt: Any) -> str:
    low, high = min(values), max(values)
    return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}–{fmt(high)}"


def _trade_off_row(t: TradeOff) -> list[str]:
    front = t.front.front
    memories = [p.memory for p in front if p.memory is not None]
    ref_memory = next((p.memory for p in t.points if p.name == t.reference), None)
    memory = (
        _range([m / ref_memory for m in memories], fmt_times) if memories and ref_memory else "-"
    )
    dominated = "; ".join(
        f"{t.label(name)} (by {', '.join(by)})" for name, by in t.front.dominated_by.items()
    )
    words = "a trade-off, no single best: pick on the front"
    if dominated:
        words += f"; dominated: {dominated}"
    if t.front.by_memory:
        kept = ", ".join(t.label(p.name) for p in t.front.by_memory)
        words += f"; on the front by memory alone: {kept}"
    return [
        t.technique,
        t.where,
        "front: " + ", ".join(t.label(p.name) for p in front),
        f"{_range([p.time for p in front], fmt_times)} ({t.measure})",
        memory,
        _range([p.accuracy for p in front], lambda a: f"{a:.1%}"),
        words,
    ]


def trade_off_markdown(t: TradeOff) -> list[str]:
    """A sweep's points in a table: time, accuracy with its interval, memory, and
    whether it is on the front or which front variants dominate it."""
    rows = []
    for p in sorted(t.points, key=lambda p: p.time):
        if t.front.on_front(p.name):
            where = "**front**"
        elif any(q.name == p.name for q in t.front.by_memory):
            where = "front by memory alone (dominated on time and accuracy: "
            where += f"{', '.join(t.front.dominated_by[p.name])})"
        else:
            where = f"dominated by {', '.join(t.front.dominated_by.get(p.name, []))}"
        rows.append(
            [
                t.label(p.name) + (" (ref)" if p.name == t.reference else ""),
                fmt_times(p.time),
                f"{p.accuracy:.1%} ± {t.noise.get(p.name, 0.0) * 100:.1f} pt",
                fmt_bytes(p.memory) if p.memory is not None else "-",
                where,
            ]
        )
    headers = ["variant", t.measure, "accuracy (95%)", "peak memory", "Pareto"]
    return [
        f"### Trade-off: {t.technique} ({t.where})",
        "",
        "A point is dominated when another is at least as fast and as accurate (on the "
        "estimates) and better in one; memory counts where it keeps a dominated variant "
        "on the front.",
        "",
        tabulate(rows, headers=headers, tablefmt="github"),
        "",
    ]


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


def summary_markdown(
    run: Run, config: GateConfig | None = None, images: Mapping[tuple[str, str], str] | None = None
) -> str:
    """The summary table (one row per technique: its best variant, or a sweep's front),
    then each sweep's trade-off table with its Pareto plot from `images`
    ((technique, where) -> PNG name) where given."""
    rows = technique_rows(run, config)
    offs = trade_offs(run)
    if not rows and not offs:
        return ""
    table = []
    for r in rows:
        time = r.time.text() if r.time is not None else "-"
        mem = fmt_times(r.memory_ratio) if r.memory_ratio is not None else "-"
        table.append(
            [r.technique, r.where, f"{r.variant} vs {r.reference}", time, mem,
             _accuracy_cell(r, config), r.verdict(config)]
        )  # fmt: skip
    table += [_trade_off_row(t) for t in offs]
    headers = ["technique", "measured on", "variant", "time", "memory", "accuracy", "verdict"]
    lines = [
        "## Summary: what pays off on this machine",
        "",
        "One row per technique: its best variant against the reference (time and memory "
        "as variant ÷ reference; time to the target where every seed reached it, paired "
        "seed by seed, else the step ratio; a time difference within the gate's tolerance "
        "reads as none). Accuracy is the same only when the whole 90% interval of the "
        "difference lies within the gate's tolerance; a difference smaller than its noise "
        "is not resolved. For a ladder, the last rung against the baseline; for a sweep, "
        "its Pareto front.",
        "",
        tabulate(table, headers=headers, tablefmt="github"),
        "",
    ]
    if text := bf16_paragraph(run):
        lines += [text, ""]
    for t in offs:
        lines += trade_off_markdown(t)
        png = (images or {}).get((t.technique, t.where))
        if png:
            lines += [f"![{t.technique}: Pareto front]({png})", ""]
    return "\n".join(lines)
