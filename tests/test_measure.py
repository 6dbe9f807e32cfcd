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


# -- CUDA graphs' pools, over faked allocator reports -----------------------------------------

MiB2 = 2 * MiB  # the allocator's segment size for small blocks


def test_a_graph_pool_counts_whole_and_a_gradient_inside_it_counts_once():
    pools = [(0x7F00_0000_0000, 4 * MiB2), (0x7F10_0000_0000, MiB2)]
    storages = {
        0x7E00_0000_0000: 3 * MiB,  # the parameters, outside any pool
        0x7F00_0000_0000 + 8192: MiB,  # a gradient the recorded backward wrote in a pool
    }
    assert meters.graph_peak(storages, above=512, pools=pools) == 3 * MiB + 5 * MiB2 + 512
    assert meters.graph_peak(storages, above=512, pools=[]) == 4 * MiB + 512  # eager: both


def snapshot(*segments):
    """torch.cuda.memory_snapshot()'s segments: (device, pool id, address, bytes)."""
    return [
        {"device": d, "segment_pool_id": pool, "address": a, "total_size": n}
        for d, pool, a, n in segments
    ]


class FakeAllocator:
    """torch.cuda's allocator figures for `meters.peak_memory` on a device with no GPU:
    allocated bytes before and at the peak, and the segments, which `during` may change."""

    def __init__(self, monkeypatch, before, peak, segments) -> None:
        self.segments = segments
        monkeypatch.setattr(meters, "sync", lambda device: None)
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: before)
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: peak)
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
        monkeypatch.setattr(torch.cuda, "memory_snapshot", lambda: self.segments)


def test_the_pools_of_a_variants_graphs_are_those_new_since_it_was_built(monkeypatch):
    old = ((0, 0), (3, 1))
    fake = FakeAllocator(monkeypatch, 0, 0, snapshot((0, old[1], 0x10, MiB2)))
    before = meters.graph_pool_ids("cuda:0")
    fake.segments = snapshot(
        (0, (0, 0), 0x00, MiB2),  # the default pool: never a graph's
        (0, old[1], 0x10, MiB2),  # another variant's graphs, there before
        (0, (4, 1), 0x20, 3 * MiB2),  # this variant's
        (1, (5, 1), 0x30, MiB2),  # a graph on another GPU
    )
    assert before == {old[1]}
    assert meters.new_graph_pools(before, "cuda:0") == {(4, 1)}
    assert meters.pool_segments(torch.device("cuda:0"), {(4, 1)}) == [(0x20, 3 * MiB2)]


def test_peak_memory_of_a_graph_replay_adds_its_pool(monkeypatch):
    pool = (4, 1)
    segments = snapshot((0, (0, 0), 0x00, MiB2), (0, pool, 0x20, 3 * MiB2))
    FakeAllocator(monkeypatch, before=10 * MiB, peak=10 * MiB + 4096, segments=segments)
    cuda = torch.device("cuda:0")
    assert meters.peak_memory(lambda: None, cuda) == 4096  # the replay alone: pool missed
    assert meters.peak_memory(lambda: None, cuda, graph_pools={pool}) == 3 * MiB2 + 4096


def test_peak_memory_is_left_out_when_the_unit_records_its_graphs_again(monkeypatch):
    pool = (4, 1)
    fake = FakeAllocator(monkeypatch, 0, 4096, snapshot((0, pool, 0x20, MiB2)))

    def recording_again():
        fake.segments = snapshot((0, pool, 0x20, MiB2), (0, pool, 0x40, MiB2))

    assert meters.peak_memory(recording_again, "cuda:0", graph_pools={pool}) is None


@pytest.mark.parametrize(
    ("mode", "where", "replays"),
    [
        ("reduce-overhead", "cuda", True),
        ("max-autotune", "cuda:1", True),
        ("default", "cuda", False),
        ("max-autotune-no-cudagraphs", "cuda", False),
        (None, "cuda", False),
        ("reduce-overhead", "cpu", False),
    ],
)
def test_which_compile_modes_replay_cuda_graphs(mode, where, replays):
    from visionbench.training.train import cuda_graphs

    assert cuda_graphs(mode, torch.device(where)) is replays


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
def test_a_reduce_overhead_step_counts_its_cuda_graph_pool():
    """torch.compile's reduce-overhead on the GPU, through the bench's own path: the
    step's graphs recorded into a pool of their own before its peak memory is taken
    (not again while it is), that peak holding the pool whole, the compile apart."""
    from types import SimpleNamespace

    from helpers import FakeBenchmark

    from visionbench import profiles
    from visionbench.data import SplitData, load_digits, split
    from visionbench.training.model_bench import ModelBench
    from visionbench.training.train import FitResult, TrainConfig
    from visionbench.training.workloads import Trained, Workload

    cuda = torch.device("cuda")
    digits = SplitData("digits", *split(load_digits(), 0.2, seed=0))
    fit = FitResult(accuracy=0.9, train_time_s=1.0, epochs_run=1, steps=9)
    cached = SimpleNamespace(get=lambda *args, **kwargs: Trained(nn.Linear(1, 1), 100, [fit]))
    vb = ModelBench(profiles.get("quick"), cuda, digits, cached)
    before = meters.graph_pool_ids(cuda)
    bench = FakeBenchmark()
    variant = SimpleNamespace(technique="compile", name="reduce-overhead", reference="eager")
    workload = Workload("small_cnn", 8, TrainConfig(compile="reduce-overhead", batch_size=32))
    vb.train_step(bench, variant, workload, allocator_memory=True)
    pools = meters.new_graph_pools(before, cuda)
    pool_bytes = sum(n for _, n in meters.pool_segments(cuda, pools))
    assert pools and pool_bytes > 0  # its graphs have a pool of their own
    peak = bench.extra_info["peak_mem_bytes"]
    assert peak is not None and peak >= pool_bytes  # None: recorded again while measured
    assert bench.extra_info["compile_time_s"] > 0


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
