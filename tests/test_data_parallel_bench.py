"""The data-parallel bench end to end (CPU, gloo, quick profile, small data): it
saves world sizes 1 and 2 with every figure, rank 0's rounds as the samples, and
the topology in the fingerprint; the report shows the scaling section."""

import matplotlib.image
import pytest
import torch
from helpers import run_benches

from visionbench import profiles, report
from visionbench.data_parallel import topology
from visionbench.measure import metrics, results

QUICK_ROUNDS = profiles.get("quick").timing.rounds  # rank 0's timed steps, replayed

FIGURES = {
    "samples_per_s",
    "scaling_efficiency",
    "allreduce_share",
    "allreduce_time_s",
    "allreduce_bytes",
    "allreduce_calls",
    "peak_mem_bytes",
    "peak_mem_bytes_per_rank",
    "accuracy",
    "eval_images",
    "train_time_s",
    "world_size",
    "backend",
    "nodes",
}


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory) -> tuple[dict, object]:
    cores = topology.devices_available("cpu")
    if cores < 2:  # the bench then skips world size 2 with this reason (test_distributed)
        pytest.skip(topology.unavailable(torch.device("cpu"), 2))
    path = tmp_path_factory.mktemp("dp") / "run.json"
    saved = run_benches(
        path, "benches/bench_data_parallel.py", "--vb-data", "digits", "-k", "ddp or bf16"
    )
    return saved, results.load_run(str(path))


@pytest.mark.slow
def test_world_sizes_1_and_2_are_saved_with_every_figure(dp_run):
    saved, _ = dp_run
    by_name = {b["name"]: b for b in saved["benchmarks"]}
    assert {
        "bench_train_step[cpu-digits-ws1-ddp]",
        "bench_train_step[cpu-digits-ws2-ddp]",
        "bench_train_step[cpu-digits-ws2-bf16_compress]",
    } <= set(by_name)
    for b in by_name.values():
        info = b["extra_info"]
        metrics.validate(info)
        assert info.keys() >= FIGURES, b["name"]
        assert len(b["stats"]["data"]) == b["stats"]["rounds"] == QUICK_ROUNDS
        assert b["options"]["timer"].endswith("replay_clock")
        assert len(info["peak_mem_bytes_per_rank"]) == info["world_size"]
    ws2 = by_name["bench_train_step[cpu-digits-ws2-ddp]"]["extra_info"]
    bf16 = by_name["bench_train_step[cpu-digits-ws2-bf16_compress]"]["extra_info"]
    assert bf16["allreduce_bytes"] * 2 == ws2["allreduce_bytes"]
    assert ws2["global_batch"] == 2 * ws2["batch_size"] and ws2["backend"] == "gloo"


@pytest.mark.slow
def test_the_topology_is_in_the_fingerprint(dp_run):
    saved, _ = dp_run
    fp = saved["machine_info"]["visionbench"]
    largest = max(b["extra_info"]["world_size"] for b in saved["benchmarks"])
    assert (fp["world_size"], fp["backend"], fp["nodes"]) == (largest, "gloo", 1)


@pytest.mark.slow
def test_the_report_shows_scaling_and_the_all_reduce_share(dp_run, tmp_path):
    _, run = dp_run
    text = report.write_report(run, [run], tmp_path).read_text()
    assert "## data_parallel: scaling" in text
    assert "no speed-up is expected" in text and "all-reduce was in flight for" in text
    assert "data_parallel:train_step (digits, cpu, world size 2)" in text
    assert "![data_parallel: samples/s by world size](data_parallel_scaling.png)" in text
    picture = matplotlib.image.imread(tmp_path / "data_parallel_scaling.png")
    assert picture.shape[0] > 200 and picture.shape[1] > 300  # a figure, not a stub
    assert picture[..., :3].std() > 0.05  # something drawn on it, not a blank canvas
