"""What the A/B gate knows of this machine's noise: calibrations, saved by fingerprint.

`visionbench ab --calibrate` runs the baseline against itself through a lane
for a few minutes. The timing lane's calibration gives per benchmark the
spread of one round-pair's log-ratio (within a block), the spread of a
block's figure (between blocks: what the test across blocks sees), what a
block costs, and so the smallest change provable in 5, 15 or 30 minutes; the
instruction lane's gives how far two processes of the same code count apart.
Both are saved in the storage folder (`visionbench-ab-calibration.json`),
keyed by the machine's fingerprint (CPU, cores, threads, torch, GPUs) and the
arrangement (one zygote, or one per side where the sides differ in Python or
variables: the A/A then runs the baseline's environment in two zygotes): a
later `--budget` plans its blocks with the entry of this machine, and the
instruction lane takes its tolerance from it (never below the configured
one). The same file keeps how long each selection's full runs took, so that
the budget can leave them their time.
"""

from __future__ import annotations

import datetime
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from visionbench.ab.output import provable_pct
from visionbench.core.exits import say
from visionbench.core.files import write_json_atomic
from visionbench.stats.defaults import POWER
from visionbench.stats.paired import pairs_needed, provable_change

FILE = "visionbench-ab-calibration.json"
MINUTES = (5, 15, 30)  # the budgets the calibration's table answers for
INSTRUCTION_MARGIN = 3.0  # a calibrated instruction tolerance: this times the A/A deviation


def machine_key(
    cpu_model: str, cores: int, threads: int, torch: str, gpus: Sequence[str], zygotes: int = 1
) -> dict:
    """What a calibration belongs to: another CPU, thread count, torch or GPU is
    another machine's noise, and so are two zygotes (sides in two Pythons or
    environments: `torch` is then the baseline's) against one."""
    key = {
        "cpu_model": cpu_model,
        "cores": cores,
        "threads": threads,
        "torch": torch,
        "gpus": sorted(gpus),
    }
    return key if zygotes == 1 else {**key, "zygotes": zygotes}


@dataclass(frozen=True)
class BenchNoise:
    """One benchmark's noise in the timing lane, from A/A blocks."""

    unit_s: float  # one call of its unit (median)
    rounds: int  # round-pairs per block
    round_pair_sd: float | None  # sd of one round-pair's log-ratio within a block
    block_sd: float | None  # sd of a block's figure (median log-ratio) between blocks
    blocks: int
    rounds_s: float  # seconds of its round-pairs in a block


@dataclass(frozen=True)
class TimeCalibration:
    benchmarks: dict[str, BenchNoise]
    setup_s: float  # the invocation's start: worktree, zygote
    block_s: float  # a block of the whole selection: forks, builds, round-pairs
    date: str = ""

    def blocks_in(self, seconds: float, names: Sequence[str] | None = None) -> int:
        """Blocks that fit in `seconds` of timing; `names`: a block of these only."""
        block = self.block_of(names)
        return max(0, math.floor((seconds - self.setup_s) / block)) if block > 0 else 0

    def block_of(self, names: Sequence[str] | None) -> float:
        """A block's seconds: its set-up, plus the round-pairs of `names` (None: all)."""
        rounds = sum(b.rounds_s for b in self.benchmarks.values())
        chosen = (
            rounds
            if names is None
            else sum(b.rounds_s for n, b in self.benchmarks.items() if n in names)
        )
        return self.block_s - rounds + chosen


def noise_of(blocks: Sequence[Any], setup_s: float) -> TimeCalibration:
    """A/A blocks (`timing.Block`) summarised per benchmark."""
    names = [n for n in blocks[0].logs] if blocks else []
    out = {}
    for n in names:
        per_block = [b.logs[n] for b in blocks if b.logs.get(n)]
        medians = [statistics.median(d) for d in per_block]
        within = [statistics.variance(d) for d in per_block if len(d) >= 2]
        seconds = [s for b in blocks for s in b.seconds["baseline"].get(n, [])]
        pair_s = [
            sum(b.seconds["baseline"][n]) + sum(b.seconds["candidate"][n])
            for b in blocks
            if b.logs.get(n)
        ]
        out[n] = BenchNoise(
            unit_s=statistics.median(seconds) if seconds else 0.0,
            rounds=round(statistics.median(len(d) for d in per_block)) if per_block else 0,
            round_pair_sd=math.sqrt(statistics.fmean(within)) if within else None,
            block_sd=statistics.stdev(medians) if len(medians) >= 3 else None,
            blocks=len(medians),
            rounds_s=statistics.median(pair_s) if pair_s else 0.0,
        )
    block_s = statistics.median(b.setup_s + b.rounds_s for b in blocks) if blocks else 0.0
    return TimeCalibration(out, setup_s, block_s, now())


def provable_rows(
    cal: TimeCalibration, alpha: float, minutes: Sequence[int] = MINUTES
) -> list[list[Any]]:
    """Per benchmark: round-pair and block spreads, blocks run, and the smallest change
    provable (power 0.9, one-sided alpha shared by the selection, Bonferroni) with the
    blocks that fit in each of `minutes`, every benchmark in every block."""
    m = max(1, len(cal.benchmarks))
    rows = []
    for name, b in cal.benchmarks.items():
        provable = [
            provable_change(b.block_sd, cal.blocks_in(t * 60), alpha, POWER, m) for t in minutes
        ]
        rows.append(
            [
                name.split("::")[-1],
                f"{b.unit_s * 1e3:.1f} ms",
                b.rounds,
                _sd(b.round_pair_sd),
                _sd(b.block_sd),
                b.blocks,
                *(provable_pct(p) for p in provable),
            ]
        )
    return rows


def provable_headers(minutes: Sequence[int] = MINUTES) -> list[str]:
    return [
        "benchmark",
        "unit",
        "round-pairs",
        "sd round-pair",
        "sd block",
        "blocks",
        *(f"provable in {t} min" for t in minutes),
    ]


def plan_rows(
    cal: TimeCalibration,
    names: Sequence[str],
    seconds: float,
    alpha: float,
    tolerance: Mapping[str, float],
) -> list[list[Any]]:
    """The budget's plan per benchmark: blocks needed to prove its tolerance, blocks
    that fit in `seconds`, and the change provable with those."""
    fit = cal.blocks_in(seconds, [n for n in names if n in cal.benchmarks])
    m = max(1, len(names))
    rows = []
    for n in names:
        b = cal.benchmarks.get(n)
        if b is None or b.block_sd is None:
            rows.append([n.split("::")[-1], "-", "not calibrated", fit, "-"])
            continue
        need = pairs_needed(b.block_sd, tolerance[n], alpha, POWER, m)
        provable = provable_change(b.block_sd, fit, alpha, POWER, m)
        rows.append([n.split("::")[-1], _sd(b.block_sd), need, fit, provable_pct(provable)])
    return rows


PLAN_HEADERS = ["benchmark", "sd block", "blocks needed", "blocks that fit", "provable"]


def _sd(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# -- the instruction lane ------------------------------------------------------------------


def instruction_tolerances(
    base: Mapping[str, Sequence[int]], cand: Mapping[str, Sequence[int]]
) -> dict[str, dict[str, float]]:
    """From an A/A of the instruction lane, per benchmark: how far the two sides' medians
    were apart, the largest spread of one side's repeats, and the tolerance (the larger
    of the two, times INSTRUCTION_MARGIN)."""
    out = {}
    for n in base.keys() & cand.keys():
        if not base[n] or not cand[n]:
            continue
        apart = abs(math.log(statistics.median(cand[n]) / statistics.median(base[n])))
        spread = max(math.log(max(c) / min(c)) for c in (base[n], cand[n]))
        out[n] = {
            "apart": apart,
            "spread": spread,
            "tolerance": math.expm1(INSTRUCTION_MARGIN * max(apart, spread)),
        }
    return out


# -- the file ----------------------------------------------------------------------------------


class Store:
    """The calibration file of a storage folder: one entry per machine fingerprint."""

    def __init__(self, storage: Path) -> None:
        self.path = Path(storage) / FILE

    def _entries(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            say(f"warning: ignoring the unreadable calibration file {self.path}: {exc}")
            return []
        entries = data.get("entries") if isinstance(data, dict) else None
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def entry(self, machine: Mapping[str, Any]) -> dict[str, Any]:
        for e in self._entries():
            if e.get("machine") == dict(machine):
                return e
        return {"machine": dict(machine)}

    def update(self, machine: Mapping[str, Any], **parts: Any) -> None:
        """Merge `parts` into this machine's entry (benchmarks merged by name) and save
        the file atomically."""
        entries = [e for e in self._entries() if e.get("machine") != dict(machine)]
        entry = self.entry(machine)
        for key, value in parts.items():
            if isinstance(value, dict) and isinstance(entry.get(key), dict):
                merged = dict(entry[key])
                for k, v in value.items():
                    if k == "benchmarks" and isinstance(merged.get(k), dict):
                        merged[k] = {**merged[k], **v}
                    else:
                        merged[k] = v
                entry[key] = merged
            else:
                entry[key] = value
        write_json_atomic(self.path, {"entries": [*entries, entry]})

    def time(self, machine: Mapping[str, Any]) -> TimeCalibration | None:
        part = self.entry(machine).get("time")
        if not isinstance(part, dict):
            return None
        try:
            benches = {n: BenchNoise(**b) for n, b in part["benchmarks"].items()}
            return TimeCalibration(benches, part["setup_s"], part["block_s"], part.get("date", ""))
        except (KeyError, TypeError) as exc:
            say(f"warning: ignoring this machine's timing calibration in {self.path}: {exc}")
            return None

    def save_time(self, machine: Mapping[str, Any], cal: TimeCalibration) -> None:
        self.update(
            machine,
            time={
                "benchmarks": {n: asdict(b) for n, b in cal.benchmarks.items()},
                "setup_s": cal.setup_s,
                "block_s": cal.block_s,
                "date": cal.date,
            },
        )

    def instruction_tolerance(self, machine: Mapping[str, Any], name: str) -> float | None:
        part = self.entry(machine).get("instructions")
        bench = part.get("benchmarks", {}).get(name) if isinstance(part, dict) else None
        value = bench.get("tolerance") if isinstance(bench, dict) else None
        return float(value) if isinstance(value, (int, float)) else None

    def full_run_s(self, machine: Mapping[str, Any], selection: str) -> float | None:
        value = self.entry(machine).get("full_runs", {}).get(selection)
        return float(value) if isinstance(value, (int, float)) else None
