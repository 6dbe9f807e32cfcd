"""Shards (`--vb-shard i/n`), their merge (`visionbench merge`) and one worker per device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from gate_helpers import FINGERPRINT, MACHINE, bench, run_data, save, steady
from helpers import load_noxfile
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import shards as plugin
from visionbench import cli
from visionbench.core.exits import EXIT_BAD_INPUT, EXIT_PASS
from visionbench.measure import merge, results, shards

ROOT = Path(__file__).resolve().parents[1]

# -- the plan ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shard"), [("1/2", (1, 2)), (" 2 / 2 ", (2, 2)), ("1/1", (1, 1))])
def test_a_shard_reads_as_i_of_n(text, shard):
    assert shards.parse(text) == shards.Shard(*shard)


@pytest.mark.parametrize("text", ["0/2", "3/2", "x", "1/0", "-1/2", "1/2/3", ""])
def test_a_bad_shard_is_a_usage_error_naming_the_option(text):
    class Config:
        def getoption(self, name):
            assert name == "--vb-shard"
            return text

    with pytest.raises(pytest.UsageError, match=r"^--vb-shard: .*" + repr(text).strip("'")):
        plugin.own_shard(Config())


def test_shards_of_shards_stay_one_plan():
    # worker k of 2 inside shard 2/3 of a CI matrix: shard 3 + k of 6
    assert [shards.Shard(2, 3).within(k, 2) for k in (0, 1)] == [
        shards.Shard(3, 6),
        shards.Shard(4, 6),
    ]


MODULES = st.dictionaries(
    st.sampled_from([f"benches/bench_{c}.py" for c in "abcdefghij"]),
    st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=5),
    min_size=1,
)


def units_of(modules: dict[str, list[float]]) -> tuple[dict[str, list[str]], dict[str, float]]:
    units, durations = {}, {}
    for module, costs in modules.items():
        for device in ("cpu", "cuda"):
            ids = [f"{module}::bench[{device}-v{i}]" for i in range(len(costs))]
            units[shards.unit_of(module, device)] = ids
            durations.update(zip(ids, costs, strict=True))
    return units, durations


@settings(max_examples=60, deadline=None)
@given(MODULES, st.integers(1, 6), st.booleans(), st.randoms())
def test_every_benchmark_lands_in_exactly_one_shard_with_its_technique(
    modules, count, with_history, rnd
):
    units, durations = units_of(modules)
    durations = durations if with_history else {}
    plan = shards.plan(units, count, durations)
    parts = [plan.nodeids(shards.Shard(i, count)) for i in range(1, count + 1)]
    everything = [n for ids in units.values() for n in ids]
    assert sorted(n for part in parts for n in part) == sorted(everything)
    for ids in units.values():  # a module's variants and its reference: one shard
        assert sum(bool(part & set(ids)) for part in parts) == 1
    # the same plan whatever order the items were collected in
    shuffled = list(units.items())
    rnd.shuffle(shuffled)
    again = shards.plan({u: list(reversed(ids)) for u, ids in shuffled}, count, durations)
    assert [set(p) for p in again.parts] == [set(p) for p in plan.parts]
    assert again.record([1])["plan"] == plan.record([1])["plan"]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=4), st.floats(0, 1e4), min_size=1),
       st.integers(1, 8))  # fmt: skip
def test_the_costliest_shard_exceeds_the_cheapest_by_one_unit_at_most(costs, count):
    parts = shards.partition(costs, count)
    loads = [sum(costs[u] for u in part) for part in parts]
    assert max(loads) - min(loads) <= max(costs.values()) + 1e-6


def test_costs_come_from_history_else_count_and_skipped_benchmarks_cost_nothing():
    units = {"a": ["a1", "a2"], "b": ["b1"], "c": ["c1", "c2"]}
    assert shards.unit_costs(units, {}) == {"a": 2, "b": 1, "c": 2}
    assert shards.unit_costs(units, {}, skipped={"c1", "c2"}) == {"a": 2, "b": 1, "c": 0}
    # b1 unknown: the median of those known
    assert shards.unit_costs(units, {"a1": 10, "a2": 30, "c1": 1, "c2": 2})["b"] == 6.0
    slow = shards.plan(units, 2, {"a1": 100, "a2": 100, "b1": 1, "c1": 1, "c2": 1})
    assert [set(p) for p in slow.parts] == [{"a"}, {"b", "c"}]  # by count: {a, b}, {c}
    assert shards.plan(units, 2, {}).record([1])["by"] == "count"
    assert [set(p) for p in shards.plan(units, 2, {}).parts] == [{"a", "b"}, {"c"}]


def test_saved_durations_are_the_newest_of_this_machine(tmp_path):
    old = run_data([bench("small", steady(5))])
    old[shards.DURATIONS_KEY] = {"x": 1.0, "y": 2.0}
    new = run_data([bench("small", steady(5))])
    new[shards.DURATIONS_KEY] = {"x": 3.0}
    save(tmp_path, 1, "old", old)
    save(tmp_path, 2, "new", new)
    (tmp_path / MACHINE / "0003_broken.json").write_text("{")
    assert shards.saved_durations(tmp_path) == {"x": 3.0, "y": 2.0}
    assert shards.saved_durations(tmp_path / "none") == {}


# -- merging -----------------------------------------------------------------------------

SELECTION = {
    "model_size": ["small", "resnet18"],
    "resolution": ["px16", "px32"],
}


def shard_runs(count=2, fingerprint=None, commit="0123456789abcdef") -> list[dict]:
    """The runs of `count` shards of SELECTION, as the workers save them."""
    units = {
        f"benches/bench_{t}.py": [f"benches/bench_{t}.py::bench_step[{n}]" for n in names]
        for t, names in SELECTION.items()
    }
    plan = shards.plan(units, count, {})
    runs = []
    for i in range(1, count + 1):
        mine = plan.nodeids(shards.Shard(i, count))
        benches = [
            bench(n, steady(5 + k, seed=k), technique=t, reference=names[0],
                  peak_mem_bytes=(k + 1) << 20, accuracy=0.9, accuracy_std=0.01, seeds=3)
            for t, names in SELECTION.items() for k, n in enumerate(names)
        ]  # fmt: skip
        data = run_data(
            [b for b in benches if b["fullname"] in mine],
            fingerprint={**FINGERPRINT, **(fingerprint or {})},
            commit=commit,
            when=f"2026-01-01T00:0{i}:00+00:00",
        )
        data[shards.SHARD_KEY] = {**plan.record([i]), "where": {"worker": f"gw{i - 1}"}}
        data[shards.DURATIONS_KEY] = {b["fullname"]: 1.0 for b in data["benchmarks"]}
        runs.append(data)
    return runs


def saved(tmp_path, runs, start=1) -> list[str]:
    return [
        str(save(tmp_path / ".benchmarks", start + k, f"shard{k + 1}", data))
        for k, data in enumerate(runs)
    ]


def test_shards_merge_into_one_run_that_keeps_each_shards_place(tmp_path):
    files = saved(tmp_path, shard_runs())
    data = merge.merge([results.load(Path(f)) for f in files])
    names = [b["fullname"] for b in data["benchmarks"]]
    assert sorted(names) == sorted(
        f"benches/bench_{t}.py::bench_step[{n}]" for t, ns in SELECTION.items() for n in ns
    )
    assert [p["worker"] for p in data["machine_info"]["visionbench"]["shards"]] == ["gw0", "gw1"]
    assert data[shards.SHARD_KEY]["indices"] == [1, 2]
    assert "where" not in data[shards.SHARD_KEY]
    assert len(data[shards.DURATIONS_KEY]) == 4
    assert data["datetime"] == "2026-01-01T00:02:00+00:00"


def refused(tmp_path, capsys, runs) -> str:
    code = cli.main(["merge", *saved(tmp_path, runs), "-o", str(tmp_path / "out.json")])
    assert code == EXIT_BAD_INPUT
    assert not (tmp_path / "out.json").exists()
    return capsys.readouterr().err


def test_shards_of_different_commits_are_refused(tmp_path, capsys):
    a, _ = shard_runs()
    _, b = shard_runs(commit="fedcba9876543210")
    assert "share a commit" in refused(tmp_path, capsys, [a, b])


def test_shards_of_different_fingerprints_are_refused(tmp_path, capsys):
    a, _ = shard_runs()
    _, b = shard_runs(fingerprint={"gpu_name": "NVIDIA H100", "gpu_count": 1})
    err = refused(tmp_path, capsys, [a, b])
    assert "different machine fingerprints" in err
    assert "gpu_name" in err


def test_overlapping_shards_are_refused(tmp_path, capsys):
    a, b = shard_runs()
    b["benchmarks"].append(a["benchmarks"][0])
    assert f"{a['benchmarks'][0]['fullname']} is in both" in refused(tmp_path, capsys, [a, b])


def test_a_missing_shard_or_another_plan_is_refused(tmp_path, capsys):
    a, _b = shard_runs(2)
    assert "shards 2/2 are missing" in refused(tmp_path / "1", capsys, [a])
    _, b3, _ = shard_runs(3)
    assert "shards of different plans" in refused(tmp_path / "2", capsys, [a, b3])
    plain = run_data([bench("other", steady(5))])
    assert "is not a shard" in refused(tmp_path / "3", capsys, [a, plain])


def test_a_merged_run_is_gated_and_reported_as_any_other(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (whole,) = shard_runs(1)  # the same selection unsharded: the baseline
    whole.pop(shards.SHARD_KEY)
    save(tmp_path / ".benchmarks", 1, "baseline", whole)
    saved(tmp_path, shard_runs(2), start=2)
    storage = tmp_path / ".benchmarks"
    assert cli.main(["merge", "0002", "0003"]) == EXIT_PASS
    merged = results.load_run("latest", storage)
    assert merged.path.name == f"0004_merged_{merged.commit_id[:8]}.json"
    assert len(merged.benchmarks) == 4
    capsys.readouterr()
    assert cli.main(["gate", "--baseline", "baseline", "--candidate", "latest",
                     "--summary", str(tmp_path / "gate.md")]) == EXIT_PASS  # fmt: skip
    out = capsys.readouterr().out
    assert "missing" not in out.lower() or "0 missing" in out.lower()
    assert cli.main(["report", "latest", "--out", str(tmp_path / "reports")]) == EXIT_PASS
    report = (tmp_path / "reports" / merged.label / "report.md").read_text()
    assert "resnet18" in report and "px32" in report


# -- one worker per device ---------------------------------------------------------------


@pytest.fixture(scope="module")
def noxfile():
    return load_noxfile()  # once: a second load registers its sessions again


@pytest.mark.parametrize(
    ("posargs", "workers"),
    [
        (["--vb-device", "all"], True),
        (["-k", "x", "--vb-device=all"], True),
        (["--vb-device", "all", "-n", "2"], False),  # the user's own -n
        (["--vb-device", "all", "-n2"], False),
        (["--vb-device", "cuda"], False),
        (["-k", "all"], False),
        ([], False),
        (["--vb-device"], False),
    ],
)
def test_nox_bench_starts_one_worker_per_device_for_every_device(noxfile, posargs, workers):
    assert noxfile.per_device(posargs) is workers


class FakeConfig:
    """The parts of pytest's config that fixtures/shards.py reads."""

    def __init__(self, workerinput=None, **options):
        self.option = SimpleNamespace(**{"vb_shard": None, "vb_threads": None, **options})
        self.stash = pytest.Stash()
        if workerinput is not None:
            self.workerinput = workerinput

    def getoption(self, name, default=None):
        return getattr(self.option, name.lstrip("-").replace("-", "_"), default)


def test_a_worker_is_pinned_to_its_device_threads_and_slice(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    info = {"workerid": "gw1", "vb_worker": 1, "vb_workers": 2, "vb_device": "6",
            "vb_threads": 8, "vb_dir": str(tmp_path)}  # fmt: skip
    config = FakeConfig(info, vb_shard="2/3", benchmark_autosave="tag", benchmark_save=None)
    plugin.configure(config)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6"
    assert config.option.vb_threads == 8
    assert config.option.vb_shard == "4/6"  # worker 2 of 2 inside 2/3
    assert config.option.benchmark_autosave is None
    assert config.option.benchmark_json == str(tmp_path / "gw1.json")


def test_more_workers_than_gpus_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(plugin, "visible_gpus", lambda: ["0"])
    config = FakeConfig(dist="each", tx=["popen", "popen"])
    with pytest.raises(pytest.UsageError, match=r"-n 2: one worker per device, and 1 GPUs"):
        plugin.configure(config)


def test_two_cpu_workers_save_one_merged_run(tmp_path):
    """A tiny dry run on two workers standing for two devices: one run saved, every
    benchmark once, each worker on one thread, and the plan each followed recorded."""
    pytest.importorskip("xdist")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    storage = tmp_path / "store"
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            "benches/bench_grad_zeroing.py", "benches/bench_memory_format.py",
            "-k", "set_to_none or contiguous", "--vb-device", "cpu", "--vb-dry-run",
            "-n", "2", "--benchmark-autosave", f"--benchmark-storage={storage}"]  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = results.run_files(results.machine_folder(storage))
    run = results.load(path)
    assert sorted(b.technique for b in run.benchmarks.values()) == ["grad_zeroing", "memory_format"]
    fp = run.machine_info["visionbench"]
    assert fp["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)
    assert sorted(p["worker"] for p in fp["shards"]) == ["gw0", "gw1"]
    assert run.data[shards.SHARD_KEY]["indices"] == [1, 2]
    assert set(json.loads(path.read_text())[shards.DURATIONS_KEY]) == set(run.benchmarks)
