"""Smoke run of the benches on the CPU in the quick profile: they run, save a
pytest-benchmark JSON with raw samples, and every figure the schema asks for."""

import pytest
import torch
from helpers import run_benches

from visionbench.measure import metrics

TRAIN_FIGURES = {
    "samples_per_s",
    "peak_mem_bytes",
    "params",
    "flops",
    "accuracy",
    "accuracy_std",
    "seeds",
    "train_time_s",
    "diverged",
    "train_accuracy",
    "model_bytes",
    "run_peak_mem_bytes",
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> dict:
    return run_benches(
        tmp_path_factory.mktemp("smoke") / "run.json",
        "benches/bench_model_size.py",
        "benches/bench_resolution.py",
        "--vb-data",
        "mnist5k",
        "-k",
        "small_cnn or 8px or 16px",
    )


def test_every_variant_saved_with_raw_samples_and_figures(smoke_run):
    benches = smoke_run["benchmarks"]
    names = {b["name"] for b in benches}
    assert {
        "bench_train_step[cpu-mnist5k-small_cnn]",
        "bench_inference[cpu-mnist5k-small_cnn]",
        "bench_train_step[cpu-mnist5k-8px]",
        "bench_train_step[cpu-mnist5k-16px]",
    } <= names
    for b in benches:
        info = b["extra_info"]
        metrics.validate(info)
        assert info.keys() >= TRAIN_FIGURES, b["name"]
        assert len(b["stats"]["data"]) == b["stats"]["rounds"] >= 2
        assert info["samples_per_s"] > 0 and info["peak_mem_bytes"] > 0
        assert info["flops"] > 0 and info["params"] > 0
        assert info["model_bytes"] >= 4 * info["params"]  # float32 parameters, and buffers
        # the run holds its data and evaluates besides what one step needs
        assert info["run_peak_mem_bytes"] > info["model_bytes"] + 4000 * 28 * 28
        if info["unit"] == "train_step":
            assert info["run_peak_mem_bytes"] > info["peak_mem_bytes"]
        assert b["group"] == f"{info['technique']}:{info['unit']}"  # technique:unit


def test_groups_name_their_reference_variant(smoke_run):
    for b in smoke_run["benchmarks"]:
        info = b["extra_info"]
        if info["technique"] == "model_size":
            assert info["reference"] == "small_cnn"
        else:
            assert info["reference"] == "28px"


def test_the_small_cnn_learns_mnist_in_the_quick_budget(smoke_run):
    small = next(
        b for b in smoke_run["benchmarks"] if b["name"] == "bench_train_step[cpu-mnist5k-small_cnn]"
    )
    assert small["extra_info"]["accuracy"] >= 0.90
    assert small["extra_info"]["train_accuracy"] >= 0.90


def test_resolution_costs_grow_with_size(smoke_run):
    by_size = {
        b["extra_info"]["image_size"]: b["extra_info"]
        for b in smoke_run["benchmarks"]
        if b["extra_info"]["technique"] == "resolution" and b["extra_info"]["unit"] == "train_step"
    }
    assert by_size[16]["flops"] > 3 * by_size[8]["flops"]
    assert by_size[16]["peak_mem_bytes"] > by_size[8]["peak_mem_bytes"]


def test_machine_fingerprint_is_saved(smoke_run):
    fp = smoke_run["machine_info"]["visionbench"]
    assert fp["profile"] == "quick" and fp["torch"] and fp["cpu_model"]
    assert fp["gpu_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert {"tf32_matmul", "tf32_cudnn", "cudnn_benchmark", "deterministic"} <= fp.keys()
