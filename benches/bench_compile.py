"""torch.compile: the eager model (the reference) against each of the profile's modes.

Only the model's forward (and, through AOTAutograd, its backward) is compiled;
the optimiser step stays eager. Expected: a one-off compile of tens of seconds
on a CPU (recorded apart as `compile_time_s`: the first step from scratch, with
caches bypassed, minus a steady step), then a steady step that is faster where
fusing elementwise work around convolutions pays (large activations, GPUs) and
about the same for small CNNs whose time is in the convolutions. The training
run behind `accuracy` pays its compiles in `train_time_s`. On the CPU the peak
memory of every variant here is counted at the allocator, since compiled
kernels allocate where a dispatch-level count cannot see them.
"""

import pytest

from conftest import profile_of
from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant

TECHNIQUE = techniques.COMPILE.name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "compile_mode" in metafunc.fixturenames:
        modes = profile_of(metafunc.config).step_techniques.compile_modes
        metafunc.parametrize("compile_mode", ["eager", *modes])


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, compile_mode):
    model = vb.profile.step_techniques.compile_model
    variant = Variant(TECHNIQUE, compile_mode, reference=techniques.COMPILE.reference)
    mode = None if compile_mode == "eager" else compile_mode
    workload, reference = vb.workload(model, compile=mode), vb.workload(model)
    vb.train_step(benchmark, variant, workload, allocator_memory=True, reference=reference)
