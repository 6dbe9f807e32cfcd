"""The user's own data: ImageFolder trees and CIFAR-10 on disk, and their errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visionbench.data import DataError, load_cifar10, load_imagefolder


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def solid(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def make_tree(root: Path, grey: bool = False) -> Path:
    """Two classes, 3 and 2 images of different sizes and formats."""
    for cls, n in (("cats", 3), ("dogs", 2)):
        for i in range(n):
            value = 40 * i + (0 if cls == "cats" else 120)
            if grey:
                save(root / cls / f"{i}.png", np.full((20 + i, 30), value, np.uint8))
            else:
                save(root / cls / f"{i}.jpg", solid(24, 20 + 5 * i, (value, 10, 200)))
    return root


def test_loads_classes_labels_and_resizes(tmp_path):
    data = load_imagefolder(make_tree(tmp_path / "pets"), 16)
    assert data.name == "pets"
    assert data.classes == ("cats", "dogs")
    assert data.labels.tolist() == [0, 0, 0, 1, 1]
    assert tuple(data.images.shape) == (5, 3, 16, 16) and data.images.dtype == torch.uint8
    # Solid colours survive decoding and resizing (JPEG: within a few levels).
    first = data.images[0].float().mean(dim=(1, 2))
    assert torch.allclose(first, torch.tensor([0.0, 10.0, 200.0]), atol=6)


def test_all_grey_gives_one_channel(tmp_path):
    data = load_imagefolder(make_tree(tmp_path / "grey", grey=True), 8)
    assert tuple(data.images.shape) == (5, 1, 8, 8)
    assert data.images[1].unique().tolist() == [40]


def test_mixed_grey_and_colour_gives_rgb(tmp_path):
    root = make_tree(tmp_path / "mixed", grey=True)
    save(root / "cats" / "colour.png", solid(10, 10, (255, 0, 0)))
    data = load_imagefolder(root, 8)
    assert data.channels == 3
    grey = data.images[0]  # cats/0.png, grey 0 replicated to three channels
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    red = data.images[3].float().mean(dim=(1, 2)).tolist()  # cats/colour.png sorts last
    assert red == [255.0, 0.0, 0.0]


def test_shorter_side_resized_then_centre_cropped(tmp_path):
    # 30 wide x 10 high: the outer thirds are red, the middle blue; at 10 px only
    # the middle (a 10 x 10 centre crop) remains.
    img = solid(10, 30, (255, 0, 0))
    img[:, 10:20] = (0, 0, 255)
    save(tmp_path / "f" / "a" / "wide.png", img)
    data = load_imagefolder(tmp_path / "f", 10)
    assert data.images[0].float().mean(dim=(1, 2)).tolist() == [0.0, 0.0, 255.0]


def test_large_jpeg_and_16_bit_png(tmp_path):
    rng = np.random.default_rng(0)
    save(tmp_path / "f" / "a" / "big.jpg", rng.integers(0, 256, (600, 900, 3), dtype=np.uint8))
    deep = np.full((12, 12), 65535, dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "f" / "a" / "deep.png")
    data = load_imagefolder(tmp_path / "f", 32)
    assert tuple(data.images.shape) == (2, 3, 32, 32)
    assert data.images[1].unique().tolist() == [255]  # 16-bit white is white, not clipped noise


def test_hidden_and_non_image_files_are_skipped(tmp_path):
    root = make_tree(tmp_path / "pets")
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "cats" / "._0.jpg").write_bytes(b"macOS resource fork")
    (root / ".hidden_class").mkdir()
    assert len(load_imagefolder(root, 8)) == 5


def test_nested_folders_inside_a_class_are_read(tmp_path):
    root = make_tree(tmp_path / "pets")
    save(root / "dogs" / "more" / "deep.png", solid(8, 8, (1, 2, 3)))
    assert load_imagefolder(root, 8).class_counts() == [3, 3]


def test_given_classes_fix_the_label_order(tmp_path):
    root = make_tree(tmp_path / "test")
    data = load_imagefolder(root, 8, classes=("ants", "cats", "dogs"))
    assert data.classes == ("ants", "cats", "dogs")
    assert data.class_counts() == [0, 3, 2]
    with pytest.raises(DataError, match="dogs"):
        load_imagefolder(root, 8, classes=("cats",))


# Errors: each names the path at fault.


def test_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_imagefolder(missing, 8)


def test_file_instead_of_folder(tmp_path):
    file = save(tmp_path / "one.png", solid(4, 4, (0, 0, 0)))
    with pytest.raises(DataError, match=r"one\.png"):
        load_imagefolder(file, 8)


def test_folder_without_class_subfolders(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match=r"flat has no class subfolders.*<class name>"):
        load_imagefolder(tmp_path / "flat", 8)
    save(tmp_path / "flat" / "loose.png", solid(4, 4, (0, 0, 0)))
    with pytest.raises(DataError, match=r"loose\.png directly"):
        load_imagefolder(tmp_path / "flat", 8)


def test_class_folder_without_images(tmp_path):
    root = make_tree(tmp_path / "pets")
    (root / "empty").mkdir()
    (root / "empty" / "readme.txt").write_text("nothing")
    with pytest.raises(DataError, match=r"class folder .*empty holds no images"):
        load_imagefolder(root, 8)


def test_corrupt_image_names_the_file(tmp_path):
    root = make_tree(tmp_path / "pets")
    (root / "dogs" / "broken.png").write_bytes(b"this is not a PNG at all" * 10)
    with pytest.raises(DataError, match=r"broken\.png: cannot read this image"):
        load_imagefolder(root, 8)


def test_truncated_image_names_the_file(tmp_path):
    root = make_tree(tmp_path / "pets")
    rng = np.random.default_rng(1)
    whole = save(root / "cats" / "cut.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    whole.write_bytes(whole.read_bytes()[:300])
    with pytest.raises(DataError, match=r"cut\.png"):
        load_imagefolder(root, 8)


# CIFAR-10 (never downloaded; a small stand-in with CIFAR-10's file layout).

CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer"]
CIFAR_NAMES += ["dog", "frog", "horse", "ship", "truck"]


def fake_cifar(root: Path, per_batch: int = 4) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for b, name in enumerate(CIFAR_FILES):
        # Each image is one flat value per channel, encoding batch and position.
        pixels = np.zeros((per_batch, 3, 1024), dtype=np.uint8)
        for i in range(per_batch):
            pixels[i] = np.array([b, i, 7], dtype=np.uint8)[:, None]
        labels = [(b + i) % 10 for i in range(per_batch)]
        entry = {"data": pixels.reshape(per_batch, 3072), "labels": labels}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_NAMES}))
    return folder


@pytest.fixture
def no_checksums(monkeypatch):
    """The stand-in cannot match CIFAR-10's MD5 sums; skip torchvision's check."""
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)


@pytest.mark.parametrize("point_at", ["parent", "batches folder"])
def test_cifar10_official_split(tmp_path, no_checksums, point_at):
    folder = fake_cifar(tmp_path)
    train, test = load_cifar10(tmp_path if point_at == "parent" else folder)
    assert tuple(train.images.shape) == (20, 3, 32, 32) and len(test) == 4
    assert train.classes == tuple(CIFAR_NAMES) and train.name == "cifar10"
    # Channels-first, rows from the five training batches in order, then test_batch.
    assert train.images[5, :, 0, 0].tolist() == [1, 1, 7]
    assert test.images[2, :, 31, 31].tolist() == [5, 2, 7]
    assert train.labels[:5].tolist() == [0, 1, 2, 3, 1]


def test_cifar10_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar10: .*absent"):
        load_cifar10(tmp_path / "absent")


def test_cifar10_missing_files_says_no_download(tmp_path):
    folder = fake_cifar(tmp_path)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10(tmp_path)
    message = str(err.value)
    assert "test_batch" in message and "data_batch_1" not in message.split(";")[0]
    assert "downloading is disabled" in message and "cifar-10-batches-py" in message


def test_cifar10_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"lacks data_batch_1.*downloading is disabled"):
        load_cifar10(tmp_path)


def test_cifar10_corrupt_files(tmp_path):
    fake_cifar(tmp_path)  # right names, wrong contents: the real checksums fail
    with pytest.raises(DataError, match="checksum"):
        load_cifar10(tmp_path)
