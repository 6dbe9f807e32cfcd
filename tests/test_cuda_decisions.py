"""The CUDA path's decisions, held without a GPU: whether bf16 and TF32 are native on a
GPU (asked of the bench's own device), which TF32 switches torch gets, that DDP's ranks
train in strict fp32, and which framework switch is timed in a process of its own. The
GPUs are faked as torch reports them: an H100, an A100, a V100, a T4."""

from __future__ import annotations

import contextlib
import os
from types import SimpleNamespace

import pytest
import torch
from fake_nvml import A100, H100, T4, V100

from visionbench.measure.runner import in_fresh_process
from visionbench.techniques import framework_switches, recipe
from visionbench.training import train

CUDA = torch.device("cuda")
GPUS = {H100: (9, 0), A100: (8, 0), V100: (7, 0), T4: (7, 5)}


@pytest.mark.parametrize(("name", "native"), [(H100, True), (A100, True), (V100, False),
                                              (T4, False)])  # fmt: skip
def test_bf16_and_tf32_are_native_from_compute_capability_8(name, native):
    for mode in ("bf16", "tf32"):
        reason = train.cuda_unsupported(mode, name, GPUS[name])
        assert (reason is None) is native
        if not native:
            assert name in reason and "8.0 or newer" in reason
    if not native:
        assert "emulation" in train.cuda_unsupported("bf16", name, GPUS[name])
    assert train.cuda_unsupported("bf16", "AMD Instinct MI250X", (9, 0), hip=True) is None


@pytest.fixture
def two_gpus(monkeypatch):
    """cuda:0 an H100, cuda:1 a T4, as torch.cuda reports them device by device (the
    current device stays 0, as a bench on cuda:1 leaves it)."""
    names = {0: H100, 1: T4}

    def index(device=None):
        return torch.device(device).index if device is not None else 0

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: names[index(d)])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: GPUS[names[index(d)]])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # of cuda:0


def test_bf16_is_asked_of_the_benchs_own_gpu(two_gpus):
    t4, h100 = torch.device("cuda:1"), torch.device("cuda:0")
    assert "Tesla T4 (compute capability 7.5) has no native bf16" in train.amp_unsupported(
        t4, "bf16"
    )
    assert train.amp_unsupported(h100, "bf16") is None
    assert "has no TF32" in train.tf32_unsupported(t4, True)
    assert train.tf32_unsupported(h100, True) is None
    with pytest.raises(ValueError, match="no native bf16"):
        train.Trainer(torch.nn.Linear(2, 2), train.TrainConfig(amp="bf16"), t4)


def test_the_recipe_ladder_takes_fp16_where_bf16_is_emulated(two_gpus):
    assert recipe.fastest_amp(torch.device("cuda:0")) == "bf16"
    assert recipe.fastest_amp(torch.device("cuda:1")) == "fp16"


# -- TF32: which switches, and that everything torch reads agrees -----------------------------


def tf32_readers() -> dict[str, object]:
    """What torch and Inductor read of the TF32 state (Inductor 2.14: its cache key reads
    get_float32_matmul_precision, its conv templates cudnn.allow_tf32)."""
    return {
        "matmul precision": torch.get_float32_matmul_precision(),
        "cublas": torch._C._get_cublas_allow_tf32(),
        "cudnn": torch.backends.cudnn.allow_tf32,
        "matmul fp32_precision": torch.backends.cuda.matmul.fp32_precision,
        "conv fp32_precision": torch.backends.cudnn.conv.fp32_precision,
    }


def test_the_installed_torch_gets_the_allow_tf32_flags():
    switches_ = train.tf32_switches(torch.backends, True)
    assert [(obj, name) for obj, name, _ in switches_] == [
        (torch.backends.cuda.matmul, "allow_tf32"),
        (torch.backends.cudnn, "allow_tf32"),
    ]


def test_a_torch_without_the_flags_gets_fp32_precision_per_operator():
    later = SimpleNamespace(
        cuda=SimpleNamespace(matmul=SimpleNamespace(fp32_precision="none")),
        cudnn=SimpleNamespace(conv=SimpleNamespace(fp32_precision="tf32")),
    )
    assert [(n, v) for _, n, v in train.tf32_switches(later, False)] == [
        ("fp32_precision", "ieee"),
        ("fp32_precision", "ieee"),
    ]
    assert {v for *_, v in train.tf32_switches(later, True)} == {"tf32"}


@pytest.mark.parametrize("tf32", [False, True])
def test_every_tf32_reader_agrees_inside_the_trainers_block(tf32):
    """The flags' state lives on the CPU side: the CUDA block runs here as on a GPU."""
    before = tf32_readers()
    with train.fp32_precision(CUDA, tf32):
        inside = tf32_readers()  # none raises: no mix of the two APIs
    assert inside["cublas"] is tf32 and inside["cudnn"] is tf32
    assert inside["matmul precision"] == ("high" if tf32 else "highest")
    assert inside["matmul fp32_precision"] == ("tf32" if tf32 else "ieee")
    assert inside["conv fp32_precision"] == ("tf32" if tf32 else "none")  # none: fp32
    after = tf32_readers()
    assert {k: after[k] for k in ("cublas", "cudnn", "matmul precision")} == {
        k: before[k] for k in ("cublas", "cudnn", "matmul precision")
    }


def test_fp32_precision_alone_would_break_torchs_own_reads():
    """Why the flags and not the per-operator API: set alone, fp32_precision leaves
    the flags' state behind and torch's reads of it raise (pytorch#166387). If this
    stops raising, torch has settled the mix and `tf32_switches` may move on."""
    matmul = torch.backends.cuda.matmul
    before = matmul.allow_tf32
    try:
        matmul.fp32_precision = "tf32"
        with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
            torch.get_float32_matmul_precision()
    finally:
        matmul.allow_tf32 = before  # the flag writes both states again
    assert torch.get_float32_matmul_precision() == ("high" if before else "highest")


def test_a_ddp_step_runs_forward_and_backward_in_strict_fp32(monkeypatch):
    """DDP's ranks train under the trainer's TF32 setting (strict fp32 for the
    reference), like every Trainer step: its forward and backward inside the block."""
    from test_data_parallel import tiny_job

    from visionbench.data import SplitData, load_digits, split
    from visionbench.data_parallel import rank

    seen, inside = [], []

    @contextlib.contextmanager
    def recording(device, tf32):
        seen.append((device.type, tf32))
        inside.append(True)
        try:
            yield
        finally:
            inside.pop()

    monkeypatch.setattr(rank, "fp32_precision", recording)
    train_split, test_split = split(load_digits(), 0.2, seed=0)
    job = tiny_job(SplitData("digits", train_split, test_split), world_size=1)
    torch.distributed.init_process_group(
        "gloo", store=torch.distributed.HashStore(), rank=0, world_size=1
    )
    try:
        runner = rank.DDPStep(job, torch.device("cpu"), total_steps=1)
        phases = []
        runner.ddp.module.register_forward_hook(lambda *_: phases.append(("fwd", bool(inside))))
        first = next(runner.ddp.module.parameters())
        first.register_hook(lambda g: phases.append(("bwd", bool(inside))))
        x, y = next(iter(train.Batches(job.train_data.imageset("digits"), 16, torch.device("cpu"),
                                       mean=job.mean, std=job.std)))  # fmt: skip
        runner.step([(x, y)])
    finally:
        torch.distributed.destroy_process_group()
    assert seen == [("cpu", False)]
    assert phases == [("fwd", True), ("bwd", True)]


# -- the framework switches: which one needs a process of its own ---------------------------


def test_only_cudnn_benchmark_is_timed_in_a_process_of_its_own():
    own = [v for v in framework_switches.VARIANTS if framework_switches.own_process(v)]
    assert own == ["cudnn_benchmark"]


def test_a_fresh_process_is_another_process_and_its_errors_come_back():
    assert in_fresh_process(os.getpid) != os.getpid()
    with pytest.raises(ValueError, match="invalid literal"):
        in_fresh_process(int, "not a number")
