"""Image folders: written atomically, read back with the per-epoch pipeline as
the same samples (PNG exactly, JPEG within a stated tolerance); bad files are
named."""

import json

import pytest
import torch

from visionbench.data import (
    DataError,
    ImageSet,
    formats,
    load_mnist5k,
    make_gradations,
    resize_uint8,
)
from visionbench.data.formats import (
    MANIFEST,
    folder_bytes,
    folder_dataset,
    read_manifest,
    write_imagefolder,
)

# JPEG is lossy: at quality 90 (4:2:0 chroma) the mean absolute error per
# pixel must stay under 8 of 255 levels (3%). Measured: 1.3 on the digits,
# 5.4 on the 64 px textures (fine grain and colour edges are what JPEG drops).
JPEG_MEAN_ABS_ERROR = 8.0


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    """200 mnist5k digits (grey, 28 px)."""
    return load_mnist5k().subset(torch.arange(0, 5000, 25))  # all ten classes


@pytest.fixture(scope="module")
def textures() -> ImageSet:
    """20 gradations textures (RGB, 64 px); class names are not in sorted order."""
    return make_gradations(20, 64, 0)


def read_all(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    items = [dataset[i] for i in range(len(dataset))]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


@pytest.mark.parametrize("which", ["digits", "textures"])
def test_png_reads_back_the_same_pixels_and_labels(which, request, tmp_path):
    data = request.getfixturevalue(which)
    root = write_imagefolder(data, tmp_path / "png", "png")
    images, labels = read_all(folder_dataset(root, data.size))
    assert images.dtype == torch.uint8 and images.shape == data.images.shape
    assert torch.equal(images, data.images)
    assert torch.equal(labels, data.labels)
    manifest = read_manifest(root)
    assert manifest["classes"] == list(data.classes) and manifest["format"] == "png"
    assert folder_bytes(root) > 0


@pytest.mark.parametrize("which", ["digits", "textures"])
def test_jpeg_reads_back_the_same_samples_within_tolerance(which, request, tmp_path):
    data = request.getfixturevalue(which)
    root = write_imagefolder(data, tmp_path / "jpeg", "jpeg", quality=90)
    images, labels = read_all(folder_dataset(root, data.size))
    assert images.shape == data.images.shape
    assert torch.equal(labels, data.labels)
    error = (images.float() - data.images.float()).abs().mean().item()
    assert 0 < error < JPEG_MEAN_ABS_ERROR


def test_large_images_are_resized_to_the_model_input(textures, tmp_path):
    root = write_imagefolder(textures, tmp_path / "png", "png")
    images, _ = read_all(folder_dataset(root, 16))
    assert images.shape == (20, 3, 16, 16)
    # PIL's antialiased bilinear and torch's differ by rounding, not in content
    assert (images.float() - resize_uint8(textures.images, 16).float()).abs().mean() < 2


def test_per_sample_augmentation_runs_after_decoding(digits, tmp_path):
    root = write_imagefolder(digits, tmp_path / "png", "png")
    dataset = folder_dataset(root, 28, augment=lambda x: 255 - x)
    assert torch.equal(dataset[3][0], 255 - digits.images[3])


def test_a_corrupt_image_is_named(digits, tmp_path):
    root = write_imagefolder(digits, tmp_path / "png", "png")
    dataset = folder_dataset(root, 28)
    bad = dataset.samples[7][0]
    with open(bad, "r+b") as f:  # keep the header, lose the pixel data
        f.truncate(60)
    with pytest.raises(DataError, match=f"{bad}: cannot read this image"):
        dataset[7]
    loader = torch.utils.data.DataLoader(dataset, batch_size=50, num_workers=0)
    with pytest.raises(DataError, match=bad):
        list(loader)


def test_a_missing_image_is_named(digits, tmp_path):
    root = write_imagefolder(digits, tmp_path / "png", "png")
    dataset = folder_dataset(root, 28)
    gone = dataset.samples[11][0]
    (tmp_path / "png").joinpath(gone).unlink()
    with pytest.raises(DataError, match=f"{gone}: cannot read this image"):
        dataset[11]  # deleted after the folder was opened
    with pytest.raises(DataError, match=f"{gone}: missing \\(1 of 200"):
        folder_dataset(root, 28)  # deleted before


def test_a_missing_or_incomplete_folder_is_refused(digits, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        folder_dataset(tmp_path / "nowhere", 28)
    root = write_imagefolder(digits, tmp_path / "png", "png")
    (root / MANIFEST).unlink()  # as a folder copied in part, or written by something else
    with pytest.raises(DataError, match=f"{root} has no {MANIFEST}"):
        folder_dataset(root, 28)


def test_an_interrupted_write_leaves_nothing_that_could_be_used(digits, tmp_path, monkeypatch):
    root = tmp_path / "png"
    write_imagefolder(digits.subset(torch.arange(10)), root, "png")  # a complete earlier folder
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    calls = {"n": 0}
    save = formats._save

    def failing_save(*args):
        calls["n"] += 1
        if calls["n"] > 50:
            raise KeyboardInterrupt  # as an interrupted run
        save(*args)

    monkeypatch.setattr(formats, "_save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        write_imagefolder(digits, root, "png")
    assert [p.name for p in tmp_path.iterdir()] == ["png"]  # no partial folder left behind
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert len(json.loads((root / MANIFEST).read_text())["labels"]) == 10
    monkeypatch.setattr(formats, "_save", save)
    write_imagefolder(digits, root, "png")  # a complete write replaces it
    assert len(folder_dataset(root, 28)) == 200


def test_unknown_format_is_refused(digits, tmp_path):
    with pytest.raises(ValueError, match="unknown image format 'gif'"):
        write_imagefolder(digits, tmp_path / "x", "gif")
