"""`visionbench ab`: a baseline revision against the working tree, timed in interleaved pairs.

Two separate runs differ by more than the changes a team needs to catch (on
a shared 2-core machine single benchmarks moved 1.7-2.3x between runs of the
same code), so this gate measures both sides in the same job, in pairs:

1. The baseline is REV checked out in a temporary git worktree (removed at
   the end, also on Ctrl-C); the candidate is the working tree as it is,
   uncommitted changes included. Each side runs with its own benches,
   conftest and src (PYTHONPATH) in this virtualenv's Python, on the same
   pytest arguments (-k, paths, --vb-* options).
2. Unless --times-only: one full run per side (training included) compares
   the deterministic figures by `visionbench gate`'s rules: accuracy,
   memory, flags, failed and missing benchmarks.
3. Pairs: each member a fresh process of one side timing every benchmark
   still undecided, order random and balanced (as many AB as BA). Timing
   processes set VISIONBENCH_TIMING_ONLY=1: the benches build and time their
   unit without training for accuracy. A baseline that predates the switch
   (it trains in its timing processes) makes both sides train, so that the
   two do the same work; pairs then cost more.
4. A process's figure for a benchmark is a quantile (the median) of its
   rounds; a pair's is log(candidate / baseline). At pre-set looks the pairs
   are judged (`paired.judge`: Wilcoxon signed-rank, Hodges–Lehmann interval
   of the ratio, Holm across benchmarks, alpha spent across looks); a
   decided benchmark leaves the later processes, so the budget goes to the
   noisy ones. The last look comes at --max-pairs or when the next pair
   would not fit in --budget minutes.

Exit 0: nothing regressed (inconclusive passes, loudly); 1: a regression, a
failed benchmark or one missing from the candidate; 2: bad input (a REV
that is not a commit, pytest arguments a side rejects, not a git tree).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from visionbench.gate.config import GateConfig, load_config
from visionbench.gate.exits import EXIT_BAD_INPUT, say
from visionbench.gate.output import (
    BASELINE_FAILED,
    TIME_HEADERS,
    ab_verdict,
    comparison_json,
    comparison_table,
    publish,
    time_json,
    time_rows,
)
from visionbench.gate.paired import Judgement, Looks, balanced_orders, judge
from visionbench.gate.processes import TIMING_ONLY_ENV, Pytest, Side, with_benches
from visionbench.gate.run_gate import with_alpha
from visionbench.gate.runs import Comparison, compare_runs
from visionbench.gate.worktree import (
    AbError,
    baseline_worktree,
    describe_tree,
    resolve_rev,
    toplevel,
)
from visionbench.metrics import METRICS
from visionbench.results import Bench, Run

QUANTILE = 0.5  # a process's figure: the median of its rounds (steadier across processes
#   than the minimum here; the rounds of one process are not independent samples)
DETERMINISTIC_KINDS = ("memory", "accuracy", "flag")  # compared once per side


@dataclass
class Member:
    """One process of one side: a figure per benchmark, or the error it failed with."""

    side: str
    seconds: float
    figures: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    trained: set[str] = field(default_factory=set)  # benches that recorded an accuracy


def member_of(side: str, run: Run, seconds: float, quantile: float) -> Member:
    """A process's figure per benchmark (`quantile` of its rounds) and its failures."""
    member = Member(side, seconds)
    for name, b in run.benchmarks.items():
        if b.error:
            member.errors[name] = str(b.error)
            continue
        value = figure(b, quantile)
        if value is None:
            member.errors[name] = "no timing recorded"
            continue
        member.figures[name] = value
        if "accuracy" in b.extra_info or "train_time_s" in b.extra_info:
            member.trained.add(name)
    return member


def figure(bench: Bench, quantile: float) -> float | None:
    samples = bench.samples
    value = float(np.quantile(samples, quantile)) if samples else bench.stats.get("median")
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


# -- the sequential pairs ---------------------------------------------------------------


@dataclass
class PairsResult:
    judgements: dict[str, Judgement]
    failed: dict[str, str]  # benchmark -> why (the candidate's, or the baseline's)
    pairs: int
    logs: dict[str, list[float]]  # log(candidate / baseline) per pair, by benchmark


def run_pairs(
    names: Sequence[str],
    measure: Callable[[int, list[str]], tuple[Mapping[str, float], Mapping[str, str]]],
    looks: Looks,
    tolerance: Mapping[str, float],
    room_for_another: Callable[[], bool] = lambda: True,
    first_pair: tuple[Mapping[str, float], Mapping[str, str]] | None = None,
) -> PairsResult:
    """Pairs until every benchmark is decided, the looks end or the time does.

    `measure(i, active)` runs pair i over the active benchmarks and returns
    (log-ratio by benchmark, error by benchmark); `first_pair` is pair 0 when it
    was already measured. At each pre-set look the active benchmarks are judged
    at that look's level; the decided leave. The last look (the last pre-set
    one, or earlier when `room_for_another()` says no) decides the rest.
    """
    logs: dict[str, list[float]] = {n: [] for n in names}
    active, done, failed = list(names), {}, {}
    k = pairs = 0
    while active:
        final = not room_for_another() and pairs > 0
        if not final:
            ratios, errors = first_pair if pairs == 0 and first_pair else measure(pairs, active)
            pairs += 1
            for n in active:
                if n in errors or n not in ratios:
                    failed[n] = errors.get(n, "no figure in this pair")
                else:
                    logs[n].append(float(ratios[n]))
            active = [n for n in active if n not in failed]
            if pairs < looks.at[k] or not active:
                continue
        final = final or k == len(looks.at) - 1
        rejected = sum(j.verdict in ("regression", "improvement") for j in done.values())
        verdicts = judge(
            {n: logs[n] for n in active},
            level=looks.level(k, final),
            tolerance={n: tolerance[n] for n in active},
            family=max(len(names) - rejected, len(active)),
        )
        for n, j in verdicts.items():
            if j.decided or final:
                done[n] = j
        active = [n for n in active if n not in done]
        k += 1
        if final:
            break
    return PairsResult(done, failed, pairs, logs)


# -- the gate ------------------------------------------------------------------------------


@dataclass
class Settings:
    budget_s: float  # wall time of the whole invocation
    max_pairs: int
    times_only: bool  # skip the full run per side (deterministic figures)
    quantile: float = QUANTILE
    seed: int | None = None  # order of the pairs; None: random


def deterministic_rows(base: Run, cand: Run, config: GateConfig) -> list[Comparison]:
    """`visionbench gate`'s rows for figures one run per side decides: memory,
    accuracy, flags, and whole benchmarks failed, missing or new."""
    rows = []
    for row in compare_runs(base, cand, config):
        metric = METRICS.get(row.metric)
        if row.metric == "-" or (metric is not None and metric.kind in DETERMINISTIC_KINDS):
            rows.append(row)
    return rows


class AbGate:
    """One invocation: sides, full runs, pairs, verdicts."""

    def __init__(
        self, baseline: Side, candidate: Side, pytest: Pytest, config: GateConfig, s: Settings
    ) -> None:
        self.sides = {"A": candidate, "B": baseline}  # A: candidate, B: baseline
        self.baseline, self.candidate = baseline, candidate
        self.pytest, self.config, self.settings = pytest, config, s
        self.rng = random.Random(s.seed)
        self.start = time.monotonic()
        self.timing_only = True
        self.warnings: list[str] = []
        self.orders: list[str] = []
        self.figures: dict[str, dict[str, list[float]]] = {"baseline": {}, "candidate": {}}
        self.last_pair_s = 0.0
        self.deselect: list[str] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def full_runs(self) -> list[Comparison]:
        runs = {}
        for side in (self.baseline, self.candidate):
            say(f"full run of the {side.name} ({side.label}): training included...")
            runs[side.name], seconds = self.pytest.run(side, timing_only=False)
            say(f"  {seconds:.0f} s")
        return deterministic_rows(runs["baseline"], runs["candidate"], self.config)

    def member(self, side: Side, deselect: Sequence[str]) -> Member:
        run, seconds = self.pytest.run(side, timing_only=self.timing_only, deselect=deselect)
        return member_of(side.name, run, seconds, self.settings.quantile)

    def pair(self, index: int, active: Sequence[str] | None) -> tuple[Member, Member]:
        """Pair `index` in its order; (baseline member, candidate member)."""
        while len(self.orders) <= index:
            self.orders.extend(balanced_orders(2, self.rng))
        order = self.orders[index]
        deselect = self.deselect if active is None else [*self.deselect, *self.inactive(active)]
        start = time.monotonic()
        members = {self.sides[s].name: self.member(self.sides[s], deselect) for s in order}
        self.last_pair_s = time.monotonic() - start
        say(
            f"pair {index + 1} ({order.replace('A', 'c').replace('B', 'b')}): "
            f"{len(active) if active is not None else 'all'} benchmark(s), "
            f"{self.last_pair_s:.0f} s; {self.elapsed() / 60:.1f} of "
            f"{self.settings.budget_s / 60:.1f} min"
        )
        return members["baseline"], members["candidate"]

    def inactive(self, active: Sequence[str]) -> list[str]:
        keep = set(active)
        return [n for n in self.gated if n not in keep]

    def ratios(self, base: Member, cand: Member, names: Sequence[str]):
        ratios, errors = {}, {}
        for n in names:
            if n in cand.errors or n in base.errors:
                errors[n] = cand.errors.get(n) or f"{BASELINE_FAILED}{base.errors[n]}"
            elif n in cand.figures and n in base.figures:
                ratios[n] = math.log(cand.figures[n] / base.figures[n])
                self.figures["baseline"].setdefault(n, []).append(base.figures[n])
                self.figures["candidate"].setdefault(n, []).append(cand.figures[n])
        return ratios, errors

    def first_pair(self) -> tuple[Member, Member]:
        base, cand = self.pair(0, None)
        common = base.figures.keys() & cand.figures.keys()
        if base.trained & common != cand.trained & common:
            who = self.baseline if (base.trained - cand.trained) & common else self.candidate
            self.timing_only = False
            self.warnings.append(
                f"WARNING: the {who.name} ({who.label}) predates {TIMING_ONLY_ENV}: it trains "
                "in its timing processes, so both sides train in every process (the same "
                "work on both sides; each pair costs more, fewer fit in the budget)"
            )
            say(self.warnings[-1])
            base, cand = self.pair(0, None)  # again, in the same order
        return base, cand

    def room_for_another(self) -> bool:
        return self.elapsed() + self.last_pair_s <= self.settings.budget_s

    def run(self) -> tuple[PairsResult, list[Comparison], list[Comparison]]:
        """(the pairs, rows of deterministic figures, rows of benchmarks not paired)."""
        fixed = [] if self.settings.times_only else self.full_runs()
        base, cand = self.first_pair()
        self.gated = [n for n in cand.figures if n in base.figures]
        unpaired = self.unpaired_rows(base, cand, {r.benchmark for r in fixed if r.metric == "-"})
        self.deselect = [n for n in {*base.figures, *base.errors, *cand.figures, *cand.errors}
                         if n not in self.gated]  # fmt: skip
        if not self.gated:
            return PairsResult({}, {}, 1, {}), fixed, unpaired
        tolerance = {n: self.config.tolerance_for(n, "time") for n in self.gated}
        looks = Looks.growing(self.settings.max_pairs, self.config.alpha)
        say(
            f"{len(self.gated)} benchmark(s) in pairs; looks after {', '.join(map(str, looks.at))} "
            f"pairs, one-sided alpha {self.config.alpha} spent across them"
        )

        def measure(i: int, active: list[str]):
            b, c = self.pair(i, active)
            return self.ratios(b, c, active)

        result = run_pairs(
            self.gated,
            measure,
            looks,
            tolerance,
            self.room_for_another,
            first_pair=self.ratios(base, cand, self.gated),
        )
        return result, fixed, unpaired

    def unpaired_rows(self, base: Member, cand: Member, known: set[str]) -> list[Comparison]:
        """Benchmarks the first pair could not pair: failed, missing, new."""
        rows = []
        for n in sorted({*base.figures, *base.errors, *cand.figures, *cand.errors} - known):
            if n in cand.errors:
                rows.append(Comparison(n, "-", "failed", note=cand.errors[n]))
            elif n in base.errors and n in cand.figures:
                rows.append(Comparison(n, "-", "new", note=f"failed in the baseline: "
                                                           f"{base.errors[n]}"))  # fmt: skip
            elif n not in cand.figures:
                rows.append(Comparison(n, "-", "missing", note="not in the candidate"))
            elif n not in base.figures:
                rows.append(Comparison(n, "-", "new", note="not in the baseline"))
        return rows


# -- output -----------------------------------------------------------------------------------


def to_json(
    result: PairsResult,
    rows: Sequence[Comparison],
    gate: AbGate,
    headline: str,
    code: int,
    rev: str,
    commit: str,
) -> dict[str, Any]:
    return {
        "baseline": commit,
        "baseline_rev": rev,
        "candidate": gate.candidate.label,
        "pairs": result.pairs,
        "seconds": round(gate.elapsed(), 1),
        "orders": gate.orders[: result.pairs],
        "timing_only": gate.timing_only,
        "alpha": gate.config.alpha,
        "quantile": gate.settings.quantile,
        "budget_s": gate.settings.budget_s,
        "max_pairs": gate.settings.max_pairs,
        "headline": headline,
        "exit_code": code,
        "benchmarks": [
            *time_json(result.judgements, result.failed, result.logs, gate.figures),
            *comparison_json(rows),
        ],
    }


def markdown(
    result: PairsResult,
    rows: Sequence[Comparison],
    gate: AbGate,
    headline: str,
    warnings: Sequence[str],
    rev: str,
    commit: str,
) -> str:
    lines = [
        "## visionbench A/B gate",
        "",
        f"**{headline}**",
        "",
        *(f"> {w}\n" for w in [*gate.warnings, *warnings]),
        f"- baseline: `{rev}` ({commit[:12]}), in a temporary worktree",
        f"- candidate: the working tree, {gate.candidate.label}",
        f"- {result.pairs} pair(s) of fresh processes in {gate.elapsed() / 60:.1f} min "
        f"(budget {gate.settings.budget_s / 60:.0f} min), order random with as many AB as BA; "
        f"figure per process: the q{gate.settings.quantile:g} of its rounds; ratio "
        f"candidate/baseline with its "
        f"interval (Hodges–Lehmann, simultaneous), Wilcoxon signed-rank p Holm-adjusted, "
        f"one-sided alpha {gate.config.alpha} spent across looks",
        "",
    ]
    if result.judgements or result.failed:
        table = time_rows(result.judgements, result.failed)
        lines += [tabulate(table, headers=TIME_HEADERS, tablefmt="github"), ""]
    if rows:
        lines += [
            "Deterministic figures (one full run per side):",
            "",
            comparison_table(rows, markdown=True),
            "",
        ]
    return "\n".join(lines)


def cmd_ab(args: Any) -> int:
    """`visionbench ab`: see the module docstring."""
    config = with_alpha(load_config(args.config), args.alpha)
    if args.budget <= 0:
        raise AbError(f"--budget must be positive minutes, got {args.budget}")
    if args.max_pairs < 2:
        raise AbError(f"--max-pairs must be at least 2, got {args.max_pairs}")
    repo = toplevel(Path.cwd())
    pytest_args = with_benches(repo, [a for a in args.pytest_args if a != "--"])
    commit = resolve_rev(repo, args.baseline)
    candidate = Side("candidate", repo, describe_tree(repo))
    quantile = QUANTILE if args.quantile is None else args.quantile
    if not 0 <= quantile <= 1:
        raise AbError(f"--quantile must be between 0 and 1, got {quantile}")
    settings = Settings(args.budget * 60, args.max_pairs, args.times_only, quantile, args.seed)
    say(f"A/B gate: baseline {args.baseline} ({commit[:12]}), candidate {candidate.label}")
    with baseline_worktree(repo, commit) as tree:
        baseline = Side("baseline", tree, f"{args.baseline} ({commit[:12]})")
        work = tree.parent / "runs"
        work.mkdir()
        gate = AbGate(baseline, candidate, Pytest(pytest_args, work), config, settings)
        result, fixed, unpaired = gate.run()
    rows = [*fixed, *unpaired]
    code, headline, warnings = ab_verdict(result.judgements, result.failed, rows,
                                          args.allow_missing)  # fmt: skip
    if result.judgements or result.failed:
        print(tabulate(time_rows(result.judgements, result.failed), headers=TIME_HEADERS))
        print()
    if rows:
        print(comparison_table(rows))
        print()
    for w in [*gate.warnings, *warnings]:
        print(w)
    print(headline)
    summary = markdown(result, rows, gate, headline, warnings, args.baseline, commit)
    data = to_json(result, rows, gate, headline, code, args.baseline, commit)
    publish(args.summary, summary, args.json, data)
    return code


__all__ = ["EXIT_BAD_INPUT", "AbError", "baseline_worktree", "cmd_ab", "run_pairs"]
