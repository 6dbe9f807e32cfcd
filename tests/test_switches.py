"""Framework switches: each is on inside its block and restored after."""

import pytest
import torch

from visionbench import switches

CPU = torch.device("cpu")


def test_anomaly_detection_is_on_only_inside():
    with switches.switched("anomaly_detection"):
        assert torch.is_anomaly_enabled()
    assert not torch.is_anomaly_enabled()


def test_the_profiler_records_the_block():
    with switches.switched("autograd_profiler"):
        assert torch.autograd.profiler._is_profiler_enabled
        torch.ones(2).add(1)
    assert not torch.autograd.profiler._is_profiler_enabled


def test_cudnn_benchmark_is_restored_even_after_an_error():
    before = torch.backends.cudnn.benchmark
    with pytest.raises(RuntimeError), switches.switched("cudnn_benchmark"):
        assert torch.backends.cudnn.benchmark
        raise RuntimeError("boom")
    assert torch.backends.cudnn.benchmark == before


def test_cuda_switches_say_why_they_skip_on_the_cpu():
    assert (
        switches.unsupported("pinned_copy", CPU)
        == "pinned_copy is a CUDA setting; this run is on cpu"
    )
    assert switches.unsupported("anomaly_detection", CPU) is None
    with pytest.raises(ValueError, match="unknown framework switch 'warnings'"):
        switches.unsupported("warnings", CPU)
