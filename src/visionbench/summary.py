"""The report's opening: one row per technique with a plain verdict, then the recipe ladder.

`verdict` turns a variant-against-reference comparison into words that respect
the noise ("2.1× faster, same accuracy", "no difference beyond noise", "faster
but −3.0 pt"). Its time evidence is one input, `TimeEvidence`: today the ratio
of the two medians (or of the mean times to target), called a difference only
beyond the gate's time tolerance; a paired interval, where one was measured,
goes in the same place and then decides. Accuracy differs only beyond both the
gate's accuracy tolerance and the binomial and seed noise of the two figures.
Tolerances come from the gate's configuration (`[tool.visionbench.gate]`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from visionbench.gate.config import GateConfig
from visionbench.metrics import accuracy_noise
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


def fmt_times(ratio: float) -> str:
    """How many times: 2.1×, 12×, 1.15×."""
    return f"{ratio:.3g}×" if ratio < 10 else f"{ratio:.0f}×"


def verdict(
    time: TimeEvidence | None,
    accuracy_change: float | None,
    accuracy_noise_: float = 0.0,
    *,
    config: GateConfig | None = None,
    memory_ratio: float | None = None,
) -> str:
    """A plain verdict of a variant against its reference.

    `accuracy_change` is variant minus reference (fraction), `accuracy_noise_` the
    half-width of the noise of that difference; `memory_ratio` variant / reference.
    """
    config = config or GateConfig()
    parts = []
    way = time.direction(config.tolerance["time"]) if time is not None else "same"
    acc_way = "same"
    if accuracy_change is not None:
        limit = max(config.tolerance["accuracy"], accuracy_noise_)
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
    mem_tol = config.tolerance["memory"]
    if memory_ratio is not None and abs(memory_ratio - 1) > mem_tol:
        parts.append(f"{fmt_times(memory_ratio)} the memory")
    return "; ".join(parts)


# -- evidence from saved benchmarks -----------------------------------------------------


def _number(info: Mapping[str, Any], key: str) -> float | None:
    value = info.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def all_reached(info: Mapping[str, Any]) -> bool:
    return info.get("target_reached") == 1 and _number(info, "time_to_target_s") is not None


def time_evidence(bench: Bench, ref: Bench) -> TimeEvidence | None:
    """Time to target when both reached it on every seed, else the variant's time paired
    round by round with its reference's (`ratio_vs_ref` and its interval), else the
    ratio of the two medians (timed in separate blocks)."""
    a, b = bench.extra_info, ref.extra_info
    if all_reached(a) and all_reached(b):
        target = a.get("target_accuracy")
        what = f"time to {target:.1%}" if isinstance(target, float) else "time to target"
        return TimeEvidence(a["time_to_target_s"] / b["time_to_target_s"], what=what)
    if _number(a, "ratio_vs_ref") is not None and a.get("paired_rounds"):
        what = f"time per unit, paired with the reference over {a['paired_rounds']} rounds"
        low, high = _number(a, "ratio_ci_low"), _number(a, "ratio_ci_high")
        return TimeEvidence(a["ratio_vs_ref"], low, high, what=what)
    med, rmed = bench.stats.get("median"), ref.stats.get("median")
    if isinstance(med, (int, float)) and isinstance(rmed, (int, float)) and rmed > 0:
        what = "median time per unit"
        if "time_to_target_s_per_seed" in a and "time_to_target_s_per_seed" in b:
            what += (
                f"; time to target not comparable: {len(_reached(a))}/{_seeds(a)} vs "
                f"{len(_reached(b))}/{_seeds(b)} seeds reached it"
            )
        return TimeEvidence(med / rmed, what=what)
    return None


def accuracy_difference(bench: Bench, ref: Bench) -> tuple[float | None, float]:
    """Variant minus reference accuracy, and the 95% half-width of its noise: each
    figure's binomial noise on its test images and its seeds' spread, combined."""
    a, b = _number(bench.extra_info, "accuracy"), _number(ref.extra_info, "accuracy")
    if a is None or b is None:
        return None, 0.0

    def noise(info: Mapping[str, Any], acc: float) -> float:
        n = info.get("eval_images")
        binomial = accuracy_noise(acc, n) if n else 0.0
        seeds = info.get("seeds") or 1
        std = _number(info, "accuracy_std") or 0.0
        spread = 1.96 * std / math.sqrt(seeds) if seeds > 1 else 0.0
        return max(binomial / math.sqrt(seeds), spread)

    return a - b, math.hypot(noise(bench.extra_info, a), noise(ref.extra_info, b))


def memory_ratio(bench: Bench, ref: Bench) -> float | None:
    for key in ("peak_mem_bytes", "cache_mem_bytes"):
        a, b = _number(bench.extra_info, key), _number(ref.extra_info, key)
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
    note: str = ""  # what the verdict depends on beyond the figures (e.g. emulated bf16)

    def verdict(self, config: GateConfig | None = None) -> str:
        said = verdict(
            self.time,
            self.accuracy_change,
            self.accuracy_noise,
            config=config,
            memory_ratio=self.memory_ratio,
        )
        return f"{said} ({self.note})" if self.note else said


def _row(bench: Bench, ref: Bench, where: str) -> Row:
    change, noise = accuracy_difference(bench, ref)
    return Row(
        bench.technique, where, bench.variant, ref.variant, time_evidence(bench, ref),
        change, noise, memory_ratio(bench, ref),
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
        return r.accuracy_change >= -max(config.tolerance["accuracy"], r.accuracy_noise)

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


# -- the ladder -----------------------------------------------------------------------------


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "never"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3g} ± {sd:.2g} s"


def _reached(info: Mapping[str, Any]) -> list[float]:
    return [float(t) for t in info.get("time_to_target_s_per_seed") or [] if t is not None]


def _seeds(info: Mapping[str, Any]) -> int:
    return len(info.get("time_to_target_s_per_seed") or [])


def _speedup(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """before's mean time to target over after's, when every seed of both reached it."""
    if all_reached(before) and all_reached(after):
        return fmt_times(before["time_to_target_s"] / after["time_to_target_s"])
    reached = f"{len(_reached(after))}/{_seeds(after)} vs {len(_reached(before))}/{_seeds(before)}"
    return f"n/a ({reached} seeds reached)"


def ladder_markdown(benches: Sequence[Bench]) -> str:
    """The recipe ladder in rung order: what each rung adds, its epoch time, time to target,
    accuracy within the time budget, and the speed-up over the rung before and the baseline;
    then a plain sentence on whether the whole recipe beats the baseline."""
    rungs = sorted(
        (b for b in benches if isinstance(b.extra_info.get("rung"), int) and not b.error),
        key=lambda b: b.extra_info["rung"],
    )
    if not rungs:
        return ""
    first = rungs[0].extra_info
    target, budget = first.get("target_accuracy"), first.get("time_budget_s")
    rows = []
    for i, b in enumerate(rungs):
        info = b.extra_info
        acc = info.get("accuracy")
        budget_acc = info.get("accuracy_in_budget_per_seed") or []
        med = b.stats.get("median")
        rows.append(
            [
                b.extra_info["rung"],
                b.variant,
                info.get("switch", ""),
                f"{med:.3g} s" if isinstance(med, (int, float)) else "-",
                f"{_mean_sd(_reached(info))} ({len(_reached(info))}/{_seeds(info)})",
                _speedup(rungs[i - 1].extra_info, info) if i else "",
                _speedup(first, info) if i else "",
                _budget_text(budget_acc),
                f"{acc:.1%} ± {(info.get('accuracy_std') or 0) * 100:.1f} pt" if acc else "-",
            ]
        )
    to = f"{target:.1%}" if isinstance(target, float) else "target"
    headers = [
        "rung", "name", "adds", "epoch time (median)", f"time to {to} (seeds reached)",
        "speed-up vs previous", "vs baseline",
        f"accuracy within {budget:g} s" if budget else "accuracy in budget", "final accuracy",
    ]  # fmt: skip
    verdict_line = _ladder_verdict(rungs, to)
    lines = [
        "## The recipe ladder",
        "",
        f"From the seed poster's baseline to the article's recipe, one switch per rung, on "
        f"{first.get('dataset')} ({first.get('device')}, {first.get('model')} at "
        f"{first.get('image_size')} px, {first.get('epochs')} epochs per seed). Time to target "
        "counts training seconds only (evaluation excluded); a seed that never reached it is "
        "shown as not reached, not averaged in.",
        "",
        tabulate(rows, headers=headers, tablefmt="github"),
        "",
        verdict_line,
        "",
    ]
    if left_out := first.get("left_out"):
        lines += [f"Rungs left out on this machine and profile: {left_out}.", ""]
    return "\n".join(lines)


def _budget_text(values: Sequence[float]) -> str:
    if not values:
        return "-"
    within = [v for v in values if v]  # 0: the seed's first epoch overran the budget
    if not within:
        return "no epoch ended within it"
    sd = statistics.stdev(within) if len(within) > 1 else 0.0
    text = f"{statistics.fmean(within):.1%} ± {sd * 100:.1f} pt"
    if len(within) < len(values):
        text += f" ({len(within)}/{len(values)} seeds; the others: no epoch within it)"
    return text


def _ladder_verdict(rungs: Sequence[Bench], to: str) -> str:
    first, last = rungs[0], rungs[-1]
    a, b = first.extra_info, last.extra_info
    seeds = _seeds(b)
    if all_reached(a) and all_reached(b):
        ratio = a["time_to_target_s"] / b["time_to_target_s"]
        faster = [x > y for x, y in zip(_reached(a), _reached(b), strict=False)]
        how = f"on {sum(faster)} of {len(faster)} paired seeds"
        if ratio > 1:
            return (
                f"**The whole recipe pays:** the last rung ({last.variant}) reaches {to} in "
                f"{b['time_to_target_s']:.3g} s of training against the baseline's "
                f"{a['time_to_target_s']:.3g} s ({fmt_times(ratio)} faster, sooner {how})."
            )
        return (
            f"**The whole recipe does not pay here:** the last rung ({last.variant}) needs "
            f"{b['time_to_target_s']:.3g} s to reach {to} against the baseline's "
            f"{a['time_to_target_s']:.3g} s (sooner {how}); see which rungs cost time above."
        )
    text = (
        f"**Not decided:** the last rung ({last.variant}) reached {to} on "
        f"{len(_reached(b))} of {seeds} seeds and the baseline on {len(_reached(a))} of "
        f"{_seeds(a)}, so their times to target cannot be compared."
    )
    lost = next(
        (
            (before, after)
            for before, after in itertools.pairwise(rungs)
            if len(_reached(after.extra_info)) < len(_reached(before.extra_info))
        ),
        None,
    )
    if lost is not None:
        before, after = lost
        acc_b, acc_a = before.extra_info.get("accuracy"), after.extra_info.get("accuracy")
        text += f" Why: seeds stop reaching it at {after.variant}"
        if isinstance(acc_a, float) and isinstance(acc_b, float):
            text += (
                f", whose final accuracy is {acc_a:.1%} against {acc_b:.1%} before it: in "
                f"{after.extra_info.get('epochs')} epochs that switch costs accuracy here"
            )
        text += "."
    elif not _reached(a):
        text += " Why: not even the baseline reaches it within the epochs budget."
    return text


def gap_lines(benches: Sequence[Bench]) -> list[str]:
    """Train against test accuracy per variant (the overfitting gap), where recorded."""
    lines = []
    for b in benches:
        train, test = _number(b.extra_info, "train_accuracy"), _number(b.extra_info, "accuracy")
        if train is not None and test is not None and not b.error:
            lines.append(
                f"- {b.variant}: training split {train:.1%} (without augmentation), test "
                f"{test:.1%}: a gap of {(train - test) * 100:.1f} pt"
            )
    return lines
