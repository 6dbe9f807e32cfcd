"""Image folders on disk: an ImageSet written as PNG or JPEG files, read back per epoch.

This is the usual data path, and the slow one: every epoch torchvision's
ImageFolder and a DataLoader open, decode, convert and resize every file
again (the seed talk's 9-minute epochs). `write_imagefolder` makes such a
folder from any ImageSet; `folder_dataset` reads it with the per-epoch
pipeline: decode, grey or RGB, resize the shorter side and centre-crop to the
model input, optional per-sample augmentation, uint8 out (normalised later,
on the device, like every other path).

Layout: ROOT/<label>_<class>/<index>.png (or .jpg), `index` the image's place
in the ImageSet; the label prefix keeps ImageFolder's sorted class order equal
to the ImageSet's. ROOT/visionbench-folder.json (the manifest: format, classes,
every label) is written last, and the folder is built under a temporary name
and renamed into place when complete, so a write that is interrupted leaves
nothing at ROOT that could pass for a complete folder.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from visionbench.core.optional import torchvision
from visionbench.data.folders import DataError
from visionbench.data.imageset import ImageSet

if TYPE_CHECKING:  # imported where used (`core.optional`): a side may lack torchvision
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

MANIFEST = "visionbench-folder.json"
FORMAT_VERSION = 1
EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}
# zlib level 1: writing a 512 px texture takes a third of the default level's
# time, and decoding costs the same (measured 15 ms and 13 ms); files are ~7% larger.
PNG_COMPRESS_LEVEL = 1


def class_dir(label: int, name: str) -> str:
    """Folder name of a class: zero-padded label first, so sorting keeps label order."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "class"
    return f"{label:03d}_{safe}"


def _save(image: torch.Tensor, file: Path, fmt: str, quality: int) -> None:
    array = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    if fmt == "png":
        pil.save(file, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        pil.save(file, "JPEG", quality=quality)


def write_imagefolder(
    data: ImageSet, root: str | Path, fmt: str = "png", quality: int = 90
) -> Path:
    """Write every image of `data` under ROOT as `fmt` ("png" or "jpeg" at `quality`).

    Atomic: the files go to a hidden sibling folder that is renamed to ROOT once
    the manifest is written; a failure removes it. An existing ROOT is replaced
    only by a complete new folder.
    """
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown image format {fmt!r}; choose one of {', '.join(EXTENSIONS)}")
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    partial = root.parent / f".{root.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        dirs = [partial / class_dir(i, name) for i, name in enumerate(data.classes)]
        for d in dirs:
            d.mkdir(parents=True)
        ext = EXTENSIONS[fmt]
        for index, (image, label) in enumerate(zip(data.images, data.labels.tolist(), strict=True)):
            _save(image, dirs[label] / f"{index:06d}{ext}", fmt, quality)
        manifest = {
            "version": FORMAT_VERSION,
            "name": data.name,
            "format": fmt,
            "quality": quality if fmt == "jpeg" else None,
            "channels": data.channels,
            "classes": list(data.classes),
            "labels": data.labels.tolist(),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest))
        if root.exists():  # replace it only now that the new folder is complete
            old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
            root.rename(old)
            shutil.rmtree(old)
        partial.rename(root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return root


def read_manifest(root: str | Path) -> dict:
    """The manifest of a complete folder; DataError if ROOT is missing or incomplete."""
    root = Path(root)
    file = root / MANIFEST
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise DataError(
            f"image folder {root} has no {MANIFEST}: not a complete folder written by "
            "write_imagefolder (an interrupted write?)"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{file}: unreadable manifest ({exc})") from exc
    if manifest.get("version") != FORMAT_VERSION:
        raise DataError(f"{file}: format version {manifest.get('version')}, expected 1")
    return manifest


def load_image(mode: str, path: str) -> Image.Image:
    """Decode one file as PIL `mode` ("L" or "RGB"); DataError naming the file if it fails.
    (A module-level function, so DataLoader workers can pickle it.)"""
    try:
        with Image.open(path) as img:
            return img.convert(mode)  # convert decodes the whole file
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read this image ({exc})") from exc


def decode_transform(size: int, augment: Callable | None = None) -> v2.Compose:
    """The per-image pipeline after decoding: shorter side to `size` (bilinear,
    antialiased), centre crop, uint8 tensor, then `augment` (per sample)."""
    v2 = torchvision("torchvision.transforms.v2")  # the module, not only its type
    steps: list[Callable] = [
        v2.Resize(size, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
        v2.CenterCrop(size),
        v2.PILToTensor(),
    ]
    if augment is not None:
        steps.append(augment)
    return v2.Compose(steps)


def folder_dataset(root: str | Path, size: int, augment: Callable | None = None) -> ImageFolder:
    """A complete folder as torchvision's ImageFolder: item i is (C x size x size
    uint8, label) of image i of the written ImageSet (samples re-ordered by
    index), decoded afresh on every access. DataError names missing files."""
    root = Path(root)
    manifest = read_manifest(root)
    mode = "L" if manifest["channels"] == 1 else "RGB"
    dataset = torchvision("torchvision.datasets").ImageFolder(
        str(root),
        transform=decode_transform(size, augment),
        loader=functools.partial(load_image, mode),
        allow_empty=True,
    )
    ext = EXTENSIONS[manifest["format"]]
    labels = manifest["labels"]
    dirs = [class_dir(i, c) for i, c in enumerate(manifest["classes"])]
    expected = [root / dirs[label] / f"{i:06d}{ext}" for i, label in enumerate(labels)]
    found = {Path(path) for path, _ in dataset.samples}
    missing = [p for p in expected if p not in found]
    if missing:
        raise DataError(f"{missing[0]}: missing ({len(missing)} of {len(expected)} images missing)")
    dataset.samples = [(str(p), label) for p, label in zip(expected, labels, strict=True)]
    dataset.imgs = dataset.samples
    dataset.targets = list(labels)
    dataset.classes = list(manifest["classes"])
    return dataset


def folder_bytes(root: str | Path) -> int:
    """Bytes of every file under ROOT (the data path's size on disk)."""
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
