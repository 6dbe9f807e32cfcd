"""A dry run (`--vb-dry-run`): a profile with its work cut to a few images, steps and
rounds, everything it runs kept."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from visionbench.measure.runner import Timing
from visionbench.profiles.budgets import Profile


@dataclass(frozen=True)
class DryRun:
    """What a dry run (`--vb-dry-run`) leaves of a profile's work. Every variant, model,
    input size (and so every stem), dataset, data path and compile mode stays (world
    sizes up to 2), and every figure is recorded, saved and reported as in a real run; only
    the amounts shrink. It checks that a profile runs end to end on this machine in
    minutes; its figures measure nothing (a few images, a few steps), so the run says
    `dry_run` in its fingerprint and profile name and is never compared with a real one.
    """

    images: int = 60  # images of each dataset (stratified), a quarter the test split: two a
    #   class of mnist5k's ten, so that adaptive selection can hold half of it out; the 45
    #   others hold one data-parallel step (2 images x 2 ranks x 4 micro-batches)
    test_fraction: float = 0.25
    max_world_size: int = 2  # data-parallel world sizes 1 and 2 (more: the same code)
    batch_size: int = 2  # images per training step and per inference batch (the fewest
    #   that train BatchNorm; the paper profile's 224 px models cost per image)
    max_steps: int = 3  # optimiser steps per training run (its first epoch, cut short)
    eval_images: int = 2  # images of each split a training run evaluates (after each epoch:
    #   at 224 px, evaluating the whole 15-image test split cost more than training)
    epochs: int = 2  # at most, wherever a budget counts epochs (timed rounds of epochs,
    #   precomputed augmentation, the ladder's and the schedules' runs)
    seeds: int = 1  # at most (several seeds run the same code as one, once more)
    timing: Timing = Timing(rounds=2, warmup_rounds=0)  # every timed unit


DRY_RUN = DryRun()
DRY_RUN_SUFFIX = " (dry run)"


def dry_run(profile: Profile, caps: DryRun = DRY_RUN) -> Profile:
    """The profile with its work cut to `caps`, everything it runs kept (see DryRun)."""
    if profile.dry_run:
        return profile
    replace = dataclasses.replace
    epochs, seeds = caps.epochs, caps.seeds

    def steps(value: int | None) -> int:
        return caps.max_steps if value is None else min(value, caps.max_steps)

    dp, dl, rc = profile.data_parallel, profile.data_path, profile.recipe
    return replace(
        profile,
        name=profile.name + DRY_RUN_SUFFIX,
        description=f"dry run of {profile.name}: every variant on {caps.images} images, "
        f"{caps.max_steps} steps per training, {caps.timing.rounds} rounds per timing; "
        "measures nothing",
        train=profile.train.with_(
            batch_size=min(profile.train.batch_size, caps.batch_size),
            epochs=min(profile.train.epochs, epochs),
            max_steps=steps(profile.train.max_steps),
            eval_images=caps.eval_images,
            bn_recalibration_batches=min(profile.train.bn_recalibration_batches, 1),
        ),
        timing=caps.timing,
        data=replace(
            profile.data,
            gradations_count=min(profile.data.gradations_count, caps.images),
            max_images=caps.images,
            test_fraction=caps.test_fraction,
        ),
        data_path=replace(
            dl,
            texture_count=min(dl.texture_count, caps.images),
            timing=caps.timing,
            train_epochs=min(dl.train_epochs, epochs),
            aug_epochs=min(dl.aug_epochs, epochs),
        ),
        schedules=replace(
            profile.schedules,
            epochs=min(profile.schedules.epochs, epochs),
            seeds=min(profile.schedules.seeds, seeds),
            patience=1,  # so that early stopping can stop within the epochs left
        ),
        data_parallel=replace(
            dp,
            max_world_size=min(dp.max_world_size or caps.max_world_size, caps.max_world_size),
            epochs=min(dp.epochs or epochs, epochs),
            max_steps=steps(dp.max_steps),
        ),
        recipe=replace(
            rc,
            epochs=min(rc.epochs, epochs),
            seeds=min(rc.seeds, seeds),
            timing=caps.timing,
            max_steps=steps(rc.max_steps),
        ),
        talk=replace(profile.talk, epochs=min(profile.talk.epochs, epochs)),
        harness=replace(
            profile.harness,
            blocks=min(profile.harness.blocks, caps.timing.rounds),
            trivial_rounds=caps.timing.rounds,
        ),
        infer_batch_size=min(profile.infer_batch_size, caps.batch_size),
        seeds=min(profile.seeds, seeds),
        dry_run=True,
    )
