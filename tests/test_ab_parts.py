"""The A/B gate's parts, each alone: units and their registry, the pinned environment,
the worker's arguments, calibration, instruction verdicts, GPU clocks, the minutes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_nvml import FakeNvml, machine
from hypothesis import given, settings
from hypothesis import strategies as st

from visionbench.ab import budget, calibration, full_runs, gpu, instructions, processes, zygote
from visionbench.ab.timing import Block, rounds_for
from visionbench.stats.paired import pairs_needed, provable_change

SRC = Path(__file__).resolve().parents[1] / "src"


# -- the zygote's module -------------------------------------------------------------------


def test_the_zygote_module_loads_without_visionbench_or_torch():
    """Loaded by path, as the zygote loads it: it must bring in no visionbench (each
    worker imports its own side's) and import torch only when it preloads."""
    code = (
        "import importlib.util as u, sys; "
        f"s = u.spec_from_file_location('visionbench_zygote', {str(processes.ZYGOTE)!r}); "
        "m = u.module_from_spec(s); s.loader.exec_module(m); "
        "bad = [n for n in sys.modules if n.split('.')[0] in ('visionbench', 'torch', 'numpy')]; "
        "print(', '.join(bad)); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={})
    assert proc.returncode == 0, proc.stdout + proc.stderr


class Fixture:
    """What the registry reads of pytest-benchmark's fixture."""

    def __init__(self, name: str, timer=time.perf_counter) -> None:
        self.fullname, self._timer = name, timer


def test_a_registered_unit_is_warmed_up_and_kept_not_timed():
    calls = []
    registry = zygote.Registry()
    unit = zygote.Unit(lambda: calls.append("run") or 7)
    assert registry.add(Fixture("b::x"), unit, warmup_rounds=3) == 7  # the bench's result
    assert calls == ["run"] * 3  # the bench's warm-up rounds, the last one's result returned
    assert registry.units == {"b::x": unit} and unit.warm_s is not None


def test_a_unit_timed_by_its_own_clock_is_not_in_the_lane():
    registry = zygote.Registry()

    def replay_clock() -> float:
        return 0.0

    registry.add(Fixture("b::dp", timer=replay_clock), zygote.Unit(lambda: None), 2)
    assert registry.units == {}
    assert "replay_clock" in registry.not_timed["b::dp"]


def test_a_unit_too_long_to_interleave_is_left_out_and_said():
    registry = zygote.Registry(max_unit_s=0.01)
    registry.add(Fixture("b::slow"), zygote.Unit(lambda: time.sleep(0.05)), warmup_rounds=1)
    assert registry.units == {} and "more than this lane's 0 s" in registry.not_timed["b::slow"]


def test_a_unit_round_is_setup_then_the_timed_target_then_teardown():
    log = []

    def setup():
        log.append("setup")
        time.sleep(0.05)  # untimed
        return (3,), {"k": 4}

    def target(a, k):
        log.append(("target", a, k))

    def teardown(a, k):
        log.append("teardown")
        time.sleep(0.05)  # untimed

    unit = zygote.Unit(target, setup=setup, teardown=teardown, iterations=2)
    seconds = unit.timed()
    assert log == ["setup", ("target", 3, 4), ("target", 3, 4), "teardown"]
    assert seconds < 0.04  # per iteration, without setup's and teardown's sleeps


def test_the_patch_registers_what_a_bench_hands_to_pytest_benchmark(monkeypatch):
    from pytest_benchmark.fixture import BenchmarkFixture

    monkeypatch.setattr(BenchmarkFixture, "pedantic", BenchmarkFixture.pedantic)
    monkeypatch.setattr(BenchmarkFixture, "__call__", BenchmarkFixture.__call__)
    registry = zygote.Registry(warmup=1)
    registry.install()
    fixture = SimpleNamespace(fullname="b::p", _timer=time.perf_counter)
    assert BenchmarkFixture.pedantic(fixture, lambda x: x * 2, args=(5,), rounds=9) == 10
    assert BenchmarkFixture.__call__(Fixture("b::c"), lambda: "called") == "called"
    assert set(registry.units) == {"b::p", "b::c"}


# -- the pinned environment and the workers' arguments ---------------------------------------


def test_the_pinned_environment(tmp_path, monkeypatch):
    """PYTHONPATH keeps libraries installed beside the virtualenv, never a side's tree
    (the baseline would find the candidate's modules behind its own) nor an empty entry
    (the working directory)."""
    tree = tmp_path / "candidate"
    inherited = [str(tree / "src"), "/carried/wheels", "", str(tree), "/more"]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(inherited))
    pinned = processes.pin(1, tmp_path / "cwd", "m1", trees=(tmp_path / "baseline", tree))
    env = pinned.env
    assert env["PYTHONPATH"] == os.pathsep.join(["/carried/wheels", "/more"])
    assert processes.side_path(tree, ["/carried/wheels"]).split(os.pathsep) == [
        str(tree / "src"), str(tree), "/carried/wheels"
    ]  # fmt: skip
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["PYTHONHASHSEED"] == "0"
    assert env[processes.TIMING_ONLY_ENV] == "1" and env[processes.RUN_MARK_ENV] == "m1"
    record = pinned.record()
    assert record["cwd"] == str(tmp_path / "cwd") and (tmp_path / "cwd").is_dir()
    assert record["environment_bytes"] == sum(len(k) + len(v) + 2 for k, v in env.items())
    for only_trees in (str(tree / "src"), ""):
        monkeypatch.setenv("PYTHONPATH", only_trees)
        assert "PYTHONPATH" not in processes.pin(1, tmp_path / "cwd", "m2", trees=(tree,)).env


def test_without_setarch_aslr_stays_on_and_says_so(monkeypatch):
    monkeypatch.setattr(processes.shutil, "which", lambda name: None)
    monkeypatch.setattr(processes.Path, "read_text", lambda self, **kw: "2")
    prefix, aslr = processes.no_aslr()
    assert prefix == () and aslr.startswith("on: setarch") and "not found" in aslr


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 1), (8, 4), (16, 8)])
def test_default_threads(cores, threads):
    assert processes.default_threads(cores) == threads


def test_worker_arguments_make_paths_absolute_or_name_the_nodes(tmp_path):
    (tmp_path / "benches").mkdir()
    (tmp_path / "benches" / "bench_a.py").write_text("")
    args = ["benches/bench_a.py", "-k", "small", "--vb-profile", "quick"]
    full = processes.worker_args(tmp_path, args, tmp_path / "t")
    assert full[:5] == [str(tmp_path / "benches/bench_a.py"), "-k", "small", "--vb-profile",
                        "quick"]  # fmt: skip
    assert f"--rootdir={tmp_path}" in full and "--benchmark-disable" in full
    nodes = processes.worker_args(tmp_path, args, tmp_path / "t", ["benches/bench_a.py::b[x]"])
    assert str(tmp_path / "benches/bench_a.py") not in nodes
    assert nodes[:4] == ["-k", "small", "--vb-profile", "quick"]
    assert str(tmp_path / "benches/bench_a.py::b[x]") in nodes


@pytest.mark.parametrize(
    ("unit_s", "rounds"), [(None, 6), (0.001, 40), (0.01, 40), (0.05, 20), (0.37, 6), (5.0, 6)]
)
def test_round_pairs_per_block_aim_at_two_seconds(unit_s, rounds):
    assert rounds_for(unit_s) == rounds
    assert rounds_for(unit_s, override=3) == 3


# -- the statistics of planning ----------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(
    sigma=st.floats(0.005, 0.5),
    change=st.floats(0.02, 1.0),
    tests=st.integers(1, 12),
)
def test_provable_change_inverts_pairs_needed(sigma, change, tests):
    """The blocks `pairs_needed` asks for prove the change; one block fewer (above the
    exact test's floor) proves only a larger one."""
    n = pairs_needed(sigma, change, 0.01, power=0.9, tests=tests)
    assert provable_change(sigma, n, 0.01, 0.9, tests) <= change * (1 + 1e-9)
    floor = math.ceil(math.log2(tests / 0.01))
    if n - 1 > floor:
        assert provable_change(sigma, n - 1, 0.01, 0.9, tests) > change


def test_too_few_blocks_prove_nothing():
    assert math.isinf(provable_change(0.03, 6, 0.01))  # 2^-6 > 0.01: no exact test rejects
    assert math.isinf(provable_change(None, 30, 0.01))


def fake_block(index: int, logs: dict[str, list[float]], unit_s: float = 0.01) -> Block:
    block = Block(index, setup_s=2.0, rounds_s=1.0)
    for n, d in logs.items():
        block.logs[n] = list(d)
        block.seconds["baseline"][n] = [unit_s] * len(d)
        block.seconds["candidate"][n] = [unit_s * math.exp(x) for x in d]
    return block


def test_calibration_spreads_are_those_of_round_pairs_and_of_block_medians():
    centres = [0.0, 0.05, -0.05, 0.02]
    blocks = [fake_block(i, {"x": [c - 0.1, c, c + 0.1]}) for i, c in enumerate(centres)]
    noise = calibration.noise_of(blocks, setup_s=5.0)
    x = noise.benchmarks["x"]
    assert x.blocks == 4 and x.rounds == 3
    assert x.block_sd == pytest.approx(float(__import__("statistics").stdev(centres)))
    assert x.round_pair_sd == pytest.approx(0.1)  # each block: -0.1, 0, +0.1 around its centre
    assert noise.block_s == pytest.approx(3.0) and noise.setup_s == 5.0
    assert noise.blocks_in(5.0 + 30.0) == 10


def test_more_minutes_prove_smaller_changes():
    blocks = [fake_block(i, {"x": [0.3 * (-1) ** i, 0.0]}) for i in range(6)]
    cal = calibration.noise_of(blocks, setup_s=10.0)
    (row,) = calibration.provable_rows(cal, alpha=0.01)
    five, fifteen, thirty = (float(c.rstrip("%")) for c in row[-3:])
    assert thirty < fifteen < five


def test_the_calibration_file_is_keyed_by_machine_and_survives_corruption(tmp_path, capsys):
    store = calibration.Store(tmp_path)
    here = calibration.machine_key("cpu A", 2, 1, "2.14", [])
    there = calibration.machine_key("cpu B", 2, 1, "2.14", [])
    cal = calibration.noise_of([fake_block(i, {"x": [0.01 * i, 0.0]}) for i in range(3)], 1.0)
    store.save_time(here, cal)
    store.update(here, full_runs={"-k x": 120.0})
    store.update(here, full_runs={"-k y": 60.0})
    assert store.time(here).benchmarks == cal.benchmarks
    assert store.time(there) is None
    assert store.full_run_s(here, "-k x") == 120.0 and store.full_run_s(here, "-k y") == 60.0
    store.path.write_text('{"entries": [')  # truncated
    assert store.time(here) is None
    assert "ignoring the unreadable calibration file" in capsys.readouterr().err
    store.save_time(here, cal)  # and it is written whole again
    assert json.loads(store.path.read_text())["entries"][0]["machine"] == here


def test_the_instruction_tolerance_from_an_a_a():
    found = calibration.instruction_tolerances(
        {"x": [1000, 1002], "y": [500, 500]}, {"x": [1001, 1001], "y": [505, 505]}
    )
    assert found["x"]["spread"] == pytest.approx(math.log(1002 / 1000))
    assert found["y"]["apart"] == pytest.approx(math.log(505 / 500))
    assert found["y"]["tolerance"] == pytest.approx(math.expm1(3 * math.log(1.01)))


# -- instruction verdicts ----------------------------------------------------------------------


counts = st.lists(st.integers(10**6, 10**9), min_size=1, max_size=5)


@given(counts)
def test_the_same_counts_are_unchanged_or_inconclusive_never_a_regression(base):
    v = instructions.judge_counts(base, base, 0.01)
    assert v.verdict in ("unchanged", "inconclusive") and v.ratio == 1.0
    if max(base) <= min(base) * 1.01:
        assert v.verdict == "unchanged"


@given(counts, st.floats(0.02, 2.0))
def test_steady_counts_grown_beyond_the_tolerance_regress_and_shrunk_improve(base, grow):
    steady = [base[0]] * len(base)
    more = [round(c * (1 + 0.01) * (1 + grow)) for c in steady]
    assert instructions.judge_counts(steady, more, 0.01).verdict == "regression"
    assert instructions.judge_counts(more, steady, 0.01).verdict == "improvement"


def test_counts_that_straddle_the_tolerance_are_inconclusive():
    v = instructions.judge_counts([1000, 1000], [1005, 1030], 0.01)
    assert v.verdict == "inconclusive" and v.spread == pytest.approx(1030 / 1005 - 1)


def test_without_valgrind_the_lane_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    from visionbench import cli

    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["ab", "--baseline", "HEAD", "--lane", "instructions"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apt-get install valgrind" in err[0]
    assert "valgrind, callgrind_control, callgrind_annotate is not installed" in err[0]


# -- GPU clocks, through a stand-in NVML -------------------------------------------------------


def one_gpu(**kwargs) -> FakeNvml:
    return FakeNvml(machine("Fake GPU", [0x17]), **kwargs)


def test_clocks_and_throttle_reasons_are_read_from_nvml(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpu, "_nvml", lambda: one_gpu())
    (c,) = gpu.clocks()
    assert c["name"] == "Fake GPU" and c["sm_mhz"] == 1500 and c["max_sm_mhz"] == 1900
    assert c["reasons"] == ["sw_power_cap", "sw_thermal_slowdown"] and c["temperature_c"] == 71


@pytest.mark.parametrize("allowed", [True, False])
def test_clocks_are_locked_only_when_asked_and_reset_after(monkeypatch, allowed):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    lib = one_gpu(allow_lock=allowed)
    monkeypatch.setattr(gpu, "_nvml", lambda: lib)
    with gpu.locked_clocks(False) as done:
        assert done == [] and lib.locked == []
    with gpu.locked_clocks(True) as done:
        assert ("locked at 1410 MHz" in done[0]) is allowed
        assert ("left free" in done[0]) is not allowed
    assert lib.reset == (["gpu0"] if allowed else [])


# -- the invocation's bookkeeping ------------------------------------------------------------


def test_minutes_by_phase_add_up():
    """Against a clock whose seconds are known: each phase gets what passed inside it,
    `other` what passed outside every phase, and together they are the total."""
    now = [1000.0]
    minutes = budget.Minutes(clock=lambda: now[0])
    now[0] += 6  # outside any phase: other
    with minutes.phase("set-up"):
        now[0] += 90
    with minutes.phase("timing blocks"):
        now[0] += 240
    with minutes.phase("set-up"):  # a phase entered twice adds up
        now[0] += 30
    with minutes.phase("trainings"):
        now[0] += 120
    now[0] += 54
    record = minutes.record()
    assert record == {"set-up": 2.0, "timing blocks": 4.0, "instructions": 0.0,
                      "trainings": 2.0, "other": 1.0, "total": 9.0}  # fmt: skip
    assert sum(v for k, v in record.items() if k != "total") == record["total"]
    assert minutes.line(600.0) == (
        "minutes: set-up 2.0, timing blocks 4.0, instructions 0.0, trainings 2.0, other 1.0; "
        "9.0 of 10.0 in all"
    )


def test_minutes_run_on_the_monotonic_clock_by_default():
    minutes = budget.Minutes()
    with minutes.phase("set-up"):
        time.sleep(0.05)
    assert 0 < minutes.spent["set-up"] <= minutes.elapsed()


def test_benchmarks_a_lane_could_not_compare():
    rows = full_runs.unpaired_rows(
        base={"both": 1, "gone": 1, "theirs-broke": None},
        cand={"both": 1, "new": 1, "theirs-broke": 1},
        base_failed={"theirs-broke": "OOM"},
        cand_failed={"ours-broke": "NaN"},
        known=set(),
    )
    assert {(r.benchmark, r.verdict) for r in rows} == {
        ("gone", "missing"), ("new", "new"), ("ours-broke", "failed"), ("theirs-broke", "new"),
    }  # fmt: skip


def test_the_valgrind_shim_starts_callgrind_uninstrumented_and_passes_the_rest(
    tmp_path, monkeypatch
):
    # a stand-in valgrind that prints its arguments: what the shim hands to the real one
    real = tmp_path / "real"
    real.mkdir()
    (real / "valgrind").write_text('#!/bin/sh\necho "$@"\n')
    (real / "valgrind").chmod(0o755)
    monkeypatch.setenv("PATH", str(real))
    shim = zygote.valgrind_shim(str(tmp_path / "side"))
    args = ["--tool=callgrind", "--instr-atstart=yes", "--collect-atstart=no", "python", "x y"]
    out = subprocess.run([os.path.join(shim, "valgrind"), *args], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert (
        out.split("\n")[0] == "--tool=callgrind --instr-atstart=no --collect-atstart=no python x y"
    )
