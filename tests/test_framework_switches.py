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


def own_process_job(batch: int = 16) -> framework_switches.HostStep:
    """A small CNN's cudnn_benchmark step on a batch of grey 8 px images."""
    from visionbench.training.train import TrainConfig
    from visionbench.training.workloads import Workload

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    workload = Workload("small_cnn", 8, TrainConfig(batch_size=batch))
    return framework_switches.HostStep("cudnn_benchmark", workload, 10, 1, x, y)


@pytest.mark.parametrize("batch", [16, 1])
def test_a_process_of_its_own_times_its_rounds_after_a_first_step_apart(batch):
    """`own_rounds` as the fresh process runs it (here in this one, on the CPU): a step
    at other shapes first, the first step at the timed shapes apart (cuDNN's search on
    a GPU), then the rounds."""
    from visionbench import models
    from visionbench.measure.meters import count_params

    done = framework_switches.own_rounds(own_process_job(batch), "cpu", rounds=3, warmup_rounds=1)
    assert len(done["samples"]) == 3 and min(done["samples"]) > 0
    assert done["first_step_s"] > 0
    assert done["energy_j"] is None and done["power_w"] is None  # no NVML on the CPU
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    assert done["params"] == count_params(model)
    assert not torch.backends.cudnn.benchmark  # the switch is left as it was


@pytest.mark.slow
def test_the_step_travels_to_a_fresh_process_and_its_rounds_come_back():
    from visionbench.measure.runner import in_fresh_process

    done = in_fresh_process(framework_switches.own_rounds, own_process_job(), "cpu", 2, 0)
    assert len(done["samples"]) == 2 and done["first_step_s"] > 0
