"""Bad command-line input gets a clear error naming the option and the value."""

import pytest
from helpers import run_pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vb-profile", "fast"], "--vb-profile: unknown profile 'fast'; choose one of: quick"),
        (["--vb-device", "tpu"], "--vb-device: unknown device 'tpu'"),
        (["--vb-seeds", "0"], "--vb-seeds: must be at least 1"),
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


def test_an_unreadable_image_is_named(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.new("L", (12, 12), color=40 * i).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"this is not a png")
    proc = run_pytest(
        "benches/bench_model_size.py",
        "-q",
        "--vb-profile",
        "quick",
        "--vb-device",
        "cpu",
        "--vb-data",
        f"imagefolder:{tmp_path}",
        "-k",
        "small_cnn and inference",
        "--benchmark-disable",
    )
    assert proc.returncode == 1
    assert "broken.png" in proc.stdout + proc.stderr
