"""`--vb-data`: which datasets to run on, and their fixed train/test split.

A spec is one of `mnist5k`, `digits`, `gradations` (generated or bundled,
work offline), `imagefolder:PATH` or `cifar10:PATH` (the user's own data);
`--vb-data` takes several, comma-separated. Every bench that shares a spec
and a profile trains and tests on the same images, loaded once per process.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from visionbench.data.bundled import load_digits, load_mnist5k
from visionbench.data.folders import DataError, load_cifar10, load_imagefolder
from visionbench.data.gradations import make_gradations
from visionbench.data.imageset import ImageSet, split

BUNDLED = ("mnist5k", "digits", "gradations")
WITH_PATH = ("imagefolder", "cifar10")
CHOICES = "mnist5k, digits, gradations, imagefolder:PATH, cifar10:PATH"
GRADATIONS_SEED = 0  # every profile uses the same generated images
TEST_FOLDERS = ("test", "val")  # an image folder pre-split as train/ + one of these


@dataclass(frozen=True)
class DataSpec:
    """One dataset choice. `name` is its short id in test ids and reports."""

    kind: str  # "mnist5k", "digits", "gradations", "imagefolder" or "cifar10"
    path: Path | None = None  # the folder, for imagefolder and cifar10
    name: str = field(init=False)

    def __post_init__(self) -> None:
        if self.kind in BUNDLED:
            if self.path is not None:
                raise ValueError(f"{self.kind} is bundled and takes no path; choose from {CHOICES}")
            name = self.kind
        elif self.kind in WITH_PATH:
            if self.path is None or not str(self.path):
                raise ValueError(f"{self.kind} needs a path: {self.kind}:PATH")
            object.__setattr__(self, "path", Path(self.path))
            name = "cifar10" if self.kind == "cifar10" else f"imagefolder-{_id(self.path)}"
        else:
            raise ValueError(f"unknown dataset {self.kind!r}; choose from {CHOICES}")
        object.__setattr__(self, "name", name)

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def _id(path: Path) -> str:
    """The folder's base name, made safe for a pytest id (no spaces or brackets)."""
    base = path.resolve().name or "root"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base)


def parse_data_spec(text: str) -> DataSpec:
    """One spec: `mnist5k`, `digits`, `gradations`, `imagefolder:PATH` or `cifar10:PATH`."""
    item = text.strip()
    kind, sep, path = item.partition(":")
    kind = kind.strip().lower()
    if kind in BUNDLED and not sep:
        return DataSpec(kind)
    if kind in BUNDLED:
        raise ValueError(f"{item!r}: {kind} is bundled and takes no path; choose from {CHOICES}")
    if kind not in WITH_PATH:
        raise ValueError(f"unknown dataset {item!r}; choose from {CHOICES}")
    path = path.strip()
    if not path:
        raise ValueError(f"{item!r}: {kind} needs a path, as in {kind}:PATH; choose from {CHOICES}")
    folder = Path(path).expanduser().resolve()
    if not folder.exists():
        raise FileNotFoundError(f"{item!r}: {folder} does not exist")
    return DataSpec(kind, folder)


def parse_data_specs(text: str) -> list[DataSpec]:
    """A comma-separated list of specs (a PATH cannot contain a comma)."""
    items = [item for item in (text or "").split(",") if item.strip()]
    if not items:
        raise ValueError(f"empty dataset spec {text!r}; choose from {CHOICES}")
    specs = [parse_data_spec(item) for item in items]
    seen: dict[str, DataSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise ValueError(
                f"{seen[spec.name]} and {spec} would both be named {spec.name!r}; "
                "give each dataset once (rename a folder if two share a base name)"
            )
        seen[spec.name] = spec
    return specs


def load_split(spec: DataSpec, profile, size: int | None = None) -> tuple[ImageSet, ImageSet]:
    """The spec's (train, test) under the profile's data budget.

    Bundled sets and unsplit image folders get the profile's seeded, stratified
    split; an image folder with train/ and test/ (or val/) and CIFAR-10 keep
    their own. `size` is the source resolution of gradations and image folders
    (default: the profile's gradations_size); bundled sets and CIFAR-10 come at
    their native size. Cached: benches sharing data load it once.
    """
    if size is not None and size < 1:
        raise ValueError(f"image size must be positive, got {size}")
    return _load_split(spec, profile.data, size)


@functools.cache
def _load_split(spec: DataSpec, budget, size: int | None) -> tuple[ImageSet, ImageSet]:
    size = size or budget.gradations_size
    if spec.kind == "cifar10":
        return _capped(load_cifar10(spec.path), budget)
    if spec.kind == "imagefolder":
        pair = _presplit_folder(spec, size)
        if pair is not None:
            return _capped(pair, budget)
        data = load_imagefolder(spec.path, size, name=spec.name)
    elif spec.kind == "gradations":
        data = make_gradations(budget.gradations_count, size, GRADATIONS_SEED)
    else:
        data = load_mnist5k() if spec.kind == "mnist5k" else load_digits()
    return split(_fewer(data, budget.max_images, budget.split_seed), budget.test_fraction,
                 budget.split_seed)  # fmt: skip


def _fewer(data: ImageSet, count: int | None, seed: int) -> ImageSet:
    """`count` images of `data` (stratified, seeded: split's), or all of them."""
    if count is None or len(data) <= count:
        return data
    return split(data, count / len(data), seed)[1]


def _capped(pair: tuple[ImageSet, ImageSet], budget) -> tuple[ImageSet, ImageSet]:
    """A split of its own cut to the budget's max_images, each part in its share."""
    if budget.max_images is None:
        return pair
    train, test = pair
    n_test = max(1, round(budget.max_images * budget.test_fraction))
    return (
        _fewer(train, budget.max_images - n_test, budget.split_seed),
        _fewer(test, n_test, budget.split_seed),
    )


def _presplit_folder(spec: DataSpec, size: int) -> tuple[ImageSet, ImageSet] | None:
    """PATH/train + PATH/test (or val) as (train, test); None if PATH is not split."""
    train_dir = spec.path / "train"
    test_dir = next((spec.path / d for d in TEST_FOLDERS if (spec.path / d).is_dir()), None)
    if not train_dir.is_dir():
        return None
    if test_dir is None:
        raise DataError(
            f"image folder {spec.path} has train/ but no test/ or val/; give both, or "
            "put the class folders directly under it to have them split"
        )
    train = load_imagefolder(train_dir, size, name=spec.name)
    test = load_imagefolder(test_dir, size, classes=train.classes, name=spec.name)
    if train.channels != test.channels:  # one half all grey, the other not: both RGB
        train, test = (_as_rgb(s) for s in (train, test))
    return train, test


def _as_rgb(data: ImageSet) -> ImageSet:
    if data.channels == 3:
        return data
    return ImageSet(data.name, data.images.expand(-1, 3, -1, -1).clone(), data.labels, data.classes)
