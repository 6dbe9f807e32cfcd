"""Training with augmentation (`bench_augmentation.py`): none, the "1000 seconds" article's
pad + random crop, flip and cutout drawn per epoch on the device (batched), and the same
drawn once for every planned epoch beforehand (precomputed). They are recipes of the
ladder (`techniques.recipe`): none and batched are its +resident and +augment rungs, so
one training serves both benches.
"""

from __future__ import annotations

import torch

from visionbench.data.augment import examples, fill_colour
from visionbench.measure import techniques
from visionbench.profiles import Profile
from visionbench.techniques.recipe import Recipe, RecipeData, ladder

AUGMENTATION = techniques.AUGMENTATION.name


def augmentation_variants(profile: Profile, device: torch.device) -> dict[str, Recipe]:
    """none, batched and precomputed: the ladder's +resident and +augment rungs (the same
    trainings) and +augment with every epoch's augmentation drawn once beforehand."""
    rungs = {r.name: r.recipe for r in ladder(profile, device)[0]}
    batched = rungs["+augment"]
    return {
        "none": rungs["+resident"],
        "batched": batched,
        "precomputed": batched.with_(precompute_augment=True),
    }


def augmentation_examples(recipe: Recipe, data: RecipeData) -> dict[str, list]:
    """The article's grid of the recipe's augmentation on the data's training images
    (`augment.examples`), filled with the channels' mean colour as training fills."""
    if recipe.train.augment is None:
        raise ValueError("augmentation_examples needs a recipe with augmentation")
    return examples(data.train.images, recipe.train.augment, fill_colour(data.mean))
