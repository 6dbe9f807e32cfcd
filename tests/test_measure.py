"""Measuring code: synchronisation, peak memory, FLOPs, parameters, energy."""

import time

import pytest
import torch
import torch.nn as nn
from fake_nvml import FakeNvml, machine
from helpers import CUDA_MARKS, needs_cuda

from visionbench.measure import energy, gpus, meters

MiB = 1 << 20


def test_peak_memory_counts_resident_and_transient_tensors():
    resident = torch.zeros(MiB // 4)  # 1 MiB of float32

    def work():
        a = torch.ones(2 * MiB // 4)  # 2 MiB, freed before b exists
        del a
        b = torch.ones(3 * MiB // 4)  # 3 MiB
        return b.sum()

    peak = meters.peak_memory(work, "cpu", resident=[resident])
    assert 4 * MiB <= peak < 4 * MiB + 64 * 1024  # 1 resident + 3 (the 2 was freed first)


def test_peak_memory_sees_what_is_alive_at_once():
    def work():
        a = torch.ones(2 * MiB // 4)
        b = torch.ones(3 * MiB // 4)
        return (a.sum() + b.sum()).item()

    assert 5 * MiB <= meters.peak_memory(work, "cpu") < 5 * MiB + 64 * 1024


def test_peak_memory_of_a_training_step_includes_model_and_optimiser():
    model = nn.Linear(256, 256)
    opt = torch.optim.Adam(model.parameters())
    x = torch.randn(32, 256)

    def step():
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()

    step()
    params = sum(p.numel() * 4 for p in model.parameters())
    peak = meters.peak_memory(step, "cpu", resident=[model, opt, x])
    # parameters + gradients + two Adam moments at least
    assert peak >= 4 * params
    assert peak < 12 * params + x.numel() * 4 * 4


def test_resident_tensors_are_not_counted_twice():
    t = torch.zeros(MiB // 4)
    peak = meters.peak_memory(lambda: None, "cpu", resident=[t, t, [t], {"a": t}, t[:10]])
    assert peak == MiB


def test_flops_of_a_linear_layer():
    layer = nn.Linear(100, 10)
    assert meters.count_flops(layer, torch.randn(4, 100)) == 2 * 100 * 10


def test_flops_of_a_conv_grow_with_pixels():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    small = meters.count_flops(conv, torch.randn(2, 3, 8, 8))
    large = meters.count_flops(conv, torch.randn(2, 3, 16, 16))
    assert small == 2 * 3 * 8 * 9 * 8 * 8
    assert large == 4 * small


def test_flops_leave_the_training_mode_alone():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout())
    model.train()
    meters.count_flops(model, torch.randn(1, 4))
    assert model.training


def test_params():
    assert meters.count_params(nn.Linear(10, 5)) == 55


def test_synced_returns_the_result_and_times_once():
    calls = []
    fn = meters.synced(lambda: calls.append(1) or 42, "cpu")
    assert fn() == 42 and calls == [1]
    elapsed, out = meters.time_once(lambda: calls.append(2) or 7, "cpu")
    assert out == 7 and calls == [1, 2] and elapsed > 0


def test_model_bytes_counts_parameters_and_buffers():
    model = nn.Sequential(nn.Linear(10, 5), nn.BatchNorm1d(5))
    # 55 + 10 float32 parameters; running mean and var (5 + 5 float32), batch count (int64)
    assert meters.model_bytes(model) == (55 + 10) * 4 + 10 * 4 + 8


def step_of(name: str, device: torch.device):
    """A real training step of a registry model at 16 px, and what it holds."""
    from visionbench import models
    from visionbench.training.train import TrainConfig, Trainer

    torch.manual_seed(0)
    model = models.build(name, num_classes=10, in_channels=1, image_size=16)
    trainer = Trainer(model, TrainConfig(batch_size=32), device)
    x = torch.randn(32, 1, 16, 16, device=device)
    y = torch.randint(0, 10, (32,), device=device)
    trainer.step(x, y)  # gradients and optimiser state exist, as in a timed round
    return (lambda: trainer.step(x, y)), [trainer.model, trainer.optimizer, x, y]


DEVICES = [
    "cpu",
    pytest.param("cuda", marks=CUDA_MARKS),
]


@pytest.mark.parametrize("where", DEVICES)
def test_a_variants_peak_memory_ignores_models_cached_before_it(where):
    """peak_mem_bytes is the variant's own: the same with other models resident."""
    device = torch.device(where)
    step, resident = step_of("small_cnn", device)
    alone = meters.peak_memory(step, device, resident=resident)
    cached = [step_of("resnet18", device) for _ in range(2)]  # others' models and optimisers
    beside = meters.peak_memory(step, device, resident=resident)
    assert cached and alone > 0
    # the CPU count is exact; the CUDA allocator rounds each block up to 512 bytes
    assert abs(beside - alone) <= (0 if device.type == "cpu" else 64 * 1024)
    own = meters.resident_bytes(device, resident)
    other = min(meters.resident_bytes(device, held) for _, held in cached)
    # its own tensors, activations and (CUDA) cuDNN's workspace: not one resnet18's worth
    assert own < alone < own + other


def test_run_memory_counts_what_the_run_allocates_and_holds():
    held = torch.zeros(MiB // 4)  # 1 MiB the run reads in place
    with meters.RunMemory("cpu") as run:
        run.hold(held)
        a = torch.ones(2 * MiB // 4)
        b = torch.ones(MiB // 4)
        del a, b
    assert 4 * MiB <= run.peak < 4 * MiB + 64 * 1024


# -- energy ----------------------------------------------------------------------------------


def test_a_span_shorter_than_the_counters_resolution_records_no_energy():
    short = energy.energy_figures(5.0, energy.ENERGY_MIN_SPAN_S / 10, units=3)
    assert short.energy_j is None and short.power_w is None
    long = energy.energy_figures(300.0, 2.0, units=3)
    assert long.energy_j == 100.0 and long.power_w == 150.0


def test_energy_is_read_over_a_block_at_least_the_counters_resolution_long():
    """A 100 W GPU whose counter moves every 100 ms (NVML's steps): the block runs until
    the span is long enough that a step is a tenth of it, so the power reads 100 W
    within 10%, however few or short the units."""
    start = time.perf_counter()

    def millijoules(handle):  # 100 W, counted in 100 ms steps
        return 100_000 * (int((time.perf_counter() - start) * 10) / 10)

    meter = energy.EnergyMeter("cpu", gpus.Nvml(FakeNvml(machine("Fake", [1]), energy=millijoules)))
    meter.handle = "gpu0"  # as a CUDA device's meter would find it
    calls = []
    reading = meter.over(lambda: calls.append(1), min_units=5)
    assert len(calls) >= 5
    assert 90.0 <= reading.power_w <= 110.0
    seconds = reading.energy_j * len(calls) / reading.power_w  # the span the block took
    assert seconds >= energy.ENERGY_MIN_SPAN_S


def test_energy_is_absent_on_the_cpu():
    meter = energy.EnergyMeter("cpu")
    with meter.span(units=10) as reading:
        torch.ones(10).sum()
    assert reading.energy_j is None and reading.power_w is None
    assert meter.over(lambda: None).energy_j is None


@needs_cuda
def test_cuda_peak_memory_uses_the_allocator_peak():
    device = torch.device("cuda")

    def work():
        return torch.ones(4 * MiB // 4, device=device).sum()

    assert meters.peak_memory(work, device) >= 4 * MiB


@needs_cuda
def test_cuda_energy_is_measured_where_nvml_counts_it():
    meter = energy.EnergyMeter("cuda")
    if meter.handle is None:
        pytest.skip("this GPU or driver does not expose NVML's total-energy counter")
    x = torch.randn(2048, 2048, device="cuda")

    def work():
        for _ in range(50):
            x.copy_(x @ x.T / 2048)

    reading = meter.over(work)  # at least ENERGY_MIN_SPAN_S of it, however fast the GPU
    assert reading.energy_j is not None and reading.energy_j > 0 and reading.power_w > 0


@needs_cuda
def test_nvml_finds_the_gpu_torch_calls_cuda0():
    nvml = gpus.Nvml()
    handle = nvml.handle("cuda:0")
    if handle is None:
        pytest.skip("NVML does not answer on this machine")
    uuid = nvml.library().nvmlDeviceGetUUID(handle)
    uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
    assert uuid.removeprefix("GPU-") == str(torch.cuda.get_device_properties(0).uuid)
    nvml.close()
