"""Profiles: the one place for budgets and sweeps.

`--vb-profile` picks one. The same code runs in every profile; only these
numbers change. `quick` is the default without a GPU (bundled data, small
inputs, the whole suite in minutes on 2 CPU cores); `standard` the default
with one; `paper` reproduces the seed experiments' settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from visionbench import models
from visionbench.data.augment import AugmentSpec
from visionbench.measure import techniques
from visionbench.measure.runner import Timing
from visionbench.training.train import TrainConfig


@dataclass(frozen=True)
class ModelSizeBudget:
    models: tuple[str, ...]  # registry names; the first is the reference variant
    image_size: int  # input side in pixels, all models alike


@dataclass(frozen=True)
class ResolutionBudget:
    model: str  # registry name trained at every size, its stem built for the largest
    sizes: tuple[int, ...]  # input sides in pixels; the largest is the reference, and data
    #   whose images are smaller than it is skipped (an upsample measures interpolation)


@dataclass(frozen=True)
class DataBudget:
    gradations_count: int  # images in the generated texture set
    gradations_size: int  # side of the generated textures in pixels
    test_fraction: float = 0.2
    split_seed: int = 0
    max_images: int | None = None  # every dataset cut to this many images (stratified,
    #   seeded, before its split): a dry run's; None keeps them all


@dataclass(frozen=True)
class DataPathBudget:
    """The data-loading bench: disk decoding vs caches vs device-resident data."""

    input_size: int  # model input side in pixels; smaller sources (mnist5k, 28 px) keep theirs
    texture_size: int  # side of the gradations textures written to disk (the seed's large tiles)
    texture_count: int  # gradations images generated at texture_size (train + test)
    timing: Timing  # rounds of one epoch each (a disk epoch of large images takes seconds)
    train_epochs: int  # epochs of the training-level comparison (disk vs cache)
    aug_epochs: int  # epochs of augmentation precomputed (rounds past them re-read)
    augment: AugmentSpec = field(default_factory=AugmentSpec)  # pad 4 + crop, flip, 8 px cutout
    workers: tuple[int, ...] = (0, 2)  # DataLoader worker processes of the disk paths
    jpeg_quality: int = 90  # JPEG files' quality setting (PIL, 4:2:0 chroma)
    model: str = "small_cnn"  # registry name trained in the training-level comparison
    paired: bool = True  # each variant's epochs interleaved with the reference's (disk PNG,
    #   no workers): a ratio with its interval, at the price of a reference epoch per round


@dataclass(frozen=True)
class SelectionBudget:
    """Adaptive model selection: candidates, the held-out data and the choices' rules."""

    models: tuple[str, ...]  # registry names, cheapest first; the last is the reference
    validation_fraction: float = 0.5  # of the test split (which no candidate trained on): the
    #   premodel's labels, its cross-validation and the cascade's thresholds come from it; the
    #   rest evaluates every policy. The candidates are the model-size bench's own trainings.
    cv_folds: int = 5  # cross-validation folds choosing the premodel's classifier
    tolerance: float = 0.005  # accuracy (fraction) that premodel and cascade may give up against
    #   the best single model on the validation images, for the least cost
    thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
    #   confidence grid per cascade stage (0: never escalate, infinity: always, are added)
    datasets: tuple[str, ...] | None = None  # the bench's datasets the profile runs it on
    #   (None: all of them, mnist5k and gradations); the others are skipped with the reason
    #   unless --vb-data names them


@dataclass(frozen=True)
class StepTechniquesBudget:
    """Training-step techniques: precision, gradient zeroing, memory format and
    torch.compile. Each trains and times its model at model_size.image_size with
    the profile's recipe, so every reference variant shares its training run with
    the model-size bench."""

    precision_model: str  # registry name; conv-heavy, where autocast's bf16/fp16 pays
    zeroing_model: str
    memory_format_model: str
    compile_model: str
    compile_modes: tuple[str, ...]  # torch.compile modes, each a variant beside eager


@dataclass(frozen=True)
class ScheduleBudget:
    """LR schedules (constant, one-cycle, cosine) compared on epochs and seconds to
    the profile's target_accuracy, and early stopping beside them."""

    model: str  # registry name, at model_size.image_size
    epochs: int  # epochs budget of every schedule (one-cycle and cosine span all of it)
    seeds: int  # seeds per schedule unless --vb-seeds; seed i is the same init and data
    #   order in every schedule, so schedules compare seed by seed
    patience: int  # early stopping: epochs without a validation gain before stopping
    validation_fraction: float = 0.1  # of the training split, held out (in every schedule,
    #   so the early-stopping variant shares its reference's data) for early stopping


@dataclass(frozen=True)
class DataParallelBudget:
    """Data-parallel training (DDP): world sizes 1, 2, 4, ... up to the GPUs (or the
    CPU cores) the machine has, capped by `max_world_size`. Each rank trains the
    model at model_size.image_size; the timed step takes the recipe's batch on
    every rank (weak scaling), the accuracy run keeps the recipe's global batch."""

    model: str  # registry name
    max_world_size: int | None  # largest world size launched (None: every GPU or core)
    bucket_caps_mb: tuple[float, float]  # DDP bucket_cap_mb below and above its 25 MB default
    accumulation: int  # micro-batches per step of the no_sync variant
    epochs: int | None  # epochs of the accuracy run (None: the recipe's own)
    max_steps: int | None  # and at most this many steps of it (None: the epochs decide)
    timeout_s: float  # a collective (or the rendezvous) waiting longer fails the variant
    deadline_s: float  # a launch still running after this is killed and fails


@dataclass(frozen=True)
class RecipeBudget:
    """The recipe ladder, from the seed poster's baseline to the "1000 seconds"
    article's recipe one switch at a time, and the augmentation bench, whose
    variants are the ladder's rungs with and without augmentation (one training
    each, shared)."""

    model: str  # registry name trained on every rung but a final model switch
    image_size: int  # input side in pixels
    epochs: int  # epochs of every rung and seed (one-cycle spans them)
    seeds: int  # seeds per rung unless --vb-seeds; seed i: the same init and order on every rung
    time_budget_s: float  # training seconds at which accuracy_in_budget is read (the
    #   article's 1000 s, scaled to the profile)
    augment: AugmentSpec  # the article's pad + crop, flip and cutout, scaled to image_size
    final_model: str | None  # the article's ResNet-9 as the last rung; None where the
    #   budget does not allow it (the reason is in the profile)
    timing: Timing  # timed rounds of one training epoch each
    max_steps: int | None = None  # optimiser steps of each rung's training run and timed
    #   epoch (None: whole epochs; a dry run cuts both short)


@dataclass(frozen=True)
class TalkBudget:
    """The seed talk's pipeline: its 3-conv network with its SGD on grey gradations
    textures, brightness/contrast jitter drawn per epoch, at its input sizes."""

    epochs: int  # epochs at every size
    sizes: tuple[int, ...] = (32, 64)  # the talk's subsampled tiles; the first is the reference
    model: str = "embankment_cnn"  # 3 conv (6, 16, 32) + FC 128, 64, 32
    lr: float = 1e-3  # SGD, as the talk
    momentum: float = 0.9
    jitter: float = 0.25  # brightness and contrast: +-25%


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    train: TrainConfig  # the reference training recipe every bench starts from
    timing: Timing
    data: DataBudget
    model_size: ModelSizeBudget
    resolution: ResolutionBudget
    selection: SelectionBudget
    data_path: DataPathBudget
    step_techniques: StepTechniquesBudget
    schedules: ScheduleBudget
    data_parallel: DataParallelBudget
    recipe: RecipeBudget
    talk: TalkBudget
    infer_batch_size: int = 256  # images per timed inference batch
    seeds: int = 1  # default --vb-seeds: seeds behind accuracy figures
    target_accuracy: float = 0.95  # time-to-target threshold
    step_to_target: bool = False  # the training-step benches (model size, resolution, the
    #   step techniques, the talk's pipeline) also record each variant's time to
    #   target_accuracy over its seeds, from the per-epoch history of the trainings behind
    #   its accuracy (no extra training); False: their paired step ratio alone
    dry_run: bool = False  # the profile's work shrunk by `dry_run`: its figures measure nothing


#: The registry's models in registration order, the seed poster's small CNN first
#: (model size's reference).
EVERY_MODEL = tuple(models.names())

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="CPU-sized: bundled data, 16 px models, 2 epochs; minutes on 2 cores",
        # Adam with one-cycle: 2 epochs of mnist5k reach ~96% with the small CNN.
        # BN statistics are recomputed after each epoch (20 batches), since
        # torchvision's MobileNetV3 (BN momentum 0.01) would otherwise be
        # evaluated on running averages that lag far behind in so few steps.
        train=TrainConfig(
            optimizer="adam",
            lr=3e-3,
            batch_size=64,
            epochs=2,
            schedule="onecycle",
            bn_recalibration_batches=20,
        ),
        timing=Timing(rounds=20, warmup_rounds=2),
        data=DataBudget(gradations_count=1500, gradations_size=64),
        # The small CNN against the talk's 3-conv network, the registry's cheapest. Larger
        # models are left to `standard` (every registered model) to fit quick's 10 minutes
        # on 2 cores: ResNet-9's 2 epochs took ~37 s on a 2-core Intel CPU with AVX-512
        # but 321 s on a 2-core AMD EPYC with AVX2 only (with its timing and Grad-CAM, 6-7
        # minutes there); ResNet-18 ~55 s and MobileNetV3-small ~45 s on the Intel one.
        model_size=ModelSizeBudget(models=("small_cnn", "embankment_cnn"), image_size=16),
        # Up to mnist5k's native 28 px: a larger size would be an upsample.
        resolution=ResolutionBudget(model="small_cnn", sizes=(8, 12, 16, 24, 28)),
        # Measured at 16 px on mnist5k, 2 epochs (one busy CPU thread): embankment_cnn
        # 79% at 0.02 ms/image, small_cnn 96% at 0.1 ms, resnet9 98% at 2.1 ms. ResNet-9
        # is left to `standard` (its training alone is 5 minutes on an AVX2-only CPU, see
        # model_size); the registry's mobilenet_v3_small (94%, 0.6 ms) and resnet18 (97%,
        # 5 ms) are slower than a more accurate model here, so they would only dilute the
        # ladder. On gradations every candidate reaches only 39-50% in quick's 2 epochs at
        # 16 px, which routing cannot help: mnist5k only (~45 s less); `standard` runs both.
        selection=SelectionBudget(models=("embankment_cnn", "small_cnn"), datasets=("mnist5k",)),
        # 50 textures at 512 px take ~5 s to generate and ~1 s an epoch to decode.
        data_path=DataPathBudget(
            input_size=32,
            texture_size=512,
            texture_count=50,
            timing=Timing(rounds=5, warmup_rounds=1),
            train_epochs=2,
            aug_epochs=3,
            # Pairing would add a disk epoch per round, about 150 s here: over the quick
            # budget. Disk against cache is 10-100x, which blocks measure without doubt;
            # the records say paired_rounds = 0 and the report "(blocks)".
            paired=False,
        ),
        # The small CNN's step is mostly its two convolutions: on this CPU (AVX512-BF16)
        # autocast bf16 made it 0.87x the fp32 step time with 0.71x the peak memory
        # (quick run, quiet machine); ResNet-9 trains ~30x slower, too slow for minutes.
        step_techniques=StepTechniquesBudget(
            precision_model="small_cnn",
            zeroing_model="small_cnn",
            memory_format_model="small_cnn",
            compile_model="small_cnn",
            compile_modes=("default",),
        ),
        # Small CNN, mnist5k, 16 px, 6 epochs (3 seeds, one busy thread): constant LR first
        # reaches 97% test accuracy in epoch 5-6, one-cycle in 4-5, cosine in 4-5; 95% is
        # reached by all in epoch 2-4 and says little. Patience 1 stops constant LR after
        # 3-4 epochs.
        schedules=ScheduleBudget(model="small_cnn", epochs=6, seeds=3, patience=1),
        # 2 CPU cores: world sizes 1 and 2, one core per rank at 2. Twelve launches
        # (6 variants x 2 sizes) each train for accuracy, so a tiny budget: 40 steps
        # of the recipe's global batch of 64 (2,560 images, 2/3 of an epoch of
        # mnist5k), one-cycle over those 40 steps.
        data_parallel=DataParallelBudget(
            model="small_cnn",
            max_world_size=2,
            bucket_caps_mb=(0.25, 100.0),
            accumulation=2,
            epochs=1,
            max_steps=40,
            timeout_s=60.0,
            deadline_s=300.0,
        ),
        # The small CNN as the schedules bench trains it (97% is reached in epochs 4-6);
        # the article's 4 px pad and 8 px cutout of 32 px images halved for 16 px, and no
        # flip: a mirrored digit is another glyph (the article flipped CIFAR photos; with
        # the flip the small CNN ended 6 epochs at 90% instead of 97%). ResNet-9
        # trains ~20x slower per image than the small CNN here: 3 seeds of it would take
        # minutes, so the quick ladder stops before the model switch.
        recipe=RecipeBudget(
            model="small_cnn",
            image_size=16,
            epochs=6,
            seeds=3,
            time_budget_s=3.0,  # about the 6 epochs on a quiet machine (0.4 s an epoch), as
            #   the article's 1000 s held its 25; a busy machine fits fewer, and says so
            augment=AugmentSpec(pad=2, flip=False, cutout=4),
            final_model=None,
            timing=Timing(rounds=2, warmup_rounds=0),
        ),
        # The talk's network is the registry's cheapest (0.02 ms an image at 16 px); SGD at
        # lr 0.001 learns slowly, so a few epochs may leave it near chance: it is recorded so.
        talk=TalkBudget(epochs=4),
        infer_batch_size=256,
        seeds=1,
        target_accuracy=0.97,
        # Two epochs and one seed: a time to target would be an epoch's resolution with no
        # interval, so quick states the paired step ratio, labelled as one.
        step_to_target=False,
    ),
    "standard": Profile(
        name="standard",
        description="one GPU: every registered model at 32 px, 10 epochs, sweep to 128 px",
        train=TrainConfig(
            optimizer="adam",
            lr=2e-3,
            batch_size=128,
            epochs=10,
            schedule="onecycle",
            bn_recalibration_batches=20,
        ),
        timing=Timing(rounds=50, warmup_rounds=5),
        data=DataBudget(gradations_count=5000, gradations_size=128),
        model_size=ModelSizeBudget(
            models=EVERY_MODEL,
            image_size=32,
        ),
        resolution=ResolutionBudget(model="resnet18", sizes=(16, 24, 32, 48, 64, 96, 128)),
        # Taylor et al.'s tiers: a cheap network, an Inception (GoogLeNet), a ResNet.
        selection=SelectionBudget(models=("small_cnn", "googlenet", "resnet50")),
        data_path=DataPathBudget(
            input_size=32,
            texture_size=512,
            texture_count=1000,
            timing=Timing(rounds=10, warmup_rounds=1),
            train_epochs=5,
            aug_epochs=10,
            workers=(0, 2, 4),
        ),
        step_techniques=StepTechniquesBudget(
            precision_model="resnet18",
            zeroing_model="resnet18",
            memory_format_model="resnet18",
            compile_model="resnet18",
            compile_modes=("default", "max-autotune"),
        ),
        schedules=ScheduleBudget(model="resnet9", epochs=10, seeds=3, patience=2),
        data_parallel=DataParallelBudget(
            model="resnet18",
            max_world_size=None,
            bucket_caps_mb=(5.0, 100.0),
            accumulation=4,
            epochs=None,
            max_steps=None,
            timeout_s=300.0,
            deadline_s=1800.0,
        ),
        recipe=RecipeBudget(
            model="resnet18",
            image_size=32,
            epochs=10,
            seeds=3,
            time_budget_s=60.0,
            augment=AugmentSpec(pad=4, flip=True, cutout=8),
            final_model="resnet9",
            timing=Timing(rounds=3, warmup_rounds=1),
        ),
        talk=TalkBudget(epochs=30),
        infer_batch_size=512,
        seeds=3,
        target_accuracy=0.97,
        step_to_target=True,
    ),
    "paper": Profile(
        name="paper",
        description="the seed poster's settings: 100 epochs, batch 100, Adam defaults, "
        "ResNet family, sweep to 224 px",
        # The poster trained with a random crop; it gives no padding, so the article's
        # 4 px of 32 (an eighth of the side) is kept: 28 px of 224.
        train=TrainConfig(
            optimizer="adam",
            lr=1e-3,
            batch_size=100,
            epochs=100,
            schedule="constant",
            augment=AugmentSpec(pad=28, flip=False, cutout=0),
        ),
        timing=Timing(rounds=100, warmup_rounds=10),
        data=DataBudget(gradations_count=5000, gradations_size=256),
        model_size=ModelSizeBudget(
            models=EVERY_MODEL,
            image_size=224,
        ),
        resolution=ResolutionBudget(model="resnet18", sizes=(32, 48, 60, 64, 96, 128, 160, 224)),
        # Taylor et al.'s low/medium/high-cost tiers (MobileNet, Inception, ResNet).
        selection=SelectionBudget(models=("mobilenet_v3_small", "googlenet", "resnet50")),
        # The seed talk: 500 px tiles subsampled to 32 px; the article: 25 epochs.
        data_path=DataPathBudget(
            input_size=32,
            texture_size=512,
            texture_count=2000,
            timing=Timing(rounds=20, warmup_rounds=2),
            train_epochs=25,
            aug_epochs=25,
            workers=(0, 2, 4),
        ),
        # The poster measured half precision and gradient clearing on ResNet-18; the
        # 1000-second article trained ResNet-9 with one-cycle over 25 epochs.
        step_techniques=StepTechniquesBudget(
            precision_model="resnet18",
            zeroing_model="resnet18",
            memory_format_model="resnet18",
            compile_model="resnet18",
            compile_modes=("default", "reduce-overhead", "max-autotune"),
        ),
        schedules=ScheduleBudget(model="resnet9", epochs=25, seeds=5, patience=3),
        data_parallel=DataParallelBudget(
            model="resnet18",
            max_world_size=None,
            bucket_caps_mb=(5.0, 100.0),
            accumulation=4,
            epochs=None,
            max_steps=None,
            timeout_s=600.0,
            deadline_s=7200.0,
        ),
        # The article: 32 px, 25 epochs, 1000 seconds, ResNet-9 last.
        recipe=RecipeBudget(
            model="resnet18",
            image_size=32,
            epochs=25,
            seeds=5,
            time_budget_s=1000.0,
            augment=AugmentSpec(pad=4, flip=True, cutout=8),
            final_model="resnet9",
            timing=Timing(rounds=5, warmup_rounds=1),
        ),
        talk=TalkBudget(epochs=100),
        infer_batch_size=100,
        seeds=5,
        target_accuracy=0.98,
        step_to_target=True,
    ),
}


#: The benches that train one model the profile names, by technique: where the profile
#: names it (`techniques.Technique.model_field`). `--vb-model-for TECHNIQUE=NAME` puts
#: another model there for a session, so a bench that reads its model from the profile
#: trains that one. The recipe's line serves the ladder and the augmentation bench.
MODEL_FIELDS: dict[str, str] = {
    t.name: t.model_field for t in techniques.TECHNIQUES if t.model_field is not None
}
ALL_TECHNIQUES = "all"  # --vb-model-for all=NAME: every technique of MODEL_FIELDS


def _field(technique: str) -> tuple[str, str]:
    """(budget, attribute) where the profile names a technique's model."""
    if technique not in MODEL_FIELDS:
        raise ValueError(
            f"unknown technique {technique!r}; choose from {', '.join(MODEL_FIELDS)} "
            f"or {ALL_TECHNIQUES}"
        )
    budget, attribute = MODEL_FIELDS[technique].split(".")
    return budget, attribute


def model_of(profile: Profile, technique: str) -> str:
    """The model a technique of MODEL_FIELDS trains under the profile."""
    budget, attribute = _field(technique)
    return getattr(getattr(profile, budget), attribute)


def image_sizes_of(profile: Profile, technique: str, data_size: int) -> tuple[int, ...]:
    """The input sides a technique builds its model at, on data of side `data_size`."""
    if technique == "resolution":
        return profile.resolution.sizes
    if technique == "data_loading":  # smaller sources keep their size
        return (min(data_size, profile.data_path.input_size),)
    return (profile.model_size.image_size,)


def parse_model_for(items: Sequence[str]) -> dict[str, str]:
    """`--vb-model-for TECHNIQUE=NAME` options -> {technique: model name}; `all=NAME`
    stands for every technique of MODEL_FIELDS, a technique named on its own wins."""
    every: str | None = None
    chosen: dict[str, str] = {}
    for item in items:
        technique, eq, name = (part.strip() for part in item.partition("="))
        if not eq or not technique or not name:
            raise ValueError(f"{item!r} is not TECHNIQUE=NAME (e.g. precision=mynet)")
        if technique != ALL_TECHNIQUES:
            _field(technique)  # a known technique, or its error
        previous = every if technique == ALL_TECHNIQUES else chosen.get(technique)
        if previous is not None:
            raise ValueError(f"{technique} is given twice ({previous} and {name}); give it once")
        if technique == ALL_TECHNIQUES:
            every = name
        else:
            chosen[technique] = name
    if every is None:
        return chosen
    return {technique: chosen.get(technique, every) for technique in MODEL_FIELDS}


def with_models(
    profile: Profile, sweep: Sequence[str] = (), model_for: Mapping[str, str] | None = None
) -> Profile:
    """The profile with `sweep` models added to the model-size sweep (after the
    reference and the others) and each technique of `model_for` training its model."""
    if sweep:
        known = profile.model_size.models
        models = (*known, *(m for m in sweep if m not in known))
        profile = dataclasses.replace(
            profile, model_size=dataclasses.replace(profile.model_size, models=models)
        )
    for technique, model in (model_for or {}).items():
        budget, attribute = _field(technique)
        changed = dataclasses.replace(getattr(profile, budget), **{attribute: model})
        profile = dataclasses.replace(profile, **{budget: changed})
    return profile


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
        infer_batch_size=min(profile.infer_batch_size, caps.batch_size),
        seeds=min(profile.seeds, seeds),
        dry_run=True,
    )


def default_profile_name() -> str:
    """`standard` where a CUDA GPU is present, `quick` otherwise."""
    return "standard" if torch.cuda.is_available() else "quick"


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}"
        ) from None
