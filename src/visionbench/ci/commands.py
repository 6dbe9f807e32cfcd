"""`visionbench ci pr|main|ready|shard|matrix`: a CI job's whole logic, for GitHub Actions
(which sets what it reads) or any other CI (which passes the same facts as options):

    visionbench ci ready --device cuda          # a GPU job's first step: fails loudly
    visionbench ci pr -- --vb-profile standard  # a pull request: A/B + history gate
    visionbench ci main                         # a push to main: append to the history

    # a matrix of N runners of one testbed (docs/shards.md):
    visionbench ci matrix --shards N            # the matrix: step outputs count, shards
    visionbench ci shard --shard 2/N            # on each runner: its shard, saved in run/
    visionbench ci pr --shard-runs DIR          # the final job: the shards' runs merged,
    visionbench ci main --shard-runs DIR        #   then gated and pushed as one run

    # GitLab CI, a merge request:
    visionbench ci pr --event pull_request --sha "$CI_COMMIT_SHA" \\
        --base-ref "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" --repository "$CI_PROJECT_PATH" \\
        --head-repository "$CI_MERGE_REQUEST_SOURCE_PROJECT_PATH"

Importing this module loads only the standard library, so `python -m visionbench.ci`
names a fork's pull request on a runner where nothing is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from visionbench.ci.context import PULL_REQUEST, CiError, from_environment

DEFAULT_BRANCH = "benchmark-history"  # history.branch.DEFAULT_BRANCH, checked by a test
#: The A/B lane's benchmarks by default: every model's training step and inference batch,
#: and the precisions' training steps. Add a technique when a change is likely to touch it.
AB_SELECTION = "benches/bench_model_size.py benches/bench_precision.py"
AB_BUDGET_MINUTES = 15.0
SITE_REPORTS = 20  # the site writes the reports of each testbed's newest N runs
MAX_SHARDS = 256  # GitHub Actions runs at most 256 jobs of one matrix


def add_parsers(sub) -> None:
    c = sub.add_parser(
        "ci",
        help="a CI job: gate a pull request, or add main's run to the history branch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs = c.add_subparsers(dest="job", required=True)
    ready = jobs.add_parser("ready", help="is this runner ready to benchmark? (exit 2: no)")
    pr = jobs.add_parser("pr", help="a pull request: the A/B gate, then the history gate")
    main = jobs.add_parser("main", help="a push to main: the benches, appended to the history")
    shard = jobs.add_parser(
        "shard", help="a matrix's runner: one shard of the benches, saved for the final job"
    )
    matrix = jobs.add_parser(
        "matrix", help="the shards of a CI matrix, as step outputs (count, shards)"
    )
    for p in (ready, pr, main, shard):
        where = p.add_argument_group("the job (default: what GitHub Actions sets)")
        where.add_argument("--event", help="push or pull_request (GITHUB_EVENT_NAME)")
        where.add_argument("--event-path", help="the event's JSON (GITHUB_EVENT_PATH)")
        where.add_argument("--sha", help="the tested commit (a pull request's head)")
        where.add_argument("--ref", help="GITHUB_REF, e.g. refs/heads/main")
        where.add_argument("--base-ref", help="a pull request's target branch (GITHUB_BASE_REF)")
        where.add_argument("--head-ref", help="a pull request's branch (GITHUB_HEAD_REF)")
        where.add_argument("--repository", help="owner/name (GITHUB_REPOSITORY)")
        where.add_argument("--head-repository", help="the pull request's own repository")
        where.add_argument(
            "--main-branch",
            help="the branch whose runs are the history "
            "(default: the repository's default branch, else main)",
        )
        where.add_argument("--step-summary", help="append the summary here (GITHUB_STEP_SUMMARY)")
        where.add_argument("--outputs", help="step outputs (GITHUB_OUTPUT)")
        p.add_argument(
            "--device",
            choices=("cuda", "cpu"),
            default="cuda",
            help="where the benches run (default cuda: never a CPU fall-back)",
        )
        p.add_argument("--repo", type=Path, default=Path("."), help="the checkout (default .)")
        p.add_argument(
            "--out",
            type=Path,
            default=Path("reports/ci"),
            help="the job's folder, emptied first (default reports/ci)",
        )
    for p in (pr, main):
        p.add_argument("--remote", default="origin", help="default origin")
        p.add_argument("--history-branch", default=DEFAULT_BRANCH, help=f"default {DEFAULT_BRANCH}")
        p.add_argument(
            "--shard-runs",
            type=Path,
            metavar="DIR",
            help="the runs `ci shard` saved on each runner of a matrix (downloaded artifacts): "
            "merged into this job's run instead of running the benches; refused (exit 2) "
            "unless they are every shard of one plan, of the tested commit and one fingerprint",
        )
    for p in (pr, main, shard):
        p.add_argument(
            "--benches",
            type=shlex.split,
            default=["benches"],
            help="the benches of the saved run (default benches)",
        )
        p.add_argument(
            "pytest",
            nargs="*",
            metavar="-- PYTEST_ARG",
            help="after --: pytest arguments of every bench run (--vb-profile, -k)",
        )
    pr.add_argument(
        "--base",
        metavar="REV",
        help="the pull request's target as a revision (default REMOTE/BASE_REF)",
    )
    pr.add_argument(
        "--ab-selection",
        type=shlex.split,
        default=shlex.split(AB_SELECTION),
        help=f"the A/B lane's benches (default {AB_SELECTION!r})",
    )
    pr.add_argument(
        "--ab-budget",
        type=float,
        default=AB_BUDGET_MINUTES,
        metavar="MINUTES",
        help=f"the A/B gate's wall time (default {AB_BUDGET_MINUTES:g})",
    )
    pr.add_argument(
        "--ab-args",
        type=shlex.split,
        default=[],
        metavar="'ARGS'",
        help="more `visionbench ab` options, one string: --ab-args='--max-blocks 8'",
    )
    main.add_argument(
        "--site-reports",
        type=int,
        default=SITE_REPORTS,
        metavar="N",
        help=f"the site writes each testbed's newest N reports ({SITE_REPORTS})",
    )
    shard.add_argument(
        "--shard",
        required=True,
        metavar="I/N",
        help="this runner's shard of the benches (pytest --vb-shard I/N)",
    )
    matrix.add_argument(
        "--shards",
        required=True,
        metavar="N",
        help=f"how many shards (1 to {MAX_SHARDS}; the repository variable VISIONBENCH_SHARDS)",
    )
    matrix.add_argument("--outputs", help="step outputs (GITHUB_OUTPUT)")
    ready.set_defaults(func=cmd_ready)
    pr.set_defaults(func=cmd_pr)
    main.set_defaults(func=cmd_main)
    shard.set_defaults(func=cmd_shard)
    matrix.set_defaults(func=cmd_matrix)


def _context(args: argparse.Namespace):
    try:
        return from_environment(args)
    except CiError as exc:
        raise SystemExit(_error(exc)) from None


def _error(exc: Exception) -> int:
    print(f"visionbench ci: error: {exc}", file=sys.stderr)
    return 2


def cmd_ready(args: argparse.Namespace) -> int:
    from visionbench.ci.ready import check
    from visionbench.ci.summary import Summary, annotate, publish

    try:
        found = check(args.device, args.repo)
    except CiError as exc:
        try:
            ctx = from_environment(args)
        except CiError:
            ctx = None
        if ctx is not None:  # the job's summary: the next steps will not run
            s = Summary("visionbench: the runner is not ready")
            s.verdict = str(exc).splitlines()[0]
            s.note(str(exc).replace("\n", " "))
            args.out.mkdir(parents=True, exist_ok=True)
            publish(ctx, args.out, s)
        annotate("error", str(exc).replace("\n", " "))
        return _error(exc)
    print(f"runner ready: {found.line()}")
    return 0


def cmd_pr(args: argparse.Namespace) -> int:
    ctx = _context(args)
    if ctx.event != PULL_REQUEST:
        return _error(CiError(f"`visionbench ci pr` is a pull request's job, not {ctx.event!r}'s"))
    if ctx.fork:
        from visionbench.ci.summary import fork_notice

        return fork_notice(ctx, args.out)
    from visionbench.ci.jobs import Job

    job = Job(ctx, args, "visionbench on this pull request")
    return job.run(job.pull_request)


def cmd_main(args: argparse.Namespace) -> int:
    from visionbench.ci.jobs import Job

    job = Job(_context(args), args, "visionbench on main")
    return job.run(job.main)


def cmd_shard(args: argparse.Namespace) -> int:
    ctx = _context(args)
    try:
        from visionbench.measure.shards import parse

        args.shard = parse(args.shard)
    except ValueError as exc:
        return _error(CiError(f"--shard: {exc}"))
    if ctx.fork:
        from visionbench.ci.summary import fork_notice

        return fork_notice(ctx, args.out)
    from visionbench.ci.jobs import Job

    job = Job(ctx, args, f"visionbench: shard {args.shard} of the benches")
    return job.run(job.shard)


def cmd_matrix(args: argparse.Namespace) -> int:
    """The matrix's shards from their count: step outputs `count` (N) and `shards` (a JSON
    list of "i/N", the matrix's values); a count that is not 1 to MAX_SHARDS: exit 2."""
    text = str(args.shards).strip()
    count = int(text) if text.isdigit() else 0
    if not 1 <= count <= MAX_SHARDS:
        message = (
            f"--shards {args.shards!r}: the number of shards (the repository variable "
            f"VISIONBENCH_SHARDS) must be a whole number from 1 to {MAX_SHARDS}"
        )
        from visionbench.ci.summary import annotate

        annotate("error", message)
        return _error(CiError(message))
    shards = [f"{i}/{count}" for i in range(1, count + 1)]
    outputs = args.outputs or os.environ.get("GITHUB_OUTPUT")
    if outputs:
        with open(outputs, "a", encoding="utf-8") as fh:
            fh.write(f"count={count}\nshards={json.dumps(shards)}\n")
    print(
        "one job runs the benches (no matrix)"
        if count == 1
        else f"{count} shard jobs ({', '.join(shards)}), then one job merges their runs"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m visionbench.ci JOB ...`: the same as `visionbench ci JOB ...`."""
    parser = argparse.ArgumentParser(prog="visionbench")  # usage: `visionbench ci ...`
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ci", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
