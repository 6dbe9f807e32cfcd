"""Mixed precision: fp32 (the reference), autocast bf16, autocast fp16 with a GradScaler.

Autocast runs convolutions and matrix products in the lower precision and keeps
fp32 master weights, so only the step's arithmetic changes. Expected: bf16 makes
the step faster where the hardware has bf16 units (CPUs with AVX512-BF16 or AMX,
Ampere and later GPUs) and slower where it is emulated; fp16 (CUDA only, with
loss scaling against underflow) cost the seed poster's ResNet-18 about 10% less
time and slightly less memory on an RTX 3060. Accuracy should stay within seed
noise; a run whose loss became NaN or infinite is recorded as `diverged`.
"""

import pytest

from visionbench.runner import Variant
from visionbench.train import amp_unsupported

TECHNIQUE = "precision"
AMP = {"fp32": None, "bf16": "bf16", "fp16": "fp16"}  # variant -> TrainConfig.amp


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "precision" in metafunc.fixturenames:
        metafunc.parametrize("precision", list(AMP))


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:train_step")
def bench_train_step(benchmark, vb, precision):
    reason = amp_unsupported(vb.device, AMP[precision])
    if reason is not None:
        pytest.skip(reason)
    model = vb.profile.step_techniques.precision_model
    variant = Variant(TECHNIQUE, precision, reference="fp32")
    reference = vb.workload(model, amp=AMP[variant.reference])
    vb.train_step(benchmark, variant, vb.workload(model, amp=AMP[precision]), reference=reference)
