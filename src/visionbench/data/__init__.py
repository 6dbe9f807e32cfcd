"""Datasets, their on-disk formats, loaders and augmentation."""

from visionbench.data.bundled import load_digits, load_mnist5k
from visionbench.data.folders import DataError, load_cifar10, load_imagefolder
from visionbench.data.gradations import make_gradations
from visionbench.data.imageset import ImageSet, SplitData, channel_stats, resize_uint8, split
from visionbench.data.spec import DataSpec, load_split, parse_data_specs

__all__ = [
    "DataError",
    "DataSpec",
    "ImageSet",
    "SplitData",
    "channel_stats",
    "load_cifar10",
    "load_digits",
    "load_imagefolder",
    "load_mnist5k",
    "load_split",
    "make_gradations",
    "parse_data_specs",
    "resize_uint8",
    "split",
]
