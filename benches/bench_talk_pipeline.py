"""The seed talk's pipeline ("doing deep learning: hype and reality"): its 3-conv,
3-FC network trained with its SGD (lr 0.001, momentum 0.9) on grey gradations
textures with brightness and contrast jitter of +-25% drawn per epoch, at the
talk's 32 px (the reference) and 64 px inputs.

Recorded as every training bench: a timed step, peak memory, and the accuracy
the profile's epochs reach. Expected: 64 px costs about 4x the step time and
activations of 32 px; whether it buys accuracy depends on the texture scale
(particle sizes are what separate the classes). SGD at lr 0.001 learns slowly:
in the quick profile's few epochs the accuracy may stay near chance, and the
report marks it so.
"""

import pytest

from conftest import profile_of
from visionbench.data import SplitData
from visionbench.measure import metrics
from visionbench.measure.runner import Variant
from visionbench.techniques.talk_pipeline import TALK, grey, talk_workload
from visionbench.training.model_bench import ModelBench


@pytest.fixture(scope="session")
def grey_sets() -> dict[str, SplitData]:
    """The talk's grey copies of the datasets, made once per session, by `SplitData.key`."""
    return {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "talk_size" in metafunc.fixturenames:
        sizes = profile_of(metafunc.config).talk.sizes
        metafunc.parametrize("talk_size", sizes, ids=[f"{s}px" for s in sizes])


@pytest.mark.vb_datasets("gradations")
@pytest.mark.benchmark(group=f"{TALK}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, talk_size, grey_sets):
    if vb.data.key not in grey_sets:
        grey_sets[vb.data.key] = grey(vb.data)
    talk = ModelBench(
        vb.profile, vb.device, grey_sets[vb.data.key], vb.trained, seeds=vb.requested_seeds
    )
    reference = f"{vb.profile.talk.sizes[0]}px"
    variant = Variant(TALK, f"{talk_size}px", reference=reference)
    talk.train_step(
        benchmark,
        variant,
        talk_workload(vb.profile, talk_size),
        reference=talk_workload(vb.profile, vb.profile.talk.sizes[0]),
    )
