"""Shards' runs merged into one pytest-benchmark run (`visionbench merge RUN... [-o OUT]`).

A merged run is a run like any other: the gate, the report, the history branch and the
site read it as they read one pytest session's. Shards merge only when they are one
run cut in parts:

- one commit (the same id, with or without uncommitted changes alike);
- one fingerprint: every compared field equal (`fingerprint.differences`); the merged
  fingerprint is theirs, plus `shards`: where each shard ran (host, worker, GPUs);
- no benchmark in two shards;
- shards of `--vb-shard` followed one plan (the same selection, count and partition)
  and together hold each of its shards once (a shard whose part was empty saves nothing
  and is not missed).

Anything else is refused with the reason (`MergeError`, exit 2).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visionbench.core.exits import EXIT_PASS, BadInput, say
from visionbench.core.files import write_json_atomic
from visionbench.measure import results, shards
from visionbench.measure.machines import machine_differences
from visionbench.measure.results import Run

#: The fingerprint's list of where each shard ran (informative: never compared).
SHARDS_FIELD = "shards"


class MergeError(Exception):
    """Shards that are not parts of one run; the message says why."""


def merge(runs: Sequence[Run]) -> dict[str, Any]:
    """The run the shards `runs` are parts of, as pytest-benchmark's JSON."""
    if not runs:
        raise MergeError("no run to merge")
    first = runs[0]
    for run in runs[1:]:
        if (run.commit_id, run.dirty) != (first.commit_id, first.dirty):
            raise MergeError(
                f"{run.path} was made at commit {run.commit or '(unknown)'}, "
                f"{first.path} at {first.commit or '(unknown)'}: shards of one run share a commit"
            )
        diff = machine_differences(first, run)
        if diff:
            fields = "; ".join(f"{k}: {a!r} against {b!r}" for k, (a, b) in diff.items())
            raise MergeError(
                f"{run.path} and {first.path} have different machine fingerprints ({fields})"
            )
    where: dict[str, Path] = {}
    for run in runs:
        for name in run.benchmarks:
            if name in where:
                raise MergeError(f"{name} is in both {where[name]} and {run.path}")
            where[name] = run.path
    record = check_plan(runs)

    data = copy.deepcopy(first.data)
    data["benchmarks"] = [b for run in runs for b in run.data["benchmarks"]]
    failed = [b for run in runs for b in run.data.get("visionbench_failed", [])]
    data.pop("visionbench_failed", None)
    if failed:
        data["visionbench_failed"] = failed
    durations = {}
    for run in runs:
        durations.update(run.data.get(shards.DURATIONS_KEY) or {})
    if durations:
        data[shards.DURATIONS_KEY] = durations
    if record is not None:
        data[shards.SHARD_KEY] = record
    data["datetime"] = max(run.datetime for run in runs)
    fp = data["machine_info"].get("visionbench")
    if isinstance(fp, dict):
        fp[SHARDS_FIELD] = [place for run in runs for place in places(run)]
    return data


def check_plan(runs: Sequence[Run]) -> dict[str, Any] | None:
    """The merged plan record when the runs are `--vb-shard` shards of one plan (None
    when none is a shard); MergeError when they are not parts of one."""
    records = [(run, run.data.get(shards.SHARD_KEY)) for run in runs]
    planned = [(run, r) for run, r in records if isinstance(r, dict)]
    if not planned:
        return None
    if len(planned) < len(runs):
        plain = next(run for run, r in records if not isinstance(r, dict))
        raise MergeError(f"{plain.path} is not a shard (no {shards.SHARD_KEY}), the others are")
    run0, first = planned[0]
    same = ("count", "selection", "plan")
    for run, record in planned[1:]:
        for key in same:
            if record.get(key) != first.get(key):
                what = {"count": "shard count", "selection": "selection", "plan": "partition"}
                raise MergeError(
                    f"{run.path} and {run0.path} are shards of different plans (their "
                    f"{what[key]} differs: {record.get(key)} against {first.get(key)}): run "
                    "every shard with the same arguments and the same saved history"
                )
    seen: dict[int, Path] = {}
    for run, record in planned:
        for index in record.get("indices") or []:
            if index in seen:
                raise MergeError(
                    f"shard {index}/{first['count']} is in both {seen[index]} and {run.path}"
                )
            seen[index] = run.path
    sizes = first.get("sizes") or []
    missing = [
        i for i in range(1, int(first["count"]) + 1)
        if i not in seen and (i > len(sizes) or sizes[i - 1] > 0)
    ]  # fmt: skip
    if missing:
        names = ", ".join(f"{i}/{first['count']}" for i in missing)
        raise MergeError(f"shards {names} are missing: they planned benchmarks but none is here")
    merged = {k: v for k, v in first.items() if k != "where"}  # each place: in `shards`
    return {**merged, "indices": sorted(seen)}


def places(run: Run) -> list[dict[str, Any]]:
    """Where a run's shards ran: a merged run's own list, else this run's one place."""
    fp = run.machine_info.get("visionbench") or {}
    if isinstance(fp.get(SHARDS_FIELD), list):
        return list(fp[SHARDS_FIELD])
    record = run.data.get(shards.SHARD_KEY) or {}
    place = dict(record.get("where") or {})
    place.setdefault("host", run.machine_info.get("node"))
    place.setdefault("gpu_name", fp.get("gpu_name"))
    return [{"shards": record.get("indices"), **place}]


def save(data: dict[str, Any], out: Path | None, storage: Path) -> Path:
    """Write the merged run to `out`, or as the next run of this machine's storage folder
    (`NNNN_merged_<commit>.json`, so `latest` names it); whole or not at all."""
    if out is None:
        try:
            folder = results.machine_folder(storage)
        except results.ResultsError:
            from pytest_benchmark.utils import get_machine_id

            folder = Path(storage) / get_machine_id()
        files = results.run_files(folder) if folder.is_dir() else []
        number = int(results.RUN_FILE.match(files[-1].name).group(1)) + 1 if files else 1
        commit = str((data.get("commit_info") or {}).get("id") or "")[:8] or "unknown"
        out = folder / f"{number:04d}_merged_{commit}.json"
    write_json_atomic(out, data)
    return out


def cmd_merge(args: Any) -> int:
    """`visionbench merge RUN... [-o OUT]`: exit 0 written, 2 refused (MergeError)."""
    runs = [results.load_run(spec, args.storage) for spec in args.runs]
    paths = [run.path.resolve() for run in runs]
    if len(set(paths)) < len(paths):
        raise BadInput("a run is named twice")
    try:
        data = merge(runs)
    except MergeError as exc:
        raise BadInput(str(exc)) from None
    path = save(data, args.out, args.storage)
    say(f"merged {len(runs)} runs ({len(data['benchmarks'])} benchmarks) into {path}")
    print(path)
    return EXIT_PASS


def add_parser(sub: Any, storage: Any) -> None:
    """`visionbench merge` on the command line's subparsers."""
    m = sub.add_parser(
        "merge",
        help="one run from the runs of shards of one commit and one machine fingerprint",
        description="Merge runs of shards (--vb-shard, or the per-device workers) into one "
        "pytest-benchmark run: refused (exit 2) unless they share a commit and a machine "
        "fingerprint, hold no benchmark twice and, as --vb-shard shards, followed one plan "
        "and hold each of its shards once.",
    )
    m.add_argument("runs", nargs="+", metavar="RUN", help="a run file, an id, a name or latest")
    m.add_argument(
        "-o", "--out", type=Path, help="the merged run's file (default: the storage's next run)"
    )
    storage(m)
    m.set_defaults(func=cmd_merge)
