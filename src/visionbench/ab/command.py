"""`visionbench ab`: a baseline revision against the working tree, both measured here and now.

Two separate runs differ by more than the changes a team needs to catch (on
a shared 2-core machine single benchmarks moved 1.7-2.3x between runs of the
same code), so this gate measures both sides in the same job:

1. The baseline is REV checked out in a temporary git worktree (removed at
   the end, also on Ctrl-C); the candidate is the working tree as it is,
   uncommitted changes included (or --candidate REV, a worktree too). Each side
   runs its own benches, conftest and src in its own Python and variables (this
   virtualenv's unless --baseline-python/--candidate-python, --*-env: `ab.sides`;
   sides that differ there get a zygote each), on the same pytest arguments.
2. A lane compares each selected benchmark's unit (a training step, an
   inference batch):
   - `time` (default): blocks of round-interleaved pairs between two workers
     forked from one zygote (`ab.timing`, `ab.zygote`), tested across
     blocks with `sequential.run_looks`; a decided benchmark leaves later blocks.
   - `instructions` (CPU runners): callgrind's instruction counts of each
     unit on both sides (`ab.instructions`), against a tolerance.
3. Unless --times-only, the deterministic figures (accuracy, memory, flags,
   failed and missing benchmarks) by `visionbench gate`'s rules, from one
   full run per side: the baseline's saved run of the same commit and
   fingerprint is reused when there is one; the full runs come after the
   lane, in the time it left them.

`--budget` bounds the whole invocation: the lane stops in time for the full
runs (their last duration on this machine is remembered), a full run that
would overrun is stopped and said, and the output says how the minutes went.
`--calibrate` runs the baseline against itself through the lane instead and
saves what it measured for this machine (`ab.calibrate`, `ab.calibration`).

Exit 0: nothing regressed (inconclusive passes, loudly); 1: a regression, a
failed benchmark or one missing from the candidate; 2: bad input (a REV
that is not a commit, pytest arguments a side rejects, not a git tree, the
instruction lane without valgrind).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from visionbench.ab import calibration, defaults, gpu, instructions, sides
from visionbench.ab.budget import Minutes
from visionbench.ab.calibrate import calibrate
from visionbench.ab.full_runs import FullRuns, merged, unpaired_rows
from visionbench.ab.output import report
from visionbench.ab.processes import (
    TIMING_ONLY_ENV,
    Pinned,
    Pytest,
    Side,
    Zygote,
    Zygotes,
    default_threads,
    pin,
    with_benches,
)
from visionbench.ab.timing import Block, Ready, TimingLane
from visionbench.ab.worktree import AbError, toplevel
from visionbench.core.exits import EXIT_BAD_INPUT, say
from visionbench.gate.config import GateConfig, load_config
from visionbench.gate.run_gate import with_alpha
from visionbench.gate.runs import Comparison
from visionbench.measure import results
from visionbench.measure.results import Run
from visionbench.stats.paired import least_pairs
from visionbench.stats.sequential import Looks, Sequential, run_looks

LANES = ("time", "instructions")
UNKNOWN_TRAINING_SHARE = 0.5  # of the budget left for the full runs when never timed here


@dataclass
class Settings:
    budget_s: float  # wall time of the whole invocation
    lane: str = "time"
    max_blocks: int = defaults.MAX_BLOCKS
    times_only: bool = False  # skip the deterministic figures (full runs)
    calibrate: bool = False
    rounds: int | None = None  # round-pairs per benchmark and block (None: planned)
    threads: int = 1
    repeats: int = defaults.INSTRUCTION_REPEATS
    lock_clocks: bool = False
    seed: int | None = None  # order of the pairs; None: random
    storage: Path = results.DEFAULT_STORAGE


@dataclass
class Outcome:
    """What an invocation found, for the tables, the summary and the JSON."""

    time: Sequential = field(default_factory=lambda: Sequential({}, {}, 0, {}))
    instructions: list[instructions.InstructionVerdict] = field(default_factory=list)
    instruction_failed: dict[str, str] = field(default_factory=dict)
    rows: list[Comparison] = field(default_factory=list)  # deterministic, unpaired
    blocks: list[dict[str, Any]] = field(default_factory=list)  # per block, for the JSON
    figures: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {"baseline": {}, "candidate": {}}
    )
    round_pair_sd: dict[str, float] = field(default_factory=dict)
    not_timed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how things were done (reuse, clocks)


class AbGate:
    """One invocation: the pinned zygote, a lane, then the deterministic figures."""

    def __init__(
        self,
        baseline: Side,
        candidate: Side,
        pytest_args: list[str],
        workdir: Path,
        config: GateConfig,
        s: Settings,
        commit: str,
        minutes: Minutes | None = None,
        environments: dict[str, sides.Environment] | None = None,
    ) -> None:
        self.baseline, self.candidate = baseline, candidate
        self.environments = environments or {}  # by side name: probed where not this Python
        #: another Python or other variables on one side: a zygote per side (also for the
        #: A/A of --calibrate, which then calibrates that arrangement)
        self.two_zygotes = baseline.environment != candidate.environment
        self.args, self.workdir, self.config, self.settings = pytest_args, workdir, config, s
        self.commit = commit
        self.rng = random.Random(s.seed)
        self.minutes = minutes or Minutes()
        self.outcome = Outcome()
        self.store = calibration.Store(s.storage)
        self.pinned: Pinned | None = None
        self.machine: dict[str, Any] = {}
        self.gpu_clocks: list[dict[str, Any]] | None = None

    # -- time ----------------------------------------------------------------------------

    def left(self) -> float:
        return self.settings.budget_s - self.minutes.elapsed()

    def selection(self) -> str:
        return " ".join(self.args)

    def trees(self) -> tuple[Path, Path]:
        return self.baseline.root, self.candidate.root

    def start_zygote(self, stack: contextlib.ExitStack) -> Zygote:
        with self.minutes.phase("set-up"):
            self.pinned = pin(
                self.settings.threads, self.workdir / "cwd", uuid.uuid4().hex, self.trees()
            )
            say(
                f"environment: {self.settings.threads} thread(s) per member, "
                f"ASLR {self.pinned.aslr}"
            )
            zygote = self.zygotes(stack)
            from visionbench.measure.fingerprint import cpu_model  # torch: after the zygote started

            self.machine = calibration.machine_key(
                cpu_model(),
                os.cpu_count() or 1,
                self.settings.threads,
                zygote.hello["torch"],
                zygote.hello["gpus"],
                zygotes=2 if self.two_zygotes else 1,
            )
            if zygote.hello["gpus"]:
                for line in stack.enter_context(gpu.locked_clocks(self.settings.lock_clocks)):
                    self.outcome.notes.append(line)
                    say(line)
                self.gpu_clocks = gpu.clocks()
        return zygote

    def zygotes(self, stack: contextlib.ExitStack) -> Zygote | Zygotes:
        """One zygote in the sides' Python and variables, or one per side where they
        differ (each started in its side's; the baseline's first)."""
        assert self.pinned is not None
        if not self.two_zygotes:
            side = self.baseline
            return stack.enter_context(Zygote(self.pinned, self.workdir, side.python, side.env))
        say("the sides differ in Python or variables: a zygote each")
        return Zygotes(
            {
                side.name: stack.enter_context(
                    Zygote(self.pinned, self.workdir, side.python, side.env, f"zygote-{side.name}")
                )
                for side in (self.baseline, self.candidate)
            }
        )

    # -- the timing lane ---------------------------------------------------------------------

    def timing_lane(self, zygote: Zygote, candidate: Side) -> TimingLane:
        assert self.pinned is not None
        return TimingLane(zygote, candidate, self.baseline, self.args, self.pinned,
                          self.workdir, rng=self.rng, rounds=self.settings.rounds)  # fmt: skip

    def timing(self, zygote: Zygote, deadline: float) -> tuple[Ready, Ready]:
        """Blocks until every benchmark is decided, the looks end or the deadline
        (seconds into the invocation) would pass; the first block's reports."""
        lane = self.timing_lane(zygote, self.candidate)
        last_block = [0.0]
        blocks: list[Block] = []

        def run_block(index: int, active: Sequence[str] | None) -> Block:
            began = time.monotonic()
            with self.minutes.phase("timing blocks"):
                block = lane.block(index, active)
            last_block[0] = time.monotonic() - began - block.collect_s  # what a block repeats
            blocks.append(block)
            self.keep(block)
            say(
                f"block {index + 1}: {len(block.logs)} benchmark(s), set-up "
                f"{block.setup_s:.1f} s, round-pairs {block.rounds_s:.1f} s; "
                f"{self.minutes.elapsed() / 60:.1f} of {self.settings.budget_s / 60:.1f} min"
            )
            return block

        first = run_block(0, None)
        base, cand = first.ready["baseline"], first.ready["candidate"]
        gated = [n for n in cand.units if n in base.units]
        self.outcome.not_timed = {**base.not_timed, **cand.not_timed}
        self.outcome.rows += unpaired_rows(base.units, cand.units, base.failed, cand.failed, set(),
                                           (base.skipped, cand.skipped))  # fmt: skip
        if not gated:
            return base, cand
        tolerance = {n: self.config.tolerance_for(n, "ab_time") for n in gated}
        planned = self.plan(gated, tolerance, deadline, last_block[0])
        looks = _looks(planned, self.config.alpha)
        say(
            f"{len(gated)} benchmark(s) in blocks; looks after {', '.join(map(str, looks.at))} "
            f"blocks, one-sided alpha {self.config.alpha} spent across them"
        )

        def measure(i: int, active: list[str]) -> tuple[dict[str, float], dict[str, str]]:
            block = run_block(i, active)
            return block.figures(), block.errors

        self.outcome.time = run_looks(
            gated,
            measure,
            looks,
            tolerance,
            room_for_another=lambda: self.minutes.elapsed() + last_block[0] <= deadline,
            first=(first.figures(), first.errors),
        )
        noise = calibration.noise_of(blocks, 0.0).benchmarks
        self.outcome.round_pair_sd = {n: b.round_pair_sd for n, b in noise.items()}
        return base, cand

    def plan(
        self, names: list[str], tolerance: dict[str, float], deadline: float, block_s: float
    ) -> int:
        """The blocks the looks are spread over: those that fit before the deadline (from
        this machine's calibration when there is one, else from the first block)."""
        cal = self.store.time(self.machine)
        seconds = max(0.0, deadline - self.minutes.elapsed())
        if cal is not None and all(n in cal.benchmarks for n in names):
            fit = 1 + cal.blocks_in(seconds + cal.setup_s, names)
            rows = calibration.plan_rows(cal, names, seconds, self.config.alpha, tolerance)
            say(f"plan from this machine's calibration ({cal.date}):")
            say(tabulate(rows, headers=calibration.PLAN_HEADERS))
        else:
            fit = 1 + (math.floor(seconds / block_s) if block_s > 0 else 0)
            if cal is None:
                what = (
                    "of these sides' two zygotes on this machine"
                    if self.two_zygotes
                    else ("of this machine")
                )
                say(
                    f"no calibration {what} (visionbench ab --calibrate, with the same sides): "
                    "the blocks are planned from the first one"
                )
        return max(2, min(self.settings.max_blocks, fit))

    def keep(self, block: Block) -> None:
        """A block's record for the JSON, and its seconds per side."""
        for side, by_bench in block.seconds.items():
            for n, secs in by_bench.items():
                if secs:
                    self.outcome.figures[side].setdefault(n, []).append(statistics.median(secs))
        self.outcome.blocks.append(
            {
                "index": block.index,
                "setup_s": round(block.setup_s, 3),
                "rounds_s": round(block.rounds_s, 3),
                "round_pairs": {n: len(d) for n, d in block.logs.items()},
                "orders": block.orders,
                **({"gpu": block.gpu} if block.gpu else {}),
            }
        )

    # -- the instruction lane ----------------------------------------------------------------

    def instruction_lane(self, zygote: Zygote, sides: Mapping[str, Side]) -> dict:
        assert self.pinned is not None
        with self.minutes.phase("instructions"):
            say(
                f"counting instructions on both sides at once ({self.settings.repeats} repeats "
                f"per unit, one thread, under valgrind: minutes)..."
            )
            counted = instructions.count_sides(
                zygote,
                sides,
                self.args,
                self.pinned,
                self.workdir,
                self.settings.repeats,
                timeout_s=max(60.0, self.left()),
            )
        return counted

    def tolerance_of(self, name: str) -> float:
        configured = self.config.tolerance_for(name, "instructions")
        calibrated = self.store.instruction_tolerance(self.machine, name)
        return max(configured, calibrated or 0.0)

    def instructions(self, zygote: Zygote) -> set[str]:
        """The instruction lane; the benchmarks the baseline collected."""
        counted = self.instruction_lane(zygote, {"A": self.candidate, "B": self.baseline})
        cand, base = counted["A"], counted["B"]
        verdicts, failed = instructions.compare(base, cand, self.tolerance_of)
        self.outcome.instructions, self.outcome.instruction_failed = verdicts, failed
        self.outcome.not_timed = {**base.not_timed, **cand.not_timed}
        built_b = {n for n, c in base.counts.items() if c}
        built_c = {n for n, c in cand.counts.items() if c}
        known = {v.name for v in verdicts} | set(failed)
        self.outcome.rows += unpaired_rows(
            dict.fromkeys(built_b), dict.fromkeys(built_c), {}, {}, known,
            (base.skipped, cand.skipped),
        )  # fmt: skip
        return {*base.counts, *base.failed, *base.skipped, *base.not_timed}

    # -- the deterministic figures ------------------------------------------------------------

    def full_runs(self) -> FullRuns:
        pytest = Pytest(self.args, self.workdir, self.trees())
        return FullRuns(pytest, self.store, self.machine, self.left)

    def deterministic(self, runs: FullRuns, saved: Run | None, baseline_names: set[str]) -> None:
        """One full run of the candidate, and of the baseline unless its saved run of
        the same commit and fingerprint is reused; each stopped at the budget's end."""
        with self.minutes.phase("trainings"):
            fixed = runs.compare(self.candidate, self.baseline, saved, baseline_names, self.config)
        self.outcome.warnings += runs.warnings
        self.outcome.notes += runs.notes
        if fixed is not None:
            self.outcome.rows = merged(fixed, self.outcome.rows)

    # -- the invocation -----------------------------------------------------------------------

    def run(self) -> Outcome:
        """The lane, then (unless --times-only) the deterministic figures in the time the
        lane left them."""
        times_only = self.settings.times_only
        saved = None if times_only else results.run_of_commit(self.settings.storage, self.commit)
        if saved is not None and not self.baseline.default_environment:
            saved = None  # saved by this Python, without the baseline's variables
            self.outcome.notes.append(
                "deterministic figures: the baseline trains (its Python or variables are not "
                "this invocation's, so no saved run of its commit stands for it)"
            )
        with contextlib.ExitStack() as stack:
            zygote = self.start_zygote(stack)
            runs = self.full_runs()
            if self.settings.lane == "instructions":
                baseline_names = self.instructions(zygote)
            else:
                needed = 1 if saved is not None else 2  # the candidate's; the baseline's
                reserve = 0.0 if times_only else runs.expected_s(needed, UNKNOWN_TRAINING_SHARE)
                base, _ = self.timing(zygote, self.settings.budget_s - reserve)
                baseline_names = base.collected
        if not times_only:
            self.deterministic(runs, saved, baseline_names)
        return self.outcome


def _looks(planned: int, alpha: float) -> Looks:
    """Looks from the fewest blocks at which the exact test can reject at `alpha` on,
    growing to `planned`; one look when fewer fit."""
    if planned <= least_pairs(alpha):
        return Looks((planned,), alpha)
    return Looks.growing(planned, alpha)


# -- the command -------------------------------------------------------------------------------


def settings_of(args: Any) -> Settings:
    if args.lane not in LANES:
        raise AbError(f"--lane must be one of {', '.join(LANES)}, got {args.lane!r}")
    budget = args.budget if args.budget is not None else (5.0 if args.calibrate else 15.0)
    if budget <= 0:
        raise AbError(f"--budget must be positive minutes, got {budget}")
    if args.max_blocks < 2:
        raise AbError(f"--max-blocks must be at least 2, got {args.max_blocks}")
    for option, value in (
        ("--rounds", args.rounds),
        ("--threads", args.threads),
        ("--repeats", args.repeats),
    ):
        if value is not None and value < 1:
            raise AbError(f"{option} must be at least 1, got {value}")
    return Settings(
        budget_s=budget * 60,
        lane=args.lane,
        max_blocks=args.max_blocks,
        times_only=args.times_only or args.calibrate,
        calibrate=args.calibrate,
        rounds=args.rounds,
        threads=args.threads or default_threads(),
        repeats=args.repeats or defaults.INSTRUCTION_REPEATS,
        lock_clocks=args.lock_clocks,
        seed=args.seed,
        storage=args.storage,
    )


def cmd_ab(args: Any) -> int:
    """`visionbench ab`: see the module docstring."""
    config = with_alpha(load_config(args.config), args.alpha)
    settings = settings_of(args)
    if settings.lane == "instructions":
        instructions.require_valgrind()
    repo = toplevel(Path.cwd())
    pytest_args = with_benches(repo, [a for a in args.pytest_args if a != "--"])
    minutes = Minutes()
    with contextlib.ExitStack() as stack:
        baseline, candidate, environments, commit = sides.opened(stack, repo, args, minutes)
        say(f"{'calibration: the baseline against itself' if settings.calibrate else 'A/B gate'}: "
            f"baseline {baseline.label}, candidate {candidate.label}, lane {settings.lane}, "
            f"budget {settings.budget_s / 60:g} min")  # fmt: skip
        gate = AbGate(baseline, candidate, pytest_args, baseline.root.parent, config, settings,
                      commit, minutes, environments)  # fmt: skip
        if settings.calibrate:
            return calibrate(gate)
        gate.run()
    return report(gate, args)


__all__ = ["EXIT_BAD_INPUT", "TIMING_ONLY_ENV", "AbError", "AbGate", "cmd_ab"]
