"""A CI matrix's runs: the shards `ci shard` saved on N runners of one testbed, found in
the folder their artifacts were downloaded to (`--shard-runs DIR`) and merged into the
final job's one run (`measure.merge`), which the job then gates and pushes as it would
the run of its own benches.

Refused, exit 2 with the reason (`CiError`), nothing gated or pushed:
- a folder that is missing or holds no run (no shard uploaded one);
- a run that is not a shard's (`ci shard` records the plan it followed);
- a shard of another commit than the one this job tests (an older run's artifact);
- what `visionbench merge` refuses: shards of different commits or machine fingerprints,
  a benchmark in two shards, shards of different plans, a shard of the plan missing.
"""

from __future__ import annotations

from pathlib import Path

from visionbench.ci.context import CiError
from visionbench.measure import merge, results, shards
from visionbench.measure.results import ResultsError, Run


def runs_in(folder: Path) -> list[Run]:
    """Every saved run under `folder` (each artifact in its own sub-folder), by path."""
    if not folder.is_dir():
        raise CiError(f"--shard-runs {folder}: no such folder (were the shards' runs downloaded?)")
    paths = sorted(p for p in folder.rglob("*.json") if results.RUN_FILE.match(p.name))
    if not paths:
        raise CiError(
            f"--shard-runs {folder} holds no saved run: no shard job uploaded one (see their logs)"
        )
    try:
        return [results.load(p) for p in paths]
    except ResultsError as exc:
        raise CiError(f"--shard-runs: {exc}") from None


def merged(folder: Path, storage: Path, head: str) -> tuple[Run, int]:
    """The shards' runs under `folder` merged and saved in `storage` (the job's run/):
    the run, and how many shard runs made it."""
    runs = runs_in(folder)
    for run in runs:
        if not isinstance(run.data.get(shards.SHARD_KEY), dict):
            raise CiError(
                f"{run.path} is not a shard's run (it records no plan, {shards.SHARD_KEY}): "
                "`visionbench ci shard --shard I/N` saves those"
            )
        if run.commit_id != head:
            raise CiError(
                f"{run.path} was made at commit {run.commit or '(unknown)'}, and this job tests "
                f"{head[:12]}: a shard of another run (an older run's artifact?)"
            )
    try:
        data = merge.merge(runs)
    except merge.MergeError as exc:
        raise CiError(f"the shards' runs cannot be merged: {exc}") from None
    return results.load(merge.save(data, None, storage)), len(runs)


def plan_line(run: Run) -> str:
    """Which shards a merged run holds, and how they were planned."""
    record = run.data.get(shards.SHARD_KEY) or {}
    count = record.get("count", "?")
    indices = ", ".join(f"{i}/{count}" for i in record.get("indices") or [])
    empty = sum(1 for n in record.get("sizes") or [] if n == 0)
    planned_none = f", {empty} planned none" if empty else ""
    return f"shards {indices}, split by {record.get('by', '?')}{planned_none}"
