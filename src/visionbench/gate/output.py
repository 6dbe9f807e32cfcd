"""What the gates print and write: tables, the markdown summary, the JSON.

Both gates end the same way (`publish`): a table on the terminal, the
markdown summary written atomically (and appended to `$GITHUB_STEP_SUMMARY`
when set, for the CI job's page) and, for the A/B gate, the JSON.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from visionbench import report
from visionbench.core.exits import EXIT_PASS, EXIT_REGRESSION, say, write_text_atomic
from visionbench.gate.config import POWER
from visionbench.gate.runs import Comparison, counts, is_failure
from visionbench.measure.results import Run
from visionbench.stats.paired import Sequential, provable_change


def publish(
    summary_path: Path,
    summary: str,
    json_path: Path | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """The markdown summary (and the JSON) written whole or not at all, the summary also
    appended to $GITHUB_STEP_SUMMARY. A failed write is a warning: the verdict stands."""
    try:
        write_text_atomic(summary_path, summary)
        say(f"summary written to {summary_path}")
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(summary + "\n")
        if json_path is not None and data is not None:
            write_text_atomic(json_path, json.dumps(data, indent=2))
            say(f"results written to {json_path}")
    except OSError as exc:
        say(f"warning: could not write the summary or the results: {exc}")


def comparison_table(rows: Sequence[Comparison], markdown: bool = False) -> str:
    """The run-against-run rows (deterministic figures, missing, failed, new)."""
    if markdown:
        return tabulate(
            report.gate_table_rows(rows),
            headers=[*report.GATE_HEADERS, "detail"],
            tablefmt="github",
        )
    return tabulate(report.gate_table_rows(rows, detail=False), headers=report.GATE_HEADERS)


# -- run against run ----------------------------------------------------------------


def gate_verdict(rows: Sequence[Comparison], allow_missing: bool) -> tuple[int, str, list[str]]:
    """(exit code, headline, warnings) of `visionbench gate` for its rows."""
    n = counts(rows)
    failed = [r for r in rows if is_failure(r, allow_missing)]
    parts = ", ".join(f"{count} {verdict}" for verdict, count in n.items() if count)
    code = EXIT_REGRESSION if failed else EXIT_PASS
    headline = f"gate {'FAILED' if failed else 'passed'}: {parts or 'nothing compared'}"
    warnings = []
    inconclusive = [r for r in rows if r.verdict == "inconclusive"]
    if inconclusive:
        easiest = min(inconclusive, key=lambda r: r.detectable or 0)
        hardest = max(inconclusive, key=lambda r: r.detectable or 0)
        warnings.append(
            f"WARNING: {len(inconclusive)} comparison(s) INCONCLUSIVE: the noise between runs "
            f"is larger than the tolerance, so a regression of that size could not be seen "
            f"(they could only have flagged changes of {report.fmt_detectable(easiest)} to "
            f"{report.fmt_detectable(hardest)}). They pass because nothing was proven, not "
            f"because nothing changed: save more baseline runs, or use a quieter machine."
        )
    if n["missing"] and allow_missing:
        warnings.append(f"WARNING: {n['missing']} benchmark(s) missing, allowed by --allow-missing")
    return code, headline, warnings


def gate_markdown(
    baseline: Run,
    candidate: Run,
    rows: Sequence[Comparison],
    headline: str,
    warnings: Sequence[str],
    history: Sequence[Run],
    allow_missing: bool,
) -> str:
    notable = [r for r in rows if r.verdict != "unchanged"]
    lines = [
        "## visionbench gate",
        "",
        f"**{headline}**",
        "",
        *(f"> {w}\n" for w in warnings),
        f"- baseline: `{baseline.label}` ({baseline.date}, commit {baseline.commit or '?'})",
        f"- candidate: `{candidate.label}` ({candidate.date}, commit {candidate.commit or '?'})",
        f"- noise history: {len(history)} comparable run(s) up to the baseline",
        f"- missing benchmarks {'allowed' if allow_missing else 'fail the gate'}",
        "",
    ]
    if notable:
        lines += [comparison_table(notable, markdown=True), ""]
    lines += [
        f"<details><summary>all {len(rows)} comparisons</summary>",
        "",
        comparison_table(rows, markdown=True),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


# -- A/B --------------------------------------------------------------------------------


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


BASELINE_FAILED = "in the baseline: "  # a failure of the baseline's side alone
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


def comparison_json(rows: Sequence[Comparison]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.benchmark,
            "metric": r.metric,
            "ratio": None,
            "ci_low": None,
            "ci_high": None,
            "p_value": r.p_value,
            "verdict": r.verdict,
            "baseline": r.baseline,
            "candidate": r.candidate,
            "change": r.change,
            "note": r.note,
        }
        for r in rows
    ]
