"""Reading saved runs from pytest-benchmark's storage (and never writing over them).

pytest-benchmark saves each run as `<storage>/<machine_id>/NNNN_<name>.json`,
where NNNN counts up per folder and <name> is `--benchmark-save=NAME` or, with
`--benchmark-autosave`, the commit and time. A RUN on the command line is one of:

    path/to/0003_baseline.json   a file
    0003  (or 3)                 a run id in the storage folder
    baseline                     the newest run saved with that name
    0003_baseline(.json)         a file name in the storage folder
    latest                       the newest run

Ids, names and `latest` are looked up in one folder of the storage: this
machine's (pytest-benchmark's machine id), or the only one there is.
Anything unreadable, truncated or foreign raises `ResultsError` naming the file.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_benchmark.utils import get_machine_id

DEFAULT_STORAGE = Path(".benchmarks")
RUN_FILE = re.compile(r"^(\d{4})_(.*)\.json$")


class ResultsError(Exception):
    """A run that cannot be found or read; the message names the file or the id."""


@dataclass(frozen=True)
class Bench:
    """One benchmark of a saved run."""

    fullname: str  # pytest node id, e.g. benches/bench_precision.py::bench_step[cpu-bf16]
    name: str
    group: str | None
    params: dict[str, Any]
    extra_info: dict[str, Any]
    stats: dict[str, Any]

    @property
    def samples(self) -> list[float] | None:
        """Raw seconds per timed unit, in the order measured (None without --save-data)."""
        data = self.stats.get("data")
        return [float(x) for x in data] if data else None

    @property
    def technique(self) -> str:
        return str(self.extra_info.get("technique") or self.group or "ungrouped")

    @property
    def variant(self) -> str:
        return str(self.extra_info.get("variant") or self.name)

    @property
    def reference(self) -> str | None:
        return self.extra_info.get("reference")

    @property
    def error(self) -> str | None:
        return self.extra_info.get("error")

    @property
    def rounds(self) -> int:
        return int(self.stats.get("rounds") or 0)


@dataclass(frozen=True)
class Run:
    """One saved run: its file and its parsed JSON."""

    path: Path
    data: dict[str, Any] = field(repr=False)

    @property
    def number(self) -> int | None:
        m = RUN_FILE.match(self.path.name)
        return int(m.group(1)) if m else None

    @property
    def label(self) -> str:
        return self.path.stem

    @property
    def datetime(self) -> str:
        return str(self.data.get("datetime", ""))

    @property
    def date(self) -> str:
        return self.datetime[:16].replace("T", " ")

    @property
    def commit(self) -> str:
        info = self.data.get("commit_info") or {}
        commit = str(info.get("id") or "")
        if re.fullmatch(r"[0-9a-f]{9,40}", commit):
            commit = commit[:8]  # a git sha, shortened
        return commit + ("+dirty" if info.get("dirty") else "")

    @property
    def commit_time(self) -> str:
        """When the run's commit was made (ISO 8601, as git gives it); the run's own
        time when git gave none (an unversioned tree)."""
        info = self.data.get("commit_info") or {}
        return str(info.get("time") or self.datetime)

    @property
    def commit_id(self) -> str:
        """The full commit id the run was made at ("" when unknown)."""
        return str((self.data.get("commit_info") or {}).get("id") or "")

    @property
    def dirty(self) -> bool:
        """Whether the run was made with uncommitted changes."""
        return bool((self.data.get("commit_info") or {}).get("dirty"))

    def restricted(self, names: Iterable[str]) -> Run:
        """A copy holding only the benchmarks named (by fullname), failed ones included."""
        keep = set(names)
        data = {
            **self.data,
            "benchmarks": [b for b in self.data["benchmarks"] if b["fullname"] in keep],
            "visionbench_failed": [
                b for b in self.data.get("visionbench_failed", []) if b["fullname"] in keep
            ],
        }
        return Run(self.path, data)

    @property
    def machine_info(self) -> dict[str, Any]:
        return self.data.get("machine_info") or {}

    @property
    def benchmarks(self) -> dict[str, Bench]:
        """By fullname, in the order saved; then the benches that failed in the run
        (kept by visionbench's conftest under `visionbench_failed`, with an `error`)."""
        saved = [*self.data["benchmarks"], *self.data.get("visionbench_failed", [])]
        return {
            b["fullname"]: Bench(
                fullname=b["fullname"],
                name=b["name"],
                group=b.get("group"),
                params=b.get("params") or {},
                extra_info=b.get("extra_info") or {},
                stats=b.get("stats") or {},
            )
            for b in saved
        }


# -- finding runs ------------------------------------------------------------------


def storage_path(text: str) -> Path:
    """A storage given as pytest-benchmark takes it (`file://DIR` or `DIR`) as a path."""
    if "://" in text and not text.startswith("file://"):
        raise ResultsError(f"benchmark storage {text}: only file:// storage can be read")
    return Path(text.removeprefix("file://"))


def machine_folder(storage: Path) -> Path:
    """The storage folder whose runs ids and names refer to."""
    storage = Path(storage)
    if not storage.is_dir():
        raise ResultsError(f"benchmark storage {storage} does not exist (run `nox -s bench`)")
    if any(RUN_FILE.match(p.name) for p in storage.iterdir()):
        return storage  # --storage pointed at a machine folder itself
    ours = storage / get_machine_id()
    if ours.is_dir():
        return ours
    folders = sorted(p for p in storage.iterdir() if p.is_dir() and run_files(p))
    if len(folders) == 1:
        return folders[0]
    if not folders:
        raise ResultsError(f"benchmark storage {storage} holds no saved runs")
    names = ", ".join(p.name for p in folders)
    raise ResultsError(
        f"benchmark storage {storage} has runs of other machines only ({names}) and none of "
        f"this one ({ours.name}); name the file, or --storage one of those folders"
    )


def run_files(folder: Path) -> list[Path]:
    """Saved run files of one folder, oldest (lowest number) first."""
    files = [p for p in Path(folder).iterdir() if p.is_file() and RUN_FILE.match(p.name)]
    return sorted(files, key=lambda p: (int(RUN_FILE.match(p.name).group(1)), p.name))


def resolve(spec: str, storage: Path = DEFAULT_STORAGE) -> Path:
    """The file a RUN spec names (see the module docstring)."""
    candidate = Path(spec)
    is_path = os.sep in spec or "/" in spec
    if candidate.suffix == ".json" or is_path:
        if candidate.is_file():
            return candidate
        if is_path:
            raise ResultsError(f"run file {candidate} does not exist")
        spec = candidate.stem  # a file name: look for it in the storage folder
    folder = machine_folder(storage)
    files = run_files(folder)
    if not files:
        raise ResultsError(f"benchmark storage {folder} holds no saved runs")
    if spec == "latest":
        return files[-1]
    if spec.isdigit():
        matches = [p for p in files if int(RUN_FILE.match(p.name).group(1)) == int(spec)]
    else:
        matches = [p for p in files if spec in (p.stem, RUN_FILE.match(p.name).group(2))]
    if not matches:
        known = ", ".join(p.stem for p in files[-8:])
        raise ResultsError(f"no run {spec!r} in {folder} (newest there: {known})")
    return matches[-1]


# -- loading -----------------------------------------------------------------------


def _check(path: Path, data: Any) -> None:
    """Raise ResultsError unless `data` looks like a pytest-benchmark run."""

    def foreign(why: str) -> ResultsError:
        return ResultsError(f"{path} is not a pytest-benchmark run file: {why}")

    if not isinstance(data, dict):
        raise foreign(f"the top level is a {type(data).__name__}, not an object")
    for key, kind in (("benchmarks", list), ("machine_info", dict)):
        if not isinstance(data.get(key), kind):
            raise foreign(f"no {key!r} {kind.__name__}")
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, dict):
            raise foreign(f"benchmarks[{i}] is not an object")
        for key, kind in (("fullname", str), ("name", str), ("stats", dict)):
            if not isinstance(bench.get(key), kind):
                raise foreign(f"benchmarks[{i}] has no {key!r} {kind.__name__}")
        samples = bench["stats"].get("data")
        if samples is not None and not (
            isinstance(samples, list) and all(isinstance(x, (int, float)) for x in samples)
        ):
            raise foreign(f"benchmarks[{i}].stats.data is not a list of numbers")


def load(path: Path) -> Run:
    """Read and check one run file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ResultsError(f"run file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"cannot read run file {path}: {exc}") from None
    if not text.strip():
        raise ResultsError(f"run file {path} is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"run file {path} is not valid JSON (truncated or corrupt?): {exc}"
        ) from None
    _check(path, data)
    return Run(path, data)


def load_run(spec: str, storage: Path = DEFAULT_STORAGE) -> Run:
    return load(resolve(spec, storage))


def load_history(folder: Path, errors: list[ResultsError] | None = None) -> Iterator[Run]:
    """Every readable run of a folder, oldest first; unreadable ones go to `errors`."""
    for path in run_files(folder):
        try:
            yield load(path)
        except ResultsError as exc:
            if errors is None:
                raise
            errors.append(exc)


def machine_runs(storage: Path, log: Callable[[str], None] = print) -> list[Run]:
    """All readable runs of this machine's storage folder, oldest first (progress and
    skipped files to `log`); ResultsError when there is none."""
    folder = machine_folder(storage)
    files = run_files(folder)
    if not files:
        raise ResultsError(f"benchmark storage {folder} holds no saved runs")
    log(f"reading {len(files)} saved runs from {folder}...")
    errors: list[ResultsError] = []
    runs = list(load_history(folder, errors))
    for exc in errors:
        log(f"warning: skipped: {exc}")
    if not runs:
        raise ResultsError(f"no readable run in {folder}")
    return runs


def run_of_commit(storage: Path, commit: str) -> Run | None:
    """The newest readable run of this machine's storage made at `commit` (a full id)
    without uncommitted changes; None when there is none (or no storage)."""
    try:
        files = run_files(machine_folder(storage))
    except ResultsError:
        return None
    for path in reversed(files):
        try:
            run = load(path)
        except ResultsError:
            continue
        if run.commit_id == commit and not run.dirty:
            return run
    return None


# -- copies of a run's data (never written over a stored run) --------------------------

#: stats fields in seconds, which scale with the timings
_TIME_STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "ld15iqr", "hd15iqr")


def scale_timings(data: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of a run's JSON with every timing multiplied by `factor` (for A/B checks)."""
    out = copy.deepcopy(data)
    for bench in out["benchmarks"]:
        stats = bench["stats"]
        for key in (*_TIME_STATS, "total"):
            if isinstance(stats.get(key), (int, float)):
                stats[key] *= factor
        if stats.get("ops"):
            stats["ops"] /= factor
        if stats.get("data"):
            stats["data"] = [x * factor for x in stats["data"]]
    return out
