"""Shards: a deterministic slice of the selected benchmarks (`--vb-shard i/n`).

Every shard of a run plans the same partition from the same inputs, and keeps only its
own part:

- the unit of a partition is a bench module on one device: a technique's variants and
  their reference stay in one process (the paired ratios time the reference beside each
  variant, and the trained-model cache serves a module's benches once);
- units are spread by their expected cost (seconds: what their benchmarks took in the
  newest saved runs of this machine that recorded it, `DURATIONS_KEY`) or, with no
  history, by count: the costliest unit first, each to the least loaded shard (ties to the
  lower shard, then by name), so the result depends on the selection and the costs only,
  never on the order items were collected in;
- each shard records the plan it followed (`plan_record`): `visionbench merge` checks that
  its shards followed one plan, and that together they hold every part of it exactly once.

Pure but for `saved_durations`, which reads the storage (never writes it).
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionbench.measure import results

#: Top-level key of a saved run: each benchmark's wall time in the run (setup, call and
#: teardown, seconds), by pytest node id: the costs a later partition is balanced by.
DURATIONS_KEY = "visionbench_durations"
#: Top-level key of a shard's saved run: the plan it followed (`plan_record`) and where it ran.
SHARD_KEY = "visionbench_shard"
#: The newest saved runs read for costs: enough to cover a selection run in parts.
COST_RUNS = 10

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, order=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def within(self, part: int, parts: int) -> Shard:
        """Part `part` (0-based) of this shard cut into `parts` more: shard
        (index-1)·parts + part + 1 of count·parts, so shards of shards stay one plan."""
        return Shard((self.index - 1) * parts + part + 1, self.count * parts)


def parse(text: str) -> Shard:
    """`i/n` with 1 ≤ i ≤ n; ValueError naming the text otherwise."""
    m = SHARD.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not i/n (e.g. 1/2: the first of two shards)")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"{text!r}: the shard i of n must be 1 ≤ i ≤ n (n ≥ 1)")
    return Shard(index, count)


def unit_of(nodeid: str, device: str | None = None) -> str:
    """The unit a benchmark is planned with: its module, on its device."""
    module = nodeid.split("::", 1)[0]
    return f"{module}[{device}]" if device else module


def partition(costs: Mapping[str, float], count: int) -> list[list[str]]:
    """The units (name -> cost, seconds) in `count` parts of nearly equal cost: the
    costliest first, each to the least loaded part. The largest part exceeds the smallest
    by at most the costliest unit."""
    parts: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for unit in sorted(costs, key=lambda u: (-costs[u], u)):
        k = min(range(count), key=lambda i: (loads[i], i))
        parts[k].append(unit)
        loads[k] += costs[unit]
    return parts


def unit_costs(
    units: Mapping[str, Sequence[str]],
    durations: Mapping[str, float],
    skipped: Set[str] = frozenset(),
) -> dict[str, float]:
    """Each unit's expected cost: the sum of its benchmarks' saved durations; a benchmark
    without one costs the median of those known, one skipped before it runs (a CUDA
    variant without CUDA) nothing. Without any known, every benchmark that runs costs 1:
    the split is by count."""
    known = [float(durations[n]) for ids in units.values() for n in ids if n in durations]
    default = statistics.median(known) if known else 1.0

    def cost(nodeid: str) -> float:
        if nodeid in skipped:
            return 0.0
        return float(durations[nodeid]) if nodeid in durations else default

    return {unit: round(sum(cost(n) for n in ids), 3) for unit, ids in units.items()}


@dataclass(frozen=True)
class Plan:
    """Which unit goes to which of `count` shards, and the selection it was made from."""

    count: int
    parts: tuple[tuple[str, ...], ...]  # units per shard, shard 1 first
    units: Mapping[str, tuple[str, ...]]  # unit -> node ids
    by_cost: bool  # costs from saved durations (else by count)

    def nodeids(self, shard: Shard) -> set[str]:
        return {n for unit in self.parts[shard.index - 1] for n in self.units[unit]}

    def record(self, indices: Iterable[int]) -> dict[str, Any]:
        """What a shard's run keeps of the plan (`SHARD_KEY`): enough to check at merge
        time that shards agree, never the selection itself."""
        selection = sorted(n for ids in self.units.values() for n in ids)
        return {
            "indices": sorted(indices),
            "count": self.count,
            "selected": len(selection),
            "selection": digest(selection),
            "plan": digest([sorted(p) for p in self.parts]),
            "sizes": [sum(len(self.units[u]) for u in p) for p in self.parts],
            "by": "cost" if self.by_cost else "count",
        }


def plan(
    units: Mapping[str, Sequence[str]],
    count: int,
    durations: Mapping[str, float],
    skipped: Set[str] = frozenset(),
) -> Plan:
    """The partition of `units` (unit -> its node ids) into `count` shards; `skipped`:
    node ids skipped before they run (they cost nothing)."""
    costs = unit_costs(units, durations, skipped)
    parts = partition(costs, count)
    by_cost = any(n in durations for ids in units.values() for n in ids)
    frozen = {u: tuple(ids) for u, ids in units.items()}
    return Plan(count, tuple(tuple(p) for p in parts), frozen, by_cost)


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def saved_durations(storage: Path, runs: int = COST_RUNS) -> dict[str, float]:
    """Each benchmark's newest recorded duration in this machine's newest `runs` saved
    runs ({} without a storage or durations); unreadable runs are passed over."""
    try:
        files = results.run_files(results.machine_folder(storage))
    except results.ResultsError:
        return {}
    found: dict[str, float] = {}
    for path in reversed(files[-runs:]):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        saved = data.get(DURATIONS_KEY) if isinstance(data, dict) else None
        if isinstance(saved, dict):
            for nodeid, seconds in saved.items():
                if isinstance(seconds, (int, float)) and seconds >= 0:
                    found.setdefault(nodeid, float(seconds))
    return found
