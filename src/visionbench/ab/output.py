"""What `visionbench ab` prints and writes: its tables, the markdown summary, the JSON.

The pieces both gates share (the rows of deterministic figures, `publish`) are
in `gate.output`; this is the A/B gate's own arrangement of them: the lane's
table, the line that states the smallest change the run could prove, how the
minutes went, and the JSON described in the README.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from visionbench.ab import instructions
from visionbench.gate.output import (
    BASELINE_FAILED,
    TIME_HEADERS,
    ab_verdict,
    comparison_json,
    comparison_table,
    inconclusive_warning,
    provable_summary,
    publish,
    time_json,
    time_rows,
)


def to_json(gate: Any, headline: str, code: int, rev: str) -> dict[str, Any]:
    o, s = gate.outcome, gate.settings
    return {
        "baseline": gate.commit,
        "baseline_rev": rev,
        "candidate": gate.candidate.label,
        "lane": s.lane,
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
    return (
        f"- lane: time, {o.time.samples} block(s) of round-interleaved pairs (two workers "
        f"forked from one zygote per block, {gate.settings.threads} thread(s) each; ASLR "
        f"{gate.pinned.aslr if gate.pinned else '?'}); a block's figure: the median log-ratio "
        f"of its round-pairs; ratio candidate/baseline with its interval (Hodges–Lehmann, "
        f"simultaneous), Wilcoxon signed-rank p Holm-adjusted, one-sided alpha "
        f"{gate.config.alpha} spent across looks"
    )


def markdown(gate: Any, headline: str, warnings: Sequence[str], rev: str) -> str:
    o = gate.outcome
    lines = [
        "## visionbench A/B gate",
        "",
        f"**{headline}**",
        "",
        *(f"> {w}\n" for w in [*o.warnings, *warnings]),
        f"- baseline: `{rev}` ({gate.commit[:12]}), in a temporary worktree",
        f"- candidate: the working tree, {gate.candidate.label}",
        lane_line(gate),
        f"- {provable_summary(o.time, gate.config.alpha, o.instructions)}",
        f"- {gate.minutes.line(gate.settings.budget_s)}",
        *(f"- {n}" for n in o.notes),
        "",
    ]
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
