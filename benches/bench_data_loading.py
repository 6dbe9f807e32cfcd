"""Data path: per-epoch disk decoding vs a tensor cache vs device-resident data.

The same training split, delivered to the device one epoch at a time, by each
path in visionbench.techniques.data_loading.paths (which says what each variant changes;
visionbench.techniques.data_loading.timed times them):
disk_png and disk_jpeg (ImageFolder + DataLoader, 0 and N workers; disk_png
with 0 workers is the reference), tensor_cache, device_resident,
precomputed_aug and inmemory_tv_aug; on mnist5k and on gradations textures
written at a large source size (512 px, resized to the model input, as in the
seed talk). Expected: the cache removes decoding from the epoch (the seed
went from 9 minutes to 10 s an epoch), so its lead grows with the source
size; batched augmentation on the device beats per-sample torchvision
transforms by an order of magnitude; and a model trained from disk or from
the cache learns the same (the same pixels arrive in the same order).
"""

import pytest

from conftest import profile_of
from visionbench.measure import metrics
from visionbench.techniques.data_loading import paths, timed

TECHNIQUE = timed.TECHNIQUE


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    budget = profile_of(metafunc.config).data_path
    choices = {
        "bench_epoch": paths.plain_variants(budget),
        "bench_augmented_epoch": paths.augmented_variants(budget),
        "bench_training": paths.training_variants(budget),
    }
    if "data_path" in metafunc.fixturenames:
        metafunc.parametrize("data_path", choices[metafunc.definition.originalname])


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.EPOCH}")
def bench_epoch(benchmark, data_bench, data_paths, data_path):
    """One epoch of the training split delivered to the device, no augmentation."""
    timed.measure_epoch(benchmark, data_bench, data_paths, data_path, augmented=False)


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.AUGMENTED_EPOCH}")
def bench_augmented_epoch(benchmark, data_bench, data_paths, data_path):
    """One epoch with pad + random crop, flip and cutout."""
    timed.measure_epoch(benchmark, data_bench, data_paths, data_path, augmented=True)


@pytest.mark.vb_datasets("mnist5k", "gradations")
@pytest.mark.benchmark(group=f"{TECHNIQUE}:{metrics.TRAIN_EPOCH}")
def bench_training(benchmark, data_bench, data_paths, data_path):
    """The same model trained for the same epochs from each path (a round is an epoch)."""
    timed.measure_training(benchmark, data_bench, data_paths, data_path)
