"""Data-parallel training (CPU, gloo, 2 ranks): DDP's averaged gradients equal a
single-process step, compression halves the bytes and keeps the result within
its precision, failing ranks are named and cleaned up, concurrent launches get
their own ports; and the pure parts (topology, intervals, fingerprint, replayed
samples, the report's scaling section)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap

import dp_steps
import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT

from visionbench import models
from visionbench.data import SplitData, load_digits, split
from visionbench.data_parallel.comm import bucket_bytes, merged_length
from visionbench.data_parallel.launch import DataParallelError, alive, launch
from visionbench.data_parallel.rank import Fault, Job, Shard, micro_batches
from visionbench.data_parallel.topology import (
    devices_available,
    topology,
    torchrun_rank,
    unavailable,
    under_torchrun,
    world_sizes,
)
from visionbench.data_parallel.variants import REFERENCE, Variant, variants
from visionbench.measure import fingerprint, metrics
from visionbench.measure.results import Bench
from visionbench.measure.runner import replay, replay_clock
from visionbench.report.scaling import section as scaling
from visionbench.training.train import TrainConfig

PLAIN = Variant("ddp")
BF16 = Variant("bf16_compress", hook="bf16")


@pytest.fixture(scope="module")
def digits() -> SplitData:
    train, test = split(load_digits(), 0.2, seed=0)
    return SplitData("digits", train, test)


def tiny_job(data: SplitData, variant=PLAIN, world_size: int = 2, **changes) -> Job:
    """Small CNN on 8 px digits: two training steps, two timed rounds."""
    mean, std = data.stats()
    job = Job(
        variant=variant,
        world_size=world_size,
        device_type="cpu",
        model="small_cnn",
        image_size=8,
        train=TrainConfig(batch_size=32, epochs=1, max_steps=2),
        per_rank_batch=16,
        rounds=2,
        warmup_rounds=1,
        data_name="digits",
        train_data=Shard.of(data.train),
        test_data=Shard.of(data.test),
        mean=mean,
        std=std,
        timeout_s=30,
        deadline_s=120,
    )
    return dataclasses.replace(job, **changes)


def single_process_grads(job: Job) -> list[torch.Tensor]:
    x, y = dp_steps.global_batch(job)
    torch.manual_seed(job.train.seed)
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    F.cross_entropy(model(x), y).backward()
    return [p.grad for p in model.parameters()]


# -- launched, 2 ranks ------------------------------------------------------------------


@pytest.mark.slow
def test_a_ddp_step_averages_to_the_single_process_gradient(digits):
    job = tiny_job(digits)
    out = launch(job, entrypoint=dp_steps.one_step).figures
    for ddp, single in zip(out["grads"], single_process_grads(job), strict=True):
        torch.testing.assert_close(ddp, single, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_bf16_compression_halves_the_bytes_and_keeps_the_step_within_bf16(digits):
    plain = launch(tiny_job(digits), entrypoint=dp_steps.one_step).figures
    bf16 = launch(tiny_job(digits, BF16), entrypoint=dp_steps.one_step).figures
    n_params = sum(g.numel() for g in plain["grads"])
    assert plain["bytes"] == 4 * n_params  # measured at the collective: fp32
    assert bf16["bytes"] == plain["bytes"] // 2 and bf16["calls"] == plain["calls"]
    moved = [not torch.equal(a, b) for a, b in zip(plain["grads"], bf16["grads"], strict=True)]
    assert any(moved)  # the hook really sent bf16
    for a, b in zip(plain["grads"], bf16["grads"], strict=True):
        scale = a.abs().max().item() or 1.0
        torch.testing.assert_close(b, a, rtol=2**-7, atol=2**-7 * scale)


@pytest.mark.slow
def test_the_worker_records_every_figure_of_the_issue(digits):
    """Each figure checked for what it says, against what the job and the model are."""
    job = tiny_job(digits)
    launched = launch(job)
    f = launched.figures
    model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
    grad_bytes = 4 * sum(p.numel() for p in model.parameters())  # fp32, the plain hook
    assert grad_bytes < dist_first_bucket()  # so DDP puts every gradient in one bucket
    # every step hands each gradient to all-reduce once
    assert f["allreduce_bytes"] == grad_bytes and f["allreduce_calls"] == 1
    assert f["samples_per_step"] == job.per_rank_batch * job.world_size == 32
    # the all-reduce is in flight inside the step: no longer than it, and its share of each
    # step (the median of two rounds: their mean) lies between in-flight / slowest round
    # and in-flight / fastest round
    times, busy = f["times"], f["allreduce_time_s"]
    assert len(times) == job.rounds == 2 and 0 < busy <= max(times)
    assert busy / max(times) - 1e-9 <= f["allreduce_share"] <= busy / min(times) + 1e-9
    # each rank holds at least its parameters, their gradients, Adam's two moments and
    # DDP's bucket; the figure is the largest rank's
    per_rank = f["peak_mem_bytes_per_rank"]
    assert len(per_rank) == job.world_size and f["peak_mem_bytes"] == max(per_rank)
    assert min(per_rank) >= 5 * grad_bytes
    # the accuracy run took the budget's steps, and its accuracy counts right answers
    assert f["train_steps"] == job.train.max_steps == 2 and f["diverged"] is False
    n = f["eval_images"]
    assert n == len(digits.test)
    assert f["accuracy"] * n == pytest.approx(round(f["accuracy"] * n), abs=1e-6)
    assert launched.port and not any(alive(p) for p in launched.pids.values())


def dist_first_bucket() -> int:
    """DDP's first gradient bucket, in bytes (smaller than the rest, to start early)."""
    import torch.distributed as dist

    return dist._DEFAULT_FIRST_BUCKET_BYTES


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("raise", r"rank 1 \(pid \d+\): RuntimeError: injected fault: rank 1 raised"),
        ("kill", r"rank 1 \(pid \d+\): (killed by SIGKILL|ended without an error of its own)"),
        ("hang", r"rank 1 \(pid \d+\): no error of its own, .* \(hung\)"),
    ],
    ids=["raise", "kill", "hang"],
)
def test_a_failing_rank_is_named_and_no_rank_is_left(digits, kind, named):
    job = tiny_job(digits, fault=Fault(1, kind), timeout_s=15)
    with pytest.raises(DataParallelError) as info:
        launch(job)
    message = str(info.value)
    assert re.search(named, message) and "world size 2" in message, message
    assert "rank 0" in message  # every rank's fate is told
    assert len(info.value.pids) == 2
    assert not any(alive(p) for p in info.value.pids.values())
    # the next variant still runs
    assert launch(tiny_job(digits)).figures["times"]


@pytest.mark.slow
def test_a_rank_hanging_alone_is_killed_at_the_deadline(digits):
    job = tiny_job(digits, world_size=1, fault=Fault(0, "hang"), deadline_s=20)
    with pytest.raises(DataParallelError, match=r"rank 0 .*hung past the deadline"):
        launch(job)


LAUNCH_SCRIPT = """
import json, sys
from visionbench.data_parallel.launch import launch
sys.path.insert(0, {tests!r})
from test_data_parallel import tiny_job
from visionbench.data import SplitData, load_digits, split

if __name__ == "__main__":
    train, test = split(load_digits(), 0.2, seed=0)
    launched = launch(tiny_job(SplitData("digits", train, test)))
    print(json.dumps({{"port": launched.port}}))
"""


@pytest.mark.slow
def test_two_launches_at_once_meet_on_different_ports(tmp_path):
    script = tmp_path / "launch_one.py"
    script.write_text(textwrap.dedent(LAUNCH_SCRIPT.format(tests=str(ROOT / "tests"))))
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    procs = [
        subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        for _ in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    ports = [json.loads(out.strip().splitlines()[-1])["port"] for out, _ in outs]
    assert ports[0] != ports[1]


def test_ddp_bucket_bytes_are_the_reducer_own_buffers():
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.distributed.init_process_group(
        "gloo", store=torch.distributed.HashStore(), rank=0, world_size=1
    )
    try:
        model = models.build("small_cnn", num_classes=10, in_channels=1, image_size=8)
        ddp = DDP(model, bucket_cap_mb=0.01)
        n = sum(p.numel() for p in model.parameters())
        assert bucket_bytes(ddp) == 4 * n
    finally:
        torch.distributed.destroy_process_group()


# -- pure parts ---------------------------------------------------------------------------


def test_world_sizes_are_powers_of_two_up_to_the_machine_and_the_cap():
    assert world_sizes(2, 2) == [1, 2]
    assert world_sizes(16, None) == [1, 2, 4, 8, 16]
    assert world_sizes(6, None) == [1, 2, 4, 6]
    assert world_sizes(8, 2) == [1, 2]
    assert world_sizes(0, None) == []


def test_a_world_size_the_machine_cannot_hold_is_a_skip_reason():
    cores = devices_available("cpu")
    reason = unavailable(torch.device("cpu"), cores + 1)
    assert reason is not None and f"this machine has {cores}" in reason
    assert unavailable(torch.device("cpu"), 1) is None


def test_merged_length_counts_overlapping_all_reduces_once():
    assert merged_length([(0, 2), (1, 3), (5, 6)], 0, 10) == 4
    assert merged_length([(0, 2), (1, 3)], 1.5, 2.5) == 1
    assert merged_length([], 0, 1) == 0


def test_the_global_batch_splits_into_disjoint_micro_batches():
    x, y = torch.arange(16.0).view(16, 1), torch.arange(16)
    parts = [micro_batches(x, y, r, 2, 2) for r in range(2)]
    seen = sorted(int(v) for rank in parts for xb, _ in rank for v in xb.flatten())
    assert seen == list(range(16)) and all(xb.shape[0] == 4 for rank in parts for xb, _ in rank)


def test_accuracy_keeps_the_recipe_global_batch_or_is_left_out(digits):
    assert tiny_job(digits).micro_batch_for_accuracy == 16
    accumulate = Variant("no_sync_x2", accumulation=2)
    assert tiny_job(digits, accumulate).micro_batch_for_accuracy == 8
    assert tiny_job(digits, world_size=3).micro_batch_for_accuracy is None


def test_variants_start_with_the_reference_and_say_what_they_change():
    vs = variants((100.0, 0.25), 2)
    assert vs[0].name == REFERENCE
    assert [v.name for v in vs[1:]] == [
        "bf16_compress", "fp16_compress", "bucket_0p25mb", "bucket_100mb", "no_sync_x2"
    ]  # fmt: skip
    assert all(v.description for v in vs)
    with pytest.raises(ValueError, match="hook"):
        Variant("x", hook="int8")


def fp(**changes) -> dict:
    base = {k: "x" for k in fingerprint.FIELDS} | {"world_size": 2, "backend": "gloo", "nodes": 1}
    return base | changes


def test_torchrun_is_told_once_by_its_agent_and_world(monkeypatch):
    """conftest.py (only rank 0 saves; single-process benches skip) and the topology read
    the same test: torchrun's agent id and a world size, and the rank beside them."""
    for name in ("TORCHELASTIC_RUN_ID", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "3")  # a rank outside torchrun (another launcher) is none
    assert not under_torchrun() and torchrun_rank() is None
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert under_torchrun() and torchrun_rank() == 3
    monkeypatch.delenv("RANK")
    assert torchrun_rank() == 0


def test_runs_of_different_topologies_are_never_compared():
    assert fingerprint.differences(fp(), fp()) == {}
    assert set(fingerprint.differences(fp(), fp(world_size=8, nodes=2))) == {"world_size", "nodes"}
    assert set(fingerprint.differences(fp(), fp(backend="nccl"))) == {"backend"}


def test_a_run_saved_before_the_topology_fields_counts_as_one_node():
    old = {k: v for k, v in fp().items() if k not in ("world_size", "backend", "nodes")}
    assert fingerprint.differences(old, fp()) == {}
    assert fingerprint.differences(old, fp(nodes=2)) == {"nodes": (1, 2)}


def test_the_fingerprint_records_this_machine_topology():
    topo = topology(["cpu"], 2)
    assert topo.backend == "gloo" and topo.nodes == 1
    assert topo.world_size == min(2, devices_available("cpu"))
    saved = fingerprint.fingerprint("quick", topo)
    assert (saved["world_size"], saved["backend"], saved["nodes"]) == (
        topo.world_size, "gloo", 1
    )  # fmt: skip


def test_per_rank_figures_are_lists_in_the_schema():
    metrics.validate({"peak_mem_bytes_per_rank": [1, 2], "world_size": 2, "backend": "gloo"})
    with pytest.raises(metrics.SchemaError, match="one per rank"):
        metrics.validate({"peak_mem_bytes_per_rank": 3})
    with pytest.raises(metrics.SchemaError, match="fraction"):
        metrics.validate({"allreduce_share": 1.5})


@pytest.mark.benchmark(group="replay", timer=replay_clock)
def test_replayed_samples_are_pytest_benchmark_samples(benchmark):
    if benchmark.disabled:
        pytest.skip("pytest-benchmark is disabled in this run")
    samples = [0.25, 0.125, 0.5]
    replay(benchmark, samples)
    stats = benchmark.stats.stats
    assert stats.data == pytest.approx(samples) and stats.rounds == 3
    assert stats.median == pytest.approx(0.25)


@pytest.mark.benchmark(group="replay")
def test_replay_refuses_a_bench_timed_by_another_clock(benchmark):
    if benchmark.disabled:
        pytest.skip("pytest-benchmark is disabled in this run")
    with pytest.raises(RuntimeError, match=r"timer=visionbench\.measure\.runner\.replay_clock"):
        replay(benchmark, [0.25, 0.5])


def dp_bench(variant: str, ws: int, per_s: float, **info) -> Bench:
    extra = {"technique": "data_parallel", "variant": variant, "reference": "ddp",
             "world_size": ws, "backend": "gloo", "device": "cpu", "dataset": "mnist5k",
             "samples_per_s": per_s, "epochs": 1, **info}  # fmt: skip
    return Bench(f"b::s[{variant}-{ws}]", variant, "data_parallel:train_step", {}, extra, {})


def test_the_scaling_section_says_what_was_measured():
    benches = [
        dp_bench("ddp", 1, 1000.0, scaling_efficiency=1.0, allreduce_bytes=600_000),
        dp_bench("ddp", 2, 800.0, scaling_efficiency=0.4, allreduce_share=0.3,
                 allreduce_bytes=600_000, allreduce_calls=1),
        dp_bench("bf16_compress", 2, 950.0, allreduce_bytes=300_000),
    ]  # fmt: skip
    text = scaling(benches)
    assert "| ddp | 2 | 800 | 0.40 | 30.0% | 586 KiB (1 call)" in text
    assert "0.80x the throughput, a scaling efficiency of 0.40" in text
    assert "no speed-up is expected" in text and "Below it is what gloo" in text
    assert "bf16_compress at world size 2 handed 293 KiB" in text and "(0.50x)" in text
    assert scaling([dp_bench("ddp", 1, 5.0, error="boom")]) == ""
