"""What a saved run says of each technique against its reference: its main benchmark
group (`main_groups`), the group's reference (`split_reference`), and each variant's
evidence, in time (`TimeEvidence`: the time to the profile's target, paired over seeds,
where every seed of both reached it, with the step ratio beside it; otherwise the step
ratio, or the ratio of two medians), in accuracy (variant minus reference with its noise)
and in memory. The summary (`report.summary`) and the trade-offs (`report.tradeoffs`)
word it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from visionbench.measure import metrics, techniques
from visionbench.measure.figures import infos_difference
from visionbench.measure.format import fmt_times
from visionbench.measure.results import Bench, Run
from visionbench.stats.equivalence import Difference
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


def split_reference(benches: Sequence[Bench]) -> tuple[Bench | None, list[Bench]]:
    """The section's reference and the other variants (failed ones left out)."""
    ok = [b for b in benches if not b.error]
    ref_name = next((b.reference for b in ok if b.reference), None)
    ref = next((b for b in ok if b.variant == ref_name), None)
    return ref, [b for b in ok if b is not ref]


def split_bounds(benches: Sequence[Bench]) -> tuple[list[Bench], list[Bench]]:
    """(deployable, bounds): the variants a user can switch on, and those the technique
    registry names bounds (`Technique.bounds`, e.g. adaptive selection's oracle), which
    show the headroom and are never a best variant."""
    deployable = [b for b in benches if not techniques.is_bound(b.technique, b.variant)]
    return deployable, [b for b in benches if b not in deployable]


def unit_of(bench: Bench) -> str:
    return str(bench.extra_info.get("unit") or "")


def main_groups(run: Run) -> list[tuple[str, str, list[Bench]]]:
    """(technique, where, benches) per technique, dataset and device: its main benchmark
    group (the training-level unit first, then the group with the most variants)."""
    groups: dict[tuple[str, str, str], dict[str, list[Bench]]] = {}
    for b in run.benchmarks.values():
        if unit_of(b) in NOT_TECHNIQUES:
            continue
        info = b.extra_info
        key = (b.technique, str(info.get("dataset") or ""), str(info.get("device") or ""))
        groups.setdefault(key, {}).setdefault(b.group or unit_of(b), []).append(b)
    out = []
    for (technique, dataset, device), by_group in groups.items():

        def rank(benches: list[Bench]) -> tuple[int, int]:
            unit = unit_of(benches[0])
            order = UNIT_ORDER.index(unit) if unit in UNIT_ORDER else len(UNIT_ORDER)
            return order, -len(benches)

        benches = min(by_group.values(), key=rank)
        where = ", ".join(x for x in (dataset, device, unit_of(benches[0])) if x)
        out.append((technique, where, benches))
    return out
