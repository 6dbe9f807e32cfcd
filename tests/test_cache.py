"""Tensor caches: built once and loaded after; a cache from other data or
settings, or a damaged one, is detected and rebuilt; writes are atomic."""

import os

import pytest
import torch

from visionbench.data import ImageSet, load_mnist5k
from visionbench.data import cache as cache_mod
from visionbench.data.cache import folder_cache, folder_key
from visionbench.data.formats import folder_dataset, write_imagefolder


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    return load_mnist5k().subset(torch.arange(0, 5000, 40)[:120])  # all ten classes


@pytest.fixture
def folder(digits, tmp_path):
    return write_imagefolder(digits, tmp_path / "png", "png")


def test_built_once_then_loaded_with_the_folder_pipelines_pixels(digits, folder, tmp_path):
    path = tmp_path / "cache.pt"
    built = folder_cache(folder, path, 28)
    assert built.status.startswith("built: no cache at")
    loaded = folder_cache(folder, path, 28)
    assert loaded.status == "loaded"
    assert loaded.images.dtype == torch.uint8 and loaded.images.shape == (120, 1, 28, 28)
    assert torch.equal(loaded.images, digits.images)  # PNG: exact
    assert torch.equal(loaded.labels, digits.labels)
    assert loaded.classes == digits.classes
    dataset = folder_dataset(folder, 14)
    small = folder_cache(folder, tmp_path / "small.pt", 14)
    assert torch.equal(small.images, torch.stack([dataset[i][0] for i in range(120)]))


def test_other_settings_are_detected_and_rebuilt(folder, tmp_path):
    path = tmp_path / "cache.pt"
    folder_cache(folder, path, 28)
    rebuilt = folder_cache(folder, path, 14)
    assert "built from other data or settings" in rebuilt.status
    assert "size: 28 instead of 14" in rebuilt.status
    assert rebuilt.images.shape[-1] == 14
    assert folder_cache(folder, path, 14).status == "loaded"


def test_a_cache_of_other_data_is_detected_and_rebuilt(digits, folder, tmp_path):
    path = tmp_path / "cache.pt"
    folder_cache(folder, path, 28)
    other = load_mnist5k().subset(torch.arange(1, 5000, 40)[:120])
    other_folder = write_imagefolder(other, tmp_path / "other", "png")
    rebuilt = folder_cache(other_folder, path, 28)
    assert "built from other data or settings" in rebuilt.status and "source" in rebuilt.status
    assert torch.equal(rebuilt.images, other.images)


def test_a_changed_source_file_is_detected(digits, folder, tmp_path):
    path = tmp_path / "cache.pt"
    folder_cache(folder, path, 28)
    file = folder_dataset(folder, 28).samples[5][0]
    stat = os.stat(file)
    inverted = ImageSet("x", 255 - digits.images[5:6], digits.labels[5:6], digits.classes)
    write_imagefolder(inverted, tmp_path / "one", "png")
    one = next((tmp_path / "one").rglob("*.png"))
    one.replace(file)
    # The key is a quick check of size and modification time (as make's); a
    # rewrite within the same timestamp tick could look unchanged, so the test
    # sets a distinct time as any later write would have.
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rebuilt = folder_cache(folder, path, 28)
    assert rebuilt.status.startswith("built: ")
    assert torch.equal(rebuilt.images[5], 255 - digits.images[5])


def test_a_damaged_cache_is_detected_and_rebuilt(digits, folder, tmp_path):
    path = tmp_path / "cache.pt"
    folder_cache(folder, path, 28)
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as by a full disk
    rebuilt = folder_cache(folder, path, 28)
    assert "is unreadable" in rebuilt.status
    assert torch.equal(rebuilt.images, digits.images)
    path.write_bytes(b"not a cache")
    assert "is unreadable" in folder_cache(folder, path, 28).status


def test_an_interrupted_save_leaves_the_previous_cache(digits, folder, tmp_path, monkeypatch):
    path = tmp_path / "cache.pt"
    folder_cache(folder, path, 28)
    before = path.read_bytes()
    real_save = torch.save

    def interrupted(obj, f):
        f.write(b"partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        folder_cache(folder, path, 14)  # other settings: a rebuild that is interrupted
    monkeypatch.setattr(cache_mod.torch, "save", real_save)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.pt", "png"]
    assert path.read_bytes() == before
    assert folder_cache(folder, path, 28).status == "loaded"


def test_generic_keys_must_match_exactly(tmp_path):
    path = tmp_path / "t.pt"
    tensors = {"x": torch.arange(5)}
    cache_mod.save(path, {"a": 1, "b": [1, 2]}, tensors)
    loaded, why = cache_mod.load(path, {"a": 1, "b": [1, 2]})
    assert why == "" and torch.equal(loaded["x"], tensors["x"])
    loaded, why = cache_mod.load(path, {"a": 2, "b": [1, 2]})
    assert loaded is None and "a: 1 instead of 2" in why


def test_folder_key_follows_files_and_settings(folder):
    key = folder_key(folder, 28)
    assert key == folder_key(folder, 28)
    assert key["files"] == 120 and key["channels"] == 1
    assert folder_key(folder, 14) != key
