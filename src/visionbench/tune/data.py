"""The data `visionbench tune` trains on: a `--vb-data` spec's split, written once as PNG
folders (what the disk source decodes every epoch) and decoded once at the recipe's
input size (what the resident source holds): the recipe ladder's `RecipeData`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from visionbench.data.formats import write_imagefolder
from visionbench.data.spec import load_split, parse_data_spec
from visionbench.profiles import Profile
from visionbench.techniques.recipe import RecipeData


def prepare(
    spec_text: str, profile: Profile, workdir: Path, log: Callable[[str], None]
) -> RecipeData:
    """The spec's train and test splits as PNG folders under WORKDIR, and their decoding
    at the profile's recipe image size (ValueError, FileNotFoundError or DataError on a
    bad spec)."""
    spec = parse_data_spec(spec_text)
    train, test = load_split(spec, profile)
    size = profile.recipe.image_size
    root = Path(workdir) / spec.name
    log(f"writing {spec.name} as PNG folders under {root} ({len(train)} + {len(test)} images)")
    for part, images in (("train", train), ("test", test)):
        if not (root / "png" / part).is_dir():
            write_imagefolder(images, root / "png" / part)
    return RecipeData.from_folders(
        spec.name, root / "png" / "train", root / "png" / "test", root / "cache", size
    )
