"""The data bench's per_sample_copy path: the tensor cache's batches, sample by sample."""

import torch

from visionbench.data.loaders import HostTensorFeed, Normalise, PerSampleCopyFeed
from visionbench.profiles import get
from visionbench.techniques.data_loading.paths import plain_variants

CPU = torch.device("cpu")


def test_per_sample_copy_delivers_the_tensor_caches_batches():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 1, 6, 6), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 3, (50,), generator=gen)
    norm = Normalise((0.5,), (0.25,), CPU)
    whole = HostTensorFeed(images, labels, 16, CPU, norm, seed=2)
    one_by_one = PerSampleCopyFeed(images, labels, 16, CPU, norm, seed=2)
    pairs = list(zip(whole(3), one_by_one(3), strict=True))
    assert len(pairs) == 4
    for (xa, ya), (xb, yb) in pairs:
        assert torch.equal(ya, yb) and torch.equal(xa, xb)


def test_per_sample_copy_is_a_plain_data_path_variant():
    variants = plain_variants(get("quick").data_path)
    assert variants.index("tensor_cache") < variants.index("per_sample_copy")
    assert variants.index("per_sample_copy") < variants.index("device_resident")
