"""Adaptive model selection (Taylor et al.): choose the CNN per image.

Candidate models of clearly different cost and accuracy (the profile's
`selection.models`, cheapest first) are the session's trainings of the recipe
(the model-size bench's, shared). The test split, unseen by all of them, is cut
in two: on the validation half the premodel and the cascade's thresholds are
chosen; every variant times inference over the same fixed batch of the other
half, starting from uint8 images on the device, and is scored on all of it.
Expected:
  - each single model: its own cost and accuracy; the most capable (the last,
    the reference) is what routing must beat;
  - premodel: image features and a small classifier pick the model per image;
    faster than the reference when most images go to cheap models, and as
    accurate only if the features tell easy images from hard ones;
  - cascade: the cheapest model on every image, the next one only where its
    softmax confidence is low; pays for every stage an image passes through;
  - oracle: each image to the cheapest model that is right on it, as if a
    perfect premodel were free: the bound on both time and accuracy, not a
    method anyone can run.
The overhead benchmarks time what routing adds before any CNN runs.
"""

import pytest

from conftest import profile_of
from visionbench.measure import metrics
from visionbench.selection import FEATURES_ONLY, PREMODEL_ONLY, TECHNIQUE, experiment


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "policy" in metafunc.fixturenames:
        models = profile_of(metafunc.config).selection.models
        metafunc.parametrize("policy", experiment.variants(models))
    if "part" in metafunc.fixturenames:
        metafunc.parametrize("part", (FEATURES_ONLY, PREMODEL_ONLY))


@pytest.fixture(scope="session")
def selection_setups() -> dict:
    """Each dataset's selection experiment (trainings, held-out answers, premodel), built
    once per session by the first bench that needs it (`experiment.setup`)."""
    return {}


def skip_where_left_out(vb, config: pytest.Config) -> None:
    reason = experiment.left_out(vb.profile, vb.data.name, bool(config.getoption("--vb-data")))
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.INFER_BATCH}")
def bench_inference(benchmark, vb, policy, pytestconfig, selection_setups):
    skip_where_left_out(vb, pytestconfig)
    experiment.time_policy(vb, benchmark, policy, selection_setups)


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:overhead")
def bench_overhead(benchmark, vb, part, pytestconfig, selection_setups):
    skip_where_left_out(vb, pytestconfig)
    experiment.time_overhead(vb, benchmark, part, selection_setups)
