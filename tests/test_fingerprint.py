"""The machine fingerprint: the numerics switches are in it, and runs that differ in
them are told apart."""

import pytest
import torch

from visionbench.measure import fingerprint

SWITCHES = ("tf32_matmul", "tf32_cudnn", "cudnn_benchmark", "deterministic")


def test_the_numerics_switches_are_compared_fields():
    fp = fingerprint.fingerprint("quick")
    assert set(SWITCHES) <= set(fingerprint.FIELDS) <= set(fp)
    assert fp["gpu_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert fp["tf32_cudnn"] is torch.backends.cudnn.allow_tf32
    assert fp["tf32_matmul"] is torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize(
    ("switch", "flip"),
    [
        ("cudnn_benchmark", lambda v: setattr(torch.backends.cudnn, "benchmark", v)),
        ("tf32_cudnn", lambda v: setattr(torch.backends.cudnn, "allow_tf32", v)),
        ("tf32_matmul", lambda v: setattr(torch.backends.cuda.matmul, "allow_tf32", v)),
        ("deterministic", lambda v: torch.use_deterministic_algorithms(v)),
    ],
)
def test_a_run_with_another_switch_is_another_machine(switch, flip):
    before = fingerprint.fingerprint("quick")
    was = before[switch]
    try:
        flip(not was)
        after = fingerprint.fingerprint("quick")
    finally:
        flip(was)
    assert after[switch] is (not was)
    assert fingerprint.differences(before, after) == {switch: (was, not was)}


def test_a_dry_run_is_never_compared_with_a_real_run():
    real, dry = (
        fingerprint.fingerprint("standard"),
        fingerprint.fingerprint("standard (dry run)", dry_run=True),
    )
    assert real["dry_run"] is False and dry["dry_run"] is True
    assert set(fingerprint.differences(real, dry)) == {"profile", "dry_run"}
    # a run saved before the field was a real run: compared with a real run, not a dry one
    old = {k: v for k, v in real.items() if k != "dry_run"}
    assert fingerprint.differences(old, real) == {}
    assert "dry_run" in fingerprint.differences(old, dry)


@pytest.mark.parametrize("kernels", [True, False], ids=["bf16_kernels", "no_bf16_kernels"])
def test_the_cpus_bf16_kernels_are_recorded_and_not_compared(monkeypatch, kernels):
    """Faked both ways: oneDNN's answer is recorded as it is, whatever CPU runs the test."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: kernels)
    assert fingerprint.cpu_bf16_kernels() is kernels
    fp = fingerprint.fingerprint("quick")
    assert fp["cpu_bf16_kernels"] is kernels
    assert "cpu_bf16_kernels" not in fingerprint.FIELDS  # the CPU model and torch decide it


def test_a_torch_without_onednn_has_no_bf16_kernels(monkeypatch):
    def missing():
        raise RuntimeError("no mkldnn")

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", missing)
    assert fingerprint.cpu_bf16_kernels() is False
