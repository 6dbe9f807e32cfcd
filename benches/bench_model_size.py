"""Model size: from the seed poster's small CNN to the ResNet family.

Each model is trained for the profile's budget on the same split and at the
same input size, then one training step and one inference batch are timed.
Expected: the small CNN is the cheapest by orders of magnitude in time, memory
and FLOPs; the ResNets buy accuracy with all three (the poster found ResNet-18
the most accurate and the small CNN the cheapest).
"""

import pytest

from conftest import profile_of
from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant

TECHNIQUE = techniques.MODEL_SIZE.name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "model_name" in metafunc.fixturenames:
        metafunc.parametrize("model_name", profile_of(metafunc.config).model_size.models)


def variant(vb, model_name: str) -> Variant:
    return Variant(TECHNIQUE, model_name, reference=vb.profile.model_size.models[0])


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, model_name):
    v = variant(vb, model_name)
    vb.train_step(benchmark, v, vb.workload(model_name), reference=vb.workload(v.reference))


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.INFER_BATCH}")
def bench_inference(benchmark, vb, model_name):
    v = variant(vb, model_name)
    vb.inference(benchmark, v, vb.workload(model_name), reference=vb.workload(v.reference))
