"""The history's commands: `visionbench site`, `history --changes`, `history-branch`.
`add_parsers` adds them to the `visionbench` parser; the heavy modules
(plotly, ruptures) are imported only by the command that needs them.

    visionbench site [--storage DIR] [--out reports/site] [--reports N] [--tune reports/tune]
    visionbench history --changes [-k PATTERN] [--metric NAME] [--storage DIR]
    visionbench history-branch push [RUN ...]          # main's CI: append runs to the branch
    visionbench history-branch pull --like latest      # main's runs, and this run's folder
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

from visionbench.core.exits import EXIT_BAD_INPUT, EXIT_PASS, say
from visionbench.gate.config import load_config
from visionbench.history.branch import DEFAULT_BRANCH
from visionbench.measure import results
from visionbench.measure.results import ResultsError
from visionbench.tune.output import OUT_DIR as TUNE_DIR


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _fmt_size(n: int) -> str:
    from visionbench.measure.format import fmt_bytes

    return fmt_bytes(n)


# -- visionbench site ----------------------------------------------------------------------


def cmd_site(args: argparse.Namespace) -> int:
    from visionbench.history.series import read_history
    from visionbench.history.site import write_site

    if args.reports is not None and args.reports < 0:
        raise ResultsError(f"--reports must be 0 or more, not {args.reports}")
    history = read_history(args.storage, say)
    for machine in history.machines:
        say(f"  {machine.label} ({machine.key}): {len(machine.runs)} runs")
    written = write_site(history, args.out, load_config(), args.reports, say, args.tune)
    rows = [[str(w.path), w.what, _fmt_size(_size(w.path))] for w in written]
    print(tabulate(rows, headers=["wrote", "what", "size"]))
    if history.skipped:
        print(f"skipped {len(history.skipped)} unreadable run file(s): see the warnings above")
    print(f"open {(args.out / 'index.html').resolve().as_uri()}")
    return EXIT_PASS


# -- visionbench history --changes ---------------------------------------------------------


def cmd_changes(args: argparse.Namespace) -> int:
    """The change points of every figure's history, per machine, as a table."""
    from visionbench.history.changes import MIN_RUNS, scan
    from visionbench.history.series import FIGURES, all_series, read_history
    from visionbench.measure.format import short_name
    from visionbench.report.history import matches

    if args.metric is not None and args.metric not in FIGURES:
        raise ResultsError(
            f"--metric {args.metric!r} has no history of change points; one of: "
            f"{', '.join(FIGURES)}"
        )
    history = read_history(args.storage, say)
    series = [
        s
        for s in all_series(history)
        if matches(s.fullname, args.k) and (args.metric is None or s.metric == args.metric)
    ]
    if not series:
        raise ResultsError(f"no benchmark matches -k {args.k!r}")
    say(f"scanning {len(series)} series for change points...")
    changes = scan(series, load_config())
    rows = [
        [c.after.commit_time[:10], c.commits(), short_name(c.series.fullname), c.series.metric,
         c.levels(), c.step.text(), f"{c.step.p_value:.2g}", c.series.machine.label]
        for c in changes
    ]  # fmt: skip
    headers = ["date", "commits", "benchmark", "figure", "level", "step", "p", "machine"]
    if rows:
        print(tabulate(rows, headers=headers, disable_numparse=True))
    runs = len(history.runs)
    print(
        f"{len(changes)} change point(s) in {len(series)} series of {runs} runs on "
        f"{len(history.machines)} machine(s) (a step beyond the gate's tolerance, significant "
        f"at its alpha, with {MIN_RUNS} runs or more on each side)"
    )
    return EXIT_PASS


# -- visionbench history-branch ------------------------------------------------------------


def _github_output(**values: str) -> None:
    """Step outputs for a GitHub workflow (when run by one)."""
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            for key, value in values.items():
                fh.write(f"{key}={value}\n")


def _branch_errors(command: Callable[[argparse.Namespace], int]):
    def run(args: argparse.Namespace) -> int:
        from visionbench.history.branch import BranchError

        try:
            return command(args)
        except BranchError as exc:
            print(f"visionbench history-branch: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


@_branch_errors
def cmd_branch_push(args: argparse.Namespace) -> int:
    from visionbench.history.branch import push

    paths = [results.resolve(spec, args.storage) for spec in args.runs or ["latest"]]
    say(f"appending {len(paths)} run(s) to {args.remote}/{args.branch}...")
    placed = push(paths, args.repo, args.remote, args.branch, args.retries, say)
    rows = [[str(p.source), p.path, "added" if p.added else "there already"] for p in placed]
    print(tabulate(rows, headers=["run", f"on {args.branch}", ""]))
    return EXIT_PASS


@_branch_errors
def cmd_branch_pull(args: argparse.Namespace) -> int:
    from visionbench.history.branch import matching_folder, pull

    say(f"reading {args.remote}/{args.branch} into {args.into}...")
    copied = pull(args.into, args.repo, args.remote, args.branch)
    if copied is None:
        print(f"no branch {args.branch} on {args.remote} yet: no history to read (main's CI "
              "appends every run of main to it)")  # fmt: skip
        return EXIT_PASS
    folders: dict[Path, int] = {}
    for path in copied:
        folders[path.parent] = folders.get(path.parent, 0) + 1
    print(tabulate([[str(f), n] for f, n in folders.items()], headers=["folder", "runs"]))
    if args.like:
        run = results.load_run(args.like, args.storage)
        folder = matching_folder(args.into, run)
        if folder is None:
            print(f"no folder of {args.branch} has the fingerprint of {run.path}: no baseline")
            return EXIT_PASS
        print(f"baseline folder (the fingerprint of {run.path}): {folder}")
        _github_output(folder=str(folder), candidate=str(run.path))
    return EXIT_PASS


# -- the parsers -------------------------------------------------------------------------------


def add_parsers(sub, storage: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `site` and `history-branch` to the subcommands; `storage` adds
    the usual --storage option."""
    s = sub.add_parser(
        "site",
        help="a static HTML site of every saved run (histories, verdicts, change points)",
        description="Write a static HTML site from every saved run of the storage (every "
        "machine fingerprint): an index of techniques with the summary's verdicts, a page per "
        "technique with each variant's history, change points marked, and every run's report. "
        "Opens from disk, no server or network. Exit 2: no readable run.",
    )
    storage(s)
    s.add_argument("--out", type=Path, default=Path("reports/site"), help="default reports/site")
    s.add_argument(
        "--reports",
        type=int,
        metavar="N",
        help="write the reports of the newest N runs of each machine only (default: every run; "
        "reports already written for an unchanged run are kept)",
    )
    s.add_argument(
        "--tune",
        type=Path,
        default=TUNE_DIR,
        help=f"the folder of `visionbench tune` runs whose reports the site shows too "
        f"(default {TUNE_DIR})",
    )
    s.set_defaults(func=cmd_site)

    b = sub.add_parser(
        "history-branch",
        help="append runs to, or read them from, the benchmark-history branch",
        description="main's durable history: a branch of pytest-benchmark run files, one "
        "folder per machine fingerprint. Exit 2: git failed or a run is unreadable.",
    )
    actions = b.add_subparsers(dest="action", required=True)
    push = actions.add_parser("push", help="append runs (default: the latest) to the branch")
    push.add_argument("runs", nargs="*", help="run files, ids or names (default latest)")
    pull = actions.add_parser("pull", help="copy the branch into a folder")
    pull.add_argument(
        "--into",
        type=Path,
        default=Path(".benchmarks-main"),
        help="the folder, replaced whole (default .benchmarks-main)",
    )
    pull.add_argument(
        "--like",
        metavar="RUN",
        help="name the branch's folder with this run's fingerprint (and, in a GitHub "
        "workflow, set the step outputs `folder` and `candidate`)",
    )
    for p in (push, pull):
        storage(p)
        p.add_argument("--repo", type=Path, default=Path("."), help="the git repository")
        p.add_argument("--remote", default="origin", help="default origin")
        p.add_argument("--branch", default=DEFAULT_BRANCH, help=f"default {DEFAULT_BRANCH}")
    push.add_argument(
        "--retries", type=int, default=5, help="pushes tried when others push first (default 5)"
    )
    push.set_defaults(func=cmd_branch_push)
    pull.set_defaults(func=cmd_branch_pull)
