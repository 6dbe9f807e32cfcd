"""Gradient zeroing: `zero_grad(set_to_none=True)` (the reference, PyTorch's default),
`zero_grad(set_to_none=False)` and assigning `param.grad = None` by hand.

The math is the same in all three. Expected: setting gradients to None frees
them between steps, so the forward pass runs without them (lower peak memory by
up to one gradient's worth when the forward peak dominates) and the next
backward writes fresh tensors instead of adding into zeroed ones (no memset per
parameter); the hand-written loop does what set_to_none does. The seed poster
counted clearing gradients among its small savings; expect differences of a few
percent at most, often inside the noise.
"""

import pytest

from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant
from visionbench.training.train import ZERO_MODES

TECHNIQUE = techniques.GRAD_ZEROING.name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "zeroing" in metafunc.fixturenames:
        metafunc.parametrize("zeroing", ZERO_MODES)


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, zeroing):
    model = vb.profile.step_techniques.zeroing_model
    variant = Variant(TECHNIQUE, zeroing, reference=techniques.GRAD_ZEROING.reference)
    reference = vb.workload(model, zero_grad=variant.reference)
    vb.train_step(benchmark, variant, vb.workload(model, zero_grad=zeroing), reference=reference)
