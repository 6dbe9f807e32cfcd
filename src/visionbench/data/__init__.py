"""Datasets, their on-disk formats, loaders and augmentation."""

from visionbench.data.bundled import load_digits, load_mnist5k
from visionbench.data.imageset import ImageSet, SplitData, channel_stats, resize_uint8, split

__all__ = [
    "ImageSet",
    "SplitData",
    "channel_stats", "load_digits", "load_mnist5k", "resize_uint8", "split"]
