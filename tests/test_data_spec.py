"""`--vb-data` parsing and the cached train/test pair each spec loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from visionbench import profiles
from visionbench.data import DataError, DataSpec, load_split, parse_data_specs
from visionbench.profiles import DataBudget


def profile_with(**budget) -> profiles.Profile:
    """The quick profile with a small data budget (tests stay fast)."""
    data = DataBudget(**{"gradations_count": 50, "gradations_size": 16, **budget})
    return dataclasses.replace(profiles.get("quick"), data=data)


def image_tree(root: Path, classes=("boots", "sandals"), per_class=5, mode="RGB") -> Path:
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            value = 20 * i + 100 * c
            Image.new(mode, (12, 10), value if mode == "L" else (value, 0, 0)).save(
                root / cls / f"{i}.png"
            )
    return root


# Parsing.


def test_bundled_names():
    specs = parse_data_specs("mnist5k, digits ,gradations")
    assert [s.kind for s in specs] == ["mnist5k", "digits", "gradations"]
    assert [s.name for s in specs] == ["mnist5k", "digits", "gradations"]
    assert all(s.path is None for s in specs)


def test_folder_specs_are_named_after_the_folder(tmp_path):
    shoes = tmp_path / "shoes"
    shoes.mkdir()
    [folder, cifar] = parse_data_specs(f"imagefolder:{shoes}/,cifar10:{tmp_path}")
    assert folder == DataSpec("imagefolder", shoes.resolve())
    assert folder.name == "imagefolder-shoes" and str(folder) == f"imagefolder:{shoes.resolve()}"
    assert cifar.kind == "cifar10" and cifar.name == "cifar10" and cifar.path == tmp_path.resolve()


def test_folder_names_are_safe_test_ids(tmp_path):
    odd = tmp_path / "my photos [2024]"
    odd.mkdir()
    assert parse_data_specs(f"imagefolder:{odd}")[0].name == "imagefolder-my-photos-2024-"


def test_specs_are_hashable_and_comparable():
    assert DataSpec("digits") == parse_data_specs("digits")[0]
    assert len({DataSpec("digits"), DataSpec("digits"), DataSpec("mnist5k")}) == 2


@pytest.mark.parametrize("text", ["", " ", ",", " , ,"])
def test_empty_spec(text):
    with pytest.raises(ValueError, match=r"empty dataset spec.*mnist5k, digits, gradations"):
        parse_data_specs(text)


@pytest.mark.parametrize("text", ["mnist", "digits,imagenet", "folder:/tmp", "cifar100:/tmp"])
def test_unknown_name_lists_the_choices(text):
    with pytest.raises(ValueError, match="unknown dataset") as err:
        parse_data_specs(text)
    bad = text.split(",")[-1]
    assert repr(bad) in str(err.value)
    assert "imagefolder:PATH, cifar10:PATH" in str(err.value)


@pytest.mark.parametrize("kind", ["imagefolder", "cifar10"])
def test_missing_path_after_the_colon(kind):
    with pytest.raises(ValueError, match=f"'{kind}:'.*needs a path"):
        parse_data_specs(f"{kind}:")


def test_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match="no_such_folder does not exist"):
        parse_data_specs(f"imagefolder:{missing}")


def test_bundled_sets_take_no_path():
    with pytest.raises(ValueError, match=r"'digits:/tmp'.*takes no path"):
        parse_data_specs("digits:/tmp")


def test_two_specs_with_one_name(tmp_path):
    for parent in ("a", "b"):
        (tmp_path / parent / "shoes").mkdir(parents=True)
    text = f"imagefolder:{tmp_path}/a/shoes,imagefolder:{tmp_path}/b/shoes"
    with pytest.raises(ValueError, match="'imagefolder-shoes'"):
        parse_data_specs(text)
    with pytest.raises(ValueError, match="'digits'"):
        parse_data_specs("digits,digits")


@given(st.lists(st.sampled_from(["mnist5k", "digits", "gradations"]), min_size=1, unique=True))
def test_bundled_lists_round_trip(names):
    specs = parse_data_specs(" , ".join(names))
    assert [s.name for s in specs] == names
    assert parse_data_specs(",".join(str(s) for s in specs)) == specs


# Loading.


def test_bundled_split_follows_the_profile():
    prof = profile_with(test_fraction=0.25, split_seed=3)
    train, test = load_split(DataSpec("digits"), prof)
    assert len(train) + len(test) == 1797
    assert abs(len(test) - 0.25 * 1797) <= 10
    assert load_split(DataSpec("digits"), prof)[0] is train  # cached
    other = load_split(DataSpec("digits"), profile_with(test_fraction=0.25, split_seed=4))[1]
    assert not torch.equal(other.labels, test.labels)


def test_gradations_use_the_budget_or_the_given_size():
    prof = profile_with()
    train, test = load_split(DataSpec("gradations"), prof)
    assert len(train) + len(test) == 50 and test.class_counts() == [2] * 5
    assert train.size == 16 and train.channels == 3
    big_train, _ = load_split(DataSpec("gradations"), prof, size=48)
    assert big_train.size == 48 and torch.equal(big_train.labels, train.labels)


def test_imagefolder_is_split_stratified(tmp_path):
    root = image_tree(tmp_path / "shoes")
    spec = parse_data_specs(f"imagefolder:{root}")[0]
    train, test = load_split(spec, profile_with(test_fraction=0.4))
    assert train.name == "imagefolder-shoes"
    assert test.class_counts() == [2, 2] and train.class_counts() == [3, 3]
    assert train.size == 16  # the profile's gradations_size by default
    assert load_split(spec, profile_with(test_fraction=0.4), size=8)[0].size == 8


@pytest.mark.parametrize("held_out", ["test", "val"])
def test_presplit_imagefolder_keeps_its_split(tmp_path, held_out):
    image_tree(tmp_path / "shoes" / "train", per_class=4)
    image_tree(tmp_path / "shoes" / held_out, per_class=2)
    spec = parse_data_specs(f"imagefolder:{tmp_path / 'shoes'}")[0]
    train, test = load_split(spec, profile_with())
    assert train.class_counts() == [4, 4] and test.class_counts() == [2, 2]
    assert train.classes == test.classes == ("boots", "sandals")


def test_presplit_grey_and_colour_halves_become_rgb(tmp_path):
    image_tree(tmp_path / "s" / "train", mode="L")
    image_tree(tmp_path / "s" / "test", mode="RGB")
    train, test = load_split(parse_data_specs(f"imagefolder:{tmp_path / 's'}")[0], profile_with())
    assert train.channels == test.channels == 3


def test_train_folder_without_test_folder(tmp_path):
    image_tree(tmp_path / "s" / "train")
    with pytest.raises(DataError, match="has train/ but no test/ or val/"):
        load_split(parse_data_specs(f"imagefolder:{tmp_path / 's'}")[0], profile_with())


def test_imagefolder_with_a_corrupt_file_names_it(tmp_path):
    root = image_tree(tmp_path / "shoes")
    (root / "boots" / "bad.png").write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"bad\.png"):
        load_split(parse_data_specs(f"imagefolder:{root}")[0], profile_with())


def test_cifar10_without_files_explains(tmp_path):
    spec = parse_data_specs(f"cifar10:{tmp_path}")[0]
    with pytest.raises(FileNotFoundError, match="downloading is disabled"):
        load_split(spec, profile_with())


def test_bad_size():
    with pytest.raises(ValueError, match="size must be positive"):
        load_split(DataSpec("gradations"), profile_with(), size=0)
