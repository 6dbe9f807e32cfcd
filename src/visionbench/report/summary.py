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

A sweep (model size, resolution) has no best variant: its row is its Pareto front
(`report.tradeoffs`). A bound (the registry's `Technique.bounds`: adaptive selection's
oracle) is never a best variant: the row names the best deployable one, and apart what
the bound would give (its headroom over that variant).
Tolerances come from the gate's configuration (`[tool.visionbench.gate]`), per
benchmark as the gate reads them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tabulate import tabulate

from visionbench.gate.config import GateConfig
from visionbench.measure.format import fmt_times
from visionbench.measure.results import Bench, Run
from visionbench.report.evidence import (
    TimeEvidence,
    accuracy_difference,
    main_groups,
    memory_ratio,
    reached,
    seeds_run,
    split_bounds,
    split_reference,
    time_evidence,
)
from visionbench.report.tradeoffs import SWEEPS, trade_off_markdown, trade_off_row, trade_offs
from visionbench.stats.equivalence import (
    BETTER,
    SAME,
    UNRESOLVED,
    WORSE,
    Difference,
    Judgement,
    judge,
)


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
    bound: str = ""  # what a bound (not deployable) would give: its headroom over this one

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
        said = f"{said} ({self.note})" if self.note else said
        return f"{said}; {self.bound}" if self.bound else said


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


def bound_words(bound: Row, best: Row) -> str:
    """What a bound would give beside the best deployable variant: `oracle (a bound, not
    deployable) would be 2.24× faster, +1.2 pt: headroom 1.3× over premodel`."""
    words = f"{bound.variant} (a bound, not deployable)"
    if bound.time is None:
        return words + " has no time to compare"
    r = bound.time.ratio
    way = f"{fmt_times(1 / r)} faster" if r <= 1 else f"{fmt_times(r)} slower"
    points = f", {_points(bound.accuracy.change)}" if bound.accuracy is not None else ""
    text = f"{words} would be {way}{points}"
    if best.time is not None and r > 0:
        text += f": headroom {fmt_times(best.time.ratio / r)} over {best.variant}"
    return text


def best_row(benches: Sequence[Bench], where: str, config: GateConfig | None = None) -> Row | None:
    """The variant to switch on against its reference: the last rung of a ladder;
    otherwise the fastest variant whose accuracy is the same or better (proven), else
    the fastest whose accuracy is not resolved, else the fastest of all. Never a bound
    (`split_bounds`): the fastest bound is named beside the row, as its headroom."""
    ref, others = split_reference(benches)
    others, bounds = split_bounds(others)
    if ref is None or not others:
        return None
    best = _best_row(others, ref, where, config)
    bound_rows = [_row(b, ref, where) for b in bounds]
    if bound_rows:
        fastest = min(bound_rows, key=lambda r: r.time.ratio if r.time is not None else math.inf)
        best = dataclasses.replace(best, bound=bound_words(fastest, best))
    return best


def _best_row(others: Sequence[Bench], ref: Bench, where: str, config: GateConfig | None) -> Row:
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


# -- the rows ------------------------------------------------------------------------------


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


def _accuracy_cell(r: Row, config: GateConfig | None) -> str:
    judged = r.judgement(config)
    if judged is None or r.accuracy is None:
        return "-"
    return f"{_points(r.accuracy.change)}; {judged.text()}"


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
    table += [trade_off_row(t) for t in offs]
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
        "its Pareto front. A bound (not deployable) is never the best variant: what it "
        "would give is said beside the row.",
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
