"""The user's own data: a torchvision ImageFolder tree, or CIFAR-10 on disk.

Both become in-memory ImageSets, decoded once. Every failure names the thing
that failed (the folder, the file, the missing CIFAR-10 batch), because the
usual cause is a wrong path or one bad file among thousands.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from visionbench.data.imageset import ImageSet

# torchvision's ImageFolder extensions (torchvision.datasets.folder.IMG_EXTENSIONS).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class DataError(ValueError):
    """A data set on disk that cannot be used as it is; the message names the file."""


def _is_image(path: Path) -> bool:
    # Names starting with a dot are hidden files, such as macOS's "._photo.jpg"
    # resource forks, which carry an image extension but are not images.
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _to_8bit(img: Image.Image) -> Image.Image:
    """Wide grey modes (16-bit, int32, float) as 8-bit grey.

    PIL's own conversion clips these to 0..255 instead of scaling them;
    values above 255 are taken as 16-bit and scaled down.
    """
    if img.mode not in {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}:
        return img
    arr = np.asarray(img, dtype=np.float64)
    if arr.size and arr.max() > 255:
        arr = arr / 257.0
    return Image.fromarray(np.rint(arr.clip(0, 255)).astype(np.uint8), "L")


def decode_image(file: Path, size: int) -> tuple[np.ndarray, bool]:
    """One image as uint8 (size x size grey, or size x size x 3 RGB) and whether it is grey.

    The shorter side is resized to `size` (antialiased bilinear) and the centre
    cropped square, as torchvision's Resize(size) + CenterCrop(size) would.
    """
    try:
        with Image.open(file) as img:
            # JPEGs decode straight at a reduced scale (1/2, 1/4, 1/8) no smaller
            # than asked: a 4896 x 3264 photo loads several times faster.
            img.draft(None, (size, size))
            grey = img.mode in GREY_MODES
            img = _to_8bit(img).convert("L" if grey else "RGB")
            img = ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8), grey
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{file}: cannot read this image ({exc})") from exc


def load_imagefolder(
    path: str | Path, size: int, *, classes: Sequence[str] | None = None, name: str | None = None
) -> ImageSet:
    """Images in torchvision's ImageFolder layout (PATH/<class>/**/<image>) as an ImageSet.

    Classes are the sorted subfolder names, or `classes` when given (a test
    folder read with its train folder's classes; subfolders it lacks are
    allowed). Every image is resized to size x size (shorter side, centre crop);
    the set is grey (1 channel) if every image is grey, else RGB. Files with
    other extensions and hidden files are skipped, as torchvision does.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"image folder {root} is a file, not a folder of class subfolders")
    if size < 1:
        raise ValueError(f"image size must be positive, got {size}")
    found = {p.name: p for p in _class_dirs(root)}
    if not found:
        loose = [p.name for p in root.iterdir() if _is_image(p)][:3]
        hint = f" (it holds images such as {', '.join(loose)} directly)" if loose else ""
        raise DataError(
            f"image folder {root} has no class subfolders{hint}; expected the ImageFolder "
            f"layout {root}/<class name>/<image>"
        )
    if classes is None:
        classes = sorted(found)
    elif unknown := sorted(set(found) - set(classes)):
        raise DataError(
            f"image folder {root} has classes {', '.join(unknown)} that its training "
            f"folder lacks (classes: {', '.join(classes)})"
        )

    pixels: list[np.ndarray] = []
    greys: list[bool] = []
    labels: list[int] = []
    unreadable: list[DataError] = []
    for label, cls in enumerate(classes):
        if cls not in found:
            continue
        files = sorted(p for p in found[cls].rglob("*") if _is_image(p) and p.is_file())
        if not files:
            raise DataError(
                f"class folder {found[cls]} holds no images "
                f"(looked for {', '.join(IMAGE_EXTENSIONS)})"
            )
        for file in files:
            try:
                arr, grey = decode_image(file, size)
            except DataError as exc:
                unreadable.append(exc)  # every bad file is named at once, not the first
                continue
            pixels.append(arr)
            greys.append(grey)
            labels.append(label)
    if unreadable:
        raise DataError(_unreadable_message(root, unreadable))

    if all(greys):
        images = np.stack(pixels)[:, None]
    else:
        as_rgb = [
            np.repeat(a[..., None], 3, axis=2) if g else a
            for a, g in zip(pixels, greys, strict=True)
        ]
        images = np.stack(as_rgb).transpose(0, 3, 1, 2)
    return ImageSet(
        name or root.resolve().name,
        torch.from_numpy(np.ascontiguousarray(images)),
        torch.tensor(labels, dtype=torch.int64),
        tuple(classes),
    )


MAX_NAMED = 20  # unreadable files listed by name; the rest are counted


def _unreadable_message(root: Path, errors: Sequence[DataError]) -> str:
    lines = [f"image folder {root}: {len(errors)} unreadable image(s); fix or remove them:"]
    lines += [f"  {exc}" for exc in errors[:MAX_NAMED]]
    if len(errors) > MAX_NAMED:
        lines.append(f"  ... and {len(errors) - MAX_NAMED} more")
    return "\n".join(lines)


CIFAR10_LAYOUT = (
    "PATH/cifar-10-batches-py/ holding data_batch_1 ... data_batch_5, test_batch and "
    "batches.meta (the 'CIFAR-10 python version' from https://www.cs.toronto.edu/~kriz/"
    "cifar.html, extracted)"
)


def load_cifar10(path: str | Path) -> tuple[ImageSet, ImageSet]:
    """CIFAR-10's official train (50,000) and test (10,000) split, 32 x 32 RGB.

    Read with torchvision's CIFAR10 and download=False: visionbench never
    downloads. PATH may be the folder holding cifar-10-batches-py or that folder.
    """
    from torchvision.datasets import CIFAR10

    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"cifar10: {root} does not exist")
    if root.name == CIFAR10.base_folder:
        root = root.parent
    folder = root / CIFAR10.base_folder
    expected = [f for f, _md5 in CIFAR10.train_list + CIFAR10.test_list]
    missing = [f for f in [*expected, CIFAR10.meta["filename"]] if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"cifar10: {folder} lacks {', '.join(missing)}; downloading is disabled, so the "
            f"files must already be there: {CIFAR10_LAYOUT}"
        )
    halves = []
    for train in (True, False):
        try:
            ds = CIFAR10(root=str(root), train=train, download=False)
        except RuntimeError as exc:  # torchvision's checksum test failed
            raise DataError(
                f"cifar10: the files in {folder} fail torchvision's checksum test (corrupt, "
                f"truncated or not CIFAR-10); expected {CIFAR10_LAYOUT}"
            ) from exc
        images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
        labels = torch.tensor(ds.targets, dtype=torch.int64)
        halves.append(ImageSet("cifar10", images, labels, tuple(ds.classes)))
    return halves[0], halves[1]
