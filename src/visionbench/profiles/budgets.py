"""A profile's budgets: what every bench may spend, one dataclass per kind of bench, each
field with its unit and meaning. The values are the profiles' (`visionbench.profiles`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from visionbench.data.augment import AugmentSpec
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
    epochs: int  # the cap in epochs: a rung's seed trains until it reaches the profile's
    #   target_accuracy (and time_budget_s has passed) or this many epochs (one-cycle spans them)
    max_time_s: float  # the cap in training seconds: a seed stops at the first epoch end past
    #   it, reached or not (a seed not reached by then reads "not within the cap")
    seeds: int  # seeds per rung unless --vb-seeds; seed i: the same init and order on every rung
    time_budget_s: float  # training seconds at which accuracy_in_budget is read (the
    #   article's 1000 s, scaled to the profile); a seed trains at least this long
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
class HarnessBudget:
    """The harness's own cost (`techniques.harness`): a call that does nothing and the small
    CNN's training step (at model_size.image_size, the profile's batch), each timed by
    Runner.time, pytest-benchmark's pedantic and torch's Timer, block by block."""

    blocks: int = 8  # blocks of every method in turn: the pairs behind each ratio (6 is the
    #   fewest whose signed-rank interval at 95% is bounded)
    trivial_rounds: int = 200  # measurements of the call that does nothing, per method and
    #   block (microseconds each); the step takes the profile's timing rounds


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
    harness: HarnessBudget = HarnessBudget()  # the harness's own cost, alike in every profile
