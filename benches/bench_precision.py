"""Precision: strict fp32 (the reference), TF32, autocast bf16, autocast fp16 with a GradScaler.

Autocast runs convolutions and matrix products in the lower precision and keeps
fp32 master weights, so only the step's arithmetic changes. `fp32` is strict
IEEE fp32 on every device; `tf32` (CUDA, Ampere and newer; skipped with the
reason elsewhere) keeps fp32 tensors but runs matrix products and cuDNN
convolutions on tensor cores with a 10-bit mantissa, which PyTorch does by
default for cuDNN convolutions: the two apart show what that default buys.
Expected: bf16 makes the step faster where the hardware has bf16 units (CPUs
with AVX512-BF16 or AMX, Ampere and later GPUs) and slower where it is
emulated; TF32 most of that on large convolutions without touching the
dtypes; fp16 (CUDA only, with loss scaling against underflow) cost the seed
poster's ResNet-18 about 10% less time and slightly less memory on an RTX 3060.
Accuracy should stay within seed noise; a run whose loss became NaN or
infinite is recorded as `diverged`.
"""

import pytest

from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant
from visionbench.training.train import amp_unsupported, tf32_unsupported

TECHNIQUE = techniques.PRECISION.name
PRECISIONS = {  # variant -> TrainConfig changes
    "fp32": {"amp": None, "tf32": False},
    "tf32": {"amp": None, "tf32": True},
    "bf16": {"amp": "bf16"},
    "fp16": {"amp": "fp16"},
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "precision" in metafunc.fixturenames:
        metafunc.parametrize("precision", list(PRECISIONS))


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, precision):
    changes = PRECISIONS[precision]
    reason = amp_unsupported(vb.device, changes.get("amp")) or tf32_unsupported(
        vb.device, changes.get("tf32", False)
    )
    if reason is not None:
        pytest.skip(reason)
    model = vb.profile.step_techniques.precision_model
    variant = Variant(TECHNIQUE, precision, reference=techniques.PRECISION.reference)
    reference = vb.workload(model, **PRECISIONS[variant.reference])
    vb.train_step(benchmark, variant, vb.workload(model, **changes), reference=reference)
