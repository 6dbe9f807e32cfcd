"""Data-parallel training: DistributedDataParallel at world sizes 1, 2, 4, ...

Each case launches its ranks through torch.distributed's elastic launcher (the
API behind torchrun) on a free port: one process per GPU with NCCL, or on the
CPU with gloo, the cores split evenly between the ranks. The timed unit is one
synchronised DDP step at the recipe's batch on every rank (weak scaling),
timed on rank 0 between barriers; its rounds are pytest-benchmark's samples.
Recorded: global samples/s, scaling efficiency against world size 1, the
all-reduce's bytes and its share of the step (measured by a communication
hook), peak memory per rank, and the accuracy of a run at the recipe's global
batch. Expected, per variant (visionbench.data_parallel.variants says more):
  - ddp (the reference): near-linear throughput on GPUs with a fast link; on a
    CPU the ranks share the same cores, so no speed-up, only the cost of gloo;
  - bf16/fp16 compression: half the bytes per step, so less time where the
    link is the bottleneck; the result moves only by half-precision rounding;
  - a smaller / larger bucket_cap_mb: more overlap for more launches, or less;
    the same bytes and the same result;
  - no_sync accumulation over k micro-batches: the same bytes per step for k
    times the samples, so the all-reduce's share falls by about k.
Under torchrun (README: multi-node) every rank runs this module and rank 0 records.
"""

import pytest

from conftest import profile_of
from visionbench.data_parallel import figures, topology, variants
from visionbench.data_parallel.launch import DataParallelError
from visionbench.measure import metrics
from visionbench.measure.runner import replay_clock

TECHNIQUE = variants.TECHNIQUE


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    budget = profile_of(metafunc.config).data_parallel
    if "world_size" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--vb-device")
        sizes = topology.bench_world_sizes(choice, budget.max_world_size)
        metafunc.parametrize("world_size", sizes, ids=[f"ws{n}" for n in sizes])
    if "dp_variant" in metafunc.fixturenames:
        chosen = variants.variants(budget.bucket_caps_mb, budget.accumulation)
        metafunc.parametrize("dp_variant", chosen, ids=[v.name for v in chosen])


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_STEP}", timer=replay_clock)
def bench_train_step(benchmark, vb, dp_singles, world_size, dp_variant):
    reason = topology.unavailable(vb.device, world_size)
    if reason is not None:
        pytest.skip(reason)
    try:
        recorded = figures.measure(vb, benchmark, dp_variant, world_size, dp_singles)
    except DataParallelError as exc:
        if topology.under_torchrun() and world_size > 1:
            pytest.exit(str(exc), returncode=1)  # torchrun then stops every rank
        raise
    if recorded is None:
        pytest.skip("a torchrun rank other than 0: it trained, rank 0 records")
