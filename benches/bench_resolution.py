"""Input resolution: one model trained and timed at a sweep of input sizes.

The seed poster shrank ResNet-18's input and found about 60x60 the smallest
still usable, with time and memory savings of more than 2x. Expected: cost
falls roughly with the pixel count; accuracy holds down to a knee, then drops.
The largest size of the sweep is the reference.
"""

import pytest

from conftest import profile_of
from visionbench.runner import Variant

TECHNIQUE = "resolution"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "image_size" in metafunc.fixturenames:
        sizes = profile_of(metafunc.config).resolution.sizes
        metafunc.parametrize("image_size", sizes, ids=[f"{s}px" for s in sizes])


def reference(vb):
    """The sweep's largest size, timed round by round with each smaller one."""
    return vb.workload(vb.profile.resolution.model, max(vb.profile.resolution.sizes))


def variant(vb, image_size: int) -> Variant:
    sizes = vb.profile.resolution.sizes
    return Variant(TECHNIQUE, f"{image_size}px", reference=f"{max(sizes)}px")


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:train_step")
def bench_train_step(benchmark, vb, image_size):
    workload = vb.workload(vb.profile.resolution.model, image_size)
    vb.train_step(benchmark, variant(vb, image_size), workload, reference=reference(vb))


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:inference")
def bench_inference(benchmark, vb, image_size):
    workload = vb.workload(vb.profile.resolution.model, image_size)
    vb.inference(benchmark, variant(vb, image_size), workload, reference=reference(vb))
