"""A sweep (model size, resolution) has no best variant: it is a trade-off, stated as its
Pareto front on time and accuracy (`report.pareto`; memory where it changes the front),
with each dominated variant named beside the ones that beat it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from visionbench.measure import metrics, techniques
from visionbench.measure.figures import figure_of
from visionbench.measure.format import fmt_bytes, fmt_times
from visionbench.measure.results import Bench, Run
from visionbench.report.evidence import (
    all_reached,
    main_groups,
    number,
    split_reference,
    step_evidence,
    to_target_evidence,
)
from visionbench.report.pareto import Front, Point, pareto

#: Sweeps: a trade-off between time, memory and accuracy, stated as a Pareto front.
SWEEPS = techniques.of_kind("sweep")


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
    ref, others = split_reference(benches)
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


def trade_offs(run: Run) -> list[TradeOff]:
    """One trade-off per sweep, dataset and device."""
    found = (trade_off(b, where) for t, where, b in main_groups(run) if t in SWEEPS)
    return [t for t in found if t is not None]


def _range(values: Sequence[float], fmt: Any) -> str:
    low, high = min(values), max(values)
    return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}–{fmt(high)}"


def trade_off_row(t: TradeOff) -> list[str]:
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
