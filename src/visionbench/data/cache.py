"""Tensor caches: preprocess once, save uint8 tensors, load them at the start of a run.

The seed talk's fix for 9-minute epochs: decode, convert and resize every
photo once into one serialised tensor file (120 MB), load it at start, and
train from memory (about 10 s an epoch). uint8 keeps the file and the memory
a quarter of float32's; batches are converted and normalised on the device.

A cache is only as good as its key. Every file stores the key it was built
for: the settings (input size, channels, pipeline version) and the source
(for an image folder: every file's path, size and modification time, the quick
check make and rsync use; a file rewritten in place with the same size within
the file system's timestamp resolution would go unnoticed). `ensure` loads a
cache only if its key matches, and otherwise rebuilds it and says why, so a
cache built from other data or settings is never used silently. Writes are
atomic (a temporary file renamed into place), so an interrupted write leaves
the previous cache or none, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from visionbench.data.folders import DataError
from visionbench.data.formats import MANIFEST, folder_dataset, read_manifest

CACHE_VERSION = 1  # bump when the file layout or a pipeline changes what a cache holds
Tensors = dict[str, torch.Tensor]


def save(path: str | Path, key: dict[str, Any], tensors: Tensors) -> None:
    """Save tensors with their key, atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(partial, "wb") as f:
            torch.save({"key": json.dumps(key, sort_keys=True), **tensors}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> str:
    names = sorted(k for k in stored.keys() | wanted.keys() if stored.get(k) != wanted.get(k))
    return ", ".join(f"{k}: {stored.get(k)!r} instead of {wanted.get(k)!r}" for k in names[:3])


def load(path: str | Path, key: dict[str, Any]) -> tuple[Tensors | None, str]:
    """(tensors, "") if PATH holds a cache built for `key`; else (None, why not)."""
    path = Path(path)
    if not path.exists():
        return None, f"no cache at {path}"
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        stored_key = json.loads(stored.pop("key"))
    except Exception as exc:  # truncated, corrupt, or not a cache at all
        return None, f"{path} is unreadable ({type(exc).__name__}: {exc})"
    if stored_key != key:
        why = _differences(stored_key, key)
        return None, f"{path} was built from other data or settings ({why})"
    return stored, ""


def ensure(
    path: str | Path, key: dict[str, Any], build: Callable[[], Tensors]
) -> tuple[Tensors, str]:
    """The cache at PATH for `key`: loaded if it matches, else built, saved and
    returned. The second value says which: "loaded", or "built: <why>"."""
    tensors, why = load(path, key)
    if tensors is not None:
        return tensors, "loaded"
    tensors = build()
    save(path, key, tensors)
    return tensors, f"built: {why}"


# -- an image folder's tensor cache --------------------------------------------


@dataclass(frozen=True, eq=False)
class TensorCache:
    """An image folder preprocessed to uint8 tensors at the model's input size."""

    path: Path
    images: torch.Tensor  # uint8 N x C x size x size, in the folder's index order
    labels: torch.Tensor  # int64 N
    classes: tuple[str, ...]
    key: dict[str, Any]  # what it was built from (folder_key)
    status: str  # "loaded" or "built: <why>"

    def nbytes(self) -> int:
        return self.images.nbytes + self.labels.nbytes


def folder_key(root: str | Path, size: int) -> dict[str, Any]:
    """What a folder's cache depends on: the settings and a digest of every file's
    relative path, size and modification time (nanoseconds)."""
    root = Path(root)
    digest = hashlib.sha256()
    count = 0
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        st = file.stat()
        digest.update(f"{file.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        count += file.name != MANIFEST
    manifest = read_manifest(root)  # DataError if ROOT is missing or incomplete
    return {
        "version": CACHE_VERSION,
        "size": size,
        "channels": manifest["channels"],
        "classes": manifest["classes"],
        "files": count,
        "source": digest.hexdigest(),
    }


def decode_folder(root: str | Path, size: int, workers: int = 0) -> Tensors:
    """Every image of a folder through the per-epoch pipeline, once: the cache's content."""
    dataset = folder_dataset(root, size)
    if not len(dataset):
        raise DataError(f"image folder {root} holds no images")
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, num_workers=workers)
    images, labels = zip(*loader, strict=True)
    return {"images": torch.cat(images), "labels": torch.cat(labels).to(torch.int64)}


def folder_cache(root: str | Path, path: str | Path, size: int, workers: int = 0) -> TensorCache:
    """The tensor cache of image folder ROOT at `size`, kept at PATH: loaded if
    its key matches the folder and settings, else (re)built from the folder."""
    key = folder_key(root, size)
    tensors, status = ensure(path, key, lambda: decode_folder(root, size, workers))
    classes = tuple(key["classes"])
    return TensorCache(Path(path), tensors["images"], tensors["labels"], classes, key, status)
