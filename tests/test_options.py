"""Bad command-line input gets a clear error naming the option and the value."""

import pytest
from helpers import run_pytest

pytestmark = pytest.mark.deps  # pytest's option parsing and usage errors


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
    assert "bench_train_step[cpu-mnist5k-embankment_cnn]" in proc.stdout


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


def test_unreadable_images_stop_the_run_before_any_variant_naming_each(tmp_path):
    from PIL import Image

    folder = tmp_path / "shoes"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 12), color=40 * i).save(folder / cls / f"{i}.png")
    (folder / "a" / "notes.png").write_text("a text file with an image's name")
    whole = (folder / "b" / "0.png").read_bytes()
    (folder / "b" / "truncated.png").write_bytes(whole[: len(whole) // 2])
    storage = tmp_path / "storage"
    proc = run_pytest("benches/bench_model_size.py", "-q", "--vb-profile", "quick",
                      "--vb-device", "cpu", "--vb-data", f"mnist5k,imagefolder:{folder}",
                      "-k", "small_cnn", "--benchmark-autosave",
                      f"--benchmark-storage=file://{storage}")  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    lines = out.splitlines()
    for name in ("notes.png", "truncated.png"):  # each named once, on a line of its own
        assert sum(name in line for line in lines) == 1, out
    assert "2 unreadable image(s)" in out
    assert "Traceback" not in out and "passed" not in out
    assert not storage.exists()  # nothing saved as a result
