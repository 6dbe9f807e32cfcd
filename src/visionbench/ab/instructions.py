"""The instruction lane: each unit's instructions on both sides, counted by callgrind.

For CPU runners whose timings no one controls (shared CI machines): the
instructions a training step or an inference batch executes do not depend
on the load beside it, so the two sides are counted at the same time, each
by a worker of the zygote that runs
`torch.utils.benchmark.Timer(..., num_threads=1).collect_callgrind` over its
side's units (`zygote.count_instructions`: the units built inside Timer's
valgrind'ed interpreter, each counted `repeats` times, denoised). A unit's
figure is the median of its counts; the ratio candidate/baseline is a
regression beyond the tolerance: the configured one (from an A/A measured
here), or this machine's calibrated one where that is larger.

What it cannot see: memory bandwidth and cache misses (an instruction costs
the same in the count whether it waits on memory or not), layout-only
changes (channels_last runs about the same instructions in another order),
threads (counted on one), and anything on a GPU. Those need the timing lane.
Reported as `instructions`, never as time.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionbench.ab import defaults
from visionbench.ab.processes import (
    BASELINE_FAILED,
    PYTEST_BAD_INPUT,
    Pinned,
    Side,
    Zygote,
    tail,
    worker_args,
)
from visionbench.ab.worktree import AbError
from visionbench.core.exits import BadInput

METRIC = "instructions"
TOOLS = ("valgrind", "callgrind_control", "callgrind_annotate")
INSTALL = "apt-get install valgrind (Debian, Ubuntu; dnf install valgrind on Fedora)"


def missing_valgrind() -> str | None:
    """One line naming what is missing and how to install it; None when all is there."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not missing:
        return None
    return (
        f"the instruction lane needs valgrind, and {', '.join(missing)} is not installed: {INSTALL}"
    )


def require_valgrind() -> None:
    why = missing_valgrind()
    if why is not None:
        raise BadInput(why)


@dataclass(frozen=True)
class Counted:
    """One side's counts: per benchmark the instructions of each repeat, and its failures."""

    counts: dict[str, list[int]]
    failed: dict[str, str]
    skipped: dict[str, str]
    not_timed: dict[str, str]
    seconds: float


def count_sides(
    zygote: Zygote,
    sides: Mapping[str, Side],
    args: Sequence[str],
    pinned: Pinned,
    workdir: Path,
    repeats: int,
    timeout_s: float,
) -> dict[str, Counted]:
    """Both sides counted at once (a worker each); by side name."""
    workers = {}
    for key, side in sides.items():
        tag = f"instructions-{side.name}-{key}"
        spec = {
            "mode": "instructions",
            "side": side.name,
            "root": str(side.root),
            "args": worker_args(side.root, args, workdir / "tmp" / tag),
            # under valgrind: these options with the node ids the first run built
            "node_args": worker_args(side.root, args, workdir / "tmp" / f"{tag}-valgrind", []),
            "threads": 1,
            "warmup": 1,
            "vgdb_dir": str(workdir / f"vgdb-{key}"),  # see zygote.count_instructions
            "max_unit_s": defaults.MAX_UNIT_SECONDS["instructions"],  # natively; x50 counted
            "repeats": repeats,
            "cwd": str(pinned.cwd),
            "log": str(workdir / f"{tag}.log"),
        }
        workers[key] = zygote.fork(spec)
    out = {}
    for key, worker in workers.items():
        message = worker.receive(timeout_s)
        report = message[1]
        side = sides[key]
        if report["exit"] in PYTEST_BAD_INPUT or message[0] != "counted":
            raise AbError(
                f"pytest of the {side.name} ({side.label}) exited {report['exit']} without "
                f"results; its arguments: {' '.join(args) or '(none)'}\n{tail(worker.log)}"
            )
        counted = message[2]
        out[key] = Counted(
            counted["counts"],
            report["failed"],
            report["skipped"],
            report["not_timed"],
            counted.get("seconds", 0.0),
        )
        worker.quit()
    return out


@dataclass(frozen=True)
class InstructionVerdict:
    name: str
    verdict: str  # regression, improvement, unchanged, inconclusive
    baseline: float  # median instructions of one call
    candidate: float
    ratio: float
    spread: float  # the larger side's max/min - 1 over its repeats
    tolerance: float
    counts: dict[str, list[int]]  # by side name


def judge_counts(
    base: Sequence[int], cand: Sequence[int], tolerance: float, name: str = ""
) -> InstructionVerdict:
    """Candidate against baseline, by the ranges of their repeats: a regression when every
    candidate count exceeds every baseline count by more than the tolerance, an
    improvement when every one is below by as much, unchanged when all of them lie within
    the tolerance of each other, inconclusive otherwise (repeats that vary more than the
    tolerance, around it)."""
    lo_b, hi_b, lo_c, hi_c = min(base), max(base), min(cand), max(cand)
    bound = 1 + tolerance
    if lo_c > hi_b * bound:
        verdict = "regression"
    elif hi_c * bound < lo_b:
        verdict = "improvement"
    elif hi_c <= lo_b * bound and lo_c * bound >= hi_b:
        verdict = "unchanged"
    else:
        verdict = "inconclusive"
    b, c = statistics.median(base), statistics.median(cand)
    spread = max(hi_b / lo_b, hi_c / lo_c) - 1
    return InstructionVerdict(
        name, verdict, b, c, c / b, spread, tolerance,
        {"baseline": list(base), "candidate": list(cand)},
    )  # fmt: skip


def compare(
    base: Counted, cand: Counted, tolerance_of: Any
) -> tuple[list[InstructionVerdict], dict[str, str]]:
    """Verdicts of the benchmarks both sides counted, and the failures (the baseline's
    marked as such)."""
    verdicts, failed = [], {}
    for n, why in cand.failed.items():
        failed[n] = why
    for n, why in base.failed.items():
        failed.setdefault(n, f"{BASELINE_FAILED}{why}")
    for n in cand.counts:
        if n in base.counts and n not in failed and base.counts[n] and cand.counts[n]:
            verdicts.append(judge_counts(base.counts[n], cand.counts[n], tolerance_of(n), n))
    return verdicts, failed


def fmt_count(x: float) -> str:
    """Instructions, short: 1.23e9 -> '1.230 G'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3f} {unit}"
    return f"{x:.0f}"


HEADERS = [
    "benchmark",
    "metric",
    "baseline",
    "candidate",
    "change",
    "tolerance",
    "spread",
    "verdict",
]


def rows(verdicts: Sequence[InstructionVerdict]) -> list[list[str]]:
    return [
        [
            v.name.split("::")[-1],
            METRIC,
            fmt_count(v.baseline),
            fmt_count(v.candidate),
            f"{v.ratio - 1:+.2%}",
            f"±{v.tolerance:.2%}",
            f"{v.spread:.2%}",
            v.verdict,
        ]
        for v in verdicts
    ]


def to_json(v: InstructionVerdict) -> dict[str, Any]:
    return {
        "name": v.name,
        "metric": METRIC,
        "verdict": v.verdict,
        "ratio": v.ratio,
        "baseline_instructions": v.baseline,
        "candidate_instructions": v.candidate,
        "change": v.ratio - 1,
        "tolerance": v.tolerance,
        "spread": v.spread,
        "counts": v.counts,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "pairs": None,
    }
