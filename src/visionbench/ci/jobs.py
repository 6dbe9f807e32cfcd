"""The jobs: `ci pr` gates a pull request, `ci main` adds main's run to the history.

A pull request (never a fork's: named and left alone):
  1. the runner's readiness (`ci.ready`), the tested commit checked out;
  2. the A/B gate against the merge base with main, both measured here and now
     (`visionbench ab`, timing lane): the evidence on time;
  3. the benches, saved; the history gate (`visionbench gate`) of that run against its
     baseline on this testbed (`ci.decide`: the merge base's run, else the newest main
     run before it): accuracy, memory, failures, lost coverage. No history yet, or no
     run of this fingerprint: said loudly, and the A/B lane is the only gate;
  4. the run's report; the summary.
A push to main (refused anywhere else): the readiness, the benches, the run appended to
the history branch in its testbed's folder (pushes that race are retried, nothing is
forced), the site of the history as it now is (with the newest runs' reports); a new
testbed is said loudly.
A matrix of N runners of one testbed (`ci shard --shard I/N` on each, docs/shards.md):
each runs its shard of the benches and saves its run, gated and pushed by nothing; the
final `ci pr` or `ci main` is given their runs (`--shard-runs DIR`), merges them
(`ci.sharded`: refused with the reason, exit 2, unless they are one run cut in parts, of
the tested commit) before anything else, and goes on with the merged run as with its own.

Everything goes into one folder (`--out`, emptied first, so a job that was stopped
leaves nothing the next one reads): summary.md, ab.md and ab.json, gate.md, run/ (the
job's saved run), history/ (the branch as read), report/ and site/.
Exit: 0 passed; 1 a regression (A/B or history gate) or a failed benchmark; 2 the job
could not run as asked (bad input, a runner not ready, a step that failed to run);
128 + N stopped by signal N (nothing pushed).
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from visionbench.ci.context import CiError, Context
from visionbench.ci.decide import baseline, git, merge_base, nearest, testbed
from visionbench.ci.ready import check
from visionbench.ci.steps import Steps, Stopped, say
from visionbench.ci.summary import Summary, annotate, publish, read
from visionbench.core.exits import EXIT_BAD_INPUT, EXIT_PASS
from visionbench.measure import BENCH_ARGS, results
from visionbench.measure.results import ResultsError, Run

PY = sys.executable
NO_TESTS_COLLECTED = 5  # pytest's exit when nothing was selected (a shard's empty part)


class Job:
    def __init__(self, ctx: Context, args: Any, title: str) -> None:
        self.ctx, self.args = ctx, args
        self.repo = Path(args.repo)
        self.out = Path(args.out)
        self.summary = Summary(title)
        self.codes: list[int] = []
        self.steps = Steps(self.repo)

    # -- the job's frame -----------------------------------------------------------------

    def run(self, body) -> int:
        """Run `body`: the folder emptied first, the summary written once at the end."""
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir(parents=True)
        code = EXIT_BAD_INPUT
        try:
            with self.steps:
                code = body()
        except CiError as exc:
            self.summary.verdict = f"could not run: {exc}"
            annotate("error", str(exc).replace("\n", " "))
        except Stopped as stop:
            code = stop.code
            where = self.steps.current or "start-up"
            self.summary.verdict = f"stopped ({stop.args[0]}) during {where}: nothing pushed"
        except Exception as exc:  # a bug, said in the summary: exit 2, never a regression's 1
            traceback.print_exc()
            self.summary.verdict = f"could not run: {type(exc).__name__}: {exc} (see the log)"
        finally:
            publish(self.ctx, self.out, self.summary)
        say(f"visionbench ci: exit {code}")
        return code

    def exit_code(self) -> int:
        return max(self.codes, default=EXIT_PASS)

    def ready(self) -> None:
        r = check(self.args.device, self.repo)
        self.summary.row("runner", r.line())
        say(f"runner ready: {r.line()}")

    def tested_commit(self) -> str:
        head = git(self.repo, "rev-parse", "HEAD")
        if self.ctx.sha and self.ctx.sha != head:
            raise CiError(
                f"the checkout's HEAD {head[:12]} is not the tested commit {self.ctx.sha[:12]}"
                " (check out the pull request's head: actions/checkout with ref: "
                "github.event.pull_request.head.sha)"
            )
        return head

    def pytest_args(self) -> list[str]:
        return ["--vb-device", self.args.device, *self.args.pytest]

    # -- the steps ---------------------------------------------------------------------------

    def bench(self, *more: str) -> Run | None:
        """The benches, saved into run/; the run, or None when none was saved."""
        storage = (self.out / "run").resolve()
        argv = [
            PY,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            *self.args.benches,
            *BENCH_ARGS,
            f"--benchmark-storage=file://{storage}",
            *self.pytest_args(),
            *more,
        ]
        code = self.steps.run("benchmarks", argv)
        try:
            run = results.load_run("latest", storage)
        except ResultsError:
            run = None
        if run is None and more and code == NO_TESTS_COLLECTED:
            self.codes.append(EXIT_PASS)  # a shard whose part of the plan is empty
            self.summary.row("benchmarks", "none: the plan gave this shard no benchmark")
            return None
        if run is None or code not in (0, 1):
            self.codes.append(EXIT_BAD_INPUT)
            self.summary.row("benchmarks", f"no run saved (pytest exit {code}): see the log")
            return None
        self.saved(run, code)
        return run

    def saved(self, run: Run, code: int, how: str = "") -> None:
        failed = sum(1 for b in run.benchmarks.values() if b.error)
        self.codes.append(max(code, 1 if failed else 0))
        self.summary.row(
            "benchmarks",
            f"{len(run.benchmarks)} saved as {run.label}{how}"
            + (f"; {failed} FAILED" if failed else "")
            + (f" (pytest exit {code})" if code else ""),
        )

    def benchmarks(self, head: str) -> Run | None:
        """This job's run: its benches', or the matrix's shards' merged (`--shard-runs`)."""
        folder = getattr(self.args, "shard_runs", None)
        if folder is None:
            return self.bench()
        from visionbench.ci.sharded import merged, plan_line

        run, count = merged(Path(folder), (self.out / "run").resolve(), head)
        self.saved(run, EXIT_PASS, f", merged from {count} shard runs ({plan_line(run)})")
        say(f"merged {count} shard runs into {run.path}")
        return run

    def pull(self) -> Path | None:
        """The history branch read into history/; None when it does not exist yet."""
        from visionbench.history.branch import BranchError, pull

        into = self.out / "history"
        try:
            copied = pull(into, self.repo, self.args.remote, self.args.history_branch)
        except BranchError as exc:
            raise CiError(str(exc)) from None
        if copied is None:
            return None
        say(f"read {len(copied)} run(s) of {self.args.remote}/{self.args.history_branch}")
        return into

    def report(self, run: Run | None) -> None:
        """A pull request's run: its report (main's runs have theirs in the site)."""
        if run is None:
            return
        argv = [
            PY,
            "-m",
            "visionbench.cli",
            "report",
            str(run.path),
            "--storage",
            str(run.path.parent),
            "--out",
            str(self.out / "report"),
        ]
        if self.counted("report of this run", argv) == EXIT_PASS:
            self.summary.row("report of this run", f"report/{run.label}/report.md{self.where()}")

    def site(self, history: Path) -> None:
        """Main's history site, with the reports of each testbed's newest runs."""
        argv = [
            PY,
            "-m",
            "visionbench.cli",
            "site",
            "--storage",
            str(history),
            "--out",
            str(self.out / "site"),
            "--reports",
            str(self.args.site_reports),
        ]
        if self.counted("history site", argv) == EXIT_PASS:
            self.summary.row("history site", f"site/index.html{self.where()}")

    def where(self) -> str:
        return f" in the artifacts of [this job]({self.ctx.run_url})" if self.ctx.run_url else ""

    def counted(self, title: str, argv: list[str]) -> int:
        """A step whose failure makes the job's exit 2 (it could not do all it should)."""
        code = self.steps.run(title, argv)
        if code != EXIT_PASS:
            self.codes.append(EXIT_BAD_INPUT)
            self.summary.note(f"{title} failed (exit {code}): see the log")
        return code

    # -- a pull request ----------------------------------------------------------------------

    def pull_request(self) -> int:
        self.ready()
        head = self.tested_commit()
        base_rev = self.args.base or (
            f"{self.args.remote}/{self.ctx.base_ref}" if self.ctx.base_ref else None
        )
        if base_rev is None:
            raise CiError("which branch does the pull request go into? give --base-ref")
        base = merge_base(self.repo, base_rev, head)
        self.summary.row(
            "tested",
            f"{head[:12]} ({self.ctx.head_ref or 'HEAD'}); merge base with {base_rev}: {base[:12]}",
        )
        # a matrix's shards are merged first: a refusal costs no minutes of the A/B gate
        merged = self.benchmarks(head) if self.args.shard_runs else None
        history = self.pull()
        self.ab(base)
        run = merged or self.bench()
        self.history_gate(history, run, base)
        self.report(run)
        self.summary.row(
            "history of main",
            "the site its jobs publish (their artifacts, or GitHub Pages where it is on)",
        )
        code = self.exit_code()
        self.summary.verdict = self.pr_verdict(code)
        return code

    def ab(self, base: str) -> None:
        out = self.out
        argv = [
            PY,
            "-m",
            "visionbench.cli",
            "ab",
            "--baseline",
            base,
            "--lane",
            "time",
            "--times-only",
            "--budget",
            f"{self.args.ab_budget:g}",
            "--json",
            str(out / "ab.json"),
            "--summary",
            str(out / "ab.md"),
            *self.args.ab_args,
            *self.args.ab_selection,
            *self.pytest_args(),
        ]
        code = self.steps.run("A/B gate against the merge base", argv)
        self.codes.append(code)
        headline = self.summary.part(
            "A/B gate: the merge base and this tree, timed here", out / "ab.md"
        )
        self.summary.row("A/B gate (time, paired, on this runner)", headline or f"exit {code}")

    def regressed_in_ab(self) -> list[str]:
        text = read(self.out / "ab.json")
        if text is None:
            return []
        data = json.loads(text)
        return [
            f"{b['name'].split('::')[-1]} ({b['ratio']:.2f}x)" if b.get("ratio") else b["name"]
            for b in data.get("benchmarks", [])
            if b.get("verdict") in ("regression", "failed")
        ]

    def history_gate(self, history: Path | None, run: Run | None, base: str) -> None:
        what = "history gate (accuracy, memory, failures)"
        if history is None:
            self.only_ab(
                f"no baseline yet: gated on the A/B lane only (no "
                f"{self.args.history_branch} branch: the first push to main makes it)"
            )
            return
        if run is None:
            self.summary.row(what, "not run: the benches saved no run")
            return
        bed = testbed(history, run)
        if bed.folder is None:
            if bed.nearest is None:
                self.only_ab(
                    "no baseline yet: gated on the A/B lane only (the history holds no run)"
                )
                return
            message = (
                f"this runner's fingerprint differs from every saved run: the nearest testbed, "
                f"{bed.nearest.name}, differs in {bed.differences()}. No baseline: ONLY THE A/B "
                "LANE GATED this pull request (a push to main with this setup starts its history)"
            )
            self.summary.note(message)
            annotate("warning", message)
            self.summary.row(what, "not run: no saved run of this testbed")
            return
        self.summary.row("testbed", bed.folder.name)
        chosen = baseline(self.repo, bed.folder, base)
        self.summary.row("baseline", f"{chosen.run.label if chosen.run else 'none'}: {chosen.why}")
        if chosen.run is None:
            self.only_ab(f"no baseline: {chosen.why}; gated on the A/B lane only")
            return
        argv = [
            PY,
            "-m",
            "visionbench.cli",
            "gate",
            "--storage",
            str(bed.folder),
            "--baseline",
            str(chosen.run.path),
            "--candidate",
            str(run.path),
            "--summary",
            str(self.out / "gate.md"),
        ]
        code = self.steps.run("history gate", argv)
        self.codes.append(code)
        headline = self.summary.part("history gate against the baseline", self.out / "gate.md")
        self.summary.row(what, headline or f"exit {code}")

    def only_ab(self, why: str) -> None:
        self.summary.row("history gate (accuracy, memory, failures)", why)
        self.summary.note(why)

    def pr_verdict(self, code: int) -> str:
        if code == EXIT_PASS:
            return "passed: nothing regressed"
        slower = self.regressed_in_ab()
        if code == 1 and slower:
            return f"FAILED: the A/B lane found regressions in {', '.join(slower)}"
        if code == 1:
            return "FAILED: a regression or a failed benchmark (see below)"
        return "could not run every step (see the notes and the log)"

    # -- a push to main -------------------------------------------------------------------------

    def main(self) -> int:
        from visionbench.history.branch import BranchError, push

        if not self.ctx.on_main:
            raise CiError(
                f"`visionbench ci main` appends to {self.args.history_branch}, and only a push "
                f"to {self.ctx.main_branch} may (this job: event {self.ctx.event}, ref "
                f"{self.ctx.ref}); a pull request's job never writes main's history"
            )
        self.ready()
        head = self.tested_commit()
        self.summary.row("tested", f"{head[:12]} ({self.ctx.ref})")
        run = self.benchmarks(head)
        if run is None:
            self.summary.verdict = "no run to push: the benches saved none"
            return self.exit_code()
        try:
            (placed,) = push(
                [run.path], self.repo, self.args.remote, self.args.history_branch, say=say
            )
        except BranchError as exc:
            raise CiError(str(exc)) from None
        history = self.pull()
        assert history is not None  # pushed just now
        self.summary.row("pushed", f"{self.args.history_branch}: {placed.path}")
        self.new_testbed(history, run, placed.path)
        self.site(history)
        code = self.exit_code()
        self.summary.verdict = f"run pushed to {self.args.history_branch}: {placed.path}" + (
            "" if code == EXIT_PASS else " (with failures: see below)"
        )
        return code

    def new_testbed(self, history: Path, run: Run, placed: str) -> None:
        folder = history / placed.split("/")[0]
        if len(results.run_files(folder)) > 1:
            return
        bed = nearest(history, run, skip=folder)
        if bed.nearest is None:
            self.summary.note(
                f"the first run of the history: {self.args.history_branch} starts "
                f"with it, in {folder.name}"
            )
            return
        message = (
            f"a new testbed: this run's fingerprint differs from every saved run (the nearest, "
            f"{bed.nearest.name}, in {bed.differences()}); its history starts here, in "
            f"{folder.name}"
        )
        self.summary.note(message)
        annotate("warning", message)

    # -- a matrix's shard ----------------------------------------------------------------------

    def shard(self) -> int:
        """One shard of the benches, saved in run/ for the job that merges the matrix's
        shards (`--shard-runs`); nothing gated, nothing pushed."""
        self.ready()
        head = self.tested_commit()
        self.summary.row("tested", f"{head[:12]} ({self.ctx.head_ref or self.ctx.ref})")
        self.summary.row("shard", f"{self.args.shard} of the benches (pytest --vb-shard)")
        run = self.bench("--vb-shard", str(self.args.shard))
        code = self.exit_code()
        if run is None:
            self.summary.verdict = (
                "nothing to run: the plan gave this shard no benchmark"
                if code == EXIT_PASS
                else "no run saved (see the log)"
            )
            return code
        n = len(run.benchmarks)
        saved = f"shard {self.args.shard} saved: {n} benchmark{'' if n == 1 else 's'}"
        self.summary.verdict = saved + (
            " for the job that merges the shards" if code == EXIT_PASS else ", with failures"
        )
        return code
