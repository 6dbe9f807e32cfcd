"""What `visionbench ab` prints and writes: its tables, the markdown summary, the JSON.

The pieces both gates share (the rows of deterministic figures, `publish`) are
in `gate.output`; here are the A/B gate's own: the lane's rows and table, the
line that states the smallest change the run could prove, the verdict, how the
minutes went, and the JSON described in the README.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from visionbench.ab import instructions, sides
from visionbench.ab.processes import BASELINE_FAILED
from visionbench.ab.worktree import PREFIX
from visionbench.core.exits import EXIT_PASS, EXIT_REGRESSION
from visionbench.gate.output import comparison_json, comparison_table, publish
from visionbench.gate.runs import Comparison, is_failure
from visionbench.stats.defaults import POWER
from visionbench.stats.paired import provable_change
from visionbench.stats.sequential import Sequential


def short(name: str) -> str:
    return name.split("::")[-1]


def interval(low: float, high: float) -> str:
    if low <= 0 and math.isinf(high):
        return "unbounded (too few blocks)"
    return f"{low:.3f}x to {'inf' if math.isinf(high) else f'{high:.3f}x'}"


def provable_pct(change: float) -> str:
    """The smallest provable change, said: inf (too few samples for the exact test to
    reject at all) is "not provable", never a figure."""
    return "not provable" if math.isinf(change) else f"{change:.1%}"


def finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


TIME_HEADERS = [
    "benchmark",
    "metric",
    "ratio",
    "interval",
    "p-value",
    "blocks",
    "sd block",
    "sd round-pair",
    "provable",
    "verdict",
]


def failed_verdict(why: str) -> str:
    """Failed in the candidate (fails the gate), or in the baseline alone (reported)."""
    return "baseline failed" if why.startswith(BASELINE_FAILED) else "failed"


def provable(seq: Sequential, name: str, alpha: float) -> float:
    """The smallest change the blocks of `name` could prove (power 0.9, the gate's alpha
    shared by the selection): what the gate can see, whatever the verdict."""
    j = seq.judgements[name]
    tests = max(1, len(seq.judgements) + len(seq.failed))
    return provable_change(j.sigma_d, j.pairs, alpha, POWER, tests)


def time_rows(
    seq: Sequential, round_pair_sd: Mapping[str, float | None], alpha: float
) -> list[list[Any]]:
    """One row per benchmark the timing lane judged, and per failed one."""
    rows: list[list[Any]] = []
    for name, j in seq.judgements.items():
        sd = round_pair_sd.get(name)
        rows.append(
            [
                short(name),
                "time",
                f"{j.ratio:.3f}x",
                interval(j.ci_low, j.ci_high),
                f"{j.p_value:.2g}",
                j.pairs,
                "-" if j.sigma_d is None else f"{j.sigma_d:.3f}",
                "-" if sd is None else f"{sd:.3f}",
                provable_pct(provable(seq, name, alpha)),  # what an inconclusive one misses
                j.verdict,
            ]
        )
    for name, why in seq.failed.items():
        rows.append([short(name), "time", *[""] * 7, f"{failed_verdict(why)}: {why[:80]}"])
    return rows


def provable_summary(seq: Sequential, alpha: float, counted: Sequence[Any] = ()) -> str:
    """One line for the job summary: the smallest change this run could prove."""
    if counted:
        tols = sorted(v.tolerance for v in counted)
        span = f"±{tols[0]:.2%}" if tols[0] == tols[-1] else f"±{tols[0]:.2%} to ±{tols[-1]:.2%}"
        return f"smallest change provable: the instruction tolerance, {span} of instructions"
    seen = {n: provable(seq, n, alpha) for n in seq.judgements}
    if not seen:
        return "smallest change provable: nothing was compared"
    lo, hi = min(seen, key=seen.__getitem__), max(seen, key=seen.__getitem__)
    head = (
        f"smallest change provable by these blocks (power {POWER:g}, one-sided alpha {alpha} "
        f"shared by {len(seen)})"
    )
    if math.isinf(seen[lo]):
        blocks = max(j.pairs for j in seq.judgements.values())
        return f"{head}: none, with {blocks} block(s) (the exact test needs more)"
    return (
        f"{head}: {provable_pct(seen[lo])} ({short(lo)}) to {provable_pct(seen[hi])} ({short(hi)})"
    )


def ab_verdict(
    verdicts: Sequence[str],
    failed: Mapping[str, str],
    rows: Sequence[Comparison],
    allow_missing: bool,
) -> tuple[int, str]:
    """(exit code, headline) of `visionbench ab` from the lane's verdicts, its failures
    and the rows of deterministic figures and coverage."""
    verdicts = list(verdicts)
    # a bench that failed in the candidate fails the gate; one that failed in the
    # baseline alone is reported (the baseline's trouble is not the change's)
    verdicts += [failed_verdict(why) for why in failed.values()]
    failing = [v for v in verdicts if v in ("regression", "failed")]
    failing += [r for r in rows if is_failure(r, allow_missing)]
    tally: dict[str, int] = {}
    for v in [*verdicts, *(r.verdict for r in rows)]:
        tally[v] = tally.get(v, 0) + 1
    parts = ", ".join(f"{n} {v}" for v, n in tally.items())
    code = EXIT_REGRESSION if failing else EXIT_PASS
    return code, f"A/B gate {'FAILED' if failing else 'passed'}: {parts or 'nothing compared'}"


def inconclusive_warning(seq: Sequential) -> str | None:
    undecided = [j for j in seq.judgements.values() if j.verdict == "inconclusive"]
    if not undecided:
        return None
    return (
        f"WARNING: {len(undecided)} time comparison(s) INCONCLUSIVE after "
        f"{min(j.pairs for j in undecided)}-{max(j.pairs for j in undecided)} blocks: "
        "the blocks' noise was too large to decide at the tolerance within the budget. "
        "They pass because nothing was proven, not because nothing changed: give a "
        "larger --budget, or select fewer benchmarks."
    )


def time_json(
    seq: Sequential,
    figures: Mapping[str, Mapping[str, Sequence[float]]],
    round_pair_sd: Mapping[str, float | None],
    alpha: float,
) -> list[dict[str, Any]]:
    """The JSON of each benchmark the timing lane judged or failed; `figures`: per side,
    per benchmark, each block's median seconds of one call."""
    out = []
    for name, j in seq.judgements.items():
        base = figures["baseline"].get(name, [])
        cand = figures["candidate"].get(name, [])
        out.append(
            {
                "name": name,
                "metric": "time",
                "ratio": j.ratio,
                "ci_low": finite(j.ci_low),
                "ci_high": finite(j.ci_high),
                "confidence": j.confidence,
                "p_value": j.p_value,
                "p_raw": j.p_raw,
                "blocks": j.pairs,
                "verdict": j.verdict,
                "sigma_block": j.sigma_d,
                "sigma_round_pair": round_pair_sd.get(name),
                "tolerance": j.tolerance,
                "detectable": finite(j.detectable),
                "provable": finite(provable(seq, name, alpha)),
                "baseline_s": float(statistics.median(base)) if base else None,
                "candidate_s": float(statistics.median(cand)) if cand else None,
                "log_ratios": list(seq.logs.get(name, [])),
            }
        )
    for name, why in seq.failed.items():
        out.append(
            {
                "name": name,
                "metric": "time",
                "ratio": None,
                "ci_low": None,
                "ci_high": None,
                "p_value": None,
                "blocks": len(seq.logs.get(name, [])),
                "verdict": failed_verdict(why),
                "note": why,
            }
        )
    return out


def to_json(gate: Any, headline: str, code: int, rev: str) -> dict[str, Any]:
    o, s = gate.outcome, gate.settings
    return {
        "baseline": gate.commit,
        "baseline_rev": rev,
        "candidate": gate.candidate.label,
        "lane": s.lane,
        "sides": sides.to_json(gate.baseline, gate.candidate, gate.environments),
        "blocks": o.time.samples,
        "seconds": round(gate.minutes.elapsed(), 1),
        "minutes": gate.minutes.record(),
        "environment": gate.pinned.record() if gate.pinned else {},
        "machine": {**gate.machine, **({"gpu_clocks": gate.gpu_clocks} if gate.gpu_clocks else {})},
        "alpha": gate.config.alpha,
        "budget_s": s.budget_s,
        "max_blocks": s.max_blocks,
        "headline": headline,
        "exit_code": code,
        "notes": o.notes,
        "not_timed": o.not_timed,
        "benchmarks": [
            *time_json(o.time, o.figures, o.round_pair_sd, gate.config.alpha),
            *(instructions.to_json(v) for v in o.instructions),
            *(
                {
                    "name": n,
                    "metric": instructions.METRIC,
                    "verdict": "failed"
                    if not why.startswith(BASELINE_FAILED)
                    else "baseline failed",
                    "note": why,
                }
                for n, why in o.instruction_failed.items()
            ),
            *comparison_json(o.rows),
        ],
        "block_records": o.blocks,
    }


def lane_line(gate: Any) -> str:
    s, o = gate.settings, gate.outcome
    if s.lane == "instructions":
        return (
            f"- lane: instructions (callgrind, one thread, {s.repeats} counts per unit and side; "
            f"a regression beyond the tolerance: the smallest change this lane flags)"
        )
    forked = "a zygote per side" if gate.two_zygotes else "one zygote"
    return (
        f"- lane: time, {o.time.samples} block(s) of round-interleaved pairs (two workers "
        f"forked from {forked} per block, {gate.settings.threads} thread(s) each; ASLR "
        f"{gate.pinned.aslr if gate.pinned else '?'}); a block's figure: the median log-ratio "
        f"of its round-pairs; ratio candidate/baseline with its interval (Hodges–Lehmann, "
        f"simultaneous), Wilcoxon signed-rank p Holm-adjusted, one-sided alpha "
        f"{gate.config.alpha} spent across looks"
    )


DIFFER = "What differs between the sides besides the tree:"
SIDE_HEADERS = ["", "baseline", "candidate"]


def candidate_words(gate: Any) -> str:
    """The candidate: the working tree, or a revision in a worktree of its own."""
    if gate.candidate.root.parent.name.startswith(PREFIX):
        return f"`{gate.candidate.label}`, in a temporary worktree"
    return f"the working tree, {gate.candidate.label}"


def markdown(gate: Any, headline: str, warnings: Sequence[str], rev: str) -> str:
    o = gate.outcome
    lines = [
        "## visionbench A/B gate",
        "",
        f"**{headline}**",
        "",
        *(f"> {w}\n" for w in [*o.warnings, *warnings]),
        f"- baseline: `{rev}` ({gate.commit[:12]}), in a temporary worktree",
        f"- candidate: {candidate_words(gate)}",
        lane_line(gate),
        f"- {provable_summary(o.time, gate.config.alpha, o.instructions)}",
        f"- {gate.minutes.line(gate.settings.budget_s)}",
        *(f"- {n}" for n in o.notes),
        "",
    ]
    if rows := sides.differences(gate.baseline, gate.candidate, gate.environments):
        lines += [DIFFER, "", tabulate(rows, headers=SIDE_HEADERS, tablefmt="github"), ""]
    if o.time.judgements or o.time.failed:
        table = time_rows(o.time, o.round_pair_sd, gate.config.alpha)
        lines += [tabulate(table, headers=TIME_HEADERS, tablefmt="github"), ""]
    if o.instructions:
        lines += [
            tabulate(
                instructions.rows(o.instructions), headers=instructions.HEADERS, tablefmt="github"
            ),
            "",
        ]
    if o.rows:
        lines += [
            "Deterministic figures and coverage:",
            "",
            comparison_table(o.rows, markdown=True),
            "",
        ]
    return "\n".join(lines)


def report(gate: Any, args: Any) -> int:
    o = gate.outcome
    failed = {**o.time.failed, **o.instruction_failed}
    verdicts = [j.verdict for j in o.time.judgements.values()]
    verdicts += [v.verdict for v in o.instructions]
    code, headline = ab_verdict(verdicts, failed, o.rows, args.allow_missing)
    warnings = [w for w in (inconclusive_warning(o.time),) if w]
    warnings += [f"NOTE: {n}" for n in sides.limitation_notes(gate.environments)]
    noisy = [v.name for v in o.instructions if v.verdict == "inconclusive"]
    if noisy:
        warnings.append(
            f"WARNING: {len(noisy)} instruction count(s) INCONCLUSIVE: the repeats vary "
            "about as much as the tolerance (a unit whose work varies call to call); they "
            "pass, unproven"
        )
    if o.not_timed:
        warnings.append(
            f"WARNING: {len(o.not_timed)} benchmark(s) not in this lane (timed by "
            f"their own clock, in other processes): "
            f"{', '.join(sorted(o.not_timed))[:300]}"
        )
    if rows := sides.differences(gate.baseline, gate.candidate, gate.environments):
        print(f"{DIFFER}\n{tabulate(rows, headers=SIDE_HEADERS)}\n")
    if o.time.judgements or o.time.failed:
        print(tabulate(time_rows(o.time, o.round_pair_sd, gate.config.alpha), headers=TIME_HEADERS))
        print()
    if o.instructions:
        print(tabulate(instructions.rows(o.instructions), headers=instructions.HEADERS))
        print()
    if o.rows:
        print(comparison_table(o.rows))
        print()
    for w in [*o.warnings, *warnings]:
        print(w)
    print(provable_summary(o.time, gate.config.alpha, o.instructions))
    print(gate.minutes.line(gate.settings.budget_s))
    print(headline)
    publish(
        args.summary,
        markdown(gate, headline, warnings, args.baseline),
        args.json,
        to_json(gate, headline, code, args.baseline),
    )
    return code
