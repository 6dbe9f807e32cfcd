"""Input resolution: one network trained and timed at a sweep of input sizes.

The seed poster shrank ResNet-18's input and found about 60x60 the smallest
still usable, with time and memory savings of more than 2x. Every size of the
sweep is the same network: its stem is built for the sweep's largest size
(torchvision's own stem in `standard` and `paper`), so only the input changes.
Expected: cost falls roughly with the pixel count; accuracy holds down to a
knee (the report names it), then drops. The largest size is the reference. The
images come downsampled from data at least as large as that size: a dataset
whose images are smaller is skipped with the reason, since upsampled images
would measure interpolation, not resolution.
"""

import pytest

from conftest import profile_of
from visionbench.measure import metrics, techniques
from visionbench.measure.runner import Variant
from visionbench.training.model_bench import upsampling_reason

TECHNIQUE = techniques.RESOLUTION.name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "image_size" in metafunc.fixturenames:
        sizes = profile_of(metafunc.config).resolution.sizes
        metafunc.parametrize("image_size", sizes, ids=[f"{s}px" for s in sizes])


def sweep(vb, image_size: int):
    """The variant, the workload at one size, and the reference (the largest
    size, timed round by round with it), all with the sweep's stem."""
    budget = vb.profile.resolution
    largest = max(budget.sizes)
    reason = upsampling_reason(vb.data, largest)
    if reason is not None:
        pytest.skip(reason)
    variant = Variant(TECHNIQUE, f"{image_size}px", reference=f"{largest}px")
    workload = vb.workload(budget.model, image_size, stem_size=largest)
    return variant, workload, vb.workload(budget.model, largest, stem_size=largest)


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_STEP}")
def bench_train_step(benchmark, vb, image_size):
    variant, workload, reference = sweep(vb, image_size)
    vb.train_step(benchmark, variant, workload, reference=reference)


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.INFER_BATCH}")
def bench_inference(benchmark, vb, image_size):
    variant, workload, reference = sweep(vb, image_size)
    vb.inference(benchmark, variant, workload, reference=reference)
