"""Grad-CAM: where the trained models look, and what computing that costs.

For a fixed, seeded set of test images, each model's Grad-CAM maps of its
predicted class (captum's LayerGradCam on the last convolution; visionbench.
explain) are recorded with the images, and the report draws them as a grid.
Two groups: the model-size models (the same trainings as the model-size bench)
and the models trained without and with augmentation (the augmentation
bench's). The timed unit is one Grad-CAM batch of those images: a forward and
a backward pass to the last convolution. Expected: larger models look at more
of the digit's strokes; augmentation (crop, flip, cutout) spreads the evidence
over more of the image instead of a few pixels that happen to separate the
training set.
"""

import pytest

from conftest import profile_of
from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant, timing_only
from visionbench.techniques import gradcam
from visionbench.techniques.augmentation import augmentation_variants
from visionbench.training.workloads import batches

TECHNIQUE = techniques.GRADCAM.name
IMAGES = 8  # test images in the grid
SEED = 0  # which ones: the same on every run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "model_name" in metafunc.fixturenames:
        metafunc.parametrize("model_name", profile_of(metafunc.config).model_size.models)
    if "augmentation" in metafunc.fixturenames:
        metafunc.parametrize("augmentation", ("none", "batched"))


def measure(vb, benchmark, variant, model, images, x, labels, unit_info, accuracy_figures):
    def explain_batch() -> None:
        gradcam.gradcam(model, x, 0)

    figures = vb.time(benchmark, explain_batch, units=len(x))
    if timing_only():  # `visionbench ab`'s timing processes: the time alone
        metrics.record(benchmark, **unit_info, **figures)
        return
    metrics.record(
        benchmark,
        **unit_info,
        **figures,
        **accuracy_figures,
        gradcam=gradcam.figures(model, images, x, labels),
    )


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:model_size")
def bench_model_size(benchmark, vb, model_name):
    workload = vb.workload(model_name)
    data = vb.data.at(workload.image_size)
    model, accuracy = vb.model_and_figures(workload)  # untrained when timing only
    test = batches(data, workload.train, vb.device, train=False, batch_size=len(data.test))
    idx = gradcam.fixed_indices(IMAGES, len(data.test), SEED)
    x = test.normalise(data.test.images[idx].to(vb.device))
    variant = Variant(TECHNIQUE, model_name, vb.profile.model_size.models[0])
    info = vb.describe_workload(variant, workload, metrics.EXPLAIN_BATCH, IMAGES)
    measure(vb, benchmark, variant, model, data.test.images[idx], x,
            data.test.labels[idx], info, accuracy)  # fmt: skip


@pytest.mark.vb_datasets("mnist5k")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:augmentation")
def bench_augmentation(benchmark, vb, recipe_data, recipe_runs, augmentation):
    recipe = augmentation_variants(vb.profile, vb.device)[augmentation]
    seeds = vb.seeds_or(vb.profile.recipe.seeds)
    model, accuracy = recipe_runs.model_and_figures(recipe, recipe_data, vb.device, seeds)
    test = recipe_data.evaluation(vb.device)
    idx = gradcam.fixed_indices(IMAGES, len(recipe_data.test), SEED)
    images = recipe_data.test.images[idx]
    x = test.normalise(images.to(vb.device))
    variant = Variant(TECHNIQUE, augmentation, "none")
    info = vb.describe_workload(variant, recipe, metrics.EXPLAIN_BATCH, IMAGES)
    info.update(dataset=recipe_data.name, classes=recipe_data.train.num_classes)
    measure(vb, benchmark, variant, model, images, x, recipe_data.test.labels[idx],
            info, accuracy)  # fmt: skip
