"""Every saved run of a storage, kept apart by machine fingerprint, as series per figure.

A storage is pytest-benchmark's (`DIR/<machine id>/NNNN_*.json`), a folder of runs
itself, or the `benchmark-history` branch's checkout (one folder per fingerprint).
Every run in it is read with `results.load`; one that cannot be read is named and
skipped, the rest are used. Runs are grouped by fingerprint (`measure.machines`: the
same rule that decides which runs the gate compares), so that two machines, or one
machine with another torch or profile, never share a line; within a machine they
are ordered by commit date (then by when they ran).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from visionbench.measure import results
from visionbench.measure.fingerprint import FIELDS, testbed
from visionbench.measure.machines import FALLBACK_FIELDS, machine_differences
from visionbench.measure.results import Bench, ResultsError, Run
from visionbench.report import history as report_history
from visionbench.report import sections

#: The figures of the history, in page order: metric name -> what the axis shows.
FIGURES = {
    "time": "median time per unit",
    "peak_mem_bytes": "peak memory",
    "accuracy": "test accuracy",
    "ratio_vs_ref": "time ÷ the reference's (95% interval where paired)",
}


def when(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (the earliest time when unreadable)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(
        timezone.utc
    )


def commit_order(run: Run) -> tuple[datetime, datetime, str]:
    return when(run.commit_time), when(run.datetime), str(run.path)


def fingerprint_of(run: Run) -> dict[str, object]:
    """The fields that identify a run's machine: visionbench's fingerprint, or
    pytest-benchmark's own fields for a run made outside this repository's conftest."""
    fp = run.machine_info.get("visionbench")
    if isinstance(fp, dict):
        return {k: fp.get(k) for k in FIELDS if k in fp}
    out: dict[str, object] = {}
    for dotted in FALLBACK_FIELDS:
        value: object = run.machine_info
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[dotted] = value
    return out


def machine_key(run: Run) -> str:
    """A short, stable id of a run's fingerprint (8 hex digits)."""
    text = json.dumps(fingerprint_of(run), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def machine_label(run: Run) -> str:
    """The fingerprint in a few words (`fingerprint.testbed`): `NVIDIA H100 ×1 · driver
    570.86 · CUDA 13.0 · torch 2.14.1 · standard`."""
    fp = fingerprint_of(run)
    if "cpu_model" not in fp:  # pytest-benchmark's fields only
        return f"{fp.get('cpu.brand_raw') or fp.get('machine')} · python {fp.get('python_version')}"
    return " · ".join(testbed(fp))


def folder_name(run: Run) -> str:
    """A folder for a fingerprint's runs: its words as a file name, and its key."""
    words = re.sub(r"[^A-Za-z0-9.]+", "-", machine_label(run)).strip("-")[:80]
    return f"{words}-{machine_key(run)}"


@dataclass
class Machine:
    """The runs of one fingerprint, in commit order."""

    key: str
    label: str
    runs: list[Run] = field(default_factory=list)


@dataclass
class History:
    storage: Path
    machines: list[Machine]
    skipped: list[ResultsError]

    @property
    def runs(self) -> list[Run]:
        return [run for m in self.machines for run in m.runs]

    def techniques(self) -> list[str]:
        """Every technique of every run, in the order first seen."""
        seen: dict[str, None] = {}
        for run in self.runs:
            for bench in run.benchmarks.values():
                seen.setdefault(bench.technique)
        return list(seen)


def storage_files(storage: Path) -> list[Path]:
    """The run files of a storage: its own and those of its folders (one level)."""
    storage = Path(storage)
    if not storage.is_dir():
        raise ResultsError(f"benchmark storage {storage} does not exist (run `nox -s bench`)")
    folders = [storage, *sorted(p for p in storage.iterdir() if p.is_dir())]
    files = [path for folder in folders for path in results.run_files(folder)]
    if not files:
        raise ResultsError(
            f"benchmark storage {storage} holds no saved runs (NNNN_*.json; run `nox -s bench`)"
        )
    return files


def read_history(storage: Path, say: Callable[[str], None] = print) -> History:
    """Every readable run of `storage`, grouped by fingerprint; unreadable ones skipped
    (each named through `say`). Raises ResultsError when nothing can be read."""
    files = storage_files(storage)
    say(f"reading {len(files)} saved runs from {storage}...")
    skipped: list[ResultsError] = []
    machines: list[Machine] = []
    for i, path in enumerate(files, 1):
        try:
            run = results.load(path)
        except ResultsError as exc:
            skipped.append(exc)
            say(f"warning: skipped: {exc}")
            continue
        home = next((m for m in machines if not machine_differences(m.runs[0], run)), None)
        if home is None:
            label = machine_label(run)
            if any(m.label == label for m in machines):  # differs in a field not in words
                label += f" [{machine_key(run)}]"
            home = Machine(machine_key(run), label)
            machines.append(home)
        home.runs.append(run)
        if i % 20 == 0:
            say(f"  {i}/{len(files)}")
    if not machines:
        raise ResultsError(f"no readable run in {storage}: all {len(files)} are unreadable")
    for m in machines:
        m.runs.sort(key=commit_order)
    return History(Path(storage), machines, skipped)


# -- series ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One run's value of one figure."""

    run: Run
    value: float
    low: float | None = None  # the paired interval of a ratio
    high: float | None = None
    rounds: int = 0


def value_of(
    bench: Bench, section: Sequence[Bench], metric: str
) -> tuple[float, float | None, float | None] | None:
    """A benchmark's figure in a run, with its interval (a paired ratio's) where it has
    one; None when it has no such figure or failed. `section`: its report section."""
    if bench.error:
        return None
    if metric == "ratio_vs_ref":
        ref = sections.reference_of(section)
        found = sections.time_vs_ref(bench, ref) if ref is not None and ref is not bench else None
        return None if found is None else (float(found[0]), found[1], found[2])
    value = report_history.metric_value(bench, metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value), None, None


@dataclass(frozen=True)
class Series:
    """One figure of one benchmark on one machine, in commit order."""

    machine: Machine
    section: str
    fullname: str
    technique: str
    variant: str
    metric: str
    points: tuple[Point, ...]


def all_series(history: History, technique: str | None = None) -> list[Series]:
    """Every figure of every benchmark on every machine (of one technique, if given)."""
    out = []
    for machine in history.machines:
        found: dict[tuple[str, str, str], list[Point]] = {}
        names: dict[str, tuple[str, str]] = {}
        for run in machine.runs:
            for section, benches in sections.by_section(run).items():
                for bench in benches:
                    if technique is not None and bench.technique != technique:
                        continue
                    names.setdefault(bench.fullname, (bench.technique, bench.variant))
                    for metric in FIGURES:
                        value = value_of(bench, benches, metric)
                        if value is not None:
                            point = Point(run, *value, rounds=bench.rounds)
                            found.setdefault((section, bench.fullname, metric), []).append(point)
        for (section, fullname, metric), points in found.items():
            tech, variant = names[fullname]
            out.append(Series(machine, section, fullname, tech, variant, metric, tuple(points)))
    return out
