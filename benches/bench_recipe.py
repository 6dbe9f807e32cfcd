"""The recipe ladder: from the seed poster's baseline to the "1000 seconds"
article's recipe, one technique added per rung (visionbench.techniques.recipe says what
each rung switches), every rung over the same seeds.

Recorded per rung: the time of one training epoch, time to the profile's target
accuracy (each seed's; a seed that never reached it is counted as such),
accuracy within the profile's `time_budget_s` of training, final accuracy. The
report puts the rungs in order with each rung's speed-up over the one before
and over the baseline. Expected: leaving per-epoch decoding pays most on large
images and least on small ones; augmentation alone slows convergence in a
short budget and pays back over longer ones; one-cycle reaches the target in
fewer epochs; lower precision and channels_last pay on hardware with kernels
for them (tensor cores, AMX) and can cost on others. A rung the device or the
profile's budget cannot run is skipped with the reason.
"""

import pytest

from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant
from visionbench.techniques.recipe import LADDER, RUNGS, ladder, measure, switch_text


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rung" in metafunc.fixturenames:
        metafunc.parametrize("rung", RUNGS)


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{LADDER}:{metrics.TRAIN_EPOCH}")
def bench_train_epoch(benchmark, vb, recipe_data, recipe_runs, rung):
    rungs, skipped = ladder(vb.profile, vb.device)
    if rung in skipped:
        pytest.skip(f"rung {rung} left out: {skipped[rung]}")
    index = [r.name for r in rungs].index(rung)
    previous = rungs[index - 1] if index else None
    variant = Variant(LADDER, rung, reference=techniques.RECIPE.reference)
    measure(
        vb, benchmark, variant, rungs[index].recipe,
        recipe_data, recipe_runs, rung=index, switch=switch_text(rungs[index], previous),
        left_out="; ".join(f"{name} ({why})" for name, why in skipped.items()),
    )  # fmt: skip
