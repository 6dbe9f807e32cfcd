"""`visionbench`: gate a candidate run against a baseline, show histories, write reports.

    visionbench gate --baseline baseline --candidate latest
    visionbench history -k resnet --metric peak_mem_bytes
    visionbench history --changes                     # change points in every history
    visionbench report latest
    visionbench site                                  # reports/site/: every run, as a web site
    visionbench ab --baseline main -k model_size      # the working tree against main, measured now
    visionbench bisect v1.2 main -k train_step        # the commit of v1.2..main that slowed it
    visionbench ci pr                                 # a CI job: see `visionbench ci -h`
    visionbench merge shard1.json shard2.json         # one run from the runs of shards
    visionbench tune --budget 5                       # the fastest switches to a target here

This module parses the command line and hands each command to where it
lives: `gate` to visionbench.gate.run_gate, `ab` to visionbench.ab.command, `bisect`
to visionbench.ab.bisection,
`history` and `report` to visionbench.report, `site`, `history --changes`,
`history-branch` to visionbench.history.commands, `ci` to visionbench.ci, `merge` to
visionbench.measure.merge, `tune` to visionbench.tune.

Exit codes (gate, ab): 0 nothing regressed (inconclusive comparisons are said
loudly but pass), 1 a regression, a failed benchmark or lost coverage,
2 bad input (an unreadable or unknown run, mismatched machines, bad settings).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from visionbench import report
from visionbench.ab import bisection as bisect
from visionbench.ab import defaults as ab_defaults
from visionbench.ab import sides as ab_sides
from visionbench.ci import commands as ci_commands
from visionbench.core.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PASS, BadInput, say
from visionbench.gate.config import ConfigError, load_config
from visionbench.gate.run_gate import run_gate
from visionbench.history import commands as history_commands
from visionbench.measure import merge, results
from visionbench.measure.machines import machine_differences
from visionbench.measure.metrics import METRICS
from visionbench.measure.results import ResultsError
from visionbench.tune import command as tune_command


def cmd_gate(args: argparse.Namespace) -> int:
    return run_gate(
        args.baseline,
        args.candidate,
        args.storage,
        config_path=args.config,
        alpha=args.alpha,
        summary=args.summary,
        allow_machine_mismatch=args.allow_machine_mismatch,
        allow_missing=args.allow_missing,
    )


# -- history and report --------------------------------------------------------------


def cmd_history(args: argparse.Namespace) -> int:
    if args.changes:
        return history_commands.cmd_changes(args)
    args.metric = args.metric or "time"
    if args.metric not in METRICS:
        raise BadInput(f"unknown metric {args.metric!r}; known: {', '.join(METRICS)}")
    runs = results.machine_runs(args.storage, say)
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
        runs = results.machine_runs(args.storage, say)
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
    ci_commands.add_parsers(sub)
    merge.add_parser(sub, storage)
    tune_command.add_parser(sub)

    r = sub.add_parser("report", help="markdown and plots of a run and its history")
    r.add_argument("run", nargs="?", default="latest", help=f"{run_help} (default latest)")
    storage(r)
    r.add_argument("--out", type=Path, default=Path("reports"), help="default reports/")
    r.set_defaults(func=cmd_report)

    a = sub.add_parser(
        "ab",
        allow_abbrev=False,
        help="compare a baseline revision and the working tree, both measured here and now",
        usage="visionbench ab --baseline REV [options] [pytest args]",
        description="Compare the baseline revision REV (checked out in a temporary git "
        "worktree) and the working tree (uncommitted changes included), benchmark by "
        "benchmark: by default in blocks of round-interleaved pairs timed by two workers "
        "forked from one zygote (--lane time), or by instruction counts under valgrind "
        "(--lane instructions); then accuracy, memory and flags from one full run per side. "
        "Arguments it does not know go to pytest on both sides (-k, paths, --vb-* options). "
        "Exit 0: nothing regressed (inconclusive passes, with a warning); 1: a regression, a "
        "failed or a missing benchmark; 2: bad input (a REV that is not a commit, arguments "
        "pytest rejects, the instruction lane without valgrind).",
    )
    a.add_argument("--baseline", required=True, metavar="REV", help="a commit, branch or tag")
    ab_sides.add_arguments(a)  # --candidate REV, --baseline-python/-env, --candidate-python/-env
    a.add_argument(
        "--lane",
        choices=("time", "instructions"),
        default="time",
        help="time: round-interleaved blocks (default; CPU or GPU); instructions: callgrind "
        "counts of each unit (CPU runners whose timings no one controls)",
    )
    a.add_argument(
        "--budget",
        type=float,
        metavar="MINUTES",
        help="wall time of the whole invocation: set-up, lane and full runs (default 15; "
        "--calibrate: 5)",
    )
    a.add_argument(
        "--calibrate",
        action="store_true",
        help="run the baseline against itself through the lane for --budget minutes, print "
        "each benchmark's spreads and smallest provable change, save them for this machine",
    )
    a.add_argument(
        "--times-only",
        action="store_true",
        help="skip the full run per side that compares accuracy, memory and flags",
    )
    a.add_argument(
        "--max-blocks",
        type=int,
        default=ab_defaults.MAX_BLOCKS,
        help=f"most blocks per benchmark (default {ab_defaults.MAX_BLOCKS})",
    )
    a.add_argument(
        "--rounds",
        type=int,
        help=f"round-pairs per benchmark and block (default: about "
        f"{ab_defaults.ROUNDS_SECONDS:g} s of them, {ab_defaults.MIN_ROUNDS} to "
        f"{ab_defaults.MAX_ROUNDS})",
    )
    a.add_argument(
        "--threads",
        type=int,
        help="threads of every member (default 1 on 4 cores or fewer, else half the cores)",
    )
    a.add_argument(
        "--repeats",
        type=int,
        help=f"instruction counts per unit and side (default {ab_defaults.INSTRUCTION_REPEATS})",
    )
    a.add_argument(
        "--lock-clocks",
        action="store_true",
        help="lock each GPU's graphics clock for the invocation where NVML allows (off by "
        "default; the clocks are recorded either way)",
    )
    storage(a)
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
    bisect.add_parser(sub)
    return p


def cmd_ab(args: argparse.Namespace) -> int:
    from visionbench.ab.command import cmd_ab as run_ab

    return run_ab(args)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command not in ("ab", "bisect"):
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra  # `visionbench ab`, `bisect`: for pytest on both sides
    try:
        return args.func(args)
    except (ResultsError, ConfigError, BadInput) as exc:
        print(f"visionbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"visionbench {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
