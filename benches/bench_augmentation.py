"""Training with augmentation: none (the reference), the "1000 seconds" article's
pad + random crop, flip and cutout drawn per epoch on the device (batched), and
the same drawn once for every planned epoch beforehand (precomputed).

The same model, data and epochs budget over the same seeds; the batches of
batched and precomputed are identical image for image (a test holds them to
it), so they differ only in where the augmentation's time goes. Recorded: test
accuracy, `train_accuracy` on the un-augmented training split (the gap between
them is the overfitting augmentation is meant to close), the time of one
training epoch, time to the profile's target and accuracy within its time
budget. Expected: augmentation narrows the train/test gap and, given epochs
enough, raises test accuracy; in a short budget it can cost accuracy (the model
sees harder images); batched costs a few percent of an epoch, precomputed moves
that into a one-off `prep_time_s` and holds one copy of the data per epoch.
The none and batched variants are the recipe ladder's +resident and +augment
rungs: one training each serves both benches. `batched` also records the
article's grid of a few training images under each augmentation (drawn in the
report).
"""

import pytest

from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant
from visionbench.techniques.augmentation import (
    AUGMENTATION,
    augmentation_examples,
    augmentation_variants,
)
from visionbench.techniques.recipe import measure

VARIANTS = ("none", "batched", "precomputed")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "augmentation" in metafunc.fixturenames:
        metafunc.parametrize("augmentation", VARIANTS)


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{AUGMENTATION}:{metrics.TRAIN_EPOCH}")
def bench_train_epoch(benchmark, vb, recipe_data, recipe_runs, augmentation):
    recipe = augmentation_variants(vb.profile, vb.device)[augmentation]
    variant = Variant(AUGMENTATION, augmentation, reference=techniques.AUGMENTATION.reference)
    measure(vb, benchmark, variant, recipe, recipe_data, recipe_runs)
    if augmentation == "batched":  # the article's grid, for the report to draw
        metrics.record(benchmark, augmented_examples=augmentation_examples(recipe, recipe_data))
