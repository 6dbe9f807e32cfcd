"""Framework switches: each is on inside its block and restored after."""

import pytest
import torch

from visionbench.techniques import framework_switches

CPU = torch.device("cpu")


def test_anomaly_detection_is_on_only_inside():
    with framework_switches.switched("anomaly_detection"):
        assert torch.is_anomaly_enabled()
    assert not torch.is_anomaly_enabled()


def test_the_profiler_records_the_block():
    with framework_switches.switched("autograd_profiler"):
        assert torch.autograd.profiler._is_profiler_enabled
        torch.ones(2).add(1)
    assert not torch.autograd.profiler._is_profiler_enabled


def test_cudnn_benchmark_is_restored_even_after_an_error():
    before = torch.backends.cudnn.benchmark
    with pytest.raises(RuntimeError), framework_switches.switched("cudnn_benchmark"):
        assert torch.backends.cudnn.benchmark
        raise RuntimeError("boom")
    assert torch.backends.cudnn.benchmark == before


def test_cuda_switches_say_why_they_skip_on_the_cpu():
    assert (
        framework_switches.unsupported("pinned_copy", CPU)
        == "pinned_copy is a CUDA setting; this run is on cpu"
    )
    assert framework_switches.unsupported("anomaly_detection", CPU) is None
    with pytest.raises(ValueError, match="unknown framework switch 'warnings'"):
        framework_switches.unsupported("warnings", CPU)


def test_the_variant_runs_under_its_switch_and_the_paired_reference_does_not():
    """Runner.time's `around`: the switch is on in each of the variant's rounds and
    off in each of the reference's, whatever the pair's order."""
    from helpers import FakeBenchmark

    from visionbench import profiles
    from visionbench.measure.runner import Runner

    seen: list[tuple[str, bool]] = []
    runner = Runner(profiles.get("quick"), CPU)
    figures = runner.time(
        FakeBenchmark(),
        lambda: seen.append(("variant", torch.is_anomaly_enabled())),
        units=1,
        reference=lambda: seen.append(("reference", torch.is_anomaly_enabled())),
        around=lambda: framework_switches.switched("anomaly_detection"),
    )
    timing = runner.timing
    assert figures["paired_rounds"] == timing.rounds
    assert seen.count(("variant", True)) == timing.rounds + timing.warmup_rounds
    assert seen.count(("reference", False)) == timing.rounds + timing.warmup_rounds
    assert len(seen) == 2 * (timing.rounds + timing.warmup_rounds)
    assert not torch.is_anomaly_enabled()
