"""One training and evaluation loop whose switches are the techniques.

Every bench trains through `Trainer` and `fit`: model size and resolution
change what goes in; precision (`amp`), gradient zeroing (`zero_grad`), the LR
schedule, memory format, torch.compile and augmentation are switches of
`TrainConfig`, so a variant differs from its reference in exactly one setting.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from visionbench.data.augment import AugmentSpec, augment_padded, draw, fill_colour, pad
from visionbench.data.imageset import ImageSet, channel_stats
from visionbench.measure.meters import sync

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
ZERO_MODES = ("set_to_none", "zero", "assign_none")
SCHEDULES = ("constant", "onecycle", "cosine")
OPTIMIZERS = ("adam", "sgd")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class TrainConfig:
    """All settings of one training run. Frozen and hashable: it keys the model cache."""

    optimizer: str = "adam"  # "adam" (PyTorch defaults, as the seed poster) or "sgd"
    lr: float = 1e-3  # peak learning rate (one-cycle's max_lr)
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    batch_size: int = 64  # images per step
    epochs: int = 1  # passes over the training split
    max_steps: int | None = None  # stop after this many steps (None: epochs decide)
    time_budget_s: float | None = None  # stop at the first epoch end past this many seconds
    stop_at_accuracy: float | None = None  # stop at the first epoch end whose test accuracy
    #   reached this (a run trained to a target); None: the budget decides alone
    stop_after_s: float = 0.0  # with stop_at_accuracy: not before this many seconds of
    #   training, so that what a run reaches within a time budget is read on every run
    seed: int = 0  # model init and data order
    amp: str | None = None  # autocast dtype: None (fp32), "bf16", "fp16" (+GradScaler, CUDA)
    tf32: bool = False  # CUDA: fp32 matmuls and cuDNN convolutions in TF32 on tensor cores;
    #   False is strict fp32 (IEEE), whatever the process-wide default
    zero_grad: str = "set_to_none"  # "set_to_none", "zero" (set_to_none=False), "assign_none"
    schedule: str = "constant"  # "constant", "onecycle", "cosine"
    channels_last: bool = False  # NHWC memory format for model and inputs
    compile: str | None = None  # torch.compile mode ("default", "reduce-overhead", ...) or None
    early_stopping_patience: int | None = None  # epochs without validation gain before stopping
    validation_fraction: float = 0.0  # share of the training split held out (seeded) as the
    #   validation split that early stopping watches; 0 trains on all of it
    bn_recalibration_batches: int = 0  # recompute BatchNorm statistics over this many
    #   training batches after each epoch (counted as training time); 0 keeps the running averages
    augment: AugmentSpec | None = None  # pad + random crop, flip, cutout of the training
    #   batches, drawn per epoch for the whole epoch at once on the device (None: none)
    precompute_augment: bool = False  # draw every planned epoch's augmentation once before
    #   training and only read it per epoch (the "1000 seconds" article); same images as drawn
    jitter: float = 0.0  # brightness and contrast of each training image scaled by factors
    #   drawn per epoch from 1 +- jitter (the seed talk's 25%: 0.25); 0: none
    eval_images: int | None = None  # evaluate on the first this many images of each split
    #   (None: all of it); a dry run's cut, where evaluation at 224 px costs more than training

    def __post_init__(self) -> None:
        checks = {
            "optimizer": (self.optimizer, OPTIMIZERS),
            "zero_grad": (self.zero_grad, ZERO_MODES),
            "schedule": (self.schedule, SCHEDULES),
            "amp": (self.amp, (None, *AMP_DTYPES)),
            "compile": (self.compile, (None, *COMPILE_MODES)),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"TrainConfig.{name}={value!r}; choose one of {allowed}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("TrainConfig: batch_size and epochs must be at least 1")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"TrainConfig.validation_fraction={self.validation_fraction!r}; choose 0 <= f < 1"
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("TrainConfig.early_stopping_patience must be at least 1 (or None)")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"TrainConfig.jitter={self.jitter!r}; choose 0 <= jitter < 1")
        if self.eval_images is not None and self.eval_images < 1:
            raise ValueError(f"TrainConfig.eval_images={self.eval_images!r}; at least 1 (or None)")
        if self.stop_at_accuracy is not None and not 0.0 < self.stop_at_accuracy <= 1.0:
            raise ValueError(
                f"TrainConfig.stop_at_accuracy={self.stop_at_accuracy!r}; choose 0 < a <= 1"
            )
        if self.precompute_augment and self.augment is None:
            raise ValueError("TrainConfig.precompute_augment needs an augment spec to precompute")

    def with_(self, **changes: object) -> TrainConfig:
        return replace(self, **changes)

    def evaluated(self, images: int) -> int:
        """How many of a split's `images` an evaluation reads (`eval_images`)."""
        return images if self.eval_images is None else min(images, self.eval_images)


class Batches:
    """Seeded mini-batches of an in-memory ImageSet, normalised on the device.

    The images stay uint8 (on the device if it fits) and are converted per
    batch: a quarter of the memory of float32, and the conversion is cheap.

    `augment` (pad + random crop, flip, cutout) is the data bench's fast path,
    `DeviceResidentFeed`'s: the uint8 images are padded once, and each epoch
    draws every image's parameters from the epoch's generator (after its
    order) and augments the whole epoch in one gather, before normalising.
    With `precompute_epochs` = E every epoch's augmented images are made once
    here (E copies of the data; epoch e reads copy e % E): the same images,
    the augmentation's cost moved out of the epochs. Pads and cutouts take the
    channels' mean colour, which is 0 once normalised.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        device: torch.device,
        *,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        augment: AugmentSpec | None = None,
        precompute_epochs: int = 0,
        jitter: float = 0.0,
    ) -> None:
        if mean is None or std is None:
            mean, std = channel_stats(data.images)
        self.images = data.images.to(device)
        self.labels = data.labels.to(device)
        self.batch_size = batch_size
        self.device = device
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, device=device).view(shape) * 255
        self.std = torch.tensor(std, device=device).view(shape) * 255
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.augment = augment
        self.jitter = jitter
        self.fill = fill_colour(mean)
        self.precomputed: torch.Tensor | None = None
        if augment is not None:
            augment.check(*self.images.shape[2:])
            self.padded = pad(self.images, augment.pad, self.fill)
            if precompute_epochs:
                self.precomputed = torch.stack(
                    [self._augmented(e) for e in range(precompute_epochs)]
                )
                del self.padded  # epochs only read the precomputed copies
        elif precompute_epochs:
            raise ValueError("Batches: precompute_epochs needs an augment spec")

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std

    def held_bytes(self) -> int:
        """Bytes the batches keep on their device between epochs (images, labels, and
        the padded or precomputed copies augmentation keeps)."""
        held = [self.images, self.labels, getattr(self, "padded", None), self.precomputed]
        return sum(t.nbytes for t in held if t is not None)

    @classmethod
    def for_training(
        cls,
        data: ImageSet,
        cfg: TrainConfig,
        device: torch.device,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> Batches:
        """The training batches of `cfg`: shuffled with its seed, augmented as it says
        (precomputed for every planned epoch with precompute_augment)."""
        return cls(
            data,
            cfg.batch_size,
            device,
            mean=mean,
            std=std,
            seed=cfg.seed,
            augment=cfg.augment,
            precompute_epochs=cfg.epochs if cfg.precompute_augment else 0,
            jitter=cfg.jitter,
        )

    def _plan(self, epoch: int) -> tuple[torch.Tensor, torch.Generator]:
        """The epoch's order and the generator its augmentation draws from next
        (loaders.epoch_plan's: every data path shuffles alike)."""
        n = len(self.labels)
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        return order, gen

    def _augmented(self, epoch: int) -> torch.Tensor:
        """Every image's augmentation for `epoch`, in image order (uint8)."""
        assert self.augment is not None
        n = len(self.labels)
        _, gen = self._plan(epoch)
        params = draw(n, *self.images.shape[2:], self.augment, gen).to(self.device)
        index = torch.arange(n, device=self.device)
        return augment_padded(self.padded, index, params, self.augment, self.fill)

    def epoch(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order, gen = self._plan(epoch)
        order = order.to(self.device)
        if self.precomputed is not None:
            images = self.precomputed[epoch % len(self.precomputed)][order]
        elif self.augment is not None:
            n = len(self.labels)
            params = draw(n, *self.images.shape[2:], self.augment, gen)
            params = params.to(self.device).select(order)
            images = augment_padded(self.padded, order, params, self.augment, self.fill)
        else:
            images = None
        factors = self._jitter_factors(gen) if self.jitter else None
        for i in range(len(self)):
            part = slice(i * self.batch_size, (i + 1) * self.batch_size)
            x = images[part] if images is not None else self.images[order[part]]
            if factors is not None:
                x = jittered(x, factors[0][part], factors[1][part])
            yield self.normalise(x), self.labels[order[part]]

    def _jitter_factors(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Brightness and contrast factors of every image of the epoch, in epoch order,
        drawn from the epoch's generator (after its order and augmentation)."""
        n = len(self.labels)
        b, c = (1 + self.jitter * (2 * torch.rand(2, n, generator=gen) - 1)).to(self.device)
        return b, c

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch(0)


def jittered(
    images: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor
) -> torch.Tensor:
    """uint8 images (N x C x H x W) with each image's contrast scaled about its own mean
    and then its brightness scaled (torchvision's adjust_contrast, adjust_brightness),
    clamped to 0..255; as float, before normalisation."""
    x = images.float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast.view(-1, 1, 1, 1) + mean
    return (x * brightness.view(-1, 1, 1, 1)).clamp_(0, 255)


#: The compute capability from which NVIDIA GPUs run bf16 and TF32 on their tensor cores
#: (Ampere, 8.0). Older ones (V100 7.0, T4 7.5) run bf16 emulated, slower than fp32,
#: though torch.cuda.is_bf16_supported() counts emulation as support (and asks the
#: current device, not the bench's); they have no TF32 at all.
NATIVE_CAPABILITY = (8, 0)


def cuda_unsupported(
    mode: str, name: str, capability: tuple[int, int], hip: bool = False
) -> str | None:
    """Why a GPU named `name` of compute `capability` cannot run `mode` ("bf16" or
    "tf32") natively (a skip reason), or None when it can. ROCm GPUs (`hip`) run bf16."""
    if mode == "bf16" and hip:
        return None
    if tuple(capability) >= NATIVE_CAPABILITY:
        return None
    need = ".".join(map(str, NATIVE_CAPABILITY))
    major, minor = capability
    if mode == "bf16":
        return (f"{name} (compute capability {major}.{minor}) has no native bf16, only "
                f"emulation slower than fp32; it needs {need} or newer")  # fmt: skip
    return f"{name} (compute capability {major}.{minor}) has no TF32; it needs {need} or newer"


def _cuda_reason(mode: str, device: torch.device) -> str | None:
    """`cuda_unsupported` asked of `device` itself (not the current device)."""
    name = torch.cuda.get_device_name(device)
    return cuda_unsupported(
        mode, name, torch.cuda.get_device_capability(device), bool(torch.version.hip)
    )


def amp_unsupported(device: torch.device, amp: str | None) -> str | None:
    """Why `amp` cannot run on `device` (a skip reason), or None when it can."""
    if amp == "fp16" and device.type != "cuda":
        return f"fp16 autocast with GradScaler needs a CUDA device; this run is on {device.type}"
    if amp == "bf16" and device.type == "cuda":
        return _cuda_reason("bf16", device)
    return None


def tf32_unsupported(device: torch.device, tf32: bool) -> str | None:
    """Why TF32 cannot run on `device` (a skip reason), or None when it can."""
    if not tf32:
        return None
    if device.type != "cuda":
        return f"TF32 is a CUDA tensor-core mode (Ampere and newer); this run is on {device.type}"
    return _cuda_reason("tf32", device)


def tf32_switches(backends: Any, tf32: bool) -> list[tuple[Any, str, Any]]:
    """(object, attribute, value) of each switch that sets fp32 matmuls and cuDNN
    convolutions to TF32 (`tf32`) or strict fp32, on torch's `backends`.

    The `allow_tf32` flags wherever torch has them (every release to 2.14.1 at
    least), else the per-operator `fp32_precision` that replaces them. Where torch has
    both (2.9 and later), setting the flags writes the new per-operator state too,
    while setting `fp32_precision` alone leaves the flags' state behind, and torch's
    own reads of the flags then raise ("mix of the legacy and new APIs"), Inductor's
    included (pytorch#166387; in 2.14.1 its cache key reads
    torch.get_float32_matmul_precision(), its conv templates cudnn.allow_tf32)."""
    if hasattr(backends.cuda.matmul, "allow_tf32") and hasattr(backends.cudnn, "allow_tf32"):
        return [(backends.cuda.matmul, "allow_tf32", tf32), (backends.cudnn, "allow_tf32", tf32)]
    precision = "tf32" if tf32 else "ieee"
    return [
        (backends.cuda.matmul, "fp32_precision", precision),
        (backends.cudnn.conv, "fp32_precision", precision),
    ]


@contextlib.contextmanager
def fp32_precision(device: torch.device, tf32: bool) -> Iterator[None]:
    """On CUDA, fp32 matmuls and cuDNN convolutions in TF32 (`tf32`) or strict
    fp32, for the block (`tf32_switches`); the process-wide settings are restored
    after it."""
    if device.type != "cuda":
        yield
        return
    switches = tf32_switches(torch.backends, tf32)
    before = [getattr(obj, name) for obj, name, _ in switches]
    for obj, name, value in switches:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for (obj, name, _), value in zip(switches, before, strict=True):
            setattr(obj, name, value)


def cuda_graphs(compile_mode: str | None, device: torch.device) -> bool:
    """Whether a model compiled in `compile_mode` replays CUDA graphs on `device`:
    Inductor's `triton.cudagraphs` option for the mode (reduce-overhead, max-autotune)."""
    if compile_mode is None or device.type != "cuda":
        return False
    from torch._inductor import list_mode_options

    return bool(list_mode_options(compile_mode).get("triton.cudagraphs"))


def autocast(device: torch.device, amp: str | None):
    """torch.autocast for the config's dtype, or a disabled one for fp32."""
    dtype = AMP_DTYPES.get(amp or "", torch.float32)
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=amp is not None)


class Trainer:
    """Holds a model, its optimiser, scheduler and scaler; `step` is the timed unit."""

    def __init__(
        self, model: nn.Module, cfg: TrainConfig, device: torch.device, total_steps: int = 1
    ) -> None:
        reason = amp_unsupported(device, cfg.amp) or tf32_unsupported(device, cfg.tf32)
        if reason is not None:
            raise ValueError(reason)
        self.cfg = cfg
        self.device = device
        model = model.to(device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward = torch.compile(model, mode=cfg.compile) if cfg.compile else model
        params = model.parameters()
        if cfg.optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                params, lr=cfg.lr, weight_decay=cfg.weight_decay
            )
        else:
            self.optimizer = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        total_steps = max(1, total_steps)
        self.total_steps = total_steps
        if cfg.schedule == "onecycle":
            self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = (
                torch.optim.lr_scheduler.OneCycleLR(
                    self.optimizer, max_lr=cfg.lr, total_steps=total_steps
                )
            )
        elif cfg.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, total_steps)
        else:
            self.scheduler = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")
        self.steps_done = 0

    def zero_grad(self) -> None:
        mode = self.cfg.zero_grad
        if mode == "assign_none":
            for p in self.model.parameters():
                p.grad = None
        else:
            self.optimizer.zero_grad(set_to_none=mode == "set_to_none")

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimisation step; returns the loss (not synchronised)."""
        self.model.train()
        x, y = self.prepare(x), y.to(self.device, non_blocking=True)
        self.zero_grad()
        with fp32_precision(self.device, self.cfg.tf32):
            with autocast(self.device, self.cfg.amp):
                loss = F.cross_entropy(self.forward(x), y)
            self.scaler.scale(loss).backward()  # outside autocast, as PyTorch advises
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None and self.steps_done + 1 < self.total_steps:
            self.scheduler.step()  # stops at the planned end instead of wrapping around
        self.steps_done += 1
        return loss.detach()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch in eval mode, under the same autocast as training."""
        self.model.eval()
        with fp32_precision(self.device, self.cfg.tf32), autocast(self.device, self.cfg.amp):
            return self.forward(self.prepare(x)).float()


EVAL_BATCH = 512  # images per evaluation batch (no gradients: larger than training's)


def evaluation_batches(
    images: ImageSet,
    cfg: TrainConfig,
    device: torch.device,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> Batches:
    """The batches a split is evaluated on: in stored order, never augmented, all of it
    or its first `cfg.eval_images` images."""
    if cfg.evaluated(len(images)) < len(images):
        images = images.subset(torch.arange(cfg.evaluated(len(images))))
    return Batches(images, EVAL_BATCH, device, mean=mean, std=std, shuffle=False)


@torch.no_grad()
def outcomes(
    trainer: Trainer, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    """Right or not on each image, in the batches' order (a bool tensor on the CPU)."""
    hits = []
    for x, y in batches:
        pred = trainer.predict(x).argmax(dim=1)
        hits.append((pred == y.to(pred.device)).cpu())
    return torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)


def evaluate(trainer: Trainer, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Accuracy (0..1) over all batches."""
    hits = outcomes(trainer, batches)
    return int(hits.sum()) / max(len(hits), 1)


@dataclass
class FitResult:
    accuracy: float  # on the evaluation split after the last epoch run
    train_time_s: float  # training wall time, evaluation excluded
    epochs_run: int
    steps: int
    diverged: bool = False
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_time_s,
    #   loss (mean training loss), accuracy (test), lr (LR_SAMPLES rates), val_accuracy
    train_accuracy: float | None = None  # on `train_eval` after the last epoch (fit's)
    outcomes: torch.Tensor | None = None  # right or not on each test image after the last
    #   epoch run, in stored order (`accuracy` is their mean): what pairs two accuracies


def first_reached(history: Iterable[dict[str, float]], target: float) -> tuple[int, float] | None:
    """(epoch, training seconds) of the first epoch whose test accuracy reached
    `target`, or None if none did."""
    for row in history:
        if row["accuracy"] >= target:
            return int(row["epoch"]), row["train_time_s"]
    return None


def fit(
    trainer: Trainer,
    train: Batches | Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    test: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    validation: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    train_eval: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> FitResult:
    """Train for the config's budget (every epoch of `fitting`), then measure
    the accuracy on `train_eval` (training images, no augmentation) if given
    and the run did not diverge."""
    *_, result = fitting(trainer, train, test, validation=validation, on_epoch=on_epoch)
    if train_eval is not None and not result.diverged:
        result.train_accuracy = evaluate(trainer, train_eval)
    return result


def fitting(
    trainer: Trainer,
    train: Batches | Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    test: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    validation: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> Iterator[FitResult]:
    """Train for the config's budget, evaluating on `test` after every epoch;
    yields the (same, updated) FitResult after each epoch, so a caller can time
    a run up to an epoch and let it go on untimed.

    `train` is a Batches or any callable epoch -> iterable of (x, y) (a
    DataLoader path, a cache). Training time excludes evaluation. A NaN or
    infinite loss ends the run with `diverged=True` instead of raising.
    `validation` (a held-out part of the training data, never the test split)
    is evaluated after every epoch too; with `early_stopping_patience` the run
    stops once it has not improved for that many epochs, keeping the last
    epoch's model (no rewind to the best one). With `stop_at_accuracy` the run stops
    at the first epoch end whose test accuracy reached it, once `stop_after_s` of
    training has passed (a run trained to a target). `train_eval` (the training split
    without augmentation) is evaluated once at the end: `train_accuracy`, whose
    gap to `accuracy` is the overfitting.
    """
    cfg = trainer.cfg
    if cfg.early_stopping_patience is not None and validation is None:
        raise ValueError(
            "early stopping needs a validation split: set TrainConfig.validation_fraction"
        )
    epoch_iter = train.epoch if isinstance(train, Batches) else train
    result = FitResult(accuracy=0.0, train_time_s=0.0, epochs_run=0, steps=0)
    best_val, stale = -1.0, 0
    for epoch in range(cfg.epochs):
        sync(trainer.device)
        start = time.perf_counter()
        loss = torch.zeros((), device=trainer.device)
        loss_sum = torch.zeros((), device=trainer.device)  # summed there: no sync per step
        lrs: list[float] = []
        for x, y in epoch_iter(epoch):
            lrs.append(trainer.optimizer.param_groups[0]["lr"])  # a Python float: no sync
            loss = trainer.step(x, y)
            loss_sum += loss
            result.steps += 1
            if cfg.max_steps is not None and result.steps >= cfg.max_steps:
                break
        finite = bool(torch.isfinite(loss))  # synchronises
        if finite and cfg.bn_recalibration_batches:
            recalibrate_bn(trainer.model, epoch_iter(10_000 + epoch), cfg.bn_recalibration_batches)
        sync(trainer.device)
        result.train_time_s += time.perf_counter() - start
        result.epochs_run = epoch + 1
        result.outcomes = outcomes(trainer, test)
        result.accuracy = int(result.outcomes.sum()) / max(len(result.outcomes), 1)
        if not finite:
            result.diverged = True
            yield result
            return
        row = {
            "epoch": epoch + 1,
            "train_time_s": result.train_time_s,
            "loss": float(loss_sum) / max(1, len(lrs)),  # the epoch's mean training loss
            "accuracy": result.accuracy,
            "lr": lr_samples(lrs),
        }
        if validation is not None:
            row["val_accuracy"] = evaluate(trainer, validation)
            if row["val_accuracy"] > best_val:
                best_val, stale = row["val_accuracy"], 0
            else:
                stale += 1
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        yield result
        if cfg.max_steps is not None and result.steps >= cfg.max_steps:
            return
        if cfg.time_budget_s is not None and result.train_time_s >= cfg.time_budget_s:
            return
        if (
            cfg.stop_at_accuracy is not None
            and result.accuracy >= cfg.stop_at_accuracy
            and result.train_time_s >= cfg.stop_after_s
        ):
            return
        if cfg.early_stopping_patience is not None and stale >= cfg.early_stopping_patience:
            return


LR_SAMPLES = 4  # learning rates kept per epoch: at the start of each quarter of its steps


def lr_samples(lrs: list[float], count: int = LR_SAMPLES) -> list[float]:
    """The learning rate at the start of each of `count` equal parts of an epoch's steps
    (fewer for an epoch of fewer steps): enough to draw a schedule, few enough to keep."""
    if not lrs:
        return []
    picks = sorted({(i * len(lrs)) // count for i in range(count)})
    return [lrs[i] for i in picks]


def recalibrate_bn(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], count: int
) -> None:
    """Recompute BatchNorm running statistics as a plain average over `count`
    training batches (torch.optim.swa_utils.update_bn). A no-op without BN."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    device = next(model.parameters()).device
    inputs = (x.to(device) for x, _ in itertools.islice(batches, count))
    torch.optim.swa_utils.update_bn(inputs, model)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return math.ceil(n_train / batch_size)


def planned_steps(cfg: TrainConfig, n_train: int) -> int:
    """Steps the config will run at most (sizes one-cycle and cosine schedules)."""
    steps = cfg.epochs * steps_per_epoch(n_train, cfg.batch_size)
    return min(steps, cfg.max_steps) if cfg.max_steps is not None else steps
