"""Memory format: contiguous NCHW tensors (the reference) against channels_last (NHWC).

The model's 4-D weights and every input batch are stored channels-last; the
math is the same, so accuracy moves only by floating-point ordering. Expected:
faster convolutions where the kernels prefer NHWC (tensor cores with fp16/bf16,
oneDNN on recent CPUs) and slower ones where layers fall back to NCHW and pay a
conversion each way (e.g. pooling or linear layers between convolutions).
"""

import pytest

from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant

TECHNIQUE = techniques.MEMORY_FORMAT.name
CHANNELS_LAST = {"contiguous": False, "channels_last": True}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "memory_format" in metafunc.fixturenames:
        metafunc.parametrize("memory_format", list(CHANNELS_LAST))


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, memory_format):
    model = vb.profile.step_techniques.memory_format_model
    variant = Variant(TECHNIQUE, memory_format, reference=techniques.MEMORY_FORMAT.reference)
    workload = vb.workload(model, channels_last=CHANNELS_LAST[memory_format])
    reference = vb.workload(model, channels_last=CHANNELS_LAST[variant.reference])
    vb.train_step(benchmark, variant, workload, reference=reference)
