"""`visionbench`: gate a candidate run against a baseline, show histories, write reports.

    visionbench gate --baseline baseline --candidate latest
    visionbench history -k resnet --metric peak_mem_bytes
    visionbench history --changes                     # change points in every history
    visionbench report latest
    visionbench site                                  # reports/site/: every run, as a web site
    visionbench ab --baseline main -k model_size      # the working tree against main, in pairs

Exit codes (gate): 0 nothing regressed (inconclusive comparisons are said
loudly but pass), 1 a regression, a failed benchmark or lost coverage,
2 bad input (an unreadable or unknown run, mismatched machines, bad settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from visionbench import report, results
from visionbench.gate.config import ConfigError, GateConfig, load_config
from visionbench.gate.machines import comparable_history, machine_differences
from visionbench.gate.runs import Comparison, compare_runs, counts, is_failure, pair_shifts
from visionbench.history import commands as history_commands
from visionbench.metrics import METRICS
from visionbench.results import ResultsError, Run

EXIT_PASS, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """Anything that makes the comparison meaningless: exit 2."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- gate ----------------------------------------------------------------------------


def noise_history(baseline: Run, candidate: Run, config: GateConfig) -> list[Run]:
    """The baseline and the comparable runs saved before it (unreadable ones are skipped)."""
    if baseline.number is None or config.lookback <= 1:
        return [baseline]
    earlier = [
        p
        for p in results.run_files(baseline.path.parent)
        if results.RUN_FILE.match(p.name)
        and int(p.name[:4]) < baseline.number
        and p.resolve() != candidate.path.resolve()
    ]
    earlier = earlier[-3 * config.lookback :]  # a bound on the reading; most will match
    if earlier:
        say(f"reading {len(earlier)} earlier runs for the between-run noise history...")
    errors: list[ResultsError] = []
    runs = []
    for i, path in enumerate(earlier, 1):
        try:
            runs.append(results.load(path))
        except ResultsError as exc:
            errors.append(exc)
        if i % 10 == 0:
            say(f"  {i}/{len(earlier)}")
    for exc in errors:
        say(f"warning: skipped from the history: {exc}")
    return comparable_history(baseline, runs, config.lookback)


def markdown_summary(
    baseline: Run,
    candidate: Run,
    rows: Sequence[Comparison],
    headline: str,
    warnings: Sequence[str],
    history: Sequence[Run],
    allow_missing: bool,
) -> str:
    def table(selected: Sequence[Comparison]) -> str:
        return tabulate(
            report.gate_table_rows(selected),
            headers=[*report.GATE_HEADERS, "detail"],
            tablefmt="github",
        )

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
        lines += [table(notable), ""]
    lines += [
        f"<details><summary>all {len(rows)} comparisons</summary>",
        "",
        table(rows),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def summarise(rows: Sequence[Comparison], allow_missing: bool) -> tuple[int, str, list[str]]:
    """(exit code, headline, warnings) for the rows."""
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


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def cmd_gate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.alpha is not None:
        if not 0 < args.alpha < 0.5:
            raise ConfigError(f"--alpha must be between 0 and 0.5, got {args.alpha}")
        config = dataclasses.replace(config, alpha=args.alpha)
    say(f"loading baseline {args.baseline!r} and candidate {args.candidate!r}...")
    baseline = results.load_run(args.baseline, args.storage)
    candidate = results.load_run(args.candidate, args.storage)
    say(f"baseline: {baseline.path}\ncandidate: {candidate.path}")
    if baseline.path.resolve() == candidate.path.resolve():
        say("warning: the baseline and the candidate are the same run")
    diffs = machine_differences(baseline, candidate)
    if diffs:
        listing = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in diffs.items())
        if not args.allow_machine_mismatch:
            raise BadInput(
                f"the runs come from different machines or settings ({listing}); "
                "comparing them would measure the machines. Pass --allow-machine-mismatch "
                "to compare anyway."
            )
        say(f"warning: machines differ ({listing}); compared anyway")
    history = noise_history(baseline, candidate, config)
    rows = compare_runs(baseline, candidate, config, history)

    code, headline, warnings = summarise(rows, args.allow_missing)
    moved = pair_shifts(baseline, candidate, config).get("time")
    if moved is not None:
        warnings.insert(0, f"time: {moved.describe()} (machine load, or a change to all)")
    print(tabulate(report.gate_table_rows(rows, detail=False), headers=report.GATE_HEADERS))
    print()
    for warning in warnings:
        print(warning)
    print(headline)
    summary = markdown_summary(
        baseline, candidate, rows, headline, warnings, history, args.allow_missing
    )
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    try:
        write_text_atomic(args.summary, summary)
        say(f"summary written to {args.summary}")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(summary + "\n")
    except OSError as exc:  # the verdict stands; only its copy is lost
        say(f"warning: could not write the markdown summary: {exc}")
    return code


# -- history and report --------------------------------------------------------------


def machine_runs(storage: Path) -> list[Run]:
    """All readable runs of this machine's storage folder, oldest first (with progress)."""
    folder = results.machine_folder(storage)
    files = results.run_files(folder)
    if not files:
        raise ResultsError(f"benchmark storage {folder} holds no saved runs")
    say(f"reading {len(files)} saved runs from {folder}...")
    errors: list[ResultsError] = []
    runs = list(results.load_history(folder, errors))
    for exc in errors:
        say(f"warning: skipped: {exc}")
    if not runs:
        raise ResultsError(f"no readable run in {folder}")
    return runs


def cmd_history(args: argparse.Namespace) -> int:
    if args.changes:
        return history_commands.cmd_changes(args)
    args.metric = args.metric or "time"
    if args.metric not in METRICS:
        raise BadInput(f"unknown metric {args.metric!r}; known: {', '.join(METRICS)}")
    runs = machine_runs(args.storage)
    if args.last < 1:
        raise BadInput(f"--last must be at least 1, not {args.last}")
    headers, rows = report.history_table(runs, args.metric, args.k, args.last)
    if not rows:
        raise BadInput(f"no benchmark matches -k {args.k!r}")
    label = "median time per unit" if args.metric == "time" else args.metric
    shown = min(args.last, len(runs))
    print(f"{label}: the newest {shown} of {len(runs)} saved runs, oldest on the left")
    print(tabulate(rows, headers=headers, disable_numparse=True))
    return EXIT_PASS


def cmd_report(args: argparse.Namespace) -> int:
    run = results.load_run(args.run, args.storage)
    try:
        runs = machine_runs(args.storage)
    except ResultsError:
        runs = []
    history = [r for r in runs if not machine_differences(run, r)]
    if not any(r.path.resolve() == run.path.resolve() for r in history):
        history.append(run)
    history.sort(key=lambda r: (r.number or 0, r.datetime))
    out = args.out / run.label
    config = load_config()
    print(report.summary_text(run, config))
    say(f"writing the report of {run.label} ({len(history)} runs of history) to {out}...")
    path = report.write_report(run, history, out, config)
    print(f"report: {path}")
    return EXIT_PASS


# -- entry point ---------------------------------------------------------------------


def storage_arg(text: str) -> Path:
    try:
        return results.storage_path(text)
    except ResultsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="visionbench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    run_help = "a run file, an id (0003), a saved name (baseline) or latest"

    def storage(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--storage",
            type=storage_arg,
            default=results.DEFAULT_STORAGE,
            help="pytest-benchmark storage: DIR or file://DIR (default .benchmarks)",
        )

    g = sub.add_parser(
        "gate",
        help="compare a candidate run with a baseline run",
        description="Compare a candidate run with a baseline run, benchmark by benchmark and "
        "metric by metric. Exit 0: nothing regressed (inconclusive comparisons pass, with a "
        "warning); 1: a regression, a failed benchmark or a missing one; 2: bad input.",
    )
    g.add_argument("--baseline", default="baseline", help=f"{run_help} (default baseline)")
    g.add_argument("--candidate", default="latest", help=f"{run_help} (default latest)")
    storage(g)
    g.add_argument("--config", type=Path, help="pyproject.toml with [tool.visionbench.gate]")
    g.add_argument(
        "--summary",
        type=Path,
        default=Path("reports/gate.md"),
        help="markdown summary file (default reports/gate.md)",
    )
    g.add_argument(
        "--allow-machine-mismatch",
        action="store_true",
        help="compare runs whose machine fingerprints differ",
    )
    g.add_argument(
        "--allow-missing",
        action="store_true",
        help="benchmarks missing from the candidate do not fail the gate",
    )
    g.add_argument("--alpha", type=float, help="significance level (overrides the config)")
    g.set_defaults(func=cmd_gate)

    h = sub.add_parser("history", help="one metric across all saved runs of this machine")
    h.add_argument("-k", help="benchmarks whose name contains this (or matches this glob)")
    h.add_argument("--metric", help="a metric name (default time: median)")
    h.add_argument(
        "-n", "--last", type=int, default=5, metavar="N", help="the newest N runs (default 5)"
    )
    h.add_argument(
        "--changes",
        action="store_true",
        help="list the change points of every figure's history, on every machine",
    )
    storage(h)
    h.set_defaults(func=cmd_history)
    history_commands.add_parsers(sub, storage)

    r = sub.add_parser("report", help="markdown and plots of a run and its history")
    r.add_argument("run", nargs="?", default="latest", help=f"{run_help} (default latest)")
    storage(r)
    r.add_argument("--out", type=Path, default=Path("reports"), help="default reports/")
    r.set_defaults(func=cmd_report)

    a = sub.add_parser(
        "ab",
        allow_abbrev=False,
        help="time a baseline revision and the working tree in interleaved pairs",
        usage="visionbench ab --baseline REV [options] [pytest args]",
        description="Time the baseline revision REV (checked out in a temporary git worktree) "
        "and the working tree (uncommitted changes included) in pairs of fresh processes, and "
        "judge each benchmark's time ratio from the paired log-ratios. Arguments it does not "
        "know go to pytest on both sides (-k, paths, --vb-* options). Exit 0: nothing "
        "regressed (inconclusive passes, with a warning); 1: a regression, a failed or a "
        "missing benchmark; 2: bad input (a REV that is not a commit, arguments pytest rejects).",
    )
    a.add_argument("--baseline", required=True, metavar="REV", help="a commit, branch or tag")
    a.add_argument(
        "--budget",
        type=float,
        default=15.0,
        metavar="MINUTES",
        help="wall time of the whole comparison; pairs stop when the next would not fit "
        "(default 15)",
    )
    a.add_argument(
        "--max-pairs", type=int, default=64, help="most pairs per benchmark (default 64)"
    )
    a.add_argument(
        "--times-only",
        action="store_true",
        help="skip the full run per side that compares accuracy, memory and flags",
    )
    a.add_argument(
        "--quantile",
        type=float,
        help="a process's figure: this quantile of its rounds (default 0.5, the median)",
    )
    a.add_argument("--seed", type=int, help="seed of the pairs' order (default: random)")
    a.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    a.add_argument(
        "--summary",
        type=Path,
        default=Path("reports/ab.md"),
        help="markdown summary file (default reports/ab.md)",
    )
    a.add_argument("--config", type=Path, help="pyproject.toml with [tool.visionbench.gate]")
    a.add_argument("--alpha", type=float, help="significance level (overrides the config)")
    a.add_argument(
        "--allow-missing",
        action="store_true",
        help="benchmarks missing from the candidate do not fail the gate",
    )
    a.set_defaults(func=cmd_ab)
    return p


def cmd_ab(args: argparse.Namespace) -> int:
    from visionbench.gate.ab import cmd_ab as run_ab  # imports this module

    return run_ab(args)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "ab":
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra  # `visionbench ab`: for pytest on both sides
    try:
        return args.func(args)
    except (ResultsError, ConfigError, BadInput) as exc:
        print(f"visionbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"visionbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # `python -m visionbench.cli`: the imported module's main, whose BadInput is the one
    # visionbench.gate.ab raises (this __main__ copy has a class of its own)
    from visionbench import cli

    sys.exit(cli.main())
