"""Measuring code: synchronisation, peak memory, FLOPs, parameters, energy."""

import pytest
import torch
import torch.nn as nn

from visionbench import measure

NO_CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="CUDA is not available on this machine"
)
MiB = 1 << 20


def test_peak_memory_counts_resident_and_transient_tensors():
    resident = torch.zeros(MiB // 4)  # 1 MiB of float32

    def work():
        a = torch.ones(2 * MiB // 4)  # 2 MiB, freed before b exists
        del a
        b = torch.ones(3 * MiB // 4)  # 3 MiB
        return b.sum()

    peak = measure.peak_memory(work, "cpu", resident=[resident])
    assert 4 * MiB <= peak < 4 * MiB + 64 * 1024  # 1 resident + 3 (the 2 was freed first)


def test_peak_memory_sees_what_is_alive_at_once():
    def work():
        a = torch.ones(2 * MiB // 4)
        b = torch.ones(3 * MiB // 4)
        return (a.sum() + b.sum()).item()

    assert 5 * MiB <= measure.peak_memory(work, "cpu") < 5 * MiB + 64 * 1024


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
    peak = measure.peak_memory(step, "cpu", resident=[model, opt, x])
    # parameters + gradients + two Adam moments at least
    assert peak >= 4 * params
    assert peak < 12 * params + x.numel() * 4 * 4


def test_resident_tensors_are_not_counted_twice():
    t = torch.zeros(MiB // 4)
    peak = measure.peak_memory(lambda: None, "cpu", resident=[t, t, [t], {"a": t}, t[:10]])
    assert peak == MiB


def test_flops_of_a_linear_layer():
    layer = nn.Linear(100, 10)
    assert measure.count_flops(layer, torch.randn(4, 100)) == 2 * 100 * 10


def test_flops_of_a_conv_grow_with_pixels():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    small = measure.count_flops(conv, torch.randn(2, 3, 8, 8))
    large = measure.count_flops(conv, torch.randn(2, 3, 16, 16))
    assert small == 2 * 3 * 8 * 9 * 8 * 8
    assert large == 4 * small


def test_flops_leave_the_training_mode_alone():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout())
    model.train()
    measure.count_flops(model, torch.randn(1, 4))
    assert model.training


def test_params():
    assert measure.count_params(nn.Linear(10, 5)) == 55


def test_synced_returns_the_result_and_times_once():
    calls = []
    fn = measure.synced(lambda: calls.append(1) or 42, "cpu")
    assert fn() == 42 and calls == [1]
    elapsed, out = measure.time_once(lambda: 7, "cpu")
    assert out == 7 and elapsed >= 0


def test_energy_is_absent_on_the_cpu():
    meter = measure.EnergyMeter("cpu")
    with meter.span(units=10) as reading:
        torch.ones(10).sum()
    assert reading.energy_j is None and reading.power_w is None


@NO_CUDA
def test_cuda_peak_memory_uses_the_allocator_peak():
    device = torch.device("cuda")

    def work():
        return torch.ones(4 * MiB // 4, device=device).sum()

    assert measure.peak_memory(work, device) >= 4 * MiB


@NO_CUDA
def test_cuda_energy_is_measured_where_nvml_counts_it():
    meter = measure.EnergyMeter("cuda")
    if meter.handle is None:
        pytest.skip("this GPU or driver does not expose NVML's total-energy counter")
    with meter.span(units=1) as reading:
        x = torch.randn(2048, 2048, device="cuda")
        for _ in range(50):
            x = x @ x.T / 2048
    assert reading.energy_j is not None and reading.energy_j > 0
