"""Finding and reading saved runs; bad files give a ResultsError naming the file."""

from __future__ import annotations

import json

import pytest
from gate_helpers import MACHINE, bench, run_data, save, snapshot, steady

from visionbench.measure import results
from visionbench.measure.results import ResultsError


@pytest.fixture
def storage(tmp_path):
    """Four runs of this machine: two autosaved, one named baseline, one more."""
    root = tmp_path / ".benchmarks"
    for number, name in [(1, "abc123_20260101"), (2, "baseline"), (3, "baseline"), (4, "def456")]:
        save(root, number, name, run_data([bench("a", steady(10, seed=number))]))
    return root


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", "0004_def456.json"),
        ("0003", "0003_baseline.json"),
        ("3", "0003_baseline.json"),
        ("baseline", "0003_baseline.json"),  # the newest of that name
        ("0002_baseline", "0002_baseline.json"),
        ("0002_baseline.json", "0002_baseline.json"),
        ("abc123_20260101", "0001_abc123_20260101.json"),
    ],
)
def test_run_specs_resolve(storage, spec, expected):
    assert results.resolve(spec, storage).name == expected


def test_a_path_resolves_to_itself(storage):
    path = storage / MACHINE / "0001_abc123_20260101.json"
    assert results.resolve(str(path), storage) == path
    assert results.load_run(str(path)).number == 1


def test_storage_may_be_the_machine_folder_itself(storage):
    assert results.resolve("latest", storage / MACHINE).name == "0004_def456.json"


def test_this_machines_folder_wins_over_others(storage):
    save(storage.parent / ".benchmarks", 9, "other", run_data([]))  # ours: number 9
    other = storage / "Darwin-CPython-3.12-64bit"
    other.mkdir()
    (other / "0042_elsewhere.json").write_text(json.dumps(run_data([])))
    assert results.resolve("latest", storage).name == "0009_other.json"
    with pytest.raises(ResultsError, match="42"):
        results.resolve("0042", storage)


def test_only_other_machines_is_an_error_naming_them(tmp_path):
    other = tmp_path / "s" / "Darwin-CPython-3.12-64bit"
    another = tmp_path / "s" / "Windows-CPython-3.12-64bit"
    for folder in (other, another):
        folder.mkdir(parents=True)
        (folder / "0001_x.json").write_text(json.dumps(run_data([])))
    with pytest.raises(ResultsError, match=r"Darwin-CPython-3\.12-64bit"):
        results.resolve("latest", tmp_path / "s")


def test_a_single_other_machine_folder_is_used(tmp_path):
    other = tmp_path / "s" / "Darwin-CPython-3.12-64bit"
    other.mkdir(parents=True)
    (other / "0001_x.json").write_text(json.dumps(run_data([])))
    assert results.resolve("latest", tmp_path / "s").name == "0001_x.json"


@pytest.mark.parametrize("spec", ["0007", "nightly", "missing.json", "dir/missing.json"])
def test_unknown_runs_are_named(storage, spec):
    with pytest.raises(ResultsError, match=spec.split("/")[-1].removesuffix(".json")):
        results.resolve(spec, storage)


def test_empty_and_absent_storage(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        results.resolve("latest", tmp_path / "nowhere")
    (tmp_path / "empty" / MACHINE).mkdir(parents=True)
    with pytest.raises(ResultsError, match="no saved runs"):
        results.resolve("latest", tmp_path / "empty")
    (tmp_path / "bare").mkdir()
    with pytest.raises(ResultsError, match="no saved runs"):
        results.resolve("latest", tmp_path / "bare")


BAD_FILES = {
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda good: b"",
    "not_json": lambda good: b"<html>502 Bad Gateway</html>",
    "binary": lambda good: b"\xff\xfe\x00garbage",
    "a_list": lambda good: b"[1, 2, 3]",
    "foreign": lambda good: json.dumps({"name": "package.json", "version": "1.0"}).encode(),
    "bad_bench": lambda good: json.dumps(
        {"benchmarks": [{"name": "x"}], "machine_info": {}}
    ).encode(),
    "bad_data": lambda good: json.dumps(
        run_data([{**bench("a", steady(1)), "stats": {"data": ["fast", "slow"]}}])
    ).encode(),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_raise_naming_the_file(storage, kind):
    good = (storage / MACHINE / "0001_abc123_20260101.json").read_bytes()
    path = storage / MACHINE / f"0005_{kind}.json"
    path.write_bytes(BAD_FILES[kind](good))
    with pytest.raises(ResultsError) as err:
        results.load_run(kind, storage)
    assert str(path) in str(err.value)


def test_a_directory_named_like_a_run_is_not_a_run(storage):
    (storage / MACHINE / "0009_odd.json").mkdir()
    assert results.resolve("latest", storage).name == "0004_def456.json"


def test_history_skips_unreadable_runs_and_reports_them(storage):
    (storage / MACHINE / "0005_broken.json").write_text('{"benchmarks": [')
    errors = []
    runs = list(results.load_history(storage / MACHINE, errors))
    assert [r.number for r in runs] == [1, 2, 3, 4]
    assert len(errors) == 1 and "0005_broken.json" in str(errors[0])
    with pytest.raises(ResultsError):
        list(results.load_history(storage / MACHINE))


def test_run_and_bench_accessors(storage):
    run = results.load_run("0001", storage)
    assert run.commit == "01234567" and run.date.startswith("2026-01-01")
    (b,) = run.benchmarks.values()
    assert b.technique == "model_size" and b.variant == "a" and b.reference == "small"
    assert b.rounds == 30 and len(b.samples) == 30 and b.error is None


def test_scaled_timings_are_a_copy_and_leave_the_loaded_run_alone(storage):
    before = snapshot(storage)
    run = results.load_run("latest", storage)
    original = json.dumps(run.data, sort_keys=True)
    scaled = results.scale_timings(run.data, 1.5)
    (b,) = results.Run(run.path, scaled).benchmarks.values()
    (orig,) = run.benchmarks.values()
    assert b.samples == pytest.approx([x * 1.5 for x in orig.samples])
    assert b.stats["min"] == pytest.approx(orig.stats["min"] * 1.5)
    assert b.stats["ops"] == pytest.approx(orig.stats["ops"] / 1.5)
    assert json.dumps(run.data, sort_keys=True) == original
    assert snapshot(storage) == before
