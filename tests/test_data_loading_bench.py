"""Smoke run of bench_data_loading on the CPU (quick profile, mnist5k, a few
variants): it saves every figure the schema knows, under readable ids. (That
training from disk and from the cache is the same training is test_loaders'.)"""

import pytest
from helpers import run_benches

from visionbench.measure import metrics

EPOCH_FIGURES = {
    "samples_per_s",
    "prep_time_s",
    "load_time_s",
    "cache_disk_bytes",
    "cache_mem_bytes",
    "peak_mem_bytes",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    saved = run_benches(
        tmp_path_factory.mktemp("data_loading") / "run.json",
        "benches/bench_data_loading.py",
        "--vb-data",
        "mnist5k",
        "-k",
        "bench_epoch and (disk_png-w0 or tensor_cache) or augmented_epoch and device_resident "
        "or bench_training and tensor_cache",
    )
    return {b["name"]: b for b in saved["benchmarks"]}


def test_epochs_are_saved_with_their_figures(run):
    assert {
        "bench_epoch[cpu-mnist5k-disk_png-w0]",
        "bench_epoch[cpu-mnist5k-tensor_cache]",
        "bench_augmented_epoch[cpu-mnist5k-device_resident]",
        "bench_training[cpu-mnist5k-tensor_cache]",
    } == run.keys()
    for name, b in run.items():
        info = b["extra_info"]
        metrics.validate(info)
        assert info["technique"] == "data_loading" and info["reference"] == "disk_png-w0"
        assert b["group"] == f"data_loading:{info['unit']}", name
        assert len(b["stats"]["data"]) == b["stats"]["rounds"] >= 2, name
        assert info["h2d_bytes"] is None  # nothing is copied on the CPU
        if info["unit"] != "train_epoch":
            assert info.keys() >= EPOCH_FIGURES, name
            assert info["samples_per_s"] > 0 and info["peak_mem_bytes"] > 0, name
    disk = run["bench_epoch[cpu-mnist5k-disk_png-w0]"]["extra_info"]
    cached = run["bench_epoch[cpu-mnist5k-tensor_cache]"]["extra_info"]
    assert disk["cache_mem_bytes"] == 0 and cached["cache_mem_bytes"] == 4000 * 28 * 28 + 4000 * 8


def test_training_is_saved_with_its_accuracy(run):
    info = run["bench_training[cpu-mnist5k-tensor_cache]"]["extra_info"]
    assert info["model"] == "small_cnn" and info["epochs_run"] == 2
    assert info["train_time_s"] > 0 and not info["diverged"] and info["accuracy"] > 0.8
