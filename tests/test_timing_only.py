"""VISIONBENCH_TIMING_ONLY (set by `visionbench ab` in its timing processes): the
benches time their unit without training, and record the time figures alone."""

from types import SimpleNamespace

import pytest
import torch
from helpers import FakeBenchmark

from visionbench import profiles
from visionbench.ab import command
from visionbench.data import SplitData, load_digits, split
from visionbench.measure import runner
from visionbench.measure.runner import Variant
from visionbench.training.model_bench import ModelBench

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits() -> SplitData:
    train, test = split(load_digits(), 0.2, seed=0)
    return SplitData("digits", train, test)


def never_trains(*args, **kwargs):
    raise AssertionError("a timing-only process trained a model")


@pytest.mark.parametrize("unit", ["train_step", "inference"])
def test_timing_only_times_without_training(digits, monkeypatch, unit):
    monkeypatch.setenv(runner.TIMING_ONLY_ENV, "1")
    vb = ModelBench(profiles.get("quick"), CPU, digits, SimpleNamespace(get=never_trains))
    bench = FakeBenchmark()
    variant = Variant("model_size", "small_cnn", reference="small_cnn")
    assert getattr(vb, unit)(bench, variant, vb.workload("small_cnn", 8)) is None
    info = bench.extra_info
    assert info["samples_per_s"] > 0 and info["variant"] == "small_cnn"
    assert not {"accuracy", "train_time_s", "peak_mem_bytes", "flops"} & info.keys()


@pytest.mark.parametrize(("value", "expected"), [("", False), ("0", False), ("1", True)])
def test_the_switch_is_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(runner.TIMING_ONLY_ENV, value)
    assert runner.timing_only() is expected


def test_the_gate_sets_the_switch_the_runner_reads(monkeypatch, tmp_path):
    """The A/B gate's timing workers run under the pinned environment: it makes the
    runner time only."""
    from visionbench.ab import processes

    env = processes.pin(1, tmp_path, "m1").env
    monkeypatch.setenv(command.TIMING_ONLY_ENV, env[command.TIMING_ONLY_ENV])
    assert runner.timing_only()


def test_timing_only_gradcam_benches_train_nothing(monkeypatch, tmp_path):
    """`-k model_size` selects Grad-CAM's model-size group too: in the gate's timing
    processes it must time the batch without training the models it explains."""
    import json

    from helpers import run_pytest

    monkeypatch.setenv(runner.TIMING_ONLY_ENV, "1")
    out = tmp_path / "run.json"
    proc = run_pytest(
        "benches/bench_gradcam.py", "-k", "small_cnn or batched", "--vb-profile", "quick",
        "--vb-device", "cpu", f"--benchmark-json={out}", "-s",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "training " not in proc.stdout  # the session cache logs every training it runs
    saved = json.loads(out.read_text())
    assert {b["name"] for b in saved["benchmarks"]} == {
        "bench_model_size[cpu-mnist5k-small_cnn]",
        "bench_augmentation[cpu-mnist5k-batched]",
    }
    for b in saved["benchmarks"]:
        info = b["extra_info"]
        assert info["samples_per_s"] > 0
        assert not {"accuracy", "gradcam", "train_time_s"} & info.keys(), b["name"]
