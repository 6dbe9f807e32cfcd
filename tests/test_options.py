"""Bad command-line input gets a clear error naming the option and the value."""

import json

import pytest
from helpers import run_pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vb-profile", "fast"], "--vb-profile: unknown profile 'fast'; choose one of: quick"),
        (["--vb-device", "tpu"], "--vb-device: unknown device 'tpu'"),
        (["--vb-seeds", "0"], "--vb-seeds: must be at least 1"),
        (["--vb-threads", "0"], "--vb-threads: must be at least 1"),
        (["--vb-data", "imagenet"], "--vb-data:"),
        (["--vb-data", "imagefolder:/no/such/folder"], "/no/such/folder"),
        (["--vb-data", "cifar10:/no/such/cifar"], "/no/such/cifar"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_value(args, message):
    proc = run_pytest("benches", "--collect-only", "-q", *args)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert message in proc.stderr


def test_unknown_dataset_names_the_choices():
    proc = run_pytest("benches", "--collect-only", "-q", "--vb-data", "imagenet")
    assert "imagenet" in proc.stderr and "mnist5k" in proc.stderr


def test_collection_ids_are_readable():
    proc = run_pytest(
        "benches/bench_model_size.py",
        "--collect-only",
        "-q",
        "--vb-profile",
        "quick",
        "--vb-device",
        "cpu",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bench_train_step[cpu-mnist5k-resnet18]" in proc.stdout


def test_cuda_variants_are_skipped_with_a_reason_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_pytest(
        "benches/bench_model_size.py",
        "-rs",
        "-q",
        "--vb-profile",
        "quick",
        "--vb-device",
        "all",
        "-k",
        "cuda and small_cnn and inference",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CUDA is not available on this machine" in proc.stdout
    assert "1 skipped" in proc.stdout


def test_an_unreadable_image_is_named_and_recorded_as_failed(tmp_path):
    from PIL import Image

    from visionbench.results import Run

    folder = tmp_path / "shoes"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 12), color=40 * i).save(folder / cls / f"{i}.png")
    (folder / "b" / "broken.png").write_bytes(b"this is not a png")
    out = tmp_path / "run.json"
    proc = run_pytest("benches/bench_model_size.py", "-q", "--vb-profile", "quick",
                      "--vb-device", "cpu", "--vb-data", f"mnist5k,imagefolder:{folder}",
                      "-k", "small_cnn and inference", f"--benchmark-json={out}")  # fmt: skip
    assert proc.returncode == 1
    assert "broken.png" in proc.stdout + proc.stderr
    # the other dataset's variant still ran; the failed one is saved with its error
    run = Run(out, json.loads(out.read_text()))
    errors = {b.name: b.error for b in run.benchmarks.values()}
    assert errors["bench_inference[cpu-mnist5k-small_cnn]"] is None
    assert "broken.png" in errors["bench_inference[cpu-imagefolder-shoes-small_cnn]"]
