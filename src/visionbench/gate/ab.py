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

import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from visionbench import report
from visionbench.cli import (
    EXIT_BAD_INPUT,
    EXIT_PASS,
    EXIT_REGRESSION,
    BadInput,
    load_config,
    say,
    write_text_atomic,
)
from visionbench.gate.config import GateConfig
from visionbench.gate.paired import Judgement, Looks, balanced_orders, judge
from visionbench.gate.runs import Comparison, compare_runs, is_failure
from visionbench.metrics import METRICS
from visionbench.results import Run

TIMING_ONLY_ENV = "VISIONBENCH_TIMING_ONLY"  # read by visionbench.runner.timing_only
QUANTILE = 0.5  # a process's figure: the median of its rounds (steadier across processes
#   than the minimum here; the rounds of one process are not independent samples)
DETERMINISTIC_KINDS = ("memory", "accuracy", "flag")  # compared once per side
BASELINE_FAILED = "in the baseline: "  # a failure of the baseline's process alone
PYTEST_BAD_INPUT = (2, 3, 4, 5)  # interrupted, internal error, usage error, nothing collected


class AbError(BadInput):
    """Bad input to the A/B gate: exit 2."""


# -- git ------------------------------------------------------------------------------


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=check
    )


def toplevel(path: Path) -> Path:
    """The root of the git working tree holding `path`."""
    try:
        proc = git(path, "rev-parse", "--show-toplevel", check=False)
    except FileNotFoundError:
        raise AbError("git is not installed; the A/B gate checks REV out with git") from None
    if proc.returncode != 0:
        raise AbError(f"{path} is not inside a git working tree: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def resolve_rev(repo: Path, rev: str) -> str:
    """The full commit id of `rev`; AbError naming it when it is not a commit here."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
               check=False)  # fmt: skip
    if proc.returncode != 0 or not proc.stdout.strip():
        raise AbError(f"--baseline {rev!r} is not a commit of the repository at {repo}")
    return proc.stdout.strip()


def describe_tree(repo: Path) -> str:
    """The candidate: HEAD's short id, +dirty with uncommitted changes, (detached) off a branch."""
    head = git(repo, "rev-parse", "--short", "HEAD", check=False).stdout.strip() or "no commit"
    dirty = bool(git(repo, "status", "--porcelain").stdout.strip())  # untracked files too
    branch = git(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False).stdout.strip()
    return f"{head}{'+dirty' if dirty else ''} ({branch or 'detached'})"


@contextlib.contextmanager
def baseline_worktree(repo: Path, commit: str) -> Iterator[Path]:
    """`commit` checked out (detached) in a temporary worktree; removed on leaving,
    also on Ctrl-C or SIGTERM (turned into SystemExit while it exists)."""
    tmp = Path(tempfile.mkdtemp(prefix="visionbench-ab-"))
    tree = tmp / "baseline"
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: leave SIGTERM alone
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        proc = git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit, check=False)
        if proc.returncode != 0:
            raise AbError(f"cannot check out {commit} in {tree}: {proc.stderr.strip()}")
        yield tree
    finally:
        git(repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git(repo, "worktree", "prune", check=False)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# -- processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    name: str  # "baseline" or "candidate"
    root: Path  # the tree its pytest runs in
    label: str  # what it is: a commit, or the working tree's description


@dataclass
class Member:
    """One process of one side: a figure per benchmark, or the error it failed with."""

    side: str
    seconds: float
    figures: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    trained: set[str] = field(default_factory=set)  # benches that recorded an accuracy


class Pytest:
    """Runs one side's pytest in a fresh process with the user's arguments."""

    def __init__(self, args: Sequence[str], workdir: Path, python: str = sys.executable) -> None:
        self.args = list(args)
        self.workdir = workdir
        self.python = python
        self.count = 0

    def run(
        self, side: Side, *, timing_only: bool, deselect: Sequence[str] = ()
    ) -> tuple[dict[str, Any], float]:
        """(the saved JSON, seconds). AbError when pytest could not run the selection."""
        self.count += 1
        tag = f"{self.count:04d}-{side.name}{'-timing' if timing_only else '-full'}"
        out, log = self.workdir / f"{tag}.json", self.workdir / f"{tag}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(side.root / "src"), str(side.root)]),
        }
        env.pop(TIMING_ONLY_ENV, None)
        if timing_only:
            env[TIMING_ONLY_ENV] = "1"
        cmd = [self.python, "-m", "pytest", *self.args, "-p", "no:cacheprovider", "-q",
               f"--benchmark-json={out}", *(f"--deselect={n}" for n in deselect)]  # fmt: skip
        start = time.perf_counter()
        with open(log, "w", encoding="utf-8") as fh:
            proc = subprocess.run(cmd, cwd=side.root, env=env, stdout=fh, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
        if proc.returncode in PYTEST_BAD_INPUT or not out.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            raise AbError(
                f"pytest of the {side.name} ({side.label}) exited {proc.returncode} without "
                f"results; its arguments: {' '.join(self.args) or '(none)'}\n{tail}"
            )
        try:
            return json.loads(out.read_text(encoding="utf-8")), seconds
        except json.JSONDecodeError as exc:
            raise AbError(f"unreadable results of the {side.name}: {out}: {exc}") from None


def member_of(side: str, data: Mapping[str, Any], seconds: float, quantile: float) -> Member:
    """A process's figure per benchmark (`quantile` of its rounds) and its failures."""
    member = Member(side, seconds)
    for b in data.get("benchmarks", []):
        name, info, stats = b["fullname"], b.get("extra_info") or {}, b.get("stats") or {}
        if info.get("error"):
            member.errors[name] = str(info["error"])
            continue
        samples = stats.get("data")
        value = float(np.quantile(samples, quantile)) if samples else stats.get("median")
        if not isinstance(value, (int, float)) or value <= 0:
            member.errors[name] = "no timing recorded"
            continue
        member.figures[name] = float(value)
        if "accuracy" in info or "train_time_s" in info:
            member.trained.add(name)
    for b in data.get("visionbench_failed", []):
        member.errors[b["fullname"]] = str((b.get("extra_info") or {}).get("error", "failed"))
    return member


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
            data, seconds = self.pytest.run(side, timing_only=False)
            say(f"  {seconds:.0f} s")
            runs[side.name] = Run(self.pytest.workdir / f"{side.name}.json", data)
        return deterministic_rows(runs["baseline"], runs["candidate"], self.config)

    def member(self, side: Side, deselect: Sequence[str]) -> Member:
        data, seconds = self.pytest.run(side, timing_only=self.timing_only, deselect=deselect)
        return member_of(side.name, data, seconds, self.settings.quantile)

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


TIME_HEADERS = ["benchmark", "metric", "ratio", "interval", "p-value", "pairs", "σ_d", "verdict"]


def short(name: str) -> str:
    return name.split("::")[-1]


def time_rows(result: PairsResult) -> list[list[str]]:
    rows = []
    for name, j in result.judgements.items():
        verdict = j.verdict
        if j.verdict == "inconclusive" and j.detectable is not None:
            verdict += f" (could prove {_pct(j.detectable)})"
        rows.append([
            short(name), "time", f"{j.ratio:.3f}x", _interval(j.ci_low, j.ci_high),
            f"{j.p_value:.2g}", j.pairs,
            "-" if j.sigma_d is None else f"{j.sigma_d:.3f}", verdict,
        ])  # fmt: skip
    for name, why in result.failed.items():
        rows.append([short(name), "time", "", "", "", "", "", f"{failed_verdict(why)}: {why[:80]}"])
    return rows


def _interval(low: float, high: float) -> str:
    if low <= 0 and math.isinf(high):
        return "unbounded (too few pairs)"
    return f"{low:.3f}x to {'inf' if math.isinf(high) else f'{high:.3f}x'}"


def _pct(change: float) -> str:
    return "no change" if math.isinf(change) else f"+{change:.0%}"


def failed_verdict(why: str) -> str:
    """Failed in the candidate (fails the gate), or in the baseline alone (reported)."""
    return "baseline failed" if why.startswith(BASELINE_FAILED) else "failed"


def summarise(
    result: PairsResult, rows: Sequence[Comparison], allow_missing: bool
) -> tuple[int, str, list[str]]:
    verdicts = [j.verdict for j in result.judgements.values()]
    # a bench that failed in the candidate fails the gate; one that failed in the
    # baseline alone is reported (the baseline's trouble is not the change's)
    verdicts += [failed_verdict(why) for why in result.failed.values()]
    failing = [v for v in verdicts if v in ("regression", "failed")]
    failing += [r for r in rows if is_failure(r, allow_missing)]
    counts: dict[str, int] = {}
    for v in [*verdicts, *(r.verdict for r in rows)]:
        counts[v] = counts.get(v, 0) + 1
    parts = ", ".join(f"{n} {v}" for v, n in counts.items())
    code = EXIT_REGRESSION if failing else EXIT_PASS
    headline = f"A/B gate {'FAILED' if failing else 'passed'}: {parts or 'nothing compared'}"
    warnings = []
    undecided = [j for j in result.judgements.values() if j.verdict == "inconclusive"]
    if undecided:
        warnings.append(
            f"WARNING: {len(undecided)} time comparison(s) INCONCLUSIVE after "
            f"{min(j.pairs for j in undecided)}-{max(j.pairs for j in undecided)} pairs: "
            "the processes' noise was too large to decide at the tolerance within the budget. "
            "They pass because nothing was proven, not because nothing changed: give a "
            "larger --budget, or select fewer benchmarks."
        )
    return code, headline, warnings


def to_json(
    result: PairsResult,
    rows: Sequence[Comparison],
    gate: AbGate,
    headline: str,
    code: int,
    rev: str,
    commit: str,
) -> dict[str, Any]:
    def finite(x: float | None) -> float | None:
        return x if x is not None and math.isfinite(x) else None

    benches = []
    for name, j in result.judgements.items():
        base = gate.figures["baseline"].get(name, [])
        cand = gate.figures["candidate"].get(name, [])
        benches.append({
            "name": name, "metric": "time", "ratio": j.ratio, "ci_low": finite(j.ci_low),
            "ci_high": finite(j.ci_high), "confidence": j.confidence, "p_value": j.p_value,
            "p_raw": j.p_raw, "pairs": j.pairs, "verdict": j.verdict, "sigma_d": j.sigma_d,
            "tolerance": j.tolerance, "detectable": finite(j.detectable),
            "baseline_s": float(np.median(base)) if base else None,
            "candidate_s": float(np.median(cand)) if cand else None,
            "log_ratios": result.logs.get(name, []),
        })  # fmt: skip
    for name, why in result.failed.items():
        benches.append({"name": name, "metric": "time", "ratio": None, "ci_low": None,
                        "ci_high": None, "p_value": None, "pairs": len(result.logs.get(name, [])),
                        "verdict": failed_verdict(why), "note": why})  # fmt: skip
    for r in rows:
        benches.append({
            "name": r.benchmark, "metric": r.metric, "ratio": None, "ci_low": None,
            "ci_high": None, "p_value": r.p_value, "pairs": None, "verdict": r.verdict,
            "baseline": r.baseline, "candidate": r.candidate, "change": r.change, "note": r.note,
        })  # fmt: skip
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
        "benchmarks": benches,
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
        lines += [tabulate(time_rows(result), headers=TIME_HEADERS, tablefmt="github"), ""]
    if rows:
        lines += [
            "Deterministic figures (one full run per side):",
            "",
            tabulate(
                report.gate_table_rows(rows),
                headers=[*report.GATE_HEADERS, "detail"],
                tablefmt="github",
            ),
            "",
        ]
    return "\n".join(lines)


def with_benches(root: Path, args: list[str]) -> list[str]:
    """The pytest arguments, with `benches` first unless they name a path (pytest's
    own default, testpaths, is the test suite)."""
    named = any(not a.startswith("-") and (root / a.split("::")[0]).exists() for a in args)
    return args if named else ["benches", *args]


def cmd_ab(args: Any) -> int:
    """`visionbench ab`: see the module docstring."""
    config = load_config(args.config)
    if args.alpha is not None:
        if not 0 < args.alpha < 0.5:
            raise AbError(f"--alpha must be between 0 and 0.5, got {args.alpha}")
        config = dataclasses.replace(config, alpha=args.alpha)
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
    code, headline, warnings = summarise(result, rows, args.allow_missing)
    if result.judgements or result.failed:
        print(tabulate(time_rows(result), headers=TIME_HEADERS))
        print()
    if rows:
        print(tabulate(report.gate_table_rows(rows, detail=False), headers=report.GATE_HEADERS))
        print()
    for w in [*gate.warnings, *warnings]:
        print(w)
    print(headline)
    summary = markdown(result, rows, gate, headline, warnings, args.baseline, commit)
    try:
        write_text_atomic(args.summary, summary)
        say(f"summary written to {args.summary}")
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
                fh.write(summary + "\n")
        if args.json is not None:
            data = to_json(result, rows, gate, headline, code, args.baseline, commit)
            write_text_atomic(args.json, json.dumps(data, indent=2))
            say(f"results written to {args.json}")
    except OSError as exc:
        say(f"warning: could not write the summary or the results: {exc}")
    return code


__all__ = ["EXIT_BAD_INPUT", "AbError", "baseline_worktree", "cmd_ab", "run_pairs"]
