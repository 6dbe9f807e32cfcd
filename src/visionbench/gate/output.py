"""What the gates print and write: the run-against-run table and summary, and how
both gates end (`publish`): a table on the terminal, the markdown summary written
atomically (and appended to `$GITHUB_STEP_SUMMARY` when set, for the CI job's page)
and, for the A/B gate, the JSON (`visionbench.ab.output` arranges its own).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from visionbench.core.exits import EXIT_PASS, EXIT_REGRESSION, say
from visionbench.core.files import write_json_atomic, write_text_atomic
from visionbench.gate.runs import Comparison, counts, is_failure
from visionbench.measure.format import fmt_value, short_name
from visionbench.measure.metrics import METRICS
from visionbench.measure.results import Run


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
            write_json_atomic(json_path, data)
            say(f"results written to {json_path}")
    except OSError as exc:
        say(f"warning: could not write the summary or the results: {exc}")


# -- the table -------------------------------------------------------------------------


def fmt_change(row: Comparison) -> str:
    if row.change is None:
        return ""
    if row.metric in METRICS and METRICS[row.metric].kind == "accuracy":
        return f"{row.change * 100:+.1f} pt"
    return f"{row.change:+.1%}"


def fmt_detectable(row: Comparison) -> str:
    """The smallest change an inconclusive comparison could have flagged."""
    d = row.detectable
    if d is None or math.isinf(d):
        return "unknown"
    if row.metric in METRICS and METRICS[row.metric].kind == "accuracy":
        return f"{d * 100:.1f} pt"
    return f"{d:+.0%}" if d < 1 else f"{d + 1:.3g}×"


def fmt_p(p: float | None) -> str:
    if p is None:
        return ""
    return f"{p:.2g}" if p >= 1e-4 else "<1e-4"


HEADERS = ["benchmark", "metric", "baseline", "candidate", "change", "p-value", "verdict"]


def table_rows(rows: Sequence[Comparison], detail: bool = True) -> list[list[str]]:
    out = []
    for r in rows:
        verdict = r.verdict
        if r.detectable is not None:
            verdict += f" (detectable: {fmt_detectable(r)})"
        line = [
            short_name(r.benchmark),
            r.metric,
            fmt_value(r.metric, r.baseline),
            fmt_value(r.metric, r.candidate),
            fmt_change(r),
            fmt_p(r.p_value),
            verdict,
        ]
        if detail:
            line.append(r.note)
        out.append(line)
    return out


def comparison_table(rows: Sequence[Comparison], markdown: bool = False) -> str:
    """The run-against-run rows (deterministic figures, missing, failed, new)."""
    if markdown:
        return tabulate(
            table_rows(rows),
            headers=[*HEADERS, "detail"],
            tablefmt="github",
        )
    return tabulate(table_rows(rows, detail=False), headers=HEADERS)


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
            f"(they could only have flagged changes of {fmt_detectable(easiest)} to "
            f"{fmt_detectable(hardest)}). They pass because nothing was proven, not "
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
